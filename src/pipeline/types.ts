/** How the pipeline hands results on (PipelineSink) and reports what happened to frames (PipelineObserver, counters). */
import type { Frame } from '../contracts/frame.js';
import type { Detection, StageTimings } from '../contracts/vision.js';
import type { DetectionsPayload, RejectPayload } from '../contracts/messages.js';

/** Where results go; the daemon adapts this to the MQTT sink, snapshots and metrics. */
export interface PipelineSink {
  /**
   * Fire and forget (QoS 0 by default): must not throw. `frame` is valid only during the call (a source
   * may reuse its buffer): copy what is kept.
   */
  detections(payload: DetectionsPayload, frame: Frame): void;
  /** Resolves once the reject is durable (outbox or broker ack). */
  reject(payload: RejectPayload, frame: Frame, causes: Detection[]): Promise<void>;
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
}

export interface CameraCounters {
  captured: number;
  dropped: Record<DropReason, number>;
  inferred: number;
  published: number;
  late: number;
  rejects: number;
  rejectsByClass: Record<string, number>;
}
