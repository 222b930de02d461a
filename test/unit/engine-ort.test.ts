import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile, readFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import type { Worker } from 'node:worker_threads';
import { autoIntraOpThreads, createOrtEngine, LIGHT_RUN_MS, ortSessionOptions, type OrtEngine } from '../../src/inference/ort.js';
import type { RunTiming } from '../../src/contracts/engine.js';
import { createEngine } from '../../src/inference/select.js';
import { ErrorCodes } from '../../src/errors.js';
import { silentLogger } from '../../src/ops/log.js';
import { repoPath } from '../helpers/fixtures.js';

const TINY = repoPath('test', 'assets', 'tiny-v8.onnx');
// A real model (in the repository): its outputs depend on its input, unlike the tiny constant-head ones.
const DEMO = repoPath('models', 'demo', 'inspectd-demo.onnx');

/** The engine's worker thread, reached past `private` to make it fail the way a bug in it would. */
function workerOf(engine: OrtEngine): Worker {
  return (engine as unknown as { handle: { worker: Worker } }).handle.worker;
}

function demoInput(seed: number, n: number): Float32Array {
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) a[i] = ((i * 7919 + seed * 104729) % 1000) / 1000;
  return a;
}

test('ort cpu engine: specs by name, runs, shape checks, dispose refuses while busy', { timeout: 20000 }, async () => {
  const engine = await createOrtEngine({ model: TINY, provider: 'cpu', threads: 1 });
  assert.equal(engine.kind, 'ort-cpu');
  assert.deepEqual(engine.inputs, [{ name: 'images', shape: [1, 3, 32, 32], type: 'float32' }]);
  assert.deepEqual(engine.outputs, [{ name: 'output0', shape: [1, 6, 21], type: 'float32' }]);
  const [out] = await engine.run(new Float32Array(3 * 32 * 32).fill(0.5), [1, 3, 32, 32]);
  assert.equal(out.name, 'output0');
  assert.deepEqual(out.dims, [1, 6, 21]);
  assert.ok(out.data instanceof Float32Array);
  assert.equal(out.data[0], 16); // cx of anchor 0 in the model's constant head
  assert.equal(Math.fround(out.data[4 * 21]), Math.fround(0.9));

  await assert.rejects(engine.run(new Float32Array(10), [1, 3, 32, 32]), { code: ErrorCodes.ENGINE_SHAPE, message: /\[1, 3, 32, 32\]/ });
  await assert.rejects(engine.run(new Float32Array(3 * 64 * 64), [1, 3, 64, 64]), { code: ErrorCodes.ENGINE_SHAPE });

  const running = engine.run(new Float32Array(3 * 32 * 32), [1, 3, 32, 32]);
  await assert.rejects(engine.dispose(), { code: ErrorCodes.ENGINE_BUSY, message: /in flight/ });
  await running;
  await engine.dispose();
  await engine.dispose(); // idempotent
  await assert.rejects(engine.run(new Float32Array(3 * 32 * 32), [1, 3, 32, 32]), { code: ErrorCodes.ENGINE_DISPOSED });
});

test('createEngine auto falls back to CPU and says why each engine was refused', { timeout: 20000 }, async () => {
  const { engine, refusals } = await createEngine({ modelPath: TINY, preference: 'auto', threads: 1, logger: silentLogger() });
  try {
    assert.ok(['ort-cpu', 'ort-cuda', 'tensorrt'].includes(engine.kind));
    if (engine.kind === 'ort-cpu') {
      assert.deepEqual(
        refusals.map((r) => r.kind),
        ['tensorrt', 'ort-cuda'],
      );
      for (const r of refusals) assert.ok(r.reason.length > 10, r.reason);
    }
  } finally {
    await engine.dispose();
  }
  const cpu = await createEngine({ modelPath: TINY, preference: 'cpu', threads: 0, logger: silentLogger() });
  assert.equal(cpu.engine.kind, 'ort-cpu');
  assert.deepEqual(cpu.refusals, []);
  await cpu.engine.dispose();
});

