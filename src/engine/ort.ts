/**
 * onnxruntime-node backend. CPU always works (the provider ships in the package); CUDA needs the provider
 * libraries that the .npmrc tells onnxruntime-node's installer not to download, so creating a CUDA session
 * is tried and its failure reported to the caller (select.ts falls back to CPU with the reason).
 */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import * as ort from 'onnxruntime-node';
import { InspectdError, ErrorCodes, errorMessage } from '../errors.js';
import type { Logger } from '../ops/log.js';
import type { Engine, EngineKind, OutputTensor, TensorSpec } from './engine.js';

export interface OrtEngineOptions {
  /** Path or the model bytes (read once by the caller). */
  model: string | Uint8Array;
  provider: 'cpu' | 'cuda';
  /** Intra-op threads; 0 = os.availableParallelism(). */
  threads: number;
  /** [h, w] to use for dynamic spatial input axes during warm-up. */
  warmupSize?: [number, number];
  logger?: Logger;
}

function toSpec(m: ort.InferenceSession.ValueMetadata): TensorSpec {
  if (!m.isTensor) {
    throw new InspectdError(ErrorCodes.MODEL_LAYOUT, `model value '${m.name}' is not a tensor; inspectd needs tensor inputs and outputs`);
  }
  const shape = m.shape.map((d) => (typeof d === 'number' && d > 0 ? d : -1));
  if (m.type !== 'float32' && m.type !== 'float16') {
    throw new InspectdError(ErrorCodes.MODEL_LAYOUT, `model value '${m.name}' has type ${m.type}; inspectd needs float32 or float16 inputs and outputs`);
  }
  return { name: m.name, shape, type: m.type };
}

// IEEE half <-> single, for fp16 models (inputs converted on the way in, outputs on the way out).
const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);
function toHalf(v: number): number {
  f32[0] = v;
  const x = u32[0];
  const sign = (x >>> 16) & 0x8000;
  const exp = ((x >>> 23) & 0xff) - 127 + 15;
  const mant = x & 0x7fffff;
  if (exp <= 0) return sign; // tiny values flush to zero: inputs are in [0, 1]
  if (exp >= 31) return sign | 0x7c00;
  return sign | (exp << 10) | ((mant + 0x1000) >> 13);
}
function fromHalf(h: number): number {
  const s = h & 0x8000 ? -1 : 1;
  const e = (h >> 10) & 0x1f;
  const m = h & 0x3ff;
  if (e === 0) return s * m * 2 ** -24;
  if (e === 31) return m ? NaN : s * Infinity;
  return s * (1 + m / 1024) * 2 ** (e - 15);
}

/**
 * Why the CUDA provider cannot load, when that is known without trying: onnxruntime-node looks for
 * libonnxruntime_providers_cuda.so beside its binding, and trying without it only prints a native error.
 */
export function cudaProviderMissing(): string | undefined {
  if (process.platform !== 'linux' && process.platform !== 'win32') return `no CUDA provider for ${process.platform}`;
  try {
    const entry = createRequire(import.meta.url).resolve('onnxruntime-node');
    const dir = path.join(path.dirname(entry), '..', 'bin', 'napi-v6', process.platform, process.arch);
    const lib = process.platform === 'win32' ? 'onnxruntime_providers_cuda.dll' : 'libonnxruntime_providers_cuda.so';
    if (!existsSync(path.join(dir, lib))) {
      return `onnxruntime-node has no CUDA provider libraries (${lib} not in ${dir}); see README "GPU" to install them`;
    }
  } catch {
    return undefined; // unknown layout: let session creation decide
  }
  return undefined;
}

export class OrtEngine implements Engine {
  private inFlight = 0;
  private disposed = false;

  private constructor(
    readonly kind: EngineKind,
    private readonly session: ort.InferenceSession,
    readonly inputs: readonly TensorSpec[],
    readonly outputs: readonly TensorSpec[],
  ) {}

