/**
 * The TensorRT backend (native/trt_backend.cc, trt_engine.cc) compiled against the stand-in
 * (native/trt_standin): no GPU or TensorRT needed. Mocks only what the house rules allow: GPU/TensorRT.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import v8 from 'node:v8';
import vm from 'node:vm';
import { loadNativeAddon, type NativeTrtEngine } from '../../src/native/loader.js';
import { createTensorRtEngine, engineCacheFileName, sha256File } from '../../src/inference/tensorrt.js';
import { halfToFloat } from './letterbox-reference.js';
import { FN_AFFINE, FN_CHANNEL_SUM, standinEngine } from './standin-engine.js';

const standin = loadNativeAddon('inspectd_trt_standin');

function newEngine(): NativeTrtEngine {
  const trt = standin.tensorrt;
  assert.ok(trt.available && trt.standin, 'stand-in build has the backend');
  return new trt.Engine();
}

function withEnv(t: { after: (fn: () => void) => void }, key: string, value: string): void {
  const saved = process.env[key];
  process.env[key] = value;
  t.after(() => {
    if (saved === undefined) delete process.env[key];
    else process.env[key] = saved;
  });
}

function ramp(n: number): Float32Array {
  return Float32Array.from({ length: n }, (_, i) => (i % 97) / 7 - 3);
}

const fixed = standinEngine(FN_AFFINE, [
  { name: 'images', mode: 'input', dtype: 'float32', dims: [1, 3, 4, 5] },
  { name: 'out_half', mode: 'output', dtype: 'float16', dims: [1, 3, 4, 5] },
  { name: 'out_float', mode: 'output', dtype: 'float32', dims: [1, 3, 4, 5] },
]);

test('enumerates I/O tensors by name with shapes and types', { timeout: 10_000 }, async () => {
  const e = newEngine();
  await e.load(fixed);
  const d = e.describe();
  assert.deepEqual(
    d.inputs.map((t) => [t.name, t.shape, t.type, t.maxShape]),
    [['images', [1, 3, 4, 5], 'float32', [1, 3, 4, 5]]],
  );
  assert.deepEqual(
    d.outputs.map((t) => [t.name, t.shape, t.type]),
    [
      ['out_half', [1, 3, 4, 5], 'float16'],
      ['out_float', [1, 3, 4, 5], 'float32'],
    ],
  );
  e.dispose();
});

test('runs a fixed-shape engine: FP32 and FP16 outputs converted to float32', { timeout: 10_000 }, async () => {
  const e = newEngine();
  await e.load(fixed);
  const input = ramp(60);
  const [half, float] = await e.run(input, [1, 3, 4, 5]);
  assert.equal(half.name, 'out_half');
  assert.deepEqual(half.dims, [1, 3, 4, 5]);
  assert.equal(float.data.length, 60);
  for (let i = 0; i < 60; i++) {
    assert.equal(float.data[i], Math.fround(Math.fround(Math.fround(input[i] * 2) + 1) + 1), 'output 1 = in * 2 + 1 + 1 in float32');
    assert.ok(Math.abs(half.data[i] - (input[i] * 2 + 1)) <= 2 ** -6, `fp16 output ${i}`);
  }
  // second run reuses the buffers and sees new input
  const [h2] = await e.run(new Float32Array(60).fill(0.5), [1, 3, 4, 5]);
  assert.ok(h2.data.every((v) => v === 2));
  e.dispose();
});

test('FP16 input: the backend converts float32 to half and back exactly', { timeout: 10_000 }, async () => {
  const e = newEngine();
  await e.load(
    standinEngine(FN_AFFINE, [
      { name: 'x', mode: 'input', dtype: 'float16', dims: [1, 1, 2, 4] },
      { name: 'y', mode: 'output', dtype: 'float32', dims: [1, 1, 2, 4] },
    ]),
  );
  assert.equal(e.describe().inputs[0].type, 'float16');
  // representable in half, one that needs rounding, a subnormal, and the largest finite half
  const input = Float32Array.from([0.25, 1 / 3, 2 ** -20, 65504, -7.5, 0, 1e-8, 0.1]);
  const [y] = await e.run(input, [1, 1, 2, 4]);
  const halves = [0x3400, 0x3555, 0x0010, 0x7bff, 0xc780, 0x0000, 0x0000, 0x2e66];
  for (let i = 0; i < 8; i++) assert.equal(y.data[i], Math.fround(halfToFloat(halves[i]) * 2 + 1), `value ${i}`);
  e.dispose();
});

test('dynamic input shapes: set, checked against the profile, outputs follow', { timeout: 10_000 }, async () => {
  const e = newEngine();
  await e.load(
    standinEngine(FN_CHANNEL_SUM, [
      { name: 'images', mode: 'input', dtype: 'float32', dims: [1, 3, -1, -1], maxDims: [1, 3, 64, 64] },
      { name: 'sums', mode: 'output', dtype: 'float32', dims: [1, 3] },
    ]),
  );
  const d = e.describe();
  assert.deepEqual(d.inputs[0].shape, [1, 3, -1, -1]);
  assert.deepEqual(d.inputs[0].minShape, [1, 3, 1, 1]);
  assert.deepEqual(d.inputs[0].maxShape, [1, 3, 64, 64]);
  for (const [h, w] of [
    [8, 16],
    [32, 32],
    [2, 3],
  ]) {
    const input = new Float32Array(3 * h * w);
    for (let c = 0; c < 3; c++) input.fill(c + 1, c * h * w, (c + 1) * h * w);
    const [sums] = await e.run(input, [1, 3, h, w]);
    assert.deepEqual(sums.dims, [1, 3]);
    assert.deepEqual(Array.from(sums.data), [h * w, 2 * h * w, 3 * h * w]);
  }
  await assert.rejects(e.run(new Float32Array(3 * 65 * 8), [1, 3, 65, 8]), {
    code: 'INSPECTD_ERR_ENGINE_SHAPE',
    message: /expects \[1, 3, -1, -1\] \(profile \[1, 3, 1, 1\] \.\. \[1, 3, 64, 64\]\), got \[1, 3, 65, 8\]/,
  });
  e.dispose();
});

test('wrong input shape or length is rejected with INSPECTD_ERR_ENGINE_SHAPE', { timeout: 10_000 }, async () => {
  const e = newEngine();
  await e.load(fixed);
  await assert.rejects(e.run(ramp(60), [1, 3, 5, 4]), {
    code: 'INSPECTD_ERR_ENGINE_SHAPE',
    message: /input 'images' expects \[1, 3, 4, 5\].*got \[1, 3, 5, 4\]/,
  });
  await assert.rejects(e.run(ramp(60), [1, 3, 20]), { code: 'INSPECTD_ERR_ENGINE_SHAPE' });
  await assert.rejects(e.run(ramp(59), [1, 3, 4, 5]), {
    code: 'INSPECTD_ERR_ENGINE_SHAPE',
    message: /59 values/,
  });
  // still usable afterwards
  const [, f] = await e.run(ramp(60), [1, 3, 4, 5]);
  assert.equal(f.data.length, 60);
  e.dispose();
});

test('a corrupt or truncated engine is refused with INSPECTD_ERR_ENGINE_UNAVAILABLE', { timeout: 10_000 }, async () => {
  const bad = Buffer.from(fixed);
  bad.write('XXXX', 0, 'latin1');
  for (const blob of [bad, fixed.subarray(0, fixed.length - 3), Buffer.alloc(0)]) {
    const e = newEngine();
    await assert.rejects(e.load(blob), {
      code: 'INSPECTD_ERR_ENGINE_UNAVAILABLE',
      message: /could not deserialize the engine.*stand-in deserializeCudaEngine/,
    });
    assert.throws(() => e.describe(), { code: 'INSPECTD_ERR_ENGINE_UNAVAILABLE', message: /not loaded/ });
    e.dispose();
  }
  assert.deepEqual(standin.standinStats?.(), { deviceBytes: 0, deviceAllocs: 0, hostAllocs: 0, liveObjects: 0 });
});

test('out of GPU memory is an INSPECTD_ERR_ENGINE_RUN rejection, and the engine recovers', { timeout: 10_000 }, async (t) => {
  const e = newEngine();
  await e.load(
    standinEngine(FN_AFFINE, [
      { name: 'in', mode: 'input', dtype: 'float32', dims: [1, -1], maxDims: [1, 1 << 20] },
      { name: 'out', mode: 'output', dtype: 'float32', dims: [1, -1] },
    ]),
  );
  withEnv(t, 'INSPECTD_STANDIN_DEVICE_BYTES', String(64 * 1024));
  await assert.rejects(e.run(new Float32Array(100_000), [1, 100_000]), {
    code: 'INSPECTD_ERR_ENGINE_RUN',
    message: /out of GPU memory: cudaMalloc of 400000 bytes for tensor 'in' failed: out of memory/,
  });
  const [small] = await e.run(new Float32Array(1000).fill(1), [1, 1000]);
  assert.ok(small.data.every((v) => v === 3));
  delete process.env.INSPECTD_STANDIN_DEVICE_BYTES;
  const [big] = await e.run(new Float32Array(100_000), [1, 100_000]);
  assert.equal(big.data.length, 100_000);
  e.dispose();
  assert.equal(standin.standinStats?.().deviceBytes, 0, 'dispose frees device memory');
});

test('dispose() refuses while a run is in flight; the run completes; then the engine is gone', { timeout: 10_000 }, async (t) => {
  const e = newEngine();
  await e.load(fixed);
  withEnv(t, 'INSPECTD_STANDIN_ENQUEUE_DELAY_MS', '150');
  const running = e.run(ramp(60), [1, 3, 4, 5]);
  assert.equal(e.inFlight, 1);
  assert.throws(() => e.dispose(), { code: 'INSPECTD_ERR_ENGINE_BUSY', message: /1 TensorRT call\(s\) still in flight/ });
  const outs = await running;
  assert.equal(outs.length, 2, 'the in-flight run was not disturbed');
  assert.equal(e.inFlight, 0);
  e.dispose();
  e.dispose(); // idempotent
  assert.throws(() => e.run(ramp(60), [1, 3, 4, 5]), { code: 'INSPECTD_ERR_ENGINE_DISPOSED' });
  assert.deepEqual(standin.standinStats?.(), { deviceBytes: 0, deviceAllocs: 0, hostAllocs: 0, liveObjects: 0 });
});

test('an engine dropped without dispose() is released by its finalizer', { timeout: 10_000 }, async () => {
  v8.setFlagsFromString('--expose-gc');
  const gc = vm.runInNewContext('gc') as () => void;
  await (async () => {
    for (let i = 0; i < 3; i++) {
      const e = newEngine();
      await e.load(fixed);
      await e.run(ramp(60), [1, 3, 4, 5]);
    }
  })();
  for (let i = 0; i < 5 && (standin.standinStats?.().liveObjects ?? 0) > 0; i++) {
    gc();
    await new Promise((r) => setTimeout(r, 20));
  }
  assert.deepEqual(standin.standinStats?.(), { deviceBytes: 0, deviceAllocs: 0, hostAllocs: 0, liveObjects: 0 });
});

test('concurrent runs are serialised on the one context and each gets its own result', { timeout: 10_000 }, async () => {
  const e = newEngine();
  await e.load(fixed);
  const runs = [0, 1, 2, 3, 4, 5].map((k) => e.run(new Float32Array(60).fill(k), [1, 3, 4, 5]));
  const results = await Promise.all(runs);
  results.forEach(([, f], k) => {
    assert.ok(
      f.data.every((v) => v === k * 2 + 2),
      `run ${k}`,
    );
  });
  e.dispose();
});

test('createTensorRtEngine: refuses missing and stale engines with a reason, serves a matching one', { timeout: 10_000 }, async (t) => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'inspectd-trt-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const onnx = path.join(dir, 'model.onnx');
  writeFileSync(onnx, 'not really onnx, only hashed');
  const cache = path.join(dir, 'engines');
  await assert.rejects(createTensorRtEngine({ onnxPath: onnx, cacheDir: cache, addon: standin }), {
    code: 'INSPECTD_ERR_ENGINE_UNAVAILABLE',
    message: /no cached engine [0-9a-f]{64}-trt10\.0\.0-sm87-fp16\.engine .*inspectd build-engine --model/,
  });
  const sha = await sha256File(onnx);
  const { mkdirSync } = await import('node:fs');
  mkdirSync(cache);
  writeFileSync(path.join(cache, `${sha}-trt8.6.1-sm87-fp16.engine`), fixed);
  await assert.rejects(createTensorRtEngine({ onnxPath: onnx, cacheDir: cache, addon: standin }), {
    code: 'INSPECTD_ERR_ENGINE_UNAVAILABLE',
    message: /trt8\.6\.1-sm87-fp16\.engine do not match this machine .*TensorRT 10\.0\.0, sm 8\.7.*stale/,
  });
  const name = engineCacheFileName({ onnxSha256: sha, trtVersion: '10.0.0', computeCapability: '8.7', precision: 'fp32' });
  writeFileSync(path.join(cache, name), fixed);
  const engine = await createTensorRtEngine({ onnxPath: onnx, cacheDir: cache, addon: standin });
  assert.equal(engine.kind, 'tensorrt');
  assert.deepEqual(engine.inputs, [{ name: 'images', shape: [1, 3, 4, 5], type: 'float32' }]);
  assert.equal(engine.outputs.length, 2);
  const out = await engine.run(ramp(60), [1, 3, 4, 5]);
  assert.deepEqual(out[1].dims, [1, 3, 4, 5]);
  await assert.rejects(engine.run(ramp(60), [1, 60]), (err: unknown) => {
    assert.equal((err as { name: string }).name, 'InspectdError');
    assert.equal((err as { code: string }).code, 'INSPECTD_ERR_ENGINE_SHAPE');
    return true;
  });
  await engine.dispose();
  // a corrupt cached engine is refused, never a crash
  writeFileSync(path.join(cache, name), Buffer.from('garbage'));
  await assert.rejects(createTensorRtEngine({ onnxPath: onnx, cacheDir: cache, addon: standin, precision: 'fp32' }), {
    code: 'INSPECTD_ERR_ENGINE_UNAVAILABLE',
    message: /could not deserialize/,
  });
});

test('createTensorRtEngine on the production addon without TensorRT says how to get it', { timeout: 10_000 }, async () => {
  const prod = loadNativeAddon('inspectd_native');
  if (prod.tensorrt.available) return; // a machine with TensorRT: covered by the cache tests above
  await assert.rejects(createTensorRtEngine({ onnxPath: '/nonexistent.onnx', cacheDir: os.tmpdir() }), {
    code: 'INSPECTD_ERR_ENGINE_UNAVAILABLE',
    message: /built without TensorRT.*npm run build:native/,
  });
});
