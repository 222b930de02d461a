/**
 * TensorRT engine through the native addon (native/trt_engine.cc). Serves only a cached, matching
 * engine: the cache key is sha256(onnx) + TensorRT version + GPU compute capability + precision, so an
 * engine built for another TensorRT or GPU is never loaded. Anything missing or stale is refused with
 * INSPECTD_ERR_ENGINE_UNAVAILABLE and a reason; the caller serves on onnxruntime meanwhile.
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { readFile, readdir } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { ErrorCodes, InspectdError, errorMessage, type ErrorCode } from '../errors.js';
import type { Logger } from '../ops/log.js';
import { loadNativeAddon, type NativeAddon, type NativeTrtEngine } from '../native/loader.js';
import type { Engine, OutputTensor, TensorSpec } from '../contracts/engine.js';

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
export async function resolveEngineCacheKey(
  addon: NativeAddon,
  onnxPath: string,
  precision: TrtPrecision,
): Promise<EngineCacheKey> {
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

export async function createTensorRtEngine(opts: TensorRtEngineOptions): Promise<Engine> {
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
  const engine = new TensorRtEngine(native);
  opts.logger?.info(
    { engine: 'tensorrt', file, trtVersion: key.trtVersion, computeCapability: key.computeCapability, precision },
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

class TensorRtEngine implements Engine {
  readonly kind = 'tensorrt' as const;
  readonly inputs: readonly TensorSpec[];
  readonly outputs: readonly TensorSpec[];
  private readonly native: NativeTrtEngine;

  constructor(native: NativeTrtEngine) {
    this.native = native;
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

  async dispose(): Promise<void> {
    try {
      this.native.dispose();
    } catch (err) {
      throw fromNative(err, ErrorCodes.ENGINE_BUSY);
    }
  }
}
