/**
 * Start-up TensorRT upgrade (README.md "GPU: onnxruntime CUDA and TensorRT"): with no valid cached engine the daemon serves on
 * onnxruntime while the engine is built in a child process (trt-build.ts: trtexec does the work, off the JS
 * thread and at a lower CPU priority); the built engine is then loaded and warmed here, and the engine slot
 * swaps to it between frames. Every failure is an error with the reason; none of them stops the daemon.
 */
import { ErrorCodes, InspectdError, errorMessage } from '../errors.js';
import type { Logger } from '../ops/log.js';
import { tryLoadNativeAddon, type NativeAddon } from '../native/loader.js';
import type { Engine } from '../contracts/engine.js';
import { createTensorRtEngine, engineCachePath, resolveEngineCacheKey, type TensorRtEngineOptions, type TrtPrecision } from './tensorrt.js';
import { TRTEXEC_NOT_FOUND, buildCancelled, buildEngineInBackground, findTrtexec } from './trt-build.js';

export interface TrtUpgradeSettings {
  /** Precision to build; default fp16 (the usual Jetson choice, and the first one createTensorRtEngine looks for). */
  precision?: TrtPrecision;
  /** Addon that checks TensorRT and loads the engine; default the production addon (tests pass the stand-in). */
  addon?: NativeAddon;
  /** Environment of the build child (PATH for trtexec, INSPECTD_NATIVE_DIR); default process.env. */
  env?: NodeJS.ProcessEnv;
  /** Loads the built engine; default createTensorRtEngine. */
  loadEngine?: (opts: TensorRtEngineOptions) => Promise<Engine>;
}

export interface TrtUpgradeOptions extends TrtUpgradeSettings {
  onnxPath: string;
  cacheDir: string;
  logger: Logger;
  /** NCHW dims of the warm-up run on the new engine (the model's input). */
  warmupDims: number[];
  signal?: AbortSignal;
}

/** Why a background build cannot work on this machine, or null when it can. */
export function trtUpgradeBlocker(addon: NativeAddon | null, env: NodeJS.ProcessEnv = process.env): string | null {
  if (!addon) return 'the native addon is not built (run `npm run build:native`)';
  const trt = addon.tensorrt;
  if (!trt.available) return trt.reason;
  try {
    trt.computeCapability();
  } catch (err) {
    return errorMessage(err);
  }
  if (!findTrtexec(env)) return TRTEXEC_NOT_FOUND;
  return null;
}

/**
 * Builds (in the background), loads and warms a TensorRT engine for the model. Throws
 * ENGINE_UNAVAILABLE when TensorRT cannot work here, ENGINE_BUILD when the build fails or is cancelled.
 */
export async function upgradeToTensorRt(opts: TrtUpgradeOptions): Promise<Engine> {
  const { logger, signal } = opts;
  const env = opts.env ?? process.env;
  const addon = opts.addon ?? tryLoadNativeAddon('inspectd_native');
  const blocker = trtUpgradeBlocker(addon, env);
  if (blocker || !addon) throw new InspectdError(ErrorCodes.ENGINE_UNAVAILABLE, `TensorRT engine cannot be built here: ${blocker}`);
  const precision = opts.precision ?? 'fp16';
  const key = await resolveEngineCacheKey(addon, opts.onnxPath, precision);
  const target = engineCachePath(opts.cacheDir, key);
  logger.info({ target, precision }, 'building a TensorRT engine in the background');
  const built = await buildEngineInBackground({ onnxPath: opts.onnxPath, cacheDir: opts.cacheDir, precision, target, env, logger, signal });
  if (built !== target) logger.warn({ built, expected: target }, 'build-engine wrote a different cache file than expected');
  const load = opts.loadEngine ?? createTensorRtEngine;
  const engine = await load({ onnxPath: opts.onnxPath, cacheDir: opts.cacheDir, precision, addon, logger });
  try {
    if (signal?.aborted) throw buildCancelled();
    const n = opts.warmupDims.reduce((a, b) => a * b, 1);
    try {
      await engine.run(new Float32Array(n), opts.warmupDims);
    } catch (err) {
      throw new InspectdError(ErrorCodes.ENGINE_UNAVAILABLE, `the built TensorRT engine failed its warm-up run: ${errorMessage(err)}`, { cause: err });
    }
    if (signal?.aborted) throw buildCancelled();
    return engine;
  } catch (err) {
    await engine.dispose().catch(() => undefined);
    throw err;
  }
}
