/**
 * runFrame on the stand-in TensorRT build: the raw frame is letterboxed into the engine's input binding by
 * the CUDA path (cuda_letterbox.cc, with trt_standin/letterbox_kernel.cc standing in for the kernel) or by
 * the CPU letterbox, and the stand-in's traffic counters tell which bytes crossed to the "GPU".
 */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { pino } from 'pino';
import { loadNativeAddon, type NativeTrtEngine } from '../../src/native/loader.js';
import { createTensorRtEngine, engineCacheFileName, sha256File } from '../../src/inference/tensorrt.js';
import type { Frame } from '../../src/contracts/frame.js';
import { halfToFloat, randomBytes } from './letterbox-reference.js';
import { FN_AFFINE, FN_CHANNEL_SUM, standinEngine, type StandinTensor } from './standin-engine.js';

const standin = loadNativeAddon('inspectd_trt_standin');

function withEnv(t: { after: (fn: () => void) => void }, key: string, value: string): void {
  const saved = process.env[key];
  process.env[key] = value;
  t.after(() => {
    if (saved === undefined) delete process.env[key];
    else process.env[key] = saved;
  });
}

async function load(tensors: StandinTensor[], fn = FN_AFFINE): Promise<NativeTrtEngine> {
  const trt = standin.tensorrt;
  assert.ok(trt.available && trt.standin);
  const e = new trt.Engine();
  await e.load(standinEngine(fn, tensors));
  return e;
}

/** input -> output = input * 2 + 1 (FN_AFFINE), so the output shows exactly what the input binding held. */
const affine = (dtype: 'float32' | 'float16', h: number, w: number): StandinTensor[] => [
  { name: 'images', mode: 'input', dtype, dims: [1, 3, h, w] },
  { name: 'out', mode: 'output', dtype: 'float32', dims: [1, 3, h, w] },
];

function traffic(): { h2dBytes: number; d2hBytes: number; kernelLaunches: number } {
  const t = standin.standinTransfers?.();
  assert.ok(t, 'the stand-in build counts its traffic');
  return t;
}

function delta(before: ReturnType<typeof traffic>) {
  const now = traffic();
  return { h2dBytes: now.h2dBytes - before.h2dBytes, d2hBytes: now.d2hBytes - before.d2hBytes, kernelLaunches: now.kernelLaunches - before.kernelLaunches };
}

// 97x61 BGR with 5 bytes of row padding: downscale on one axis, padding, channel swap, stride.
const W = 97;
const H = 61;
const STRIDE = W * 3 + 5;
const FRAME = randomBytes(STRIDE * H, 11);
const FRAME_BYTES = STRIDE * (H - 1) + W * 3;

/** What the CPU letterbox makes of FRAME, pushed through the affine engine in float32. */
function expectedOutputs(dstW: number, dstH: number, fp16: boolean): Float32Array {
  const cpu = loadNativeAddon().preprocessSync(FRAME, W, H, STRIDE, 'bgr24', dstW, dstH, fp16);
  const v = fp16 ? Array.from(cpu.tensor, halfToFloat) : Array.from(cpu.tensor);
  return Float32Array.from(v, (x) => Math.fround(Math.fround(x * 2) + 1));
}

for (const dtype of ['float32', 'float16'] as const) {
  test(`runFrame letterboxes on the "GPU" into a ${dtype} input binding: only the frame goes up, never the tensor`, { timeout: 10_000 }, async () => {
    const e = await load(affine(dtype, 48, 64));
    assert.equal(e.inputLetterbox.on, 'cuda');
    assert.match(e.inputLetterbox.reason, new RegExp(`letterboxed on the GPU \\(CUDA kernel\\) into input 'images' \\(${dtype}\\)`));
    const before = traffic();
    const r = await e.runFrame(FRAME, W, H, STRIDE, 'bgr24', [1, 3, 48, 64]);
    assert.deepEqual(delta(before), { h2dBytes: FRAME_BYTES, d2hBytes: 3 * 48 * 64 * 4, kernelLaunches: 1 });
    assert.equal(r.letterboxOn, 'cuda');
    const g = loadNativeAddon().letterboxGeometry(W, H, 64, 48);
    assert.deepEqual(r.letterbox, g);
    assert.deepEqual(Array.from(r.outputs[0].data), Array.from(expectedOutputs(64, 48, dtype === 'float16')));
    e.dispose();
  });
}

