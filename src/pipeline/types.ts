/** How the pipeline hands results on (PipelineSink) and reports what happened to frames (PipelineObserver, counters). */
import type { Frame } from '../contracts/frame.js';
import type { Detection, StageTimings } from '../contracts/vision.js';
import type { DetectionsPayload, RejectPayload, VerdictPayload } from '../contracts/messages.js';
import type { StageStats } from '../parts/parts.js';

/** Where results go; the daemon adapts this to the MQTT sink, snapshots and metrics. */
export interface PipelineSink {
  /**
   * Fire and forget (QoS 0 by default): must not throw. `frame` is valid only during the call (a source
   * may reuse its buffer): copy what is kept.
   */
  detections(payload: DetectionsPayload, frame: Frame): void;
  /** Resolves once the reject is durable (outbox or broker ack). */
  reject(payload: RejectPayload, frame: Frame, causes: Detection[]): Promise<void>;
  /**
   * A part's verdict (`decision: part`); resolves once it is durable. `frame` is the evidence frame and
   * `causes` what to draw on it, when the verdict rests on a reject detection.
   */
  verdict(payload: VerdictPayload, evidence: { frame?: Frame; causes: Detection[] }): Promise<void>;
}

export type DropReason = 'superseded' | 'paused' | 'error' | 'stopped' | 'trigger-overflow';

/** Optional per-event hooks (metrics); every method is cheap and must not throw. */
export interface PipelineObserver {
  captured?(camera: string): void;
  dropped?(camera: string, reason: DropReason): void;
  inferred?(camera: string, timings: StageTimings, queueMs: number): void;
  published?(camera: string, totalMs: number): void;
  late?(camera: string): void;
  rejected?(camera: string, classes: string[]): void;
  /** Per frame of a `decision: part` camera: what tracking did. */
  parts?(camera: string, stats: StageStats): void;
  /** Every part decided, published or not (pass verdicts with publishPass off, failSafe none). */
  verdict?(camera: string, payload: VerdictPayload, published: boolean): void;
}

/** A `decision: part` camera's part counts since start. */
export interface PartCounters {
  /** Parts confirmed by the tracker (each gets one verdict). */
  seen: number;
  /** Verdicts decided, by outcome; fail-safe ones are also in failSafe. */
  reject: number;
  pass: number;
  /** Parts that could not be judged (reason no-verdict), whatever parts.failSafe made of them. */
  failSafe: number;
  /** Verdicts decided but not published (pass with publishPass off, failSafe none). */
  unpublished: number;
  /** Reject detections absorbed into a part already rejecting (a per-frame decision would have repeated them). */
  suppressed: number;
  /** Suspected identity switches: matches far from the prediction, tracks moving against the belt. */
  switches: number;
}

export interface CameraCounters {
  captured: number;
  dropped: Record<DropReason, number>;
  inferred: number;
  published: number;
  late: number;
  rejects: number;
  rejectsByClass: Record<string, number>;
  parts: PartCounters;
}