  static async create(opts: OrtEngineOptions): Promise<OrtEngine> {
    const threads = opts.threads > 0 ? opts.threads : os.availableParallelism();
    const sessionOptions: ort.InferenceSession.SessionOptions = {
      executionProviders: opts.provider === 'cuda' ? ['cuda'] : ['cpu'],
      intraOpNumThreads: threads,
      // One model, one run at a time: inter-op threads would only compete with intra-op ones.
      interOpNumThreads: 1,
      graphOptimizationLevel: 'all',
      executionMode: 'sequential',
    };
    if (opts.provider === 'cuda') {
      const missing = cudaProviderMissing();
      if (missing) throw new InspectdError(ErrorCodes.ENGINE_UNAVAILABLE, missing);
    }
    let session: ort.InferenceSession;
    try {
      session = typeof opts.model === 'string' ? await ort.InferenceSession.create(opts.model, sessionOptions) : await ort.InferenceSession.create(opts.model, sessionOptions);
    } catch (err) {
      if (opts.provider === 'cuda') {
        throw new InspectdError(ErrorCodes.ENGINE_UNAVAILABLE, `onnxruntime CUDA provider unavailable: ${errorMessage(err)}`, { cause: err });
      }
      throw new InspectdError(
        ErrorCodes.MODEL_INVALID,
        `onnxruntime cannot load the model: ${errorMessage(err)}; check that the file is a complete ONNX export`,
        { cause: err },
      );
    }
    let engine: OrtEngine;
    try {
      const inputs = session.inputMetadata.map(toSpec);
      const outputs = session.outputMetadata.map(toSpec);
      if (inputs.length !== 1 || inputs[0].shape.length !== 4) {
        throw new InspectdError(
          ErrorCodes.MODEL_LAYOUT,
          `model input shape ${inputs.map((i) => `[${i.shape.join(', ')}]`).join(', ')} is not one NCHW image input; re-export the model as a detect model`,
        );
      }
      engine = new OrtEngine(opts.provider === 'cuda' ? 'ort-cuda' : 'ort-cpu', session, inputs, outputs);
    } catch (err) {
      await session.release();
      throw err;
    }
    // Warm-up: the first run allocates arenas and (CUDA) picks kernels; do it before serving.
    const [, c, h, w] = engine.inputs[0].shape;
    const dims = [1, c > 0 ? c : 3, h > 0 ? h : (opts.warmupSize?.[0] ?? 640), w > 0 ? w : (opts.warmupSize?.[1] ?? 640)];
    try {
      await engine.run(new Float32Array(dims[0] * dims[1] * dims[2] * dims[3]), dims);
    } catch (err) {
      await engine.dispose();
      throw err;
    }
    opts.logger?.debug({ engine: engine.kind, threads, inputs: engine.inputs, outputs: engine.outputs }, 'onnxruntime session ready');
    return engine;
  }

  async run(input: Float32Array, dims: number[]): Promise<OutputTensor[]> {
    if (this.disposed) throw new InspectdError(ErrorCodes.ENGINE_DISPOSED, 'engine was disposed; load the model again');
    const spec = this.inputs[0];
    const count = dims.reduce((a, b) => a * b, 1);
    if (dims.length !== spec.shape.length || input.length !== count || spec.shape.some((d, i) => d > 0 && d !== dims[i])) {
      throw new InspectdError(ErrorCodes.ENGINE_SHAPE, `input [${dims.join(', ')}] (${input.length} values) does not fit the model input [${spec.shape.join(', ')}]`);
    }
    let tensor: ort.Tensor;
    if (spec.type === 'float16') {
      const h = new Uint16Array(input.length);
      for (let i = 0; i < input.length; i++) h[i] = toHalf(input[i]);
      tensor = new ort.Tensor('float16', h, dims);
    } else {
      tensor = new ort.Tensor('float32', input, dims);
    }
    this.inFlight++;
    let results: ort.InferenceSession.ReturnType;
    try {
      results = await this.session.run({ [spec.name]: tensor });
    } catch (err) {
      throw new InspectdError(ErrorCodes.ENGINE_RUN, `onnxruntime run failed: ${errorMessage(err)}`, { cause: err });
    } finally {
      this.inFlight--;
    }
    return this.outputs.map((o) => {
      const t = results[o.name];
      let data: Float32Array;
      if (t.type === 'float32') data = t.data as Float32Array;
      else if (t.type === 'float16') {
        const src = t.data as unknown as ArrayLike<number>;
        data = new Float32Array(src.length);
        // Uint16Array holds raw halves; a Float16Array (newer runtimes) already holds numbers.
        if (src instanceof Uint16Array) for (let i = 0; i < src.length; i++) data[i] = fromHalf(src[i]);
        else for (let i = 0; i < src.length; i++) data[i] = src[i];
      } else throw new InspectdError(ErrorCodes.ENGINE_RUN, `output '${o.name}' has type ${t.type}; expected float32 or float16`);
      return { name: o.name, dims: [...t.dims], data };
    });
  }

  async dispose(): Promise<void> {
    if (this.inFlight > 0) {
      throw new InspectdError(ErrorCodes.ENGINE_BUSY, `engine has ${this.inFlight} run(s) in flight; wait for them before disposing`);
    }
    if (this.disposed) return;
    this.disposed = true;
    await this.session.release();
  }
}

export function createOrtEngine(opts: OrtEngineOptions): Promise<OrtEngine> {
  return OrtEngine.create(opts);
}
