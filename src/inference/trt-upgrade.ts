/**
 * Start-up TensorRT upgrade (DESIGN.md "Engines", issue 3): with no valid cached engine the daemon serves on
 * onnxruntime while `inspectd build-engine` runs in a child process (trtexec does the work, off the JS thread
 * and at a lower CPU priority); the built engine is then loaded and warmed here, and the Detector swaps to it
 * between frames. Every failure is an error with the reason; none of them stops the daemon.
 */
import { spawn } from 'node:child_process';
import { rm } from 'node:fs/promises';
import os from 'node:os';
import { fileURLToPath } from 'node:url';
import { ErrorCodes, InspectdError, errorMessage } from '../errors.js';
import type { Logger } from '../ops/log.js';
import { findTrtexec } from '../cli/build-engine.js';
import { tryLoadNativeAddon, type NativeAddon } from '../native/loader.js';
import type { Engine } from '../contracts/engine.js';
import {
  createTensorRtEngine,
  engineCachePath,
  resolveEngineCacheKey,
  type TensorRtEngineOptions,
  type TrtPrecision,
} from './tensorrt.js';

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

/** Lines of build output kept for the failure reason. */
const TAIL_LINES = 8;
/** The build competes with inference for the CPU (ONNX parsing, tactic timing); serving wins. */
const BUILD_NICE = 10;
/** dist/src/main.js beside this file's dist/src/inference/. */
const CLI_ENTRY = fileURLToPath(new URL('../main.js', import.meta.url));

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
  if (!findTrtexec(env)) return 'trtexec was not found on PATH, in /usr/src/tensorrt/bin or $TENSORRT_ROOT/bin';
  return null;
}

function cancelled(): InspectdError {
  return new InspectdError(ErrorCodes.ENGINE_BUILD, 'TensorRT engine build cancelled');
}

export interface BuildInBackgroundOptions {
  onnxPath: string;
  cacheDir: string;
  precision: TrtPrecision;
  /** The cache file build-engine will write (for cleaning its temporary file when cancelled). */
  target: string;
  env?: NodeJS.ProcessEnv;
  logger: Logger;
  signal?: AbortSignal;
}

/**
 * Runs `inspectd build-engine` in its own process group (so cancelling also stops trtexec) and resolves
 * with the engine path it printed. Progress goes to the debug log; a failure carries the output's tail.
 */
export function buildEngineInBackground(opts: BuildInBackgroundOptions): Promise<string> {
  const { logger, signal } = opts;
  if (signal?.aborted) return Promise.reject(cancelled());
  const args = [CLI_ENTRY, 'build-engine', '--model', opts.onnxPath, '--cache', opts.cacheDir];
  if (opts.precision !== 'fp32') args.push(`--${opts.precision}`);
  return new Promise<string>((resolve, reject) => {
    const child = spawn(process.execPath, args, { env: opts.env ?? process.env, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    if (child.pid !== undefined) {
      try {
        os.setPriority(child.pid, BUILD_NICE);
      } catch {
        // not permitted here: build at normal priority
      }
    }
    const tail: string[] = [];
    let stdout = '';
    let partial = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => void (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => {
      const lines = (partial + d).split('\n');
      partial = lines.pop() ?? '';
      for (const line of lines) {
        if (!line.trim()) continue;
        logger.debug({ build: line }, 'TensorRT build progress');
        tail.push(line);
        if (tail.length > TAIL_LINES) tail.shift();
      }
    });
    const onAbort = () => {
      if (child.pid !== undefined && child.exitCode === null && child.signalCode === null) {
        try {
          process.kill(-child.pid, 'SIGTERM');
        } catch {
          // already gone
        }
      }
    };
    signal?.addEventListener('abort', onAbort, { once: true });
    child.on('error', (err) => {
      signal?.removeEventListener('abort', onAbort);
      reject(new InspectdError(ErrorCodes.ENGINE_BUILD, `could not start the engine build (${process.execPath}): ${err.message}`, { cause: err }));
    });
    child.on('close', (code, sig) => {
      signal?.removeEventListener('abort', onAbort);
      if (partial.trim()) tail.push(partial);
      if (signal?.aborted) {
        // build-engine dies before renaming its temporary file: remove it.
        void rm(`${opts.target}.tmp-${child.pid}`, { force: true })
          .catch(() => undefined)
          .then(() => reject(cancelled()));
        return;
      }
      const out = stdout.trim().split('\n').pop() ?? '';
      if (code === 0 && out) {
        resolve(out);
        return;
      }
      const how = sig ? `was killed by ${sig}` : `exited with code ${code}`;
      const last = tail.slice(-3).join(' | ') || 'no output';
      reject(new InspectdError(ErrorCodes.ENGINE_BUILD, `inspectd build-engine ${how}: ${last}`));
    });
  });
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
    if (signal?.aborted) throw cancelled();
    const n = opts.warmupDims.reduce((a, b) => a * b, 1);
    try {
      await engine.run(new Float32Array(n), opts.warmupDims);
    } catch (err) {
      throw new InspectdError(ErrorCodes.ENGINE_UNAVAILABLE, `the built TensorRT engine failed its warm-up run: ${errorMessage(err)}`, { cause: err });
    }
    if (signal?.aborted) throw cancelled();
    return engine;
  } catch (err) {
    await engine.dispose().catch(() => undefined);
    throw err;
  }
}
