/**
 * The InferenceApi port (src/contracts/inference-api.ts) over the daemon's model and pipeline: an image is
 * decoded and letterboxed by the request (off the engine's queue), then waits in the pipeline's side queue,
 * which runs it only while no camera frame waits (cameras keep priority), at most http.maxQueueMs.
 */
import { performance } from 'node:perf_hooks';
import path from 'node:path';
import sharp from 'sharp';
import type { Config } from '../config/types.js';
import type { FrameDetector, PreparedFrame } from '../contracts/detector.js';
import type { TensorSpec } from '../contracts/engine.js';
import type { ApiDetectOptions, ApiDetectResult, ApiImage, ApiInferInput, ApiInferOutput, ApiModelInfo, InferenceApi } from '../contracts/inference-api.js';
import type { Detection } from '../contracts/vision.js';
import { ErrorCodes, InspectdError, errorMessage, isInspectdError } from '../errors.js';
import type { Pipeline } from '../pipeline/pipeline.js';
import type { SideQueue } from '../pipeline/side-queue.js';
import { rejectClassesOf, rejectReason } from '../rules/reject.js';
import { evaluateRules } from '../rules/rules.js';
import { annotatedJpeg } from '../vision/annotate.js';
import { detectResultJson } from '../vision/result-json.js';
import type { Inspection } from './inspection.js';
import { postprocessOf, type ModelSupply } from './model-supply.js';

export interface DaemonApiOptions {
  config: () => Readonly<Config>;
  detector: () => FrameDetector | null;
  /** Why no model serves yet (the model supply's last load error), when none does. */
  modelError: () => string | null;
  pipeline: () => Pipeline | null;
  side: () => SideQueue | null;
  stopping: () => boolean;
}

const DEFAULT_MAX_QUEUE_MS = 2000;
const DEFAULT_MAX_PIXELS = 40_000_000;
const DEFAULT_MAX_DECODING = 2;
const r2 = (v: number): number => Math.round(v * 100) / 100;
const CHANNELS = { rgb24: 3, bgr24: 3, gray8: 1 } as const;

const refuse = (code: (typeof ErrorCodes)[keyof typeof ErrorCodes], message: string) => new InspectdError(code, message);

export function datatypeOf(type: TensorSpec['type']): string {
  return type === 'float16' ? 'FP16' : 'FP32';
}

/** At most `limit()` holders at once; the rest wait in arrival order. */
class Slots {
  private held = 0;
  private readonly waiting: (() => void)[] = [];
  constructor(private readonly limit: () => number) {}
  async run<T>(fn: () => Promise<T>): Promise<T> {
    if (this.held >= this.limit()) await new Promise<void>((r) => this.waiting.push(r));
    else this.held++;
    try {
      return await fn();
    } finally {
      const next = this.waiting.shift();
      if (next) next();
      else this.held--;
    }
  }
}

export class DaemonInferenceApi implements InferenceApi {
  /**
   * Decoding shares libuv's thread pool (4 threads) with the cameras' work (synthetic rendering, snapshots, live
   * JPEGs): API images are decoded a few at a time (http.api.maxDecoding), so the pool always has room for them.
   */
  private readonly decoding = new Slots(() => this.o.config().http.api?.maxDecoding ?? DEFAULT_MAX_DECODING);

  constructor(private readonly o: DaemonApiOptions) {}

  notReady(): string | null {
    if (this.o.stopping()) return 'the daemon is stopping';
    if (!this.o.detector()) {
      const why = this.o.modelError();
      return why ? `no usable model yet: ${why}` : 'the model is loading';
    }
    if (!this.o.pipeline() || !this.o.side()) return 'inspection is starting';
    return null;
  }

  model(): ApiModelInfo | null {
    const d = this.o.pipeline()?.currentDetector ?? this.o.detector();
    if (!d) return null;
    const io = d.io ?? { inputs: [], outputs: [] };
    const meta = (t: TensorSpec) => ({ name: t.name, datatype: datatypeOf(t.type), shape: [...t.shape] });
    return {
      name: path.basename(this.o.config().model.path).replace(/\.[^.]*$/, ''),
      platform: d.engineKind === 'tensorrt' ? 'tensorrt_plan' : 'onnxruntime_onnx',
      inputs: io.inputs.map(meta),
      outputs: io.outputs.map(meta),
    };
  }

