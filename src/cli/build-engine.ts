/**
 * `inspectd build-engine --model M.onnx [--fp16|--int8] [--cache DIR]`: builds a TensorRT engine with
 * trtexec (src/inference/trt-build.ts) and stores it under the cache key src/inference/tensorrt.ts looks for.
 */
import { ErrorCodes, isInspectdError } from '../errors.js';
import type { NativeAddon } from '../native/loader.js';
import { defaultEngineCacheDir } from '../inference/tensorrt.js';
import { runTrtBuild, type TrtBuildRequest } from '../inference/trt-build.js';
import { EXIT_OK, EXIT_USAGE, parseCommandArgs, usageError } from './args.js';

export interface BuildEngineDeps {
  /** Default: the production addon. */
  addon?: NativeAddon | null;
  env?: NodeJS.ProcessEnv;
  /** Progress and errors; default process.stderr. */
  stderr?: (text: string) => void;
  /** The result line (engine path); default process.stdout. */
  stdout?: (text: string) => void;
}

const HELP = 'usage: inspectd build-engine --model M.onnx [--fp16|--int8] [--cache DIR]\n';

/** The build request in argv, or undefined after --help; usage errors throw. */
function parse(argv: string[], env: NodeJS.ProcessEnv): TrtBuildRequest | undefined {
  const parsed = parseCommandArgs(argv, HELP, {
    model: { type: 'string' },
    cache: { type: 'string' },
    fp16: { type: 'boolean' },
    int8: { type: 'boolean' },
  });
  if (!parsed) return undefined;
  const { model, cache, fp16, int8 } = parsed.values;
  if (fp16 && int8) throw usageError(`--fp16 and --int8 exclude each other\n${HELP}`);
  if (!model) throw usageError(`--model is required\n${HELP}`);
  return { onnxPath: model, cacheDir: cache ?? defaultEngineCacheDir(env), precision: fp16 ? 'fp16' : int8 ? 'int8' : 'fp32' };
}

export async function buildEngineCommand(argv: string[], deps: BuildEngineDeps = {}): Promise<number> {
  const err = deps.stderr ?? ((t: string) => void process.stderr.write(t));
  const out = deps.stdout ?? ((t: string) => void process.stdout.write(t));
  const env = deps.env ?? process.env;
  let request: TrtBuildRequest | undefined;
  try {
    request = parse(argv, env);
  } catch (e) {
    if (!isInspectdError(e, ErrorCodes.USAGE)) throw e;
    // Reported here rather than by main: tests and callers pass their own stderr.
    err(`inspectd build-engine: ${e.message}`);
    return EXIT_USAGE;
  }
  if (!request) return EXIT_OK;
  return runTrtBuild({ ...request, addon: deps.addon, env }, { stdout: out, stderr: err });
}
