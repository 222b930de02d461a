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