test('explicit preference that cannot be met still serves, logging a warning', { timeout: 20000 }, async () => {
  const lines: string[] = [];
  const { pino } = await import('pino');
  const logger = pino({ level: 'info' }, { write: (s: string) => lines.push(s) });
  const { engine, refusals } = await createEngine({ modelPath: TINY, preference: 'cuda', threads: 1, logger });
  await engine.dispose();
  if (engine.kind === 'ort-cpu') {
    assert.equal(refusals[0].kind, 'ort-cuda');
    const warn = lines.map((l) => JSON.parse(l)).find((l) => l.level === 40);
    assert.ok(warn, 'a warning is logged');
    assert.match(warn.msg, /cuda.*unavailable.*ort-cpu/);
  }
});

test('a corrupt or missing model is a clear error, never a fallback loop', { timeout: 20000 }, async (t) => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'inspectd-engine-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const bad = path.join(dir, 'bad.onnx');
  const good = await readFile(TINY);
  await writeFile(bad, good.subarray(0, Math.floor(good.length / 2)));
  await assert.rejects(createEngine({ modelPath: bad, preference: 'auto', threads: 1, logger: silentLogger() }), {
    code: ErrorCodes.MODEL_INVALID,
    message: /cannot load the model/,
  });
  await assert.rejects(createEngine({ modelPath: path.join(dir, 'missing.onnx'), preference: 'cpu', threads: 1, logger: silentLogger() }), {
    code: ErrorCodes.MODEL_NOT_FOUND,
    message: /missing\.onnx/,
  });
});

test('fp16 model: float32 input converted to half, half outputs read back as float32', { timeout: 20000 }, async () => {
  const engine = await createOrtEngine({ model: repoPath('test', 'assets', 'tiny-v8-fp16.onnx'), provider: 'cpu', threads: 1 });
  try {
    assert.equal(engine.inputs[0].type, 'float16');
    const [out] = await engine.run(new Float32Array(3 * 32 * 32).fill(0.5), [1, 3, 32, 32]);
    assert.ok(out.data instanceof Float32Array);
    assert.deepEqual(out.dims, [1, 6, 21]);
    assert.equal(out.data[0], 16);
    assert.equal(out.data[4 * 21], 0.89990234375); // 0.9 as the nearest half
  } finally {
    await engine.dispose();
  }
});

test('the event loop keeps ticking while the engine runs', { timeout: 60000 }, async () => {
  // One intra-op thread leaves the other core to this thread on a 2-core box.
  const engine = await createOrtEngine({ model: DEMO, provider: 'cpu', threads: 1 });
  try {
    const dims = [1, 3, engine.inputs[0].shape[2], engine.inputs[0].shape[3]];
    const input = demoInput(1, dims[1] * dims[2] * dims[3]);
    let ticks = 0;
    const iv = setInterval(() => ticks++, 1);
    const t0 = performance.now();
    let runs = 0;
    // Batches of 4 concurrent runs (cameras sharing the engine): with session.run on this thread they ran
    // back to back with at most one timer turn per batch, so the ratio below was about 0.05.
    while (performance.now() - t0 < 400) {
      await Promise.all([0, 1, 2, 3].map(() => engine.run(input, dims)));
      runs += 4;
    }
    const elapsed = performance.now() - t0;
    clearInterval(iv);
    assert.ok(ticks >= 0.25 * elapsed, `a 1 ms interval fired ${ticks} times in ${elapsed.toFixed(0)} ms of inference (${runs} runs): the JS thread was blocked`);
  } finally {
    await engine.dispose();
  }
});

