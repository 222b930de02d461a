/**
 * The daemon's typed events: parts emit what happened; metrics, status, snapshots and the MQTT sink
 * subscribe (src/util/event-bus.ts). The composition root creates the bus and relays nothing.
 */
import type { LoadedConfig } from '../config/load.js';
import type { SourceState } from '../contracts/camera.js';
import type { EngineRefusal } from '../contracts/engine.js';
import type { Frame } from '../contracts/frame.js';
import type { DetectionsPayload, RejectPayload, VerdictPayload } from '../contracts/messages.js';
import type { StageStats } from '../parts/parts.js';
import type { Detection, StageTimings } from '../contracts/vision.js';
import type { DropReason } from '../pipeline/types.js';
import type { EventBus } from '../util/event-bus.js';

export interface DaemonEvents {
  'frame.captured': { camera: string };
  'frame.dropped': { camera: string; reason: DropReason };
  'frame.inferred': { camera: string; timings: StageTimings };
  'frame.published': { camera: string; totalMs: number };
  'frame.late': { camera: string };
  /** A frame's detections payload, after rules (the `detections` topic). */
  detections: DetectionsPayload;
  /**
   * The same, with its frame, emitted only while someone listens (the line view, while a viewer watches).
   * `frame.data` is valid only during the call.
   */
  'frame.judged': { payload: DetectionsPayload; frame: Frame };
  /** A reject decision; `frame` and `causes` are for evidence (snapshots), never published. */
  'reject.decided': { payload: RejectPayload; frame: Frame; causes: Detection[] };
  /** A reject's annotated snapshot was written (file: its name in snapshots.dir). */
  'snapshot.saved': { key: string; camera: string; file: string };
  /**
   * A part's verdict (decision: part), published or not. `frame`/`causes`: the evidence to snapshot (reject
   * evidence only), written to `payload.evidence.snapshot`.
   */
  'verdict.decided': { payload: VerdictPayload; published: boolean; frame?: Frame; causes: Detection[] };
  /** What tracking did in a frame of a decision: part camera (only when something counted happened). */
  'parts.frame': { camera: string; stats: StageStats };
  'camera.state': { camera: string } & SourceState;
  'camera.restart': { camera: string; reason: string };
  /** The serving engine changed after the model was loaded (background TensorRT build, recovery). */
  'engine.changed': { kind: string; reason: string; modelPath: string };
  /** A model was put in service (start-up or a reload). */
  'model.loaded': { engine: string; modelPath: string; refusals: readonly EngineRefusal[] };
  'config.applied': { loaded: LoadedConfig };
  'config.rejected': { message: string };
  /** A message on <base>/<device>/cmd/<name>. */
  command: { name: string; payload: Buffer };
  /** Something the status topic shows changed: re-publish it. */
  'status.changed': Record<string, never>;
}

export type DaemonBus = EventBus<DaemonEvents>;
