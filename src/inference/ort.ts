/**
 * onnxruntime-node backend. CPU always works (the provider ships in the package); CUDA needs the provider
 * libraries that the .npmrc tells onnxruntime-node's installer not to download, so creating a CUDA session
 * is tried and its failure reported to the caller (select.ts falls back to CPU with the reason).
 */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { Worker } from 'node:worker_threads';
import type * as ort from 'onnxruntime-node';
import { InspectdError, ErrorCodes, errorMessage } from '../errors.js';
import type { Logger } from '../ops/log.js';
import { DEFAULT_SPIN, SPIN_BRIEFLY_US, type Engine, type EngineKind, type OutputTensor, type RunTiming, type SpinMode, type TensorSpec } from '../contracts/engine.js';
import { NativeState, type OrtWorkerData, type OrtWorkerReply, type OrtWorkerRequest } from './ort-protocol.js';

/** Spinning of onnxruntime's threads: contracts/engine.ts SpinMode. */
export type OrtSpin = SpinMode;
export { DEFAULT_SPIN };

export interface OrtThreading {
  /** Intra-op threads; 0 = auto (autoIntraOpThreads: all cores, one fewer for a light model on CPU). */
  threads: number;
  /** Inter-op threads; more than 1 runs independent graph branches in parallel (execution mode 'parallel'). Default 1. */
  interOpThreads?: number;
  /** Default DEFAULT_SPIN. */
  spin?: OrtSpin;
}

export interface OrtEngineOptions extends OrtThreading {
  /** Path or the model bytes (read once by the caller). */
  model: string | Uint8Array;
  provider: 'cpu' | 'cuda';
  /** [h, w] to use for dynamic spatial input axes during warm-up. */
  warmupSize?: [number, number];
  /** Let runs write into output buffers the caller recycled (Engine.recycle). Default true; false allocates every run. */
  reuseOutputs?: boolean;
  logger?: Logger;
}

/**
 * A model whose run takes less than this on all cores is light: the pipeline's own work per frame
 * (letterbox, decode, publish: 1-2 ms) or a JPEG decode (5-7 ms at 720p-1080p) is then a large share of
 * the frame, and on a small box it only runs by preempting onnxruntime's threads mid-run, whose partners
 * then spin at the barrier. Measured on 2 cores (README "Performance"; separate runs, so indicative): the
 * 2.8 ms demo model camera-fed keeps ~95 % of its frames/s with 1 thread at ~25 % less CPU per frame, and
 * its JPEG path is ~1.4x faster; yolov8n (61 ms) runs at 0.63x with 1 thread (interleaved bare loops),
 * so heavy models keep every core.
 */
export const LIGHT_RUN_MS = 10;

/**
 * model.threads 0: how many intra-op threads, from the cores and the median run time on all of them.
 * A light model leaves one core to the rest of the daemon; a heavy one, or a box of one core, uses all.
 */
export function autoIntraOpThreads(cores: number, allCoresRunMs: number): number {
  if (cores < 2 || !(allCoresRunMs < LIGHT_RUN_MS)) return Math.max(1, cores);
  return cores - 1;
}

