/**
 * The detector contract: one loaded model that turns frames into detections. The real one is
 * src/inference/detector.ts; the pipeline, the app and test fakes all use this one copy.
 */
import type { EngineKind, EngineRefusal, OutputTensor, TensorSpec } from './engine.js';
import type { Frame } from './frame.js';
import type { Detection, LetterboxInfo, ModelMetadata, OutputLayout, PostprocessOptions, StageTimings } from './vision.js';

/** A raw-frame letterbox (the native one: src/native/preprocess.ts); writes into `out` when given. */
export type RawPreprocessor = (frame: Frame, dstW: number, dstH: number, out?: Float32Array) => Promise<{ tensor: Float32Array; info: LetterboxInfo }>;

/** A letterboxed frame waiting for the engine (FrameDetector.prepareFrame). */
export interface PreparedFrame {
  readonly tensor: Float32Array;
  readonly info: LetterboxInfo;
  readonly preprocessMs: number;
}

export interface DetectionResult {
  detections: Detection[];
  timings: StageTimings;
}

export interface FrameDetector {
  readonly metadata: ModelMetadata;
  /** An EngineKind for real detectors; test fakes name themselves. */
  readonly engineKind: EngineKind | (string & {});
  /** CPU threads a run uses (onnxruntime intra-op threads), where the engine has that setting. */
  readonly intraOpThreads?: number;
  /** Why engines earlier in the fallback chain were not used. */
  readonly refusals: readonly EngineRefusal[];
  readonly modelSha256: string;
  readonly layout: OutputLayout;
  detectFrame(frame: Frame, post?: Partial<PostprocessOptions>): Promise<DetectionResult>;
  /**
   * detectFrame in two halves, so the pipeline can letterbox the next frame while the engine runs the
   * current one. A detector without them is run whole.
   */
  prepareFrame?(frame: Frame): Promise<PreparedFrame>;
  inferPrepared?(prepared: PreparedFrame, post?: Partial<PostprocessOptions>): Promise<DetectionResult>;
  /** prepareFrame for an encoded image (JPEG, PNG, …): decoded, EXIF-rotated and letterboxed. */
  prepareImage?(bytes: Buffer): Promise<PreparedFrame>;
  /** Gives back the tensor of a prepared frame that will not be run. */
  releasePrepared?(prepared: PreparedFrame): void;
  /**
   * True when inferPrepared may be called again before the previous call settled: the runs queue inside the
   * engine and run in call order. The pipeline then submits the next frame as soon as it is letterboxed, so
   * the engine starts it the moment it frees, while the previous frame is decoded and published.
   */
  readonly submitAhead?: boolean;
  /** The engine's input and output tensors (the HTTP API's model metadata); absent on fakes. */
  readonly io?: { readonly inputs: readonly TensorSpec[]; readonly outputs: readonly TensorSpec[] };
  /** One raw run of the engine on a model input (NCHW float32 with `dims`): its outputs, the caller's to keep. */
  runTensor?(input: Float32Array, dims: number[]): Promise<OutputTensor[]>;
  /** Refuses (INSPECTD_ERR_ENGINE_BUSY) while a run is in flight; idempotent otherwise. */
  dispose(): Promise<void>;
}
