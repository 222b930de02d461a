/**
 * Worker-thread side of OrtEngine (ort.ts): owns one onnxruntime session. onnxruntime-node's
 * `session.run` is synchronous native code behind a promise (microsoft/onnxruntime#19611), so it runs
 * here, where it blocks only this thread, and the daemon's event loop (MQTT, outbox, sources, /healthz)
 * keeps turning. Runs are served one at a time, in arrival order.
 */
import { performance } from 'node:perf_hooks';
import { parentPort, workerData } from 'node:worker_threads';
import * as ort from 'onnxruntime-node';
import type { OutputTensor } from '../contracts/engine.js';
import { NativeState, type OrtWorkerData, type OrtWorkerReply, type OrtWorkerRequest } from './ort-protocol.js';

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

function message(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

function toFloat32(name: string, t: ort.Tensor): Float32Array {
  if (t.type === 'float32') return t.data as Float32Array;
  if (t.type === 'float16') {
    const src = t.data as unknown as ArrayLike<number>;
    const data = new Float32Array(src.length);
    // Uint16Array holds raw halves; a Float16Array (newer runtimes) already holds numbers.
    if (src instanceof Uint16Array) for (let i = 0; i < src.length; i++) data[i] = fromHalf(src[i]);
    else for (let i = 0; i < src.length; i++) data[i] = src[i];
    return data;
  }
  throw new Error(`output '${name}' has type ${t.type}; expected float32 or float16`);
}

async function main(port: NonNullable<typeof parentPort>): Promise<void> {
  const { model, sessionOptions, state: stateBuffer } = workerData as OrtWorkerData;
  const state = new Int32Array(stateBuffer);
  const native = async <T>(call: () => Promise<T>): Promise<T> => {
    if (Atomics.compareExchange(state, 0, NativeState.IDLE, NativeState.NATIVE) !== NativeState.IDLE) throw new Error('the engine is stopping (process exit or dispose)');
    try {
      return await call();
    } finally {
      Atomics.store(state, 0, NativeState.IDLE);
      Atomics.notify(state, 0);
    }
  };
  let session: ort.InferenceSession;
  try {
    session = await native(() => (typeof model === 'string' ? ort.InferenceSession.create(model, sessionOptions) : ort.InferenceSession.create(model, sessionOptions)));
  } catch (err) {
    port.postMessage({ type: 'load-error', message: message(err) } satisfies OrtWorkerReply);
    return; // nothing else keeps this thread alive: it exits
  }
  let half: Uint16Array | undefined; // fp16 staging, reused: runs are serial
  // Pre-allocated outputs: onnxruntime-node 1.30 writes into them but still returns a fresh copy, which is
  // dropped here, in this thread's small heap. The engine's thread keeps what it decodes from: buffers it
  // hands back, so it receives no new multi-MB buffer per frame (a 1x84x8400 head is 2.8 MB) and its
  // Mark-Compacts stay rare. Float32 heads only; the output dims are learnt from the previous run.
  const reusable = session.outputMetadata.every((m) => m.isTensor && m.type === 'float32');
  let learnt: { key: string; dims: number[][] } | undefined;
  let reuseFailed = false;

  const run = async (req: Extract<OrtWorkerRequest, { type: 'run' }>): Promise<void> => {
    let outputs: OutputTensor[];
    let unused = req.reuse;
    let startedAt = 0;
    let runMs = 0;
    let reused = false;
    try {
      const input = new Float32Array(req.input);
      let tensor: ort.Tensor;
      if (req.half) {
        if (half?.length !== input.length) half = new Uint16Array(input.length);
        for (let i = 0; i < input.length; i++) half[i] = toHalf(input[i]);
        tensor = new ort.Tensor('float16', half, req.dims);
      } else {
        tensor = new ort.Tensor('float32', input, req.dims);
      }
      const feeds = { [req.name]: tensor };
      const key = req.dims.join('x');
      let targets: Float32Array[] | undefined;
      const reuse = req.reuse;
      if (reuse && reusable && !reuseFailed && learnt?.key === key && reuse.length === req.outputs.length) {
        const dims = learnt.dims;
        if (reuse.every((b, i) => b.byteLength === 4 * dims[i].reduce((a, d) => a * d, 1))) targets = reuse.map((b) => new Float32Array(b));
      }
      let results: ort.InferenceSession.ReturnType;
      const t0 = performance.now();
      try {
        if (targets) {
          const fetches: Record<string, ort.Tensor> = {};
          for (const [i, name] of req.outputs.entries()) fetches[name] = new ort.Tensor('float32', targets[i], learnt!.dims[i]);
          try {
            results = await native(() => session.run(feeds, fetches));
            unused = undefined;
          } catch {
            // An output whose shape depends on the data refuses a buffer of the last shape: allocate from now on.
            reuseFailed = true;
            targets = undefined;
            results = await native(() => session.run(feeds));
          }
        } else {
          results = await native(() => session.run(feeds));
        }
      } catch (err) {
        throw new Error(`onnxruntime run failed: ${message(err)}`);
      }
      runMs = performance.now() - t0;
      startedAt = performance.timeOrigin + t0;
      outputs = req.outputs.map((name, i) => ({ name, dims: [...results[name].dims], data: targets ? targets[i] : toFloat32(name, results[name]) }));
      learnt = { key, dims: outputs.map((o) => o.dims) };
      reused = targets !== undefined;
    } catch (err) {
      const back = [req.input, ...(unused ?? [])];
      port.postMessage({ type: 'run-error', id: req.id, message: message(err), input: req.input, unused } satisfies OrtWorkerReply, back);
      return;
    }
    // Outputs go back zero-copy: each buffer is transferred once; a view that shares its buffer is copied.
    const transfer: ArrayBuffer[] = [req.input, ...(unused ?? [])];
    for (const o of outputs) {
      const buf = o.data.buffer as ArrayBuffer;
      if (o.data.byteOffset !== 0 || o.data.byteLength !== buf.byteLength || transfer.includes(buf)) o.data = o.data.slice();
      transfer.push(o.data.buffer as ArrayBuffer);
    }
    port.postMessage({ type: 'result', id: req.id, outputs, input: req.input, startedAt, runMs, unused, reused } satisfies OrtWorkerReply, transfer);
  };

  const release = async (): Promise<void> => {
    let error: string | undefined;
    try {
      await native(() => session.release());
    } catch (err) {
      error = message(err);
    }
    port.postMessage({ type: 'released', error } satisfies OrtWorkerReply);
    port.close(); // the engine terminates this thread next; closing lets it end on its own too
  };

  let queue = Promise.resolve();
  port.on('message', (req: OrtWorkerRequest) => {
    // Anything else is a bug on the engine side: die loudly (the engine then fails every pending run).
    const type = (req as { type?: unknown } | null)?.type;
    if (type !== 'run' && type !== 'release') throw new Error(`ort-worker: unknown request ${JSON.stringify(type)}`);
    queue = queue
      .then(() => (req.type === 'run' ? run(req) : release()))
      .catch((err: unknown) => {
        // Only a failure to reply lands here; the run could not be answered, so stop the same way.
        setImmediate(() => {
          throw err;
        });
      });
  });
  port.postMessage({
    type: 'ready',
    inputs: [...session.inputMetadata],
    outputs: [...session.outputMetadata],
  } satisfies OrtWorkerReply);
}

if (!parentPort) throw new Error('ort-worker.js runs only as a worker thread started by OrtEngine');
await main(parentPort);