/** The onnxruntime session options for these thread and spin settings (the bench's bare loops use them too). */
export function ortSessionOptions(provider: 'cpu' | 'cuda', t: OrtThreading): ort.InferenceSession.SessionOptions {
  const interOp = t.interOpThreads ?? 1;
  const spinning = t.spin ?? DEFAULT_SPIN;
  const session: Record<string, unknown> = {};
  if (spinning === 'during-runs') session.force_spinning_stop = '1';
  if (spinning === 'briefly') session.intra_op = { spin_duration_us: String(SPIN_BRIEFLY_US) };
  if (spinning === 'never') {
    session.intra_op = { allow_spinning: '0' };
    session.inter_op = { allow_spinning: '0' };
  }
  return {
    executionProviders: provider === 'cuda' ? ['cuda'] : ['cpu'],
    intraOpNumThreads: t.threads > 0 ? t.threads : os.availableParallelism(),
    interOpNumThreads: interOp,
    graphOptimizationLevel: 'all',
    // A YOLO graph is one chain: parallel execution only pays for branchy graphs, and only with inter-op threads.
    executionMode: interOp > 1 ? 'parallel' : 'sequential',
    ...(Object.keys(session).length > 0 ? { extra: { session } } : {}),
  };
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

/** The worker script, compiled beside this file (dist/src/inference/ort-worker.js). */
const WORKER_URL = new URL('./ort-worker.js', import.meta.url);
/** How long dispose waits for the worker to release its session, and exit for a native call to return. */
const STOP_WAIT_MS = 5000;
/** Input staging buffers kept per engine: one per concurrent caller (camera) is plenty. */
const POOL_MAX = 4;
/** Runs timed on all cores to decide model.threads 0 (auto). */
const AUTO_TIMING_RUNS = 5;
/** Output buffer sets kept for reuse: one per run in flight (the pipeline has at most two) and a spare. */
const OUT_POOL_MAX = 3;

/** Swaps IDLE for STOPPING, waiting (synchronously) up to the deadline while a native call runs. */
function barNativeSync(cell: Int32Array, deadline: number): boolean {
  for (;;) {
    if (Atomics.compareExchange(cell, 0, NativeState.IDLE, NativeState.STOPPING) !== NativeState.NATIVE) return true;
    const left = deadline - Date.now();
    if (left <= 0) return false;
    Atomics.wait(cell, 0, NativeState.NATIVE, left);
  }
}

/** The same without blocking this thread (dispose): polls, since a native call is rarely running here. */
async function barNative(cell: Int32Array, deadline: number): Promise<boolean> {
  for (;;) {
    if (Atomics.compareExchange(cell, 0, NativeState.IDLE, NativeState.STOPPING) !== NativeState.NATIVE) return true;
    if (Date.now() >= deadline) return false;
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

/**
 * The worker threads of the engines alive now. For the fault tests (test/faults/), which make one fail the way a
 * bug in it would; worker.terminate() is no such test: stopping a thread inside a native run aborts the process.
 */
const workerThreads = new Set<Worker>();
export function ortWorkerThreads(): readonly Worker[] {
  return [...workerThreads];
}

/** NativeState cells of the live workers, for the exit guard. */
const liveWorkers = new Set<Int32Array>();
let exitGuarded = false;

/**
 * On process exit (process.exit(), an uncaught exception) Node stops the worker threads: first let every
 * native call in flight return ('exit' listeners may only block), then the threads stop safely.
 */
function guardExit(cell: Int32Array): void {
  liveWorkers.add(cell);
  if (exitGuarded) return;
  exitGuarded = true;
  process.on('exit', () => {
    const deadline = Date.now() + STOP_WAIT_MS;
    for (const c of liveWorkers) barNativeSync(c, deadline);
  });
}

interface WorkerHandle {
  worker: Worker;
  /** NativeState cell shared with the worker. */
  state: Int32Array;
}

interface Pending {
  resolve: (outputs: OutputTensor[]) => void;
  reject: (err: Error) => void;
  timing: RunTiming | undefined;
}

/** Waits for the worker's 'ready' (or its load failure, error or exit), mapping failures to inspectd errors. */
function waitReady(worker: Worker, provider: 'cpu' | 'cuda'): Promise<Extract<OrtWorkerReply, { type: 'ready' }>> {
  return new Promise((resolve, reject) => {
    const done = (): void => {
      worker.off('message', onMessage);
      worker.off('error', onError);
      worker.off('exit', onExit);
    };
    const onMessage = (msg: OrtWorkerReply): void => {
      done();
      if (msg.type === 'ready') {
        resolve(msg);
        return;
      }
      const why = msg.type === 'load-error' ? msg.message : `unexpected '${msg.type}' message`;
      if (provider === 'cuda') reject(new InspectdError(ErrorCodes.ENGINE_UNAVAILABLE, `onnxruntime CUDA provider unavailable: ${why}`));
      else reject(new InspectdError(ErrorCodes.MODEL_INVALID, `onnxruntime cannot load the model: ${why}; check that the file is a complete ONNX export`));
    };
    const onError = (err: Error): void => {
      done();
      reject(
        new InspectdError(ErrorCodes.ENGINE_UNAVAILABLE, `onnxruntime worker thread failed: ${errorMessage(err)}; check that onnxruntime-node is installed and dist/ is complete`, {
          cause: err,
        }),
      );
    };
    const onExit = (code: number): void => {
      done();
      reject(new InspectdError(ErrorCodes.ENGINE_UNAVAILABLE, `onnxruntime worker thread exited with code ${code} while loading the model`));
    };
    worker.on('message', onMessage);
    worker.on('error', onError);
    worker.on('exit', onExit);
  });
}

/**
 * Asks the worker to release its session, then terminates the thread (also when it does not answer, but
 * never inside a native call). Returns what went wrong, if anything.
 */
async function stopWorker({ worker, state }: WorkerHandle): Promise<string | undefined> {
  worker.ref(); // whoever awaits dispose() sees it finish
  worker.on('error', () => undefined); // its exit is what counts here; an unheard 'error' would throw
  let timer: NodeJS.Timeout | undefined;
  let onMessage: ((msg: OrtWorkerReply) => void) | undefined;
  const released = new Promise<string | undefined>((resolve) => {
    onMessage = (msg) => {
      if (msg.type === 'released') resolve(msg.error);
    };
    worker.on('message', onMessage);
    worker.once('exit', () => resolve(undefined));
    timer = setTimeout(() => resolve(`the worker did not release its session within ${STOP_WAIT_MS} ms`), STOP_WAIT_MS);
  });
  worker.postMessage({ type: 'release' } satisfies OrtWorkerRequest);
  let error = await released;
  clearTimeout(timer);
  if (onMessage) worker.off('message', onMessage);
  if (await barNative(state, Date.now() + STOP_WAIT_MS)) {
    await worker.terminate();
  } else {
    worker.unref();
    error = `${error ? `${error}; ` : ''}its worker thread is stuck in onnxruntime and was left running`;
  }
  return error;
}

/**
 * One onnxruntime session in its own worker thread (ort-worker.ts): `session.run` is synchronous native
 * code (microsoft/onnxruntime#19611) and would otherwise stall the daemon's event loop for a whole
 * inference. Concurrent run() calls are matched to replies by id; the worker serves them in order.
 */
export class OrtEngine implements Engine {
  /** The worker serves runs one at a time in arrival order, and starts the next as it replies. */
  readonly queuesRuns = true;
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;
  private disposed = false;
  private closing = false;
  /** Why the worker stopped on its own; set once it has, and the engine is unusable from then on. */
  private dead: string | undefined;
  private workerError: string | undefined;
  /** Input staging buffers, all of one size; each travels to the worker and back with its run. */
  private pool: ArrayBuffer[] = [];
  /** Output buffer sets handed back by callers (recycle), one buffer per output; each travels with a run. */
  private outPool: ArrayBuffer[][] = [];
  private readonly pooledOut = new WeakSet<ArrayBuffer>();
  private reused = 0;
  /** The input dims of the warm-up run (a dynamic model's axes filled in). */
  private warmDims: number[] = [];
  private threads = 0;

  private constructor(
    readonly kind: EngineKind,
    private readonly handle: WorkerHandle,
    readonly inputs: readonly TensorSpec[],
    readonly outputs: readonly TensorSpec[],
    private readonly logger: Logger | undefined,
    private readonly reuseOutputs: boolean,
  ) {
    const { worker } = handle;
    worker.on('message', (msg: OrtWorkerReply) => this.onMessage(msg));
    worker.on('error', (err) => {
      this.workerError = errorMessage(err);
    });
    worker.on('messageerror', (err) => {
      // A reply that cannot be read cannot be matched to its run: give up on the worker.
      this.fail(`a reply could not be read: ${errorMessage(err)}`);
      void stopWorker(handle);
    });
    worker.on('exit', (code) => {
      if (!this.closing || this.pending.size > 0) this.fail(this.workerError ?? `exit code ${code}`);
    });
    // Idle, the worker must not keep the process alive (a session in-process did not); runs ref it.
    worker.unref();
  }

  /**
   * Loads the model in a worker thread and warms it up. With threads 0 on CPU, it is timed on all cores first
   * and, when light (autoIntraOpThreads), loaded again with one thread fewer; the choice is logged.
   */
  static async create(opts: OrtEngineOptions): Promise<OrtEngine> {
    const cores = os.availableParallelism();
    if (opts.threads > 0 || opts.provider !== 'cpu' || cores < 2) return OrtEngine.createWith(opts);
    const all = await OrtEngine.createWith({ ...opts, threads: cores });
    let runMs: number;
    try {
      runMs = await all.medianRunMs(AUTO_TIMING_RUNS);
    } catch (err) {
      await all.dispose();
      throw err;
    }
    const chosen = autoIntraOpThreads(cores, runMs);
    const why = { cores, allCoresRunMs: Math.round(runMs * 100) / 100, lightRunMs: LIGHT_RUN_MS };
    if (chosen === cores) {
      opts.logger?.info({ ...why, threads: chosen }, `model.threads 0 (auto): all ${cores} cores for onnxruntime (a run takes ${why.allCoresRunMs} ms)`);
      return all;
    }
    await all.dispose();
    const engine = await OrtEngine.createWith({ ...opts, threads: chosen });
    opts.logger?.info(
      { ...why, threads: chosen },
      `model.threads 0 (auto): ${chosen} of ${cores} cores for onnxruntime: a run takes ${why.allCoresRunMs} ms on all of them, so the rest of the daemon gets a core of its own (set model.threads to choose)`,
    );
    return engine;
  }

  /**
   * Median run time of up to n runs of a zero input (after the warm-up), as the worker times them. It stops
   * once more than half took LIGHT_RUN_MS or longer: the median is then heavy whatever the rest take, and a
   * heavy model (yolov5n at 960 px: ~400 ms a run) need not spend n runs at start-up to say so.
   */
  private async medianRunMs(n: number): Promise<number> {
    const input = new Float32Array(this.warmDims.reduce((a, d) => a * d, 1));
    const times: number[] = [];
    let heavy = 0;
    while (times.length < n && heavy <= n / 2) {
      const timing: RunTiming = {};
      const t0 = performance.now();
      const outputs = await this.run(input, this.warmDims, timing);
      this.recycle(outputs);
      const ms = timing.runMs ?? performance.now() - t0;
      times.push(ms);
      if (ms >= LIGHT_RUN_MS) heavy++;
    }
    times.sort((a, b) => a - b);
    return times[Math.floor(times.length / 2)];
  }

  private static async createWith(opts: OrtEngineOptions): Promise<OrtEngine> {
    const sessionOptions = ortSessionOptions(opts.provider, opts);
    const threads = sessionOptions.intraOpNumThreads;
    if (opts.provider === 'cuda') {
      const missing = cudaProviderMissing();
      if (missing) throw new InspectdError(ErrorCodes.ENGINE_UNAVAILABLE, missing);
    }
    // Bytes go to the worker as our own copy, transferred: the caller's buffer stays untouched.
    const model = typeof opts.model === 'string' ? opts.model : new Uint8Array(opts.model);
    const stateBuffer = new SharedArrayBuffer(4);
    const workerData: OrtWorkerData = { model, sessionOptions, state: stateBuffer };
    let worker: Worker;
    try {
      worker = new Worker(WORKER_URL, {
        workerData,
        transferList: typeof model === 'string' ? [] : [model.buffer as ArrayBuffer],
        // The worker needs none of the parent's node flags, and some (--input-type) make it refuse to start.
        execArgv: [],
      });
    } catch (err) {
      throw new InspectdError(ErrorCodes.ENGINE_UNAVAILABLE, `cannot start the onnxruntime worker thread: ${errorMessage(err)}`, { cause: err });
    }
    const handle: WorkerHandle = { worker, state: new Int32Array(stateBuffer) };
    guardExit(handle.state);
    worker.once('exit', () => liveWorkers.delete(handle.state));
    workerThreads.add(worker);
    worker.once('exit', () => workerThreads.delete(worker));
    let ready: Extract<OrtWorkerReply, { type: 'ready' }>;
    try {
      ready = await waitReady(worker, opts.provider);
    } catch (err) {
      worker.on('error', () => undefined);
      await worker.terminate(); // the load is over (failed, or the thread is gone): no native call runs
      throw err;
    }
    let engine: OrtEngine;
    try {
      const inputs = ready.inputs.map(toSpec);
      const outputs = ready.outputs.map(toSpec);
      if (inputs.length !== 1 || inputs[0].shape.length !== 4) {
        throw new InspectdError(
          ErrorCodes.MODEL_LAYOUT,
          `model input shape ${inputs.map((i) => `[${i.shape.join(', ')}]`).join(', ')} is not one NCHW image input; re-export the model as a detect model`,
        );
      }
      engine = new OrtEngine(opts.provider === 'cuda' ? 'ort-cuda' : 'ort-cpu', handle, inputs, outputs, opts.logger, opts.reuseOutputs ?? true);
    } catch (err) {
      await stopWorker(handle);
      throw err;
    }
    // Warm-up: the first run allocates arenas and (CUDA) picks kernels; do it before serving.
    const [, c, h, w] = engine.inputs[0].shape;
    const dims = [1, c > 0 ? c : 3, h > 0 ? h : (opts.warmupSize?.[0] ?? 640), w > 0 ? w : (opts.warmupSize?.[1] ?? 640)];
    engine.warmDims = dims;
    engine.threads = threads ?? os.availableParallelism();
    try {
      await engine.run(new Float32Array(dims[0] * dims[1] * dims[2] * dims[3]), dims);
    } catch (err) {
      await engine.dispose();
      throw err;
    }
    opts.logger?.debug(
      { engine: engine.kind, threads, interOpThreads: sessionOptions.interOpNumThreads, spin: opts.spin ?? DEFAULT_SPIN, inputs: engine.inputs, outputs: engine.outputs },
      'onnxruntime session ready',
    );
    return engine;
  }

  get failure(): string | undefined {
    return this.dead;
  }

  /** onnxruntime intra-op threads this engine's session runs with. */
  get intraOpThreads(): number {
    return this.threads;
  }

  /** Runs so far whose outputs were written into recycled buffers (none allocated for them on this thread). */
  get reusedOutputs(): number {
    return this.reused;
  }

  async run(input: Float32Array, dims: number[], timing?: RunTiming): Promise<OutputTensor[]> {
    if (this.disposed) throw new InspectdError(ErrorCodes.ENGINE_DISPOSED, 'engine was disposed; load the model again');
    if (this.dead !== undefined) {
      throw new InspectdError(ErrorCodes.ENGINE_RUN, `onnxruntime worker thread stopped earlier (${this.dead}); this engine is unusable: restart inspectd`);
    }
    const spec = this.inputs[0];
    const count = dims.reduce((a, b) => a * b, 1);
    if (dims.length !== spec.shape.length || input.length !== count || spec.shape.some((d, i) => d > 0 && d !== dims[i])) {
      throw new InspectdError(ErrorCodes.ENGINE_SHAPE, `input [${dims.join(', ')}] (${input.length} values) does not fit the model input [${spec.shape.join(', ')}]`);
    }
    // Input hand-over, 1x3x640x640 float32 (4.9 MB), main-thread cost per run on the 2-core dev box:
    // copying into a pooled ArrayBuffer and transferring it (the worker sends it back with the reply)
    // 0.5 ms, 0.5 ms round trip; structured clone 0.8 ms, but a fresh 4.9 MB allocation in the worker
    // each run (2.8-3.1 ms round trip); a SharedArrayBuffer slot is out: onnxruntime-node 1.30 refuses a
    // tensor over one ("Invalid argument"), so the worker would copy again (4-7 ms round trip). Either
    // way the caller's array is never detached: the Detector reuses its pooled tensors.
    const buf = this.takeBuffer(input.byteLength);
    new Float32Array(buf).set(input);
    const reuse = this.outPool.pop();
    if (reuse) for (const b of reuse) this.pooledOut.delete(b);
    const id = this.nextId++;
    if (this.pending.size === 0) this.handle.worker.ref();
    return new Promise<OutputTensor[]>((resolve, reject) => {
      this.pending.set(id, { resolve, reject, timing });
      const req: OrtWorkerRequest = {
        type: 'run',
        id,
        name: spec.name,
        input: buf,
        dims: [...dims],
        half: spec.type === 'float16',
        outputs: this.outputs.map((o) => o.name),
        reuse,
      };
      try {
        this.handle.worker.postMessage(req, reuse ? [buf, ...reuse] : [buf]);
      } catch (err) {
        this.settle(id);
        reject(new InspectdError(ErrorCodes.ENGINE_RUN, `cannot hand the run to the onnxruntime worker thread: ${errorMessage(err)}`, { cause: err }));
      }
    });
  }

  /**
   * Takes back the outputs of a finished run for a later run to write into. Only whole, unshared float32
   * buffers of a complete set are kept; anything else is left to the garbage collector.
   */
  recycle(outputs: readonly OutputTensor[]): void {
    if (!this.reuseOutputs || this.disposed || this.outPool.length >= OUT_POOL_MAX || outputs.length !== this.outputs.length) return;
    const set: ArrayBuffer[] = [];
    for (const o of outputs) {
      const buf = o.data.buffer;
      // A detached buffer reads 0 bytes; one already pooled must not travel with two runs.
      if (!(buf instanceof ArrayBuffer) || buf.byteLength === 0 || o.data.byteOffset !== 0 || o.data.byteLength !== buf.byteLength) return;
      if (this.pooledOut.has(buf) || set.includes(buf)) return;
      set.push(buf);
    }
    for (const b of set) this.pooledOut.add(b);
    this.outPool.push(set);
  }

  async dispose(): Promise<void> {
    if (this.pending.size > 0) {
      throw new InspectdError(ErrorCodes.ENGINE_BUSY, `engine has ${this.pending.size} run(s) in flight; wait for them before disposing`);
    }
    if (this.disposed) return;
    this.disposed = true;
    this.pool = [];
    this.outPool = [];
    if (this.dead !== undefined) return; // the thread is gone, or being stopped by messageerror
    this.closing = true;
    const error = await stopWorker(this.handle);
    if (error) this.logger?.warn({ engine: this.kind, err: error }, 'onnxruntime session did not release cleanly');
  }

  private onMessage(msg: OrtWorkerReply): void {
    if (msg.type !== 'result' && msg.type !== 'run-error') return; // 'released' is stopWorker's
    this.recycleInput(msg.input);
    if (msg.unused) this.recycle(msg.unused.map((b) => ({ name: '', dims: [], data: new Float32Array(b) })));
    const p = this.settle(msg.id);
    if (!p) return;
    if (msg.type === 'result') {
      if (msg.reused) this.reused++;
      if (p.timing) {
        // Both clocks are performance.now() plus their own thread's timeOrigin.
        p.timing.startedAt = msg.startedAt - performance.timeOrigin;
        p.timing.runMs = msg.runMs;
      }
      p.resolve(msg.outputs);
    } else p.reject(new InspectdError(ErrorCodes.ENGINE_RUN, msg.message));
  }

  /** The worker is gone (or unreadable): fail every pending run; later runs fail at once. */
  private fail(reason: string): void {
    if (this.dead !== undefined) return;
    this.dead = reason;
    this.logger?.error({ engine: this.kind, reason, inFlight: this.pending.size }, 'onnxruntime worker thread stopped; engine unusable');
    const err = new InspectdError(ErrorCodes.ENGINE_RUN, `onnxruntime worker thread stopped (${reason}) with this run in flight; this engine is unusable: restart inspectd`);
    for (const id of [...this.pending.keys()]) this.settle(id)?.reject(err);
  }

  private settle(id: number): Pending | undefined {
    const p = this.pending.get(id);
    this.pending.delete(id);
    if (this.pending.size === 0 && !this.closing) this.handle.worker.unref();
    return p;
  }

  private takeBuffer(bytes: number): ArrayBuffer {
    if (this.pool.length > 0 && this.pool[0].byteLength !== bytes) this.pool = []; // input size changed
    return this.pool.pop() ?? new ArrayBuffer(bytes);
  }

  private recycleInput(buf: ArrayBuffer): void {
    if (this.disposed || this.pool.length >= POOL_MAX) return;
    if (this.pool.length === 0 || this.pool[0].byteLength === buf.byteLength) this.pool.push(buf);
  }
}

export function createOrtEngine(opts: OrtEngineOptions): Promise<OrtEngine> {
  return OrtEngine.create(opts);
}