test('INSPECTD_CUDA_LETTERBOX=0 at load: the CPU letterbox fills the pinned input and the tensor is uploaded; same outputs', { timeout: 10_000 }, async (t) => {
  withEnv(t, 'INSPECTD_CUDA_LETTERBOX', '0');
  const e = await load(affine('float16', 48, 64));
  assert.deepEqual(e.inputLetterbox, { on: 'cpu', reason: "INSPECTD_CUDA_LETTERBOX=0: frames are letterboxed on the CPU into input 'images' (float16)" });
  const before = traffic();
  const r = await e.runFrame(FRAME, W, H, STRIDE, 'bgr24', [1, 3, 48, 64]);
  assert.deepEqual(delta(before), { h2dBytes: 3 * 48 * 64 * 2, d2hBytes: 3 * 48 * 64 * 4, kernelLaunches: 0 });
  assert.equal(r.letterboxOn, 'cpu');
  assert.deepEqual(Array.from(r.outputs[0].data), Array.from(expectedOutputs(64, 48, true)));
  e.dispose();
});

test('a kernel that cannot launch (no image for this GPU) falls back to the CPU letterbox for good, with the reason', { timeout: 10_000 }, async (t) => {
  const e = await load(affine('float32', 48, 64));
  withEnv(t, 'INSPECTD_STANDIN_KERNEL_ERROR', '209');
  const r = await e.runFrame(FRAME, W, H, STRIDE, 'bgr24', [1, 3, 48, 64]);
  assert.equal(r.letterboxOn, 'cpu', 'this frame was served by the CPU letterbox');
  assert.deepEqual(Array.from(r.outputs[0].data), Array.from(expectedOutputs(64, 48, false)));
  assert.equal(e.inputLetterbox.on, 'cpu');
  assert.match(
    e.inputLetterbox.reason,
    /the CUDA letterbox kernel failed \(no kernel image is available for execution on the device \(cuda error 209\)\): frames are letterboxed on the CPU into input 'images' from now on/,
  );
  delete process.env.INSPECTD_STANDIN_KERNEL_ERROR;
  const before = traffic();
  const again = await e.runFrame(FRAME, W, H, STRIDE, 'bgr24', [1, 3, 48, 64]);
  assert.equal(again.letterboxOn, 'cpu', 'no retry of a kernel that failed once');
  assert.equal(delta(before).kernelLaunches, 0);
  e.dispose();
});

test('runFrame on a dynamic engine: each size letterboxed as asked; a frame too big for GPU memory is ENGINE_RUN', { timeout: 10_000 }, async (t) => {
  const e = await load(
    [
      { name: 'images', mode: 'input', dtype: 'float32', dims: [1, 3, -1, -1], maxDims: [1, 3, 128, 128] },
      { name: 'sums', mode: 'output', dtype: 'float32', dims: [1, 3] },
    ],
    FN_CHANNEL_SUM,
  );
  const cpu = loadNativeAddon();
  for (const [h, w] of [
    [32, 32],
    [64, 96],
    [128, 16],
  ]) {
    const r = await e.runFrame(FRAME, W, H, STRIDE, 'bgr24', [1, 3, h, w]);
    const want = cpu.preprocessSync(FRAME, W, H, STRIDE, 'bgr24', w, h, false).tensor;
    const plane = h * w;
    const sums = [0, 1, 2].map((c) => Array.from(want.subarray(c * plane, (c + 1) * plane)).reduce((a, b) => a + b, 0));
    r.outputs[0].data.forEach((s, c) => {
      assert.ok(Math.abs(s - sums[c]) <= 1e-3 * plane, `${h}x${w} channel ${c}: ${s} vs ${sums[c]}`);
    });
  }
  const big = randomBytes(1920 * 1080 * 3, 5);
  withEnv(t, 'INSPECTD_STANDIN_DEVICE_BYTES', String(4 * 1024 * 1024));
  await assert.rejects(e.runFrame(big, 1920, 1080, 0, 'rgb24', [1, 3, 64, 64]), {
    code: 'INSPECTD_ERR_ENGINE_RUN',
    message: /out of GPU memory: cudaMalloc of 6220800 bytes for the raw frame failed/,
  });
  delete process.env.INSPECTD_STANDIN_DEVICE_BYTES;
  const r = await e.runFrame(big, 1920, 1080, 0, 'rgb24', [1, 3, 64, 64]);
  assert.equal(r.letterboxOn, 'cuda', 'the engine recovers');
  e.dispose();
  assert.deepEqual(standin.standinStats?.(), { deviceBytes: 0, deviceAllocs: 0, hostAllocs: 0, liveObjects: 0 }, 'dispose frees the frame buffer too');
});

