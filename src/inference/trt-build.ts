/**
 * Building a TensorRT engine for a model with trtexec, stored under the cache key tensorrt.ts looks for.
 * `inspectd build-engine` runs the build in the foreground; the daemon's background upgrade runs the same
 * build in a child process (trt-build-child.ts) so that trtexec's minutes, and its failures, stay out of it.
 */
import { spawn } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { mkdir, rename, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { ErrorCodes, InspectdError, errorMessage } from '../errors.js';
import type { Logger } from '../ops/log.js';
import { tryLoadNativeAddon, type NativeAddon } from '../native/loader.js';
import { engineCachePath, resolveEngineCacheKey, type TrtPrecision } from './tensorrt.js';

/** Where findTrtexec looks, for messages. */
export const TRTEXEC_NOT_FOUND = 'trtexec was not found on PATH, in /usr/src/tensorrt/bin or $TENSORRT_ROOT/bin';

/** trtexec on PATH, else where JetPack and the TensorRT tarballs put it. */
export function findTrtexec(env: NodeJS.ProcessEnv = process.env): string | null {
  const dirs = (env.PATH ?? '').split(path.delimiter).filter(Boolean);
  const extra = ['/usr/src/tensorrt/bin', env.TENSORRT_ROOT ? path.join(env.TENSORRT_ROOT, 'bin') : ''];
  for (const dir of [...dirs, ...extra.filter(Boolean)]) {
    const file = path.join(dir, 'trtexec');
    try {
      accessSync(file, constants.X_OK);
      return file;
    } catch {
      // keep looking
    }
  }
  return null;
}

/** What to build: the model, where the cache is, and the precision. */
export interface TrtBuildRequest {
  onnxPath: string;
  cacheDir: string;
  precision: TrtPrecision;
}

export interface TrtBuildOptions extends TrtBuildRequest {
  /** Checks TensorRT and the GPU for the cache key; null: not built; default: the production addon, loaded once trtexec is found. */
  addon?: NativeAddon | null;
  /** Environment of trtexec, and where it is looked for; default process.env. */
  env?: NodeJS.ProcessEnv;
  /** What the build is doing, in lines of its own (the trtexec command line, a failed start). */
  onStatus?: (line: string) => void;
  /** trtexec's output (stdout and stderr), as it arrives. */
  onOutput?: (text: string) => void;
}

/**
 * Runs trtexec into a temporary file and renames it to the cache file (atomic: a reader never sees half an
 * engine); resolves the cache file's path. Throws ENGINE_UNAVAILABLE when TensorRT cannot work here,
 * ENGINE_BUILD when trtexec fails.
 */
export async function buildTensorRtEngine(opts: TrtBuildOptions): Promise<string> {
  const env = opts.env ?? process.env;
  const trtexec = findTrtexec(env);
  if (!trtexec) {
    throw new InspectdError(
      ErrorCodes.ENGINE_UNAVAILABLE,
      `TensorRT is not installed (${TRTEXEC_NOT_FOUND}). Install TensorRT (JetPack ships it) and rebuild the addon with ` +
        '`npm run build:native`; until then inspectd serves on onnxruntime.',
    );
  }
  const addon = opts.addon === undefined ? tryLoadNativeAddon('inspectd_native') : opts.addon;
  if (!addon) throw new InspectdError(ErrorCodes.ENGINE_UNAVAILABLE, 'the native addon is not built; run `npm run build:native` first');
  const key = await resolveEngineCacheKey(addon, opts.onnxPath, opts.precision);
  const target = engineCachePath(opts.cacheDir, key);
  await mkdir(opts.cacheDir, { recursive: true });
  const tmp = `${target}.tmp-${process.pid}`;
  const args = [`--onnx=${path.resolve(opts.onnxPath)}`, `--saveEngine=${tmp}`];
  if (opts.precision === 'fp16') args.push('--fp16');
  if (opts.precision === 'int8') args.push('--int8', '--fp16'); // fp16 fallback for layers without int8 kernels
  opts.onStatus?.(`${trtexec} ${args.join(' ')}\n(this takes minutes on a Jetson; progress follows)`);
  const code = await new Promise<number>((resolve) => {
    const child = spawn(trtexec, args, { stdio: ['ignore', 'pipe', 'pipe'], env });
    child.stdout.on('data', (d: Buffer) => opts.onOutput?.(d.toString()));
    child.stderr.on('data', (d: Buffer) => opts.onOutput?.(d.toString()));
    child.on('error', (e) => {
      opts.onStatus?.(`could not start ${trtexec}: ${e.message}`);
      resolve(1);
    });
    child.on('close', (c) => resolve(c ?? 1));
  });
  if (code !== 0) {
    await rm(tmp, { force: true });
    throw new InspectdError(ErrorCodes.ENGINE_BUILD, `trtexec failed with exit code ${code}; see its output above`);
  }
  try {
    await rename(tmp, target);
  } catch (e) {
    await rm(tmp, { force: true });
    throw new InspectdError(ErrorCodes.ENGINE_BUILD, `trtexec wrote no engine (${errorMessage(e)})`, { cause: e });
  }
  return target;
}

export interface TrtBuildOutput {
  stdout: (text: string) => void;
  stderr: (text: string) => void;
}

/**
 * The build as `inspectd build-engine` reports it: progress, trtexec's output and any failure on stderr,
 * the engine's path alone on stdout. Resolves the exit code: 0, or 1 whatever failed.
 */
export async function runTrtBuild(opts: Omit<TrtBuildOptions, 'onStatus' | 'onOutput'>, out: TrtBuildOutput): Promise<number> {
  try {
    const target = await buildTensorRtEngine({
      ...opts,
      onStatus: (line) => out.stderr(`inspectd build-engine: ${line}\n`),
      onOutput: out.stderr,
    });
    out.stdout(`${target}\n`);
    return 0;
  } catch (e) {
    out.stderr(`inspectd build-engine: ${errorMessage(e)}\n`);
    return 1;
  }
}

/** Lines of build output kept for the failure reason. */
const TAIL_LINES = 8;
/** The build competes with inference for the CPU (ONNX parsing, tactic timing); serving wins. */
const BUILD_NICE = 10;
/** The child's entry, compiled beside this file. */
const CHILD_ENTRY = fileURLToPath(new URL('./trt-build-child.js', import.meta.url));

/** The error of a build stopped by its AbortSignal. */
export function buildCancelled(): InspectdError {
  return new InspectdError(ErrorCodes.ENGINE_BUILD, 'TensorRT engine build cancelled');
}

export interface BuildInBackgroundOptions extends TrtBuildRequest {
  /** The cache file the build will write (for cleaning its temporary file when cancelled). */
  target: string;
  /** Environment of the child (PATH for trtexec, INSPECTD_NATIVE_DIR); default process.env. */
  env?: NodeJS.ProcessEnv;
  logger: Logger;
  signal?: AbortSignal;
}

/**
 * Runs the build (runTrtBuild, in trt-build-child.ts) in a child process of its own process group, so
 * cancelling also stops trtexec, and resolves with the engine path it printed. Progress goes to the debug
 * log; a failure carries the output's tail.
 */
export function buildEngineInBackground(opts: BuildInBackgroundOptions): Promise<string> {
  const { logger, signal } = opts;
  if (signal?.aborted) return Promise.reject(buildCancelled());
  const request: TrtBuildRequest = { onnxPath: opts.onnxPath, cacheDir: opts.cacheDir, precision: opts.precision };
  const args = [CHILD_ENTRY, JSON.stringify(request)];
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
        // The child dies before renaming its temporary file: remove it.
        void rm(`${opts.target}.tmp-${child.pid}`, { force: true })
          .catch(() => undefined)
          .then(() => reject(buildCancelled()));
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

/** Reads the child's request (buildEngineInBackground writes it); throws USAGE when it is not one. */
export function parseTrtBuildRequest(text: string | undefined): TrtBuildRequest {
  const req = parseJson(text) as Partial<Record<keyof TrtBuildRequest, unknown>> | null;
  const precisions: readonly unknown[] = ['fp32', 'fp16', 'int8'] satisfies TrtPrecision[];
  if (typeof req !== 'object' || req === null || typeof req.onnxPath !== 'string' || typeof req.cacheDir !== 'string' || !precisions.includes(req.precision)) {
    throw new InspectdError(ErrorCodes.USAGE, `trt-build-child: expected a JSON build request {onnxPath, cacheDir, precision}, got ${JSON.stringify(text)}`);
  }
  return { onnxPath: req.onnxPath, cacheDir: req.cacheDir, precision: req.precision as TrtPrecision };
}

function parseJson(text: string | undefined): unknown {
  try {
    return JSON.parse(text ?? '');
  } catch {
    return undefined;
  }
}
