/**
 * Detector: one model loaded on the best available engine, with its metadata and output layout checked
 * at load. The daemon, `inspectd detect`, `eval` and bench all go through this class.
 *
 * The Detector owns the model (metadata, layout, postprocessing, letterbox and its tensor pool); which engine
 * runs it, and swapping that engine between frames (the background TensorRT upgrade, replacing a dead
 * engine), is its EngineSlot's (engine-slot.ts). The Detector only says whether an engine fits the model.
 */
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { performance } from 'node:perf_hooks';
import { InspectdError, ErrorCodes, errorMessage } from '../errors.js';
import { silentLogger, type Logger } from '../ops/log.js';
import type { Engine, EngineKind, EnginePreference, EngineRefusal, OutputTensor, RunTiming, TensorSpec } from '../contracts/engine.js';
import type { OrtSpin } from './ort.js';
import { createEngine } from './select.js';
import type { TrtUpgradeSettings } from './trt-upgrade.js';
import { EngineSlot } from './engine-slot.js';
import { loadNativePreprocessor } from '../native/preprocess.js';
import type { Frame } from '../contracts/frame.js';
import { DEFAULT_POSTPROCESS, type LetterboxInfo, type ModelMetadata, type OutputLayout, type PostprocessOptions, type StageTimings } from '../contracts/vision.js';
import { parseOnnxMetadata } from '../vision/onnx-metadata.js';
import { buildModelMetadata, hasMetadataNames, loadLabelsFile } from '../vision/model-metadata.js';
import { detectLayout, type LayoutHints, type LayoutInfo } from '../vision/layout.js';
import { Postprocessor } from '../vision/postprocess.js';
import { DEFAULT_SHRINK_ON_LOAD_FACTOR, decodeImageFor, letterboxInto, preprocessRawSync } from '../vision/letterbox.js';
import type { DetectionResult, FrameDetector, PreparedFrame, RawPreprocessor } from '../contracts/detector.js';

/**
 * Encoded images a caller decodes at once ahead of the engine (inspectd detect, batch; bench jpeg block):
 * libvips decodes one JPEG on one thread here (sharp's concurrency is 1 on glibc without jemalloc), so a
 * second decode runs on what the engine leaves idle. Measured on 2 cores with the demo model (1 engine
 * thread): 4K JPEGs 61 -> 89 images/s with a second decode, 95 with a third (README "Performance").
 */
export const IMAGE_DECODES_AHEAD = 2;

export interface DetectorLoadOptions {
  modelPath: string;
  labelsPath?: string;
  engine?: EnginePreference;
  /** The engine preference is a demand (CLI --engine): no fallback, an error when it cannot be met. */
  strictEngine?: boolean;
  /** onnxruntime intra-op threads; 0 (default) = auto: all cores, one fewer for a light model (ort.ts autoIntraOpThreads). */
  threads?: number;
  /** onnxruntime inter-op threads (default 1) and spinning (default 'during-runs'): ort.ts, README "Performance". */
  interOpThreads?: number;
  spin?: OrtSpin;
  /** onnxruntime: runs write into the output buffers of earlier frames (default true); false allocates every run. */
  reuseOutputs?: boolean;
  /**
   * Encoded images (detectImage, prepareImage) at least this many times the model input on both axes are
   * decoded shrunk by libvips (shrink-on-load) and resized by it; smaller ones are decoded full size and
   * letterboxed OpenCV-exact. Default DEFAULT_SHRINK_ON_LOAD_FACTOR (3); Infinity never shrinks on load.
   */
  shrinkOnLoadFactor?: number;
  logger?: Logger;
  /** Raw-frame preprocessor to use instead of the default (native when the addon loads, else JS). */
  rawPreprocessor?: RawPreprocessor;
  /** false: always the JS letterbox for raw frames, even when the native addon loads. Default true. */
  nativePreprocess?: boolean;
  engineCacheDir?: string;
  /**
   * With engine auto/tensorrt and no usable cached TensorRT engine, build one in the background and swap to
   * it (default true; false keeps the start-up engine).
   */
  tensorrtBuild?: boolean;
  /** Precision, addon (the stand-in in tests), build environment and loader for TensorRT. */
  tensorrt?: TrtUpgradeSettings;
  /** Called after each engine swap (not for the engine chosen at load) with the new kind and why. */
  onEngineChange?: (kind: EngineKind, reason: string) => void;
}

