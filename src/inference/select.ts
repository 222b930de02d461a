/**
 * The engine fallback chain (README.md "GPU: onnxruntime CUDA and TensorRT"): auto = TensorRT -> onnxruntime CUDA -> onnxruntime CPU.
 * In the daemon an explicit preference that cannot be met still falls back (logged as a warning, listed
 * in the refusals): an edge box keeps serving on CPU rather than stopping. With `strict` (the CLI's
 * explicit --engine) the preference is a demand: only that engine, or an error saying why not.
 */
import { readFile } from 'node:fs/promises';
import { InspectdError, ErrorCodes, errorMessage, isInspectdError } from '../errors.js';
import type { Logger } from '../ops/log.js';
import type { NativeAddon } from '../native/loader.js';
import type { Engine, EngineKind, EnginePreference, EngineRefusal } from '../contracts/engine.js';
import { createOrtEngine, type OrtSpin } from './ort.js';
import { createTensorRtEngine, defaultEngineCacheDir } from './tensorrt.js';

export interface CreateEngineOptions {
  modelPath: string;
  preference: EnginePreference;
  threads: number;
  /** onnxruntime inter-op threads (default 1) and spinning (default 'during-runs'); see ort.ts. */
  interOpThreads?: number;
  spin?: OrtSpin;
  /** onnxruntime: runs write into recycled output buffers (default true). */
  reuseOutputs?: boolean;
  engineCacheDir?: string;
  logger: Logger;
  /** The model bytes when the caller already read them (saves reading the file twice). */
  modelBytes?: Uint8Array;
  /** [h, w] for dynamic input axes during warm-up. */
  warmupSize?: [number, number];
  /** Addon for the TensorRT engine; default the production addon (tests pass the stand-in). */
  trtAddon?: NativeAddon;
  /** Only the preferred engine (no fallback); ignored for 'auto'. */
  strict?: boolean;
}

const CHAIN: Record<EnginePreference, EngineKind[]> = {
  auto: ['tensorrt', 'ort-cuda', 'ort-cpu'],
  tensorrt: ['tensorrt', 'ort-cuda', 'ort-cpu'],
  cuda: ['ort-cuda', 'ort-cpu'],
  cpu: ['ort-cpu'],
};

const PREFERRED: Record<EnginePreference, EngineKind | undefined> = {
  auto: undefined,
  tensorrt: 'tensorrt',
  cuda: 'ort-cuda',
  cpu: 'ort-cpu',
};

function ortOptions(opts: CreateEngineOptions) {
  const { threads, interOpThreads, spin, reuseOutputs, warmupSize, logger } = opts;
  return { threads, interOpThreads, spin, reuseOutputs, warmupSize, logger };
}

export async function createEngine(opts: CreateEngineOptions): Promise<{ engine: Engine; refusals: EngineRefusal[] }> {
  const { logger } = opts;
  let bytes = opts.modelBytes;
  if (!bytes) {
    try {
      bytes = await readFile(opts.modelPath);
    } catch (err) {
      throw new InspectdError(ErrorCodes.MODEL_NOT_FOUND, `cannot read model ${opts.modelPath}: ${errorMessage(err)}`, { cause: err });
    }
  }
  const refusals: EngineRefusal[] = [];
  const demanded = opts.strict ? PREFERRED[opts.preference] : undefined;
  for (const kind of demanded ? [demanded] : CHAIN[opts.preference]) {
    try {
      let engine: Engine;
      switch (kind) {
        case 'tensorrt':
          engine = await createTensorRtEngine({
            onnxPath: opts.modelPath,
            cacheDir: opts.engineCacheDir ?? defaultEngineCacheDir(),
            addon: opts.trtAddon,
            logger,
          });
          break;
        case 'ort-cuda':
          engine = await createOrtEngine({ ...ortOptions(opts), model: bytes, provider: 'cuda' });
          break;
        case 'ort-cpu':
          engine = await createOrtEngine({ ...ortOptions(opts), model: bytes, provider: 'cpu' });
          break;
      }
      const preferred = PREFERRED[opts.preference];
      if (preferred !== undefined && preferred !== kind) {
        logger.warn({ engine: kind, preference: opts.preference, refusals }, `engine '${opts.preference}' unavailable, serving on ${kind}`);
      } else {
        logger.info({ engine: kind, preference: opts.preference, refusals }, `engine ${kind} selected`);
      }
      return { engine, refusals };
    } catch (err) {
      if (demanded !== undefined && kind !== 'ort-cpu' && !isInspectdError(err, ErrorCodes.MODEL_LAYOUT)) {
        throw new InspectdError(
          ErrorCodes.ENGINE_UNAVAILABLE,
          `engine '${opts.preference}' is not available here: ${errorMessage(err)} (use --engine auto to fall back to what is)`,
          { cause: err },
        );
      }
      // The CPU engine is the last resort: its failure means the model itself is unusable.
      if (kind === 'ort-cpu') {
        if (isInspectdError(err)) throw err;
        throw new InspectdError(ErrorCodes.MODEL_INVALID, `cannot load model ${opts.modelPath}: ${errorMessage(err)}`, { cause: err });
      }
      // A model that loads but has a layout we refuse is refused by every engine: stop here.
      if (isInspectdError(err, ErrorCodes.MODEL_LAYOUT)) throw err;
      const reason = errorMessage(err);
      refusals.push({ kind, reason });
      logger.info({ engine: kind, reason }, `engine ${kind} refused`);
    }
  }
  // Unreachable: every chain ends with ort-cpu, which returns or throws.
  throw new InspectdError(ErrorCodes.ENGINE_UNAVAILABLE, 'no engine available');
}
