/**
 * `inspectd build-engine --model M.onnx [--fp16|--int8] [--cache DIR]`: builds a TensorRT engine with
 * trtexec and stores it under the cache key src/inference/tensorrt.ts looks for.
 */
import { spawn } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { mkdir, rename, rm } from 'node:fs/promises';
import path from 'node:path';
import { errorMessage } from '../errors.js';
import { tryLoadNativeAddon, type NativeAddon } from '../native/loader.js';
import {
  defaultEngineCacheDir,
  engineCachePath,
  resolveEngineCacheKey,
  type TrtPrecision,
} from '../inference/tensorrt.js';

export interface BuildEngineDeps {
  /** Default: the production addon. */
  addon?: NativeAddon | null;
  env?: NodeJS.ProcessEnv;
  /** Progress and errors; default process.stderr. */
  stderr?: (text: string) => void;
  /** The result line (engine path); default process.stdout. */
  stdout?: (text: string) => void;
}

const USAGE = 'usage: inspectd build-engine --model M.onnx [--fp16|--int8] [--cache DIR]';

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

export async function buildEngineCommand(argv: string[], deps: BuildEngineDeps = {}): Promise<number> {
  const err = deps.stderr ?? ((t: string) => void process.stderr.write(t));
  const out = deps.stdout ?? ((t: string) => void process.stdout.write(t));
  const env = deps.env ?? process.env;

  let model: string | undefined;
  let cacheDir: string | undefined;
  let precision: TrtPrecision = 'fp32';
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--model' && i + 1 < argv.length) model = argv[++i];
    else if (a.startsWith('--model=')) model = a.slice('--model='.length);
    else if (a === '--cache' && i + 1 < argv.length) cacheDir = argv[++i];
    else if (a.startsWith('--cache=')) cacheDir = a.slice('--cache='.length);
    else if (a === '--fp16' || a === '--int8') {
      const p = a.slice(2) as TrtPrecision;
      if (precision !== 'fp32' && precision !== p) {
        err(`inspectd build-engine: --fp16 and --int8 exclude each other\n${USAGE}\n`);
        return 2;
      }
      precision = p;
    } else if (a === '--help' || a === '-h') {
      out(`${USAGE}\n`);
      return 0;
    } else {
      err(`inspectd build-engine: unknown argument '${a}'\n${USAGE}\n`);
      return 2;
    }
  }
  if (!model) {
    err(`inspectd build-engine: --model is required\n${USAGE}\n`);
    return 2;
  }
  cacheDir ??= defaultEngineCacheDir(env);

  const trtexec = findTrtexec(env);
  if (!trtexec) {
    err(
      'inspectd build-engine: TensorRT is not installed (trtexec was not found on PATH, in /usr/src/tensorrt/bin ' +
        'or $TENSORRT_ROOT/bin). Install TensorRT (JetPack ships it) and rebuild the addon with `npm run build:native`; ' +
        'until then inspectd serves on onnxruntime.\n',
    );
    return 1;
  }
  const addon = deps.addon === undefined ? tryLoadNativeAddon('inspectd_native') : deps.addon;
  if (!addon) {
    err('inspectd build-engine: the native addon is not built; run `npm run build:native` first\n');
    return 1;
  }
  let target: string;
  try {
    const key = await resolveEngineCacheKey(addon, model, precision);
    target = engineCachePath(cacheDir, key);
  } catch (e) {
    err(`inspectd build-engine: ${errorMessage(e)}\n`);
    return 1;
  }
  await mkdir(cacheDir, { recursive: true });
  const tmp = `${target}.tmp-${process.pid}`;
  const args = [`--onnx=${path.resolve(model)}`, `--saveEngine=${tmp}`];
  if (precision === 'fp16') args.push('--fp16');
  if (precision === 'int8') args.push('--int8', '--fp16'); // fp16 fallback for layers without int8 kernels
  err(`inspectd build-engine: ${trtexec} ${args.join(' ')}\n(this takes minutes on a Jetson; progress follows)\n`);
  const code = await new Promise<number>((resolve) => {
    const child = spawn(trtexec, args, { stdio: ['ignore', 'pipe', 'pipe'], env });
    child.stdout.on('data', (d: Buffer) => err(d.toString()));
    child.stderr.on('data', (d: Buffer) => err(d.toString()));
    child.on('error', (e) => {
      err(`inspectd build-engine: could not start ${trtexec}: ${e.message}\n`);
      resolve(1);
    });
    child.on('close', (c) => resolve(c ?? 1));
  });
  if (code !== 0) {
    await rm(tmp, { force: true });
    err(`inspectd build-engine: trtexec failed with exit code ${code}; see its output above\n`);
    return 1;
  }
  try {
    await rename(tmp, target); // atomic: a reader never sees half an engine
  } catch (e) {
    await rm(tmp, { force: true });
    err(`inspectd build-engine: trtexec wrote no engine (${errorMessage(e)})\n`);
    return 1;
  }
  out(`${target}\n`);
  return 0;
}
