import assert from 'node:assert/strict';
import { test } from 'node:test';
import { loadNativeAddon } from '../../src/native/loader.js';
import { createNativePreprocessor } from '../../src/native/preprocess.js';
import type { Frame } from '../../src/contracts/frame.js';
import { halfToFloat, randomBytes, refGeometry, refLetterbox, type RefFrame } from './letterbox-reference.js';

const TOL = 1 / 255 + 1e-5;

function frame(width: number, height: number, format: RefFrame['format'], pad: number, seed: number): RefFrame {
  const cn = format === 'gray8' ? 1 : 3;
  const stride = width * cn + pad;
  return { data: randomBytes(stride * height, seed), width, height, stride, format };
}

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  assert.equal(a.length, b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

const cases: Array<[number, number, RefFrame['format'], number, number, number]> = [
  // width, height, format, row padding bytes, dstW, dstH
  [37, 23, 'rgb24', 5, 64, 64],
  [641, 479, 'gray8', 9, 320, 320],
  [199, 301, 'bgr24', 0, 160, 96],
  [17, 11, 'rgb24', 3, 64, 48], // upscale
  [128, 128, 'bgr24', 1, 128, 128], // identity resize
  [1, 1, 'gray8', 0, 32, 32],
  [333, 2, 'rgb24', 7, 64, 64], // extreme aspect
];

test('native letterbox matches the reference bilinear letterbox on odd sizes, strides and formats', { timeout: 60_000 }, () => {
  const addon = loadNativeAddon();
  let seed = 1;
  for (const [w, h, fmt, pad, dw, dh] of cases) {
    const f = frame(w, h, fmt, pad, seed++);
    const r = addon.preprocessSync(f.data, w, h, f.stride, fmt, dw, dh, false);
    const g = refGeometry(w, h, dw, dh);
    assert.deepEqual({ scale: r.scale, padX: r.padX, padY: r.padY, newWidth: r.newWidth, newHeight: r.newHeight }, g, `geometry ${w}x${h} -> ${dw}x${dh}`);
    const ref = refLetterbox(f, dw, dh);
    const diff = maxAbsDiff(r.tensor, ref);
    assert.ok(diff <= TOL, `${w}x${h} ${fmt} stride ${f.stride} -> ${dw}x${dh}: max abs diff ${diff}`);
  }
});

test('geometry matches Ultralytics for 1080p and portrait frames', () => {
  const addon = loadNativeAddon();
  assert.deepEqual(addon.letterboxGeometry(1920, 1080, 640, 640), {
    scale: 1 / 3,
    newWidth: 640,
    newHeight: 360,
    padX: 0,
    padY: 140,
  });
  // 1080x1920 -> 640: new 360x640, dw = 140 -> left 140
  const g = addon.letterboxGeometry(1080, 1920, 640, 640);
  assert.equal(g.newWidth, 360);
  assert.equal(g.padX, 140);
  assert.equal(g.padY, 0);
  // odd padding: dw = 0.5 -> round(0.4) = 0 left, the extra column goes right (Ultralytics)
  const o = addon.letterboxGeometry(639, 640, 640, 640);
  assert.equal(o.newWidth, 639);
  assert.equal(o.padX, 0);
});

test('padding is 114/255 and the channel order is RGB for BGR input', () => {
  const addon = loadNativeAddon();
  // 4x2 BGR frame, pure blue (B=255): output R plane 0, B plane 1 inside the image
  const data = new Uint8Array(4 * 2 * 3);
  for (let i = 0; i < 8; i++) data[i * 3] = 255;
  const r = addon.preprocessSync(data, 4, 2, 0, 'bgr24', 8, 8, false);
  const t = r.tensor as Float32Array;
  const plane = 64;
  assert.equal(r.padY, 2);
  assert.ok(Math.abs(t[0] - 114 / 255) < 1e-7, 'top-left is padding');
  const inside = (2 + 1) * 8 + 3;
  assert.equal(t[inside], 0); // R
  assert.equal(t[plane + inside], 0); // G
  assert.equal(t[2 * plane + inside], 1); // B
});

test('fp16 output equals the fp32 output rounded to half', () => {
  const addon = loadNativeAddon();
  const f = frame(97, 55, 'rgb24', 3, 42);
  const a = addon.preprocessSync(f.data, f.width, f.height, f.stride, f.format, 64, 64, false).tensor;
  const h = addon.preprocessSync(f.data, f.width, f.height, f.stride, f.format, 64, 64, true).tensor;
  assert.ok(h instanceof Uint16Array);
  const back = Array.from(h, halfToFloat);
  assert.ok(maxAbsDiff(a, back) <= 1 / 2048, 'within half precision of [0, 1]');
});

test('async preprocess fills a caller-provided tensor and rejects bad frames with a code', { timeout: 10_000 }, async () => {
  const addon = loadNativeAddon();
  const f = frame(50, 30, 'gray8', 2, 7);
  const out = new Float32Array(3 * 32 * 32).fill(-1);
  const r = await addon.preprocess(f.data, f.width, f.height, f.stride, f.format, 32, 32, false, out);
  assert.equal(r.tensor, out);
  assert.ok(maxAbsDiff(out, refLetterbox(f, 32, 32)) <= TOL);
  // views at an offset into larger buffers (pooled Buffers, shared tensors) read and write the right bytes
  const big = new Uint8Array(f.data.length + 13);
  big.set(f.data, 13);
  const bigOut = new Float32Array(3 * 32 * 32 + 8).fill(-1);
  const view = bigOut.subarray(5, 5 + 3 * 32 * 32);
  await addon.preprocess(big.subarray(13), f.width, f.height, f.stride, f.format, 32, 32, false, view);
  assert.deepEqual(Array.from(view), Array.from(out));
  assert.deepEqual([bigOut[4], bigOut[5 + 3 * 32 * 32]], [-1, -1], 'nothing written outside the view');
  assert.throws(() => addon.preprocessSync(new Uint8Array(10), 50, 30, 0, 'rgb24', 32, 32, false), {
    code: 'INSPECTD_ERR_IMAGE_UNREADABLE',
    message: /needs 4500/,
  });
  assert.throws(() => addon.preprocessSync(f.data, 50, 30, 0, 'yuv420', 32, 32, false), {
    code: 'INSPECTD_ERR_USAGE',
    message: /unknown pixel format 'yuv420'/,
  });
  assert.throws(() => addon.preprocessSync(f.data, 50, 30, 0, 'gray8', 32, 32, false, new Float32Array(5)), {
    code: 'INSPECTD_ERR_USAGE',
  });
});

test('createNativePreprocessor returns tensor and LetterboxInfo for a Frame', { timeout: 10_000 }, async () => {
  const pre = createNativePreprocessor();
  assert.ok(pre, 'addon is built');
  const f = frame(300, 200, 'rgb24', 4, 9);
  const fr: Frame = {
    cameraId: 'c',
    seq: 0,
    captureMono: 0,
    captureWall: 0,
    width: f.width,
    height: f.height,
    format: f.format,
    data: Buffer.from(f.data.buffer, f.data.byteOffset, f.data.byteLength),
    stride: f.stride,
  };
  const { tensor, info } = await pre(fr, 160, 160);
  assert.deepEqual(info, { scale: 160 / 300, padX: 0, padY: 26, srcWidth: 300, srcHeight: 200, dstWidth: 160, dstHeight: 160 });
  assert.ok(maxAbsDiff(tensor, refLetterbox(f, 160, 160)) <= TOL);
});