export type PreprocessKind = 'native' | 'js' | 'custom';

/** Input tensors kept for reuse: a 640x640 tensor is 4.9 MB, and allocating one per frame costs about a millisecond. */
const POOL_MAX = 2;

interface DetectorParts {
  engine: Engine;
  metadata: ModelMetadata;
  layoutInfo: LayoutInfo;
  layoutHints: LayoutHints;
  refusals: EngineRefusal[];
  modelSha256: string;
  inputSize: { width: number; height: number };
  post: Postprocessor;
  rawPreprocessor: RawPreprocessor | undefined;
  preprocessKind: PreprocessKind;
  shrinkOnLoadFactor: number;
  logger: Logger;
  onEngineChange?: (kind: EngineKind, reason: string) => void;
  /** Loads a fresh engine for this model (the same fallback chain as at load), to replace a failed one. */
  reloadEngine: () => Promise<Engine>;
}

export class Detector implements FrameDetector {
  private disposed = false;
  private readonly pool: Float32Array[] = [];
  private readonly slot: EngineSlot;
  readonly metadata: ModelMetadata;
  readonly layoutInfo: LayoutInfo;
  readonly refusals: EngineRefusal[];
  readonly modelSha256: string;
  readonly inputSize: { width: number; height: number };
  /** Which letterbox raw frames go through. */
  readonly preprocessKind: PreprocessKind;
  private readonly layoutHints: LayoutHints;
  private readonly post: Postprocessor;
  private readonly rawPreprocessor: RawPreprocessor | undefined;
  private readonly shrinkOnLoadFactor: number;

  private constructor(p: DetectorParts) {
    this.metadata = p.metadata;
    this.layoutInfo = p.layoutInfo;
    this.layoutHints = p.layoutHints;
    this.refusals = p.refusals;
    this.modelSha256 = p.modelSha256;
    this.inputSize = p.inputSize;
    this.post = p.post;
    this.rawPreprocessor = p.rawPreprocessor;
    this.preprocessKind = p.preprocessKind;
    this.shrinkOnLoadFactor = p.shrinkOnLoadFactor;
    this.slot = new EngineSlot({
      engine: p.engine,
      logger: p.logger,
      checkFits: (engine) => this.checkFits(engine),
      reload: p.reloadEngine,
      onChange: p.onEngineChange,
    });
  }

  get layout(): OutputLayout {
    return this.layoutInfo.layout;
  }

  get engineKind(): EngineKind {
    return this.slot.kind;
  }

  /** onnxruntime's intra-op threads (model.threads, or what 0 chose); undefined for an engine without the setting. */
  get intraOpThreads(): number | undefined {
    return this.slot.current.intraOpThreads;
  }

  /** inferPrepared calls may overlap when the engine queues runs in order (onnxruntime's worker does). */
  get submitAhead(): boolean {
    return this.slot.current.queuesRuns === true;
  }

  /** Settles (never rejects) when no background engine upgrade is pending. */
  get engineUpgrade(): Promise<void> {
    return this.slot.upgrade;
  }

  /** Settles (never rejects) when no engine recovery is pending (tests). */
  get engineRecovery(): Promise<void> {
    return this.slot.recovery;
  }