test('concurrent runs from two callers each get the outputs of their own input', { timeout: 60000 }, async () => {
  const engine = await createOrtEngine({ model: DEMO, provider: 'cpu', threads: 1 });
  try {
    const dims = [1, 3, engine.inputs[0].shape[2], engine.inputs[0].shape[3]];
    const n = dims[1] * dims[2] * dims[3];
    const inputs = [demoInput(1, n), demoInput(2, n)];
    const expected = [await engine.run(inputs[0], dims), await engine.run(inputs[1], dims)];
    assert.notDeepEqual(expected[0][0].data, expected[1][0].data, 'the two inputs give different outputs');
    const caller = async (k: number): Promise<void> => {
      const mine = inputs[k].slice(); // a pooled tensor, as the Detector's: reused as soon as run() returns
      for (let i = 0; i < 6; i++) {
        const pending = engine.run(mine, dims);
        mine.fill(0.123); // the engine copied the input at call time
        const out = await pending;
        assert.equal(mine.length, n, 'the caller keeps its array (not transferred away)');
        mine.set(inputs[k]);
        assert.deepEqual(
          out.map((o) => o.name),
          expected[k].map((o) => o.name),
        );
        for (let j = 0; j < out.length; j++) {
          assert.deepEqual(out[j].dims, expected[k][j].dims);
          assert.deepEqual(out[j].data, expected[k][j].data, `caller ${k} run ${i} output ${out[j].name}`);
        }
      }
    };
    // allSettled: a failing caller must not leave the other's runs in flight when dispose() comes.
    for (const r of await Promise.allSettled([caller(0), caller(1)])) if (r.status === 'rejected') throw r.reason;
  } finally {
    await engine.dispose();
  }
});

test('recycled output buffers: later runs write into them, and every result equals a fresh run of the same input', { timeout: 60000 }, async () => {
  const reusing = await createOrtEngine({ model: DEMO, provider: 'cpu', threads: 1 });
  const fresh = await createOrtEngine({ model: DEMO, provider: 'cpu', threads: 1, reuseOutputs: false });
  try {
    const dims = [1, 3, reusing.inputs[0].shape[2], reusing.inputs[0].shape[3]];
    const n = dims[1] * dims[2] * dims[3];
    const inputs = [demoInput(1, n), demoInput(2, n), demoInput(3, n)];
    const expected = await Promise.all(inputs.map(async (x) => (await fresh.run(x, dims)).map((o) => o.data.slice())));
    assert.notDeepEqual(expected[0][0], expected[1][0], 'the inputs give different outputs');
    let recycled = 0;
    for (let i = 0; i < 9; i++) {
      const k = i % 3;
      const out = await reusing.run(inputs[k], dims);
      for (let j = 0; j < out.length; j++) assert.deepEqual(out[j].data, expected[k][j], `run ${i} (input ${k}) output ${out[j].name}`);
      reusing.recycle(out);
      // The next run takes the recycled set with it to the worker: these arrays are detached from now on.
      const next = reusing.run(inputs[(k + 1) % 3], dims);
      if (out.every((o) => o.data.byteLength === 0)) recycled++;
      const got = await next;
      for (let j = 0; j < got.length; j++) assert.deepEqual(got[j].data, expected[(k + 1) % 3][j], `run after recycling, output ${got[j].name}`);
      reusing.recycle(got);
    }
    assert.equal(recycled, 9, 'every recycled set went back to the worker with the next run');
    assert.ok(reusing.reusedOutputs >= 9, `runs written into recycled buffers: ${reusing.reusedOutputs}`);
    assert.equal(fresh.reusedOutputs, 0);
    // A set the engine did not make (wrong count) or already holds is ignored, not pooled twice.
    const out = await reusing.run(inputs[0], dims);
    reusing.recycle(out);
    reusing.recycle(out);
    const [a, b] = await Promise.all([reusing.run(inputs[1], dims), reusing.run(inputs[2], dims)]);
    assert.deepEqual(a[0].data, expected[1][0]);
    assert.deepEqual(b[0].data, expected[2][0]);
  } finally {
    await reusing.dispose();
    await fresh.dispose();
  }
});

