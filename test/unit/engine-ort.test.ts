import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile, readFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { createOrtEngine } from '../../src/engine/ort.js';
import { createEngine } from '../../src/engine/select.js';
import { ErrorCodes } from '../../src/errors.js';
import { silentLogger } from '../../src/ops/log.js';
import { repoPath } from '../helpers/fixtures.js';

const TINY = repoPath('test', 'assets', 'tiny-v8.onnx');

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
      assert.deepEqual(refusals.map((r) => r.kind), ['tensorrt', 'ort-cuda']);
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