  /** Errors carry their code, and their message names the model file. */
  static async load(opts: DetectorLoadOptions): Promise<Detector> {
    try {
      return await Detector.loadInner(opts);
    } catch (err) {
      if (err instanceof InspectdError && !err.message.includes(opts.modelPath)) {
        throw new InspectdError(err.code, `model ${opts.modelPath}: ${err.message}`, { cause: err.cause ?? err });
      }
      throw err;
    }
  }

  private static async loadInner(opts: DetectorLoadOptions): Promise<Detector> {
    const logger = opts.logger ?? silentLogger();
    let bytes: Buffer;
    try {
      bytes = await readFile(opts.modelPath);
    } catch (err) {
      throw new InspectdError(ErrorCodes.MODEL_NOT_FOUND, `cannot read model ${opts.modelPath}: ${errorMessage(err)}`, { cause: err });
    }
    const sha256 = createHash('sha256').update(bytes).digest('hex');
    let raw: Record<string, string>;
    try {
      raw = parseOnnxMetadata(bytes);
    } catch (err) {
      throw new InspectdError(ErrorCodes.MODEL_INVALID, `${opts.modelPath} is ${errorMessage(err)}`, { cause: err });
    }
    const labels = opts.labelsPath !== undefined ? await loadLabelsFile(opts.labelsPath) : undefined;
    const prelim = buildModelMetadata(raw, { labels });
    const engineOptions = {
      modelPath: opts.modelPath,
      modelBytes: bytes,
      preference: opts.engine ?? 'auto',
      threads: opts.threads ?? 0,
      interOpThreads: opts.interOpThreads,
      spin: opts.spin,
      reuseOutputs: opts.reuseOutputs,
      engineCacheDir: opts.engineCacheDir,
      logger,
      warmupSize: prelim.imgsz,
      trtAddon: opts.tensorrt?.addon,
      strict: opts.strictEngine,
    };
    const { engine, refusals } = await createEngine(engineOptions);
    try {
      const metadata = buildModelMetadata(raw, { labels, inputShape: engine.inputs[0].shape });
      const namesFromMetadata = hasMetadataNames(raw);
      if (labels && namesFromMetadata) {
        logger.warn({ labels: opts.labelsPath }, 'model metadata has class names; the labels file is ignored');
      }
      const [h, w] = metadata.imgsz;
      const shapes = await outputShapes(engine, [1, 3, h, w]);
      const layoutHints: LayoutHints = {
        // Only the model's own names constrain the layout; a labels file's count is checked (warned) below.
        numClasses: namesFromMetadata ? metadata.names.length : undefined,
        end2end: metadata.end2end,
        imgsz: metadata.imgsz,
      };
      const layoutInfo = detectLayout(shapes, layoutHints);
      for (let i = metadata.names.length; i < layoutInfo.numClasses; i++) metadata.names.push(`class${i}`);
      if (labels && !namesFromMetadata && labels.length !== layoutInfo.numClasses && layoutInfo.layout !== 'end2end') {
        logger.warn({ labels: labels.length, classes: layoutInfo.numClasses }, 'labels file count differs from the model');
      }
      metadata.namesFrom = namesFromMetadata ? 'metadata' : labels ? 'labels' : 'placeholders';
      if (metadata.namesFrom === 'placeholders') {
        logger.warn(
          { model: opts.modelPath, layout: layoutInfo.layout, classes: layoutInfo.numClasses, shapes },
          `model has no Ultralytics metadata: its layout (${layoutInfo.layout}) was guessed from the output shapes and its class names are placeholders (class0 …); ` +
            'check its detections with inspectd eval, and give model.labels (one class name per line) or export it with Ultralytics',
        );
      }
      const post = new Postprocessor(layoutInfo, metadata.names);
      const { rawPreprocessor, preprocessKind } = chooseRawPreprocessor(opts, logger);
      logger.info(
        {
          model: opts.modelPath,
          sha256,
          layout: layoutInfo.layout,
          imgsz: metadata.imgsz,
          classes: layoutInfo.numClasses || metadata.names.length,
          engine: engine.kind,
          preprocess: preprocessKind,
        },
        'model loaded',
      );
      const detector = new Detector({
        engine,
        metadata,
        layoutInfo,
        layoutHints,
        refusals,
        modelSha256: sha256,
        inputSize: { width: w, height: h },
        post,
        rawPreprocessor,
        preprocessKind,
        shrinkOnLoadFactor: opts.shrinkOnLoadFactor ?? DEFAULT_SHRINK_ON_LOAD_FACTOR,
        logger,
        onEngineChange: opts.onEngineChange,
        reloadEngine: async () => (await createEngine(engineOptions)).engine,
      });
      const pref = opts.engine ?? 'auto';
      if (engine.kind !== 'tensorrt' && (pref === 'auto' || pref === 'tensorrt') && opts.tensorrtBuild !== false) {
        detector.slot.startTensorRtUpgrade({ onnxPath: opts.modelPath, cacheDir: opts.engineCacheDir, warmupDims: [1, 3, h, w], settings: opts.tensorrt });
      }
      return detector;
    } catch (err) {
      await engine.dispose().catch(() => undefined);
      throw err;
    }
  }

