/**
 * TensorRT engine through the native addon (native/trt_engine.cc). Serves only a cached, matching
 * engine: the cache key is sha256(onnx) + TensorRT version + GPU compute capability + precision, so an
 * engine built for another TensorRT or GPU is never loaded. Anything missing or stale is refused with
 * INSPECTD_ERR_ENGINE_UNAVAILABLE and a reason; the caller serves on onnxruntime meanwhile.
 * runFrame takes a raw frame and lets the addon letterbox it into the input binding: on the GPU where the
 * addon has the CUDA kernel (no host round trip for the tensor), on the CPU otherwise; the choice is logged.
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { readFile, readdir } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { ErrorCodes, InspectdError, errorMessage, type ErrorCode } from '../errors.js';
import type { Logger } from '../ops/log.js';
import { loadNativeAddon, type LetterboxDevice, type NativeAddon, type NativeTrtEngine } from '../native/loader.js';
import type { Engine, OutputTensor, TensorSpec } from '../contracts/engine.js';
import type { Frame } from '../contracts/frame.js';
import type { LetterboxInfo } from '../contracts/vision.js';

export type TrtPrecision = 'fp32' | 'fp16' | 'int8';

export interface TensorRtEngineOptions {
  onnxPath: string;
  cacheDir: string;
  logger?: Logger;
  /** Which cached build to use; default: the first cached of fp16, int8, fp32. */
  precision?: TrtPrecision;
  /** Injected addon (tests use the stand-in build); default: the production addon. */
  addon?: NativeAddon;
}

/** A TensorRT engine: the Engine contract, plus raw frames letterboxed into its input binding by the addon. */
export interface TensorRtFrameEngine extends Engine {
  /** Where runFrame letterboxes now, and why. */
  readonly inputLetterbox: { on: LetterboxDevice; reason: string };
  /** One frame to outputs; dims [1, 3, H, W]. `letterboxOn` says which letterbox made this run's input. */
  runFrame(frame: Frame, dims: number[]): Promise<{ outputs: OutputTensor[]; info: LetterboxInfo; letterboxOn: LetterboxDevice }>;
}

export interface EngineCacheKey {
  onnxSha256: string;
  trtVersion: string;
  computeCapability: string;
  precision: TrtPrecision;
}

/** Where engines live unless configured: $INSPECTD_ENGINE_CACHE, else ~/.cache/inspectd/engines. */
export function defaultEngineCacheDir(env: NodeJS.ProcessEnv = process.env): string {
  if (env.INSPECTD_ENGINE_CACHE) return env.INSPECTD_ENGINE_CACHE;
  const base = env.XDG_CACHE_HOME || path.join(os.homedir(), '.cache');
  return path.join(base, 'inspectd', 'engines');
}

export function engineCacheFileName(key: EngineCacheKey): string {
  const cc = key.computeCapability.replace('.', '');
  return `${key.onnxSha256}-trt${key.trtVersion}-sm${cc}-${key.precision}.engine`;
}

export function engineCachePath(cacheDir: string, key: EngineCacheKey): string {
  return path.join(cacheDir, engineCacheFileName(key));
}