test('runs handed over while one is in flight queue in order and report when the engine really started them', { timeout: 60000 }, async () => {
  const engine = await createOrtEngine({ model: DEMO, provider: 'cpu', threads: 1 });
  try {
    assert.equal(engine.queuesRuns, true);
    const dims = [1, 3, engine.inputs[0].shape[2], engine.inputs[0].shape[3]];
    const input = demoInput(1, dims[1] * dims[2] * dims[3]);
    const timings: RunTiming[] = [{}, {}, {}];
    const t0 = performance.now();
    await Promise.all(timings.map((t) => engine.run(input, dims, t)));
    for (const [i, t] of timings.entries()) {
      assert.ok(t.runMs! > 0 && t.startedAt! >= t0 - 1, `run ${i}: ${JSON.stringify(t)}`);
      // Clocks of two threads, converted through their time origins: allow a millisecond.
      if (i > 0) assert.ok(t.startedAt! >= timings[i - 1].startedAt! + timings[i - 1].runMs! - 1, `run ${i} started after run ${i - 1} ended: ${JSON.stringify(timings)}`);
    }
  } finally {
    await engine.dispose();
  }
});

test('session options: spinning, threads and execution mode as configured', () => {
  assert.deepEqual(ortSessionOptions('cpu', { threads: 2 }), {
    executionProviders: ['cpu'],
    intraOpNumThreads: 2,
    interOpNumThreads: 1,
    graphOptimizationLevel: 'all',
    executionMode: 'sequential',
    extra: { session: { force_spinning_stop: '1' } },
  });
  const always = ortSessionOptions('cpu', { threads: 3, spin: 'always' });
  assert.equal(always.extra, undefined, "'always' is onnxruntime's own default");
  assert.deepEqual(ortSessionOptions('cuda', { threads: 1, spin: 'never' }).extra, { session: { intra_op: { allow_spinning: '0' }, inter_op: { allow_spinning: '0' } } });
  assert.deepEqual(ortSessionOptions('cpu', { threads: 2, spin: 'briefly' }).extra, { session: { intra_op: { spin_duration_us: '1000' } } });
  const parallel = ortSessionOptions('cpu', { threads: 0, interOpThreads: 2 });
  assert.equal(parallel.executionMode, 'parallel');
  assert.equal(parallel.interOpNumThreads, 2);
  assert.equal(parallel.intraOpNumThreads, os.availableParallelism());
});

test('a worker that dies rejects every pending run with ENGINE_RUN and leaves the engine unusable, never hanging', { timeout: 30000 }, async () => {
  const engine = await createOrtEngine({ model: DEMO, provider: 'cpu', threads: 1 });
  const dims = [1, 3, engine.inputs[0].shape[2], engine.inputs[0].shape[3]];
  const input = demoInput(3, dims[1] * dims[2] * dims[3]);
  const runs = Array.from({ length: 20 }, () => engine.run(input, dims));
  // An uncaught exception kills the worker thread the way a bug in it would. (Not worker.terminate():
  // stopping the thread inside onnxruntime's native run aborts the whole process.)
  workerOf(engine).postMessage({ type: 'not-a-request' });
  const settled = await Promise.allSettled(runs);
  const rejected = settled.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
  assert.ok(rejected.length > 0, 'runs queued behind the dead worker are rejected');
  for (const r of rejected) {
    assert.equal(r.reason.code, ErrorCodes.ENGINE_RUN);
    assert.match(r.reason.message, /worker thread stopped \(.*unknown request "not-a-request"\).*unusable/);
  }
  for (const r of settled) if (r.status === 'fulfilled') assert.ok(r.value[0].data.length > 0);
  await assert.rejects(engine.run(input, dims), { code: ErrorCodes.ENGINE_RUN, message: /stopped earlier.*unusable/ });
  await engine.dispose(); // nothing in flight any more: resolves
  await assert.rejects(engine.run(input, dims), { code: ErrorCodes.ENGINE_DISPOSED });
});