  private options(post?: Partial<PostprocessOptions>): PostprocessOptions {
    return { ...DEFAULT_POSTPROCESS, ...stripUndefined(post) };
  }

  private takeTensor(): Float32Array {
    return this.pool.pop() ?? new Float32Array(3 * this.inputSize.width * this.inputSize.height);
  }

  private giveTensor(t: Float32Array): void {
    if (this.pool.length < POOL_MAX && t.length === 3 * this.inputSize.width * this.inputSize.height) this.pool.push(t);
  }

  /**
   * Swaps to `next` for every frame that starts from now on, after checking it fits this model (input size,
   * output layout); frames already running finish on their engine, which is disposed after its last run.
   * A refused or late (detector disposed) engine is disposed here; refusal throws ENGINE_UNAVAILABLE.
   */
  adoptEngine(next: Engine, reason: string): Promise<void> {
    return this.slot.adopt(next, reason);
  }

  private async checkFits(next: Engine): Promise<void> {
    const { width, height } = this.inputSize;
    const want = [1, 3, height, width];
    const misfit = (why: string) =>
      new InspectdError(ErrorCodes.ENGINE_UNAVAILABLE, `the ${next.kind} engine does not fit this model: ${why}; rebuild it from this model with inspectd build-engine`);
    const input = next.inputs[0];
    if (next.inputs.length !== 1 || input.shape.length !== 4 || input.shape.some((d, i) => d > 0 && d !== want[i])) {
      throw misfit(`input ${next.inputs.map((i) => `[${i.shape.join(', ')}]`).join(', ')}, model input [${want.join(', ')}]`);
    }
    const shapes = await outputShapes(next, want);
    let layout: LayoutInfo;
    try {
      layout = detectLayout(shapes, this.layoutHints);
    } catch (err) {
      throw misfit(errorMessage(err));
    }
    const cur = this.layoutInfo;
    if (layout.layout !== cur.layout || layout.numClasses !== cur.numClasses || layout.numCandidates !== cur.numCandidates || layout.rowLength !== cur.rowLength) {
      throw misfit(`its head is ${layout.layout} [${shapes[0].join(', ')}], the model's is ${cur.layout} with ${cur.numCandidates} x ${cur.rowLength}`);
    }
  }

  private async infer(tensor: Float32Array, info: LetterboxInfo, post: PostprocessOptions, t0: number, t1: number) {
    const { width, height } = this.inputSize;
    const run: RunTiming = {};
    const outputs = await this.slot.run(tensor, [1, 3, height, width], run);
    const t2 = performance.now();
    const detections = this.post.run(outputs[0].data, info, post);
    const t3 = performance.now();
    // Decoded into detections: the engine may write the next frames into these buffers.
    this.slot.recycle(outputs);
    // An engine that says when it started and how long it ran separates its queue from its work.
    const started = run.startedAt !== undefined && run.runMs !== undefined ? Math.max(t1, run.startedAt) : t1;
    const timings: StageTimings = {
      preprocessMs: t1 - t0,
      inferenceMs: run.runMs ?? t2 - t1,
      postprocessMs: t3 - t2,
      engineWaitMs: started - t1,
    };
    return { detections, timings };
  }