export async function sha256File(file: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(file)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

function unavailable(reason: string, cause?: unknown): InspectdError {
  return new InspectdError(ErrorCodes.ENGINE_UNAVAILABLE, `TensorRT unavailable: ${reason}`, { cause });
}

/** Native errors carry a `code` string from the registry; keep it, make it an InspectdError. */
function fromNative(err: unknown, fallback: ErrorCode): InspectdError {
  if (err instanceof InspectdError) return err;
  const code = (err as { code?: unknown } | null)?.code;
  const known = Object.values(ErrorCodes) as string[];
  const c = typeof code === 'string' && known.includes(code) ? (code as ErrorCode) : fallback;
  return new InspectdError(c, errorMessage(err), { cause: err });
}

/** The cache key for this model on this machine, or ENGINE_UNAVAILABLE saying why there is none. */
export async function resolveEngineCacheKey(addon: NativeAddon, onnxPath: string, precision: TrtPrecision): Promise<EngineCacheKey> {
  const trt = addon.tensorrt;
  if (!trt.available) throw unavailable(trt.reason);
  let computeCapability: string;
  try {
    computeCapability = trt.computeCapability();
  } catch (err) {
    throw unavailable(errorMessage(err), err);
  }
  let onnxSha256: string;
  try {
    onnxSha256 = await sha256File(onnxPath);
  } catch (err) {
    throw new InspectdError(ErrorCodes.MODEL_NOT_FOUND, `cannot read model ${onnxPath}: ${errorMessage(err)}`, {
      cause: err,
    });
  }
  return { onnxSha256, trtVersion: trt.version, computeCapability, precision };
}

export async function createTensorRtEngine(opts: TensorRtEngineOptions): Promise<TensorRtFrameEngine> {
  let addon: NativeAddon;
  try {
    addon = opts.addon ?? loadNativeAddon('inspectd_native');
  } catch (err) {
    throw unavailable(errorMessage(err), err);
  }
  // Without an explicit precision, take whichever build exists: fp16 first (the usual Jetson choice).
  const order: TrtPrecision[] = opts.precision ? [opts.precision] : ['fp16', 'int8', 'fp32'];
  const first = await resolveEngineCacheKey(addon, opts.onnxPath, order[0]);
  let key = first;
  let file = '';
  let bytes: Buffer | undefined;
  for (const precision of order) {
    key = { ...first, precision };
    file = engineCachePath(opts.cacheDir, key);
    try {
      bytes = await readFile(file);
      break;
    } catch {
      // try the next precision
    }
  }
  if (!bytes) throw unavailable(await missingReason(opts.cacheDir, first, opts.onnxPath));
  const precision = key.precision;
  const trt = addon.tensorrt;
  if (!trt.available) throw unavailable(trt.reason);
  const native = new trt.Engine();
  try {
    await native.load(bytes);
  } catch (err) {
    const e = fromNative(err, ErrorCodes.ENGINE_UNAVAILABLE);
    throw unavailable(`${file}: ${e.message}`, err);
  }
  const engine = new TensorRtEngine(native, opts.logger);
  const letterbox = native.inputLetterbox;
  opts.logger?.info(
    {
      engine: 'tensorrt',
      file,
      trtVersion: key.trtVersion,
      computeCapability: key.computeCapability,
      precision,
      inputLetterbox: letterbox.on,
      inputLetterboxReason: letterbox.reason,
    },
    'TensorRT engine loaded',
  );
  return engine;
}

async function missingReason(cacheDir: string, key: EngineCacheKey, onnxPath: string): Promise<string> {
  const want = engineCacheFileName(key);
  let names: string[] = [];
  try {
    names = await readdir(cacheDir);
  } catch {
    // no cache dir yet: same advice as an empty one
  }
  const sameModel = names.filter((n) => n.startsWith(`${key.onnxSha256}-`) && n.endsWith('.engine'));
  const flag = key.precision === 'fp32' ? '' : ` --${key.precision}`;
  const build = `run \`inspectd build-engine --model ${onnxPath}${flag} --cache ${cacheDir}\``;
  if (sameModel.length > 0) {
    return (
      `cached engine(s) ${sameModel.join(', ')} do not match this machine ` +
      `(want ${want}: TensorRT ${key.trtVersion}, sm ${key.computeCapability}, ${key.precision}); stale, ${build}`
    );
  }
  return `no cached engine ${want} in ${cacheDir}; ${build}`;
}

class TensorRtEngine implements TensorRtFrameEngine {
  readonly kind = 'tensorrt' as const;
  readonly inputs: readonly TensorSpec[];
  readonly outputs: readonly TensorSpec[];
  private readonly native: NativeTrtEngine;
  private readonly logger: Logger | undefined;
  private lastLetterbox: LetterboxDevice | undefined;

  constructor(native: NativeTrtEngine, logger?: Logger) {
    this.native = native;
    this.logger = logger;
    const d = native.describe();
    this.inputs = Object.freeze(d.inputs.map((t) => ({ name: t.name, shape: [...t.shape], type: t.type })));
    this.outputs = Object.freeze(d.outputs.map((t) => ({ name: t.name, shape: [...t.shape], type: t.type })));
  }

  async run(input: Float32Array, dims: number[]): Promise<OutputTensor[]> {
    try {
      return await this.native.run(input, dims);
    } catch (err) {
      throw fromNative(err, ErrorCodes.ENGINE_RUN);
    }
  }

  get inputLetterbox(): { on: LetterboxDevice; reason: string } {
    return this.native.inputLetterbox;
  }

  async runFrame(frame: Frame, dims: number[]): Promise<{ outputs: OutputTensor[]; info: LetterboxInfo; letterboxOn: LetterboxDevice }> {
    let r: Awaited<ReturnType<NativeTrtEngine['runFrame']>>;
    try {
      r = await this.native.runFrame(frame.data, frame.width, frame.height, frame.stride ?? 0, frame.format, dims);
    } catch (err) {
      throw fromNative(err, ErrorCodes.ENGINE_RUN);
    }
    // The first run says where frames go; a later change is the kernel failing over to the CPU: say it once.
    if (this.lastLetterbox !== undefined && r.letterboxOn !== this.lastLetterbox) {
      this.logger?.warn({ engine: 'tensorrt', inputLetterbox: r.letterboxOn, reason: this.native.inputLetterbox.reason }, 'TensorRT input letterbox changed');
    }
    this.lastLetterbox = r.letterboxOn;
    const [, , dstHeight, dstWidth] = dims;
    return {
      outputs: r.outputs,
      info: { scale: r.letterbox.scale, padX: r.letterbox.padX, padY: r.letterbox.padY, srcWidth: frame.width, srcHeight: frame.height, dstWidth, dstHeight },
      letterboxOn: r.letterboxOn,
    };
  }

  async dispose(): Promise<void> {
    try {
      this.native.dispose();
    } catch (err) {
      throw fromNative(err, ErrorCodes.ENGINE_BUSY);
    }
  }
}