  async detect(image: ApiImage, opts: ApiDetectOptions): Promise<ApiDetectResult> {
    const t0 = performance.now();
    const { pipeline, side } = this.serving();
    const cfg = this.o.config();
    const camera = opts.camera === undefined ? undefined : pipeline.cameraConfig(opts.camera);
    if (opts.camera !== undefined && !camera) throw refuse(ErrorCodes.API_NOT_FOUND, `no camera '${opts.camera}'; cameras: ${pipeline.cameraIds().join(', ') || 'none'}`);
    const maxPixels = cfg.http.api?.maxPixels ?? DEFAULT_MAX_PIXELS;
    const detector = pipeline.currentDetector;
    const prepared = await this.decoding.run(() => this.prepare(detector, image, maxPixels));
    const post = { ...postprocessOf(cfg.model), ...(opts.conf !== undefined ? { conf: opts.conf } : {}), ...(opts.iou !== undefined ? { iou: opts.iou } : {}) };
    const queuedAt = performance.now();
    let startedAt = NaN;
    let result: Awaited<ReturnType<FrameDetector['detectFrame']>>;
    try {
      result = await side.submit(async (d) => {
        if (d !== detector) throw refuse(ErrorCodes.API_BUSY, 'the model was swapped while the request waited; retry');
        startedAt = performance.now();
        return d.inferPrepared!(prepared, post);
      }, cfg.http.maxQueueMs ?? DEFAULT_MAX_QUEUE_MS);
    } catch (err) {
      if (Number.isNaN(startedAt)) detector.releasePrepared?.(prepared);
      throw err;
    }
    const { srcWidth: width, srcHeight: height } = prepared.info;
    let detections: Detection[] = result.detections;
    let reject: Record<string, unknown> | undefined;
    if (camera) {
      const { kept, rejectCauses } = evaluateRules(detections, camera.rules, detector.metadata.names);
      detections = kept;
      reject = {
        camera: camera.id,
        rejected: rejectCauses.length > 0,
        reason: rejectCauses.length > 0 ? rejectReason(rejectCauses) : null,
        classes: rejectClassesOf(rejectCauses),
      };
    }
    const t = result.timings;
    const json: Record<string, unknown> = {
      ...detectResultJson(opts.name, width, height, detections),
      ...(reject ? { reject } : {}),
      latency: {
        preprocessMs: r2(t.preprocessMs),
        queueMs: r2(startedAt - queuedAt),
        inferenceMs: r2(t.inferenceMs),
        postprocessMs: r2(t.postprocessMs),
        totalMs: r2(performance.now() - t0),
      },
      engine: detector.engineKind,
    };
    if (!opts.annotated) return { json };
    const src = image.kind === 'encoded' ? { bytes: image.bytes } : { raw: rawRgb(image) };
    return { json, jpeg: await annotatedJpeg(src, width, height, detections) };
  }

  async infer(input: ApiInferInput): Promise<ApiInferOutput[]> {
    const { pipeline, side } = this.serving();
    const detector = pipeline.currentDetector;
    const spec = detector.io?.inputs[0];
    if (!spec || !detector.runTensor) throw refuse(ErrorCodes.API_NOT_READY, `the ${detector.engineKind} engine cannot run raw tensors`);
    if (input.name !== spec.name) throw refuse(ErrorCodes.API_BAD_REQUEST, `unknown input '${input.name}': the model's input is '${spec.name}'`);
    const fits = input.shape.length === spec.shape.length && spec.shape.every((d, i) => d < 0 || d === input.shape[i]) && input.shape.every((d) => Number.isInteger(d) && d > 0);
    if (!fits) throw refuse(ErrorCodes.API_BAD_REQUEST, `input '${spec.name}' has shape [${input.shape.join(', ')}]; the model wants [${spec.shape.join(', ')}] (-1: any)`);
    const count = input.shape.reduce((a, b) => a * b, 1);
    if (input.data.length !== count)
      throw refuse(ErrorCodes.API_BAD_REQUEST, `input '${spec.name}' has ${input.data.length} values; shape [${input.shape.join(', ')}] needs ${count}`);
    const maxQueueMs = this.o.config().http.maxQueueMs ?? DEFAULT_MAX_QUEUE_MS;
    const outputs = await side.submit((d) => {
      if (d !== detector) throw refuse(ErrorCodes.API_BUSY, 'the model was swapped while the request waited; retry');
      return d.runTensor!(input.data, input.shape);
    }, maxQueueMs);
    return outputs.map((o) => ({ name: o.name, shape: o.dims, data: o.data }));
  }