  /** Detects on an encoded image (path or bytes); width/height are the decoded, EXIF-rotated size. */
  async detectImage(input: Buffer | string, post?: Partial<PostprocessOptions>): Promise<DetectionResult & { width: number; height: number }> {
    const prepared = await this.prepareImage(input);
    const { detections, timings } = await this.inferPrepared(prepared, post);
    return { width: prepared.info.srcWidth, height: prepared.info.srcHeight, detections, timings };
  }

  /**
   * The first half of detectImage: decodes and letterboxes an encoded image into a pooled tensor, so a caller
   * can prepare the next image while the engine runs this one. Hand it to inferPrepared or releasePrepared.
   */
  async prepareImage(input: Buffer | string): Promise<PreparedFrame> {
    this.checkOpen();
    const { width, height } = this.inputSize;
    const t0 = performance.now();
    const { image: img, geometry } = await decodeImageFor(input, width, height, this.shrinkOnLoadFactor);
    const pooled = this.takeTensor();
    try {
      const ch = img.format === 'gray8' ? 1 : 3;
      let tensor = pooled;
      let info: LetterboxInfo;
      if (geometry && this.rawPreprocessor) {
        // Already resized: the native pass only pads and normalises (exactly, at scale 1), off this thread.
        const frame: Frame = { cameraId: '', seq: 0, captureMono: 0, captureWall: 0, width: img.width, height: img.height, format: img.format, data: img.data };
        ({ tensor, info } = await this.rawPreprocessor(frame, width, height, pooled));
      } else {
        // The OpenCV-exact letterbox: the native one's float weights move scores of the int8 fixture models
        // by up to 0.07 against the reference (test/integration/fixtures-detect.test.ts).
        info = toLetterboxInfo(letterboxInto(img.data, img.width, img.height, img.format, img.width * ch, width, height, pooled));
      }
      // Resized on load to the letterbox's inner size: the letterbox only padded it, and boxes map to the full image.
      if (geometry) info = toLetterboxInfo(geometry);
      return { tensor, info, preprocessMs: performance.now() - t0 };
    } catch (err) {
      this.giveTensor(pooled);
      throw err;
    }
  }

  /** Detects on a raw camera frame (the pipeline's path); uses the plugged-in raw preprocessor when given. */
  async detectFrame(frame: Frame, post?: Partial<PostprocessOptions>): Promise<DetectionResult> {
    return this.inferPrepared(await this.prepareFrame(frame), post);
  }

  /**
   * The first half of detectFrame: letterboxes a raw frame into a pooled tensor (natively, off the JS thread,
   * when the addon loaded). The pipeline prepares the next frame while the engine still runs the current one.
   * Hand the result to inferPrepared, or to releasePrepared when it will not be run.
   */
  async prepareFrame(frame: Frame): Promise<PreparedFrame> {
    this.checkOpen();
    const { width, height } = this.inputSize;
    const t0 = performance.now();
    const pooled = this.takeTensor();
    try {
      if (this.rawPreprocessor) {
        // The native preprocessor writes the pooled tensor off the JS thread; it stays ours until the run is done.
        const { tensor, info } = await this.rawPreprocessor(frame, width, height, pooled);
        return { tensor, info, preprocessMs: performance.now() - t0 };
      }
      const { info } = preprocessRawSync(frame, width, height, pooled);
      return { tensor: pooled, info, preprocessMs: performance.now() - t0 };
    } catch (err) {
      this.giveTensor(pooled);
      throw err;
    }
  }