/** Runs an ES module script in a fresh node; resolves its exit code and signal (null, null when killed after 20 s). */
async function runScript(script: string): Promise<{ code: number | null; signal: string | null; out: string }> {
  const child = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.on('data', (d) => (out += d));
  child.stderr.on('data', (d) => (out += d));
  return new Promise((resolve) => {
    const timer = setTimeout(() => child.kill('SIGKILL'), 20000);
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal: signal === 'SIGKILL' ? null : signal, out });
    });
  });
}

test('the worker thread keeps no process alive and a process exiting mid-run exits cleanly', { timeout: 90000 }, async () => {
  const ort = JSON.stringify(pathToFileURL(repoPath('dist', 'src', 'inference', 'ort.js')).href);
  const load = `const { createOrtEngine } = await import(${ort});
    const e = await createOrtEngine({ model: ${JSON.stringify(DEMO)}, provider: 'cpu', threads: 1 });
    const dims = [1, 3, e.inputs[0].shape[2], e.inputs[0].shape[3]];
    const input = new Float32Array(dims[1] * dims[2] * dims[3]);`;
  for (const dispose of [false, true]) {
    const r = await runScript(`${load} await e.run(input, dims); ${dispose ? 'await e.dispose();' : ''} console.log('done');`);
    assert.deepEqual([r.code, r.signal], [0, null], `idle engine (disposed: ${dispose}): process did not exit by itself: ${r.out}`);
    assert.match(r.out, /done/);
  }
  // process.exit() (or an uncaught exception) while the worker is inside session.run stops its thread;
  // unguarded, that aborts ("terminate called after throwing an instance of 'Napi::Error'", SIGABRT).
  const r = await runScript(`${load}
    for (let i = 0; i < 8; i++) e.run(input, dims).catch(() => undefined);
    setTimeout(() => process.exit(3), 15);`);
  assert.deepEqual([r.code, r.signal], [3, null], `process.exit(3) mid-run: ${r.out}`);
});

test('model.threads 0: a light model leaves one core to the daemon, a heavy one or a 1-core box uses all', () => {
  assert.equal(autoIntraOpThreads(2, 2.8), 1);
  assert.equal(autoIntraOpThreads(8, LIGHT_RUN_MS - 0.1), 7);
  assert.equal(autoIntraOpThreads(2, LIGHT_RUN_MS), 2);
  assert.equal(autoIntraOpThreads(2, 61), 2);
  assert.equal(autoIntraOpThreads(1, 2.8), 1);
  assert.equal(autoIntraOpThreads(4, Number.NaN), 4);
});

test('model.threads 0 times the model on all cores, keeps what the rule says and logs why; a number is used as given', { timeout: 60000 }, async () => {
  const lines: Record<string, unknown>[] = [];
  const { pino } = await import('pino');
  const logger = pino({ level: 'info' }, { write: (l: string) => lines.push(JSON.parse(l) as Record<string, unknown>) });
  const cores = os.availableParallelism();
  const engine = await createOrtEngine({ model: DEMO, provider: 'cpu', threads: 0, logger });
  try {
    const line = lines.find((l) => String(l.msg).startsWith('model.threads 0 (auto)'));
    assert.ok(line, `no auto-threads log line in ${JSON.stringify(lines)}`);
    assert.equal(line.cores, cores);
    assert.equal(typeof line.allCoresRunMs, 'number');
    // The choice follows the rule for what was measured, and the session runs with it.
    assert.equal(line.threads, autoIntraOpThreads(cores, line.allCoresRunMs as number));
    assert.equal(engine.intraOpThreads, line.threads);
    const out = await engine.run(demoInput(1, 3 * 320 * 320), [1, 3, 320, 320]);
    assert.ok(out[0].data.length > 0);
  } finally {
    await engine.dispose();
  }
  const fixed = await createOrtEngine({ model: TINY, provider: 'cpu', threads: 1 });
  assert.equal(fixed.intraOpThreads, 1);
  await fixed.dispose();
});
