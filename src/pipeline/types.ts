/** What the pipeline consumes (a detector) and produces (payloads for the sinks), per DESIGN.md's MQTT contract. */
import type { Frame } from '../contracts/frame.js';
import type { Detection, StageTimings } from '../contracts/vision.js';

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

/** Where results go; the daemon adapts this to the MQTT sink, snapshots and metrics. */
export interface PipelineSink {
  /** Fire and forget (QoS 0 by default): must not throw. */
  detections(payload: DetectionsPayload): void;
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