  /** The second half of detectFrame: inference and postprocessing of a prepared frame; its tensor goes back to the pool. */
  async inferPrepared(prepared: PreparedFrame, post?: Partial<PostprocessOptions>): Promise<DetectionResult> {
    try {
      this.checkOpen();
      const t1 = performance.now();
      return await this.infer(prepared.tensor, prepared.info, this.options(post), t1 - prepared.preprocessMs, t1);
    } finally {
      this.giveTensor(prepared.tensor);
    }
  }

  get io(): { inputs: readonly TensorSpec[]; outputs: readonly TensorSpec[] } {
    const e = this.slot.current;
    return { inputs: e.inputs, outputs: e.outputs };
  }

  /** One raw run (the HTTP API's /v2 infer): the outputs are copied, the engine's buffers recycled. */
  async runTensor(input: Float32Array, dims: number[]): Promise<OutputTensor[]> {
    this.checkOpen();
    const outputs = await this.slot.run(input, dims);
    const copy = outputs.map((o) => ({ name: o.name, dims: [...o.dims], data: Float32Array.from(o.data) }));
    this.slot.recycle(outputs);
    return copy;
  }

  /** Gives back the tensor of a prepared frame that will not be run. */
  releasePrepared(prepared: PreparedFrame): void {
    this.giveTensor(prepared.tensor);
  }

  /**
   * Refuses (INSPECTD_ERR_ENGINE_BUSY) while a run is in flight; idempotent otherwise. Stops a background
   * TensorRT build (its child process) and waits for it to wind down.
   */
  async dispose(): Promise<void> {
    const busy = this.slot.busy;
    if (busy > 0) {
      throw new InspectdError(ErrorCodes.ENGINE_BUSY, `detector has ${busy} run(s) in flight; wait for them before disposing`);
    }
    this.disposed = true;
    await this.slot.dispose();
  }

  private checkOpen(): void {
    if (this.disposed) throw new InspectdError(ErrorCodes.ENGINE_DISPOSED, 'detector was disposed; load the model again');
  }
}

/** Native one-pass letterbox when the addon loads (unless opted out), else the JS one, said once in the log. */
function chooseRawPreprocessor(opts: DetectorLoadOptions, logger: Logger): { rawPreprocessor: RawPreprocessor | undefined; preprocessKind: PreprocessKind } {
  if (opts.rawPreprocessor) return { rawPreprocessor: opts.rawPreprocessor, preprocessKind: 'custom' };
  if (opts.nativePreprocess === false) return { rawPreprocessor: undefined, preprocessKind: 'js' };
  const native = loadNativePreprocessor();
  if (native.preprocessor) return { rawPreprocessor: native.preprocessor, preprocessKind: 'native' };
  logger.warn({ reason: native.reason }, 'native preprocessing unavailable; raw frames use the slower JS letterbox');
  return { rawPreprocessor: undefined, preprocessKind: 'js' };
}

/** The engine's output shapes; dynamic axes are learnt from one run on a blank input of `dims`. */
async function outputShapes(engine: Engine, dims: number[]): Promise<number[][]> {
  const shapes = engine.outputs.map((o) => [...o.shape]);
  if (!shapes.some((s) => s.some((d) => d < 0))) return shapes;
  const out = await engine.run(new Float32Array(dims.reduce((a, b) => a * b, 1)), dims);
  return out.map((o) => o.dims);
}

function toLetterboxInfo(g: LetterboxInfo): LetterboxInfo {
  const { scale, padX, padY, srcWidth, srcHeight, dstWidth, dstHeight } = g;
  return { scale, padX, padY, srcWidth, srcHeight, dstWidth, dstHeight };
}

function stripUndefined<T extends object>(o: T | undefined): Partial<T> {
  const out: Partial<T> = {};
  if (!o) return out;
  for (const [k, v] of Object.entries(o)) if (v !== undefined) (out as Record<string, unknown>)[k] = v;
  return out;
}
