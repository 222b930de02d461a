/**
 * Detector: one model loaded on the best available engine, with its metadata and output layout checked
 * at load. The daemon, `inspectd detect`, `eval` and bench all go through this class.
 */
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { performance } from 'node:perf_hooks';
import { InspectdError, ErrorCodes, errorMessage } from '../errors.js';
import { silentLogger, type Logger } from '../ops/log.js';
import type { Engine, EngineKind, EnginePreference, EngineRefusal } from '../engine/engine.js';
import { createEngine } from '../engine/select.js';
import type { Frame } from '../source/frame.js';
import { DEFAULT_POSTPROCESS, type Detection, type LetterboxInfo, type ModelMetadata, type OutputLayout, type PostprocessOptions, type StageTimings } from './types.js';
import { parseOnnxMetadata } from './onnx-metadata.js';
import { buildModelMetadata, hasMetadataNames, loadLabelsFile } from './model-metadata.js';
import { detectLayout, type LayoutInfo } from './layout.js';
import { Postprocessor } from './postprocess.js';
import { decodeImage, letterboxInto, preprocessRawSync, type RawPreprocessor } from './letterbox.js';

export interface DetectorLoadOptions {
  modelPath: string;
  labelsPath?: string;
  engine?: EnginePreference;
  /** onnxruntime intra-op threads; 0 (default) = all cores. */
  threads?: number;
  logger?: Logger;
  rawPreprocessor?: RawPreprocessor;
  engineCacheDir?: string;
}

/** Input tensors kept for reuse: a 640x640 tensor is 4.9 MB, and allocating one per frame costs about a millisecond. */
const POOL_MAX = 2;

export class Detector {
  private disposed = false;
  private readonly pool: Float32Array[] = [];

  private constructor(
    private readonly engine: Engine,
    readonly metadata: ModelMetadata,
    readonly layoutInfo: LayoutInfo,
    readonly refusals: EngineRefusal[],
    readonly modelSha256: string,
    readonly inputSize: { width: number; height: number },
    private readonly post: Postprocessor,
    private readonly rawPreprocessor: RawPreprocessor | undefined,
  ) {}

  get layout(): OutputLayout {
    return this.layoutInfo.layout;
  }

  get engineKind(): EngineKind {
    return this.engine.kind;
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
    const { engine, refusals } = await createEngine({
      modelPath: opts.modelPath,
      modelBytes: bytes,
      preference: opts.engine ?? 'auto',
      threads: opts.threads ?? 0,
      engineCacheDir: opts.engineCacheDir,
      logger,
      warmupSize: prelim.imgsz,
    });
    try {
      const metadata = buildModelMetadata(raw, { labels, inputShape: engine.inputs[0].shape });
      const namesFromMetadata = hasMetadataNames(raw);
      if (labels && namesFromMetadata) {
        logger.warn({ labels: opts.labelsPath }, 'model metadata has class names; the labels file is ignored');
      }
      const [h, w] = metadata.imgsz;
      let shapes = engine.outputs.map((o) => o.shape);
      if (shapes.some((s) => s.some((d) => d < 0))) {
        // Dynamic output axes: one run on a blank input tells the real shapes.
        const out = await engine.run(new Float32Array(3 * h * w), [1, 3, h, w]);
        shapes = out.map((o) => o.dims);
      }
      const layoutInfo = detectLayout(shapes, {
        // Only the model's own names constrain the layout; a labels file's count is checked (warned) below.
        numClasses: namesFromMetadata ? metadata.names.length : undefined,
        end2end: metadata.end2end,
        imgsz: metadata.imgsz,
      });
      for (let i = metadata.names.length; i < layoutInfo.numClasses; i++) metadata.names.push(`class${i}`);
      if (labels && !namesFromMetadata && labels.length !== layoutInfo.numClasses && layoutInfo.layout !== 'end2end') {
        logger.warn({ labels: labels.length, classes: layoutInfo.numClasses }, 'labels file count differs from the model');
      }
      const post = new Postprocessor(layoutInfo, metadata.names);
      logger.info(
        { model: opts.modelPath, sha256, layout: layoutInfo.layout, imgsz: metadata.imgsz, classes: layoutInfo.numClasses || metadata.names.length, engine: engine.kind },
        'model loaded',
      );
      return new Detector(engine, metadata, layoutInfo, refusals, sha256, { width: w, height: h }, post, opts.rawPreprocessor);
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

  private async infer(tensor: Float32Array, info: LetterboxInfo, post: PostprocessOptions, t0: number, t1: number) {
    const { width, height } = this.inputSize;
    const outputs = await this.engine.run(tensor, [1, 3, height, width]);
    const t2 = performance.now();
    const detections = this.post.run(outputs[0].data, info, post);
    const t3 = performance.now();
    const timings: StageTimings = { preprocessMs: t1 - t0, inferenceMs: t2 - t1, postprocessMs: t3 - t2 };
    return { detections, timings };
  }

  /** Detects on an encoded image (path or bytes); width/height are the decoded, EXIF-rotated size. */
  async detectImage(
    input: Buffer | string,
    post?: Partial<PostprocessOptions>,
  ): Promise<{ width: number; height: number; detections: Detection[]; timings: StageTimings }> {
    this.checkOpen();
    const t0 = performance.now();
    const img = await decodeImage(input);
    const tensor = this.takeTensor();
    try {
      const ch = img.format === 'gray8' ? 1 : 3;
      const g = letterboxInto(img.data, img.width, img.height, img.format, img.width * ch, this.inputSize.width, this.inputSize.height, tensor);
      const t1 = performance.now();
      const { detections, timings } = await this.infer(tensor, g, this.options(post), t0, t1);
      return { width: img.width, height: img.height, detections, timings };
    } finally {
      this.giveTensor(tensor);
    }
  }

  /** Detects on a raw camera frame (the pipeline's path); uses the plugged-in raw preprocessor when given. */
  async detectFrame(frame: Frame, post?: Partial<PostprocessOptions>): Promise<{ detections: Detection[]; timings: StageTimings }> {
    this.checkOpen();
    const { width, height } = this.inputSize;
    const t0 = performance.now();
    if (this.rawPreprocessor) {
      const { tensor, info } = await this.rawPreprocessor(frame, width, height);
      return this.infer(tensor, info, this.options(post), t0, performance.now());
    }
    const tensor = this.takeTensor();
    try {
      const { info } = preprocessRawSync(frame, width, height, tensor);
      return await this.infer(tensor, info, this.options(post), t0, performance.now());
    } finally {
      this.giveTensor(tensor);
    }
  }

  /** Refuses (INSPECTD_ERR_ENGINE_BUSY) while a run is in flight; idempotent otherwise. */
  async dispose(): Promise<void> {
    await this.engine.dispose();
    this.disposed = true;
  }

  private checkOpen(): void {
    if (this.disposed) throw new InspectdError(ErrorCodes.ENGINE_DISPOSED, 'detector was disposed; load the model again');
  }
}

function stripUndefined<T extends object>(o: T | undefined): Partial<T> {
  const out: Partial<T> = {};
  if (!o) return out;
  for (const [k, v] of Object.entries(o)) if (v !== undefined) (out as Record<string, unknown>)[k] = v;
  return out;
}
