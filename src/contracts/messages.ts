/**
 * The MQTT message contract for per-frame results (README.md "MQTT contract"): what the pipeline produces
 * and the sinks publish, field for field.
 */
export interface LatencyBreakdown {
  preprocessMs: number;
  inferenceMs: number;
  postprocessMs: number;
  /** Capture until the engine took the frame, less its preprocessing: mailbox wait and waiting for the engine. */
  queueMs: number;
  /** Capture to the moment the payload was handed to the sink. */
  totalMs: number;
}

export interface PayloadDetection {
  class: string;
  classId: number;
  confidence: number;
  box: { x1: number; y1: number; x2: number; y2: number };
}

export interface DetectionsPayload {
  frameId: string;
  seq: number;
  camera: string;
  device: string;
  captureTime: string;
  triggerId?: string;
  width: number;
  height: number;
  latency: LatencyBreakdown;
  /** The camera's deadline and whether this frame met it: a late frame is still published, marked late. */
  deadlineMs: number;
  deadlineMet: boolean;
  engine: string;
  detections: PayloadDetection[];
}

export interface RejectPayload {
  key: string;
  device: string;
  camera: string;
  seq: number;
  triggerId?: string;
  captureTime: string;
  /** Date.now() at capture: the outbox uses it for TTL/expiry. */
  captureWall: number;
  decidedAt: string;
  reason: string;
  classes: string[];
  detections: PayloadDetection[];
  deadlineMs: number;
  latencyMs: number;
  deadlineMet: boolean;
}

/** How a part's verdict came about: what closed the part, in the order they are checked. */
export type VerdictTrigger =
  /** Its centre crossed the camera's decision line (parts.decisionLine) in the belt direction. */
  | 'line'
  /** It left the image (or was last seen at its edge and not again within the lost buffer). */
  | 'left'
  /** It was tracked for parts.maxAgeMs without crossing the line or leaving. */
  | 'max-age'
  /** It vanished inside the image for longer than the lost buffer: missed by the model or its frames lost. */
  | 'lost'
  /** The camera faulted, restarted, was removed or the daemon stopped while the part was in view. */
  | 'fault';

/** The best detection of one class on a part, and in how many of the part's frames that class was seen. */
export interface VerdictDetection extends PayloadDetection {
  frames: number;
  /** Seq of the frame the detection is from. */
  seq: number;
}

/**
 * One verdict per physical part (`decision: part`), on `<base>/<device>/<camera>/verdict`, QoS 1 through the
 * durable outbox. `key` = `<device>:<camera>:part:<partId>` never repeats, across restarts included.
 */
export interface VerdictPayload {
  key: string;
  device: string;
  camera: string;
  /** `<boot>-<n>`: the daemon start it was tracked in (a persisted counter) and the track number in it. */
  partId: string;
  verdict: 'reject' | 'pass';
  /** People's words: 'reject: scratch (0.91) in 3 of 9 frames', 'pass: 9 frames, nothing to reject', 'no-verdict: ...'. */
  reason: string;
  /** True when the part could not be judged and parts.failSafe chose the verdict (reason starts 'no-verdict'). */
  failSafe: boolean;
  decidedBy: VerdictTrigger;
  /** Frames the part was detected in; and frames it was expected but missed (model miss, frame lost). */
  framesSeen: number;
  framesMissed: number;
  firstSeen: string;
  lastSeen: string;
  /** Reject classes seen on the part, most frames first. */
  classes: string[];
  /** The best detection per class seen on the part (reject classes and others), with its frame count. */
  detections: VerdictDetection[];
  /** The frame the verdict rests on: the best reject detection's frame, else the one that showed most of the part. */
  evidence: { seq: number; captureTime: string; snapshot?: string };
  /** The part's box (source pixels) and velocity at decision time. */
  box: { x1: number; y1: number; x2: number; y2: number };
  velocity: { xPxPerS: number; yPxPerS: number; pxPerFrame: number };
  /** Set when the part moved against parts.belt.direction (a mis-association or a part going backwards). */
  againstBelt?: boolean;
  /** The frame the decision was made on (the last one the part was seen in, when decided on a fault), and its capture time. */
  seq: number;
  captureTime: string;
  /** Date.now() at that capture: the outbox's clock (age bound, lateness); not published. */
  captureWall: number;
  decidedAt: string;
  /** Capture of the deciding frame to the decision, ms. */
  latencyMs: number;
  /** With an ejector model (parts.belt): when the part reaches the ejector, and how long until then at decision. */
  ejectAt?: string;
  ejectInMs?: number;
  /** With encoder counts (cmd/encoder, cmd/trigger): the count at the deciding frame's capture and at decision. */
  encoderAtCapture?: number;
  encoderAtDecision?: number;
}