test('runFrame refuses what it cannot letterbox: non-image dims, a wrong size, a short buffer, an unknown format', { timeout: 10_000 }, async () => {
  const e = await load(affine('float32', 48, 64));
  await assert.rejects(e.runFrame(FRAME, W, H, STRIDE, 'bgr24', [1, 3, 48]), {
    code: 'INSPECTD_ERR_ENGINE_SHAPE',
    message: /dims must be \[1, 3, H, W\], got \[1, 3, 48\]/,
  });
  await assert.rejects(e.runFrame(FRAME, W, H, STRIDE, 'bgr24', [1, 1, 48, 64]), { code: 'INSPECTD_ERR_ENGINE_SHAPE' });
  await assert.rejects(e.runFrame(FRAME, W, H, STRIDE, 'bgr24', [1, 3, 64, 48]), {
    code: 'INSPECTD_ERR_ENGINE_SHAPE',
    message: /input 'images' expects \[1, 3, 48, 64\], got \[1, 3, 64, 48\]/,
  });
  assert.throws(() => e.runFrame(FRAME.subarray(0, 100), W, H, STRIDE, 'bgr24', [1, 3, 48, 64]), {
    code: 'INSPECTD_ERR_IMAGE_UNREADABLE',
    message: /frame buffer holds 100 bytes, 97x61 bgr24 with stride 296 needs/,
  });
  assert.throws(() => e.runFrame(FRAME, W, H, STRIDE, 'yuv420p', [1, 3, 48, 64]), { code: 'INSPECTD_ERR_USAGE', message: /unknown pixel format 'yuv420p'/ });
  assert.equal(e.inFlight, 0, 'refusals leave nothing in flight');
  const r = await e.runFrame(FRAME, W, H, STRIDE, 'bgr24', [1, 3, 48, 64]);
  assert.equal(r.outputs[0].data.length, 3 * 48 * 64, 'still usable');
  e.dispose();
});

test('createTensorRtEngine logs where the input is letterboxed; runFrame gives the letterbox info; a fallback is logged once', { timeout: 10_000 }, async (t) => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'inspectd-trt-frame-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const onnx = path.join(dir, 'model.onnx');
  writeFileSync(onnx, 'only hashed');
  const cache = path.join(dir, 'engines');
  mkdirSync(cache);
  const key = { onnxSha256: await sha256File(onnx), trtVersion: '10.0.0', computeCapability: '8.7', precision: 'fp16' as const };
  writeFileSync(path.join(cache, engineCacheFileName(key)), standinEngine(FN_AFFINE, affine('float16', 48, 64)));
  const lines: Array<Record<string, unknown>> = [];
  const logger = pino({ level: 'info' }, { write: (s: string) => void lines.push(JSON.parse(s) as Record<string, unknown>) });
  const engine = await createTensorRtEngine({ onnxPath: onnx, cacheDir: cache, addon: standin, logger });
  const loaded = lines.find((l) => l.msg === 'TensorRT engine loaded');
  assert.equal(loaded?.inputLetterbox, 'cuda');
  assert.match(String(loaded?.inputLetterboxReason), /on the GPU \(CUDA kernel\) into input 'images' \(float16\)/);
  const frame: Frame = { cameraId: 'c', seq: 0, captureMono: 0, captureWall: 0, width: W, height: H, format: 'bgr24', data: Buffer.from(FRAME), stride: STRIDE };
  const r = await engine.runFrame(frame, [1, 3, 48, 64]);
  const g = loadNativeAddon().letterboxGeometry(W, H, 64, 48);
  assert.deepEqual(r.info, { scale: g.scale, padX: g.padX, padY: g.padY, srcWidth: W, srcHeight: H, dstWidth: 64, dstHeight: 48 });
  assert.equal(r.letterboxOn, 'cuda');
  withEnv(t, 'INSPECTD_STANDIN_KERNEL_ERROR', '209');
  for (let i = 0; i < 3; i++) assert.equal((await engine.runFrame(frame, [1, 3, 48, 64])).letterboxOn, 'cpu');
  const changed = lines.filter((l) => l.msg === 'TensorRT input letterbox changed');
  assert.equal(changed.length, 1, 'logged once, not per frame');
  assert.equal(changed[0].level, 40);
  assert.equal(changed[0].inputLetterbox, 'cpu');
  assert.match(String(changed[0].reason), /cuda error 209/);
  await assert.rejects(engine.runFrame({ ...frame, data: Buffer.alloc(10) }, [1, 3, 48, 64]), (err: unknown) => {
    assert.equal((err as { name: string }).name, 'InspectdError');
    assert.equal((err as { code: string }).code, 'INSPECTD_ERR_IMAGE_UNREADABLE');
    return true;
  });
  await engine.dispose();
});