  private serving(): { pipeline: Pipeline; side: SideQueue } {
    const why = this.notReady();
    const pipeline = this.o.pipeline();
    const side = this.o.side();
    if (why !== null || !pipeline || !side) throw refuse(ErrorCodes.API_NOT_READY, why ?? 'inspection is starting');
    return { pipeline, side };
  }

  /** Decoded and letterboxed for the model; a corrupt image is API_BAD_REQUEST with the decoder's reason, a huge one API_TOO_LARGE. */
  private async prepare(detector: FrameDetector, image: ApiImage, maxPixels: number): Promise<PreparedFrame> {
    let width: number;
    let height: number;
    if (image.kind === 'encoded') {
      try {
        const meta = await sharp(image.bytes).metadata();
        width = meta.width ?? 0;
        height = meta.pageHeight ?? meta.height ?? 0;
      } catch (err) {
        throw refuse(ErrorCodes.API_BAD_REQUEST, `the image cannot be decoded: ${errorMessage(err)}`);
      }
    } else ({ width, height } = image);
    if (width * height > maxPixels) throw refuse(ErrorCodes.API_TOO_LARGE, `the image has ${width}x${height} pixels, more than http.api.maxPixels (${maxPixels})`);
    try {
      if (image.kind === 'encoded') {
        if (!detector.prepareImage) throw refuse(ErrorCodes.API_NOT_READY, `the ${detector.engineKind} detector cannot decode images`);
        return await detector.prepareImage(image.bytes);
      }
      const want = width * height * CHANNELS[image.format];
      if (image.bytes.length !== want) {
        throw refuse(ErrorCodes.API_BAD_REQUEST, `a ${width}x${height} ${image.format} image has ${want} bytes; the body has ${image.bytes.length}`);
      }
      const now = performance.now();
      const frame = { cameraId: '_api', seq: 0, captureMono: now, captureWall: Date.now(), width, height, format: image.format, data: image.bytes };
      if (detector.prepareFrame) return await detector.prepareFrame(frame);
      throw refuse(ErrorCodes.API_NOT_READY, `the ${detector.engineKind} detector cannot prepare frames`);
    } catch (err) {
      if (isInspectdError(err) && err.code.startsWith('INSPECTD_ERR_API_')) throw err;
      throw refuse(ErrorCodes.API_BAD_REQUEST, `the image cannot be decoded: ${errorMessage(err)}`);
    }
  }
}

/** A raw API image as RGB (or gray) for the annotated JPEG. */
function rawRgb(image: Extract<ApiImage, { kind: 'raw' }>): { data: Buffer; width: number; height: number; channels: 1 | 3 } {
  const { width, height } = image;
  if (image.format === 'gray8') return { data: image.bytes, width, height, channels: 1 };
  if (image.format === 'rgb24') return { data: image.bytes, width, height, channels: 3 };
  const out = Buffer.allocUnsafe(image.bytes.length);
  for (let i = 0; i < out.length; i += 3) {
    out[i] = image.bytes[i + 2]!;
    out[i + 1] = image.bytes[i + 1]!;
    out[i + 2] = image.bytes[i]!;
  }
  return { data: out, width, height, channels: 3 };
}

/** The API over the daemon's parts: the model supply (loaded or why not) and the inspection's pipeline and queue. */
export function daemonApi(o: { config: () => Readonly<Config>; model: ModelSupply; inspection: Inspection; stopping: () => boolean }): InferenceApi {
  return new DaemonInferenceApi({
    config: o.config,
    detector: () => o.model.detector,
    modelError: () => o.model.error?.message ?? null,
    pipeline: () => o.inspection.pipeline,
    side: () => o.inspection.side,
    stopping: o.stopping,
  });
}
