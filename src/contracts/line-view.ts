/**
 * The line view (GET /view): what the HTTP server (src/ops/http.ts) reads from the daemon
 * (src/app/line-view.ts) to show a technician the cameras, the recent rejects and the daemon itself.
 */
import type { CameraStateName } from './camera.js';
import type { EngineRefusal } from './engine.js';

export interface ViewCamera {
  id: string;
  state: CameraStateName;
  /** Why it is in fault (or starting), when known. */
  reason?: string;
  paused: boolean;
  /** Frames inferred per second over the last few seconds. */
  fps: number;
  /** Capture to publish, ms, over the camera's recent frames; null before any. */
  p50Ms: number | null;
  p99Ms: number | null;
  rejects: number;
  rejectsByClass: Record<string, number>;
}

export interface ViewState {
  device: string;
  version: string;
  state: 'online' | 'starting';
  uptimeSec: number;
  engine: string | null;
  /** The engines refused before the one serving, and why (e.g. TensorRT unavailable). */
  refusals: readonly EngineRefusal[];
  model: { name: string; sha256: string | null; classes: readonly string[]; error: string | null };
  configHash: string;
  configSource: string;
  /** The last edit that was rejected (the message names file:line where the loader knows it). */
  lastConfigError: { at: string; message: string } | null;
  broker: { connected: boolean; description: string | null };
  outboxDepth: number;
  cameras: ViewCamera[];
}

/**
 * One entry of the recent strip. A reject today; per-part verdicts (pass or reject, with ejector timing)
 * fit the same shape with kind 'verdict'.
 */
export interface ViewItem {
  kind: 'reject' | 'verdict';
  key: string;
  camera: string;
  seq: number;
  /** Capture time, ISO 8601. */
  time: string;
  /** 'reject' or 'pass' (verdicts may pass). */
  decision: 'reject' | 'pass';
  classes: string[];
  /** Highest confidence among the causes, 0..1; null when none. */
  confidence: number | null;
  reason: string;
  /** The PLC's part id (trigger id), when the frame was tagged. */
  partId?: string;
  /** When the ejector was told to fire, ISO 8601, and its delay after capture, where a verdict carries them. */
  ejectAt?: string;
  ejectDelayMs?: number;
  /** File name of the annotated snapshot in the snapshots folder, once written. */
  snapshot?: string;
}

export type ViewEvent =
  | { type: 'state'; state: ViewState }
  | { type: 'item'; item: ViewItem }
  /** A new live JPEG of the camera is ready at /view/live/<camera>.jpg. */
  | { type: 'frame'; camera: string; seq: number };

export interface LineViewProvider {
  state(): ViewState;
  /** The strip, newest first. */
  recent(): readonly ViewItem[];
  /**
   * Live events for one viewer; returns the unsubscribe. Live frames are encoded only while at least one
   * viewer watches, once for all of them.
   */
  watch(listener: (event: ViewEvent) => void): () => void;
  /** The camera's latest annotated JPEG, or null (no viewer yet, or no frame). */
  latestJpeg(camera: string): { seq: number; jpeg: Buffer } | null;
  /** The folder reject snapshots are written to, or null when snapshots are off. */
  snapshotDir(): string | null;
}
