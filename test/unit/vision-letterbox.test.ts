import { test } from 'node:test';
import assert from 'node:assert/strict';
import sharp from 'sharp';
import { letterboxGeometry, preprocessImage, preprocessRaw, pyRound } from '../../src/vision/letterbox.js';
import type { Frame } from '../../src/contracts/frame.js';
import { ErrorCodes } from '../../src/errors.js';

const PAD = 114 / 255;

function frame(width: number, height: number, format: Frame['format'], data: Buffer, stride?: number): Frame {
  return { cameraId: 't', seq: 0, captureMono: 0, captureWall: 0, width, height, format, data, stride };
}

function px(t: Float32Array, w: number, h: number, x: number, y: number): number[] {
  const p = w * h;
  return [t[y * w + x], t[p + y * w + x], t[2 * p + y * w + x]].map((v) => Math.round(v * 255));
}

test('python round is half to even', { timeout: 5000 }, () => {
  assert.deepEqual([0.5, 1.5, 2.5, 3.5, -0.5, 2.4, 2.6].map(pyRound), [0, 2, 2, 4, 0, 2, 3]);
});

test('letterbox geometry matches Ultralytics LetterBox', { timeout: 5000 }, () => {
  const bus = letterboxGeometry(810, 1080, 640, 640);
  assert.equal(bus.newWidth, 480);
  assert.equal(bus.newHeight, 640);
  assert.equal(bus.padX, 80);
  assert.equal(bus.padY, 0);
  const zidane = letterboxGeometry(1280, 720, 640, 640);
  assert.deepEqual([zidane.scale, zidane.newWidth, zidane.newHeight, zidane.padX, zidane.padY], [0.5, 640, 360, 0, 140]);
  // Odd padding: 640 - 361 = 279 -> top round(139.4) = 139, bottom 140.
  const odd = letterboxGeometry(1000, 564, 640, 640);
  assert.equal(odd.newHeight, 361);
  assert.equal(odd.padY, 139);
  // Upscaling a small image and a non-square input.
  const small = letterboxGeometry(100, 50, 320, 256);
  assert.deepEqual([small.scale, small.newWidth, small.newHeight, small.padX, small.padY], [3.2, 320, 160, 0, 48]);
});

test('raw rgb frame: gray 114 padding, pixels /255, NCHW planes', { timeout: 5000 }, async () => {
  const w = 64,
    h = 32;
  const data = Buffer.alloc(w * h * 3);
  for (let i = 0; i < w * h; i++) data.set([200, 100, 50], i * 3);
  const { tensor, info } = await preprocessRaw(frame(w, h, 'rgb24', data), 32, 32);
  assert.deepEqual(info, { scale: 0.5, padX: 0, padY: 8, srcWidth: 64, srcHeight: 32, dstWidth: 32, dstHeight: 32 });
  assert.equal(tensor.length, 3 * 32 * 32);
  assert.equal(tensor[0], Math.fround(PAD));
  assert.deepEqual(px(tensor, 32, 32, 5, 3), [114, 114, 114]);
  assert.deepEqual(px(tensor, 32, 32, 5, 8), [200, 100, 50]);
  assert.deepEqual(px(tensor, 32, 32, 31, 23), [200, 100, 50]);
  assert.deepEqual(px(tensor, 32, 32, 31, 24), [114, 114, 114]);
});

test('bgr frames are swapped to RGB, gray replicated, stride honoured', { timeout: 5000 }, async () => {
  const w = 30,
    h = 20,
    stride = 100;
  const bgr = Buffer.alloc(stride * h, 0xee); // row padding bytes must be ignored
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) bgr.set([10, 20, 30], y * stride + x * 3);
  const a = await preprocessRaw(frame(w, h, 'bgr24', bgr, stride), 48, 48);
  assert.deepEqual(px(a.tensor, 48, 48, 47, 24), [30, 20, 10]);
  assert.deepEqual(px(a.tensor, 48, 48, 0, 24), [30, 20, 10]);
  const gray = Buffer.alloc(w * h, 77);
  const g = await preprocessRaw(frame(w, h, 'gray8', gray), 48, 48);
  assert.deepEqual(px(g.tensor, 48, 48, 10, 24), [77, 77, 77]);
});

test('bilinear resize as OpenCV INTER_LINEAR: half-pixel centres on a gradient', { timeout: 5000 }, async () => {
  // 4x1 -> 2x? : a horizontal ramp 0, 100, 200, 255 shrunk to half width (exact 2x: OpenCV uses INTER_AREA).
  const data = Buffer.from([0, 0, 0, 100, 100, 100, 200, 200, 200, 250, 250, 250].concat(Array(12).fill(0)));
  const area = await preprocessRaw(frame(4, 2, 'rgb24', data), 2, 2);
  // (0+100+0+0+2)>>2 = 25, (200+250+2)>>2 = 113
  assert.deepEqual([px(area.tensor, 2, 2, 0, 0)[0], px(area.tensor, 2, 2, 1, 0)[0]], [25, 113]);
  // 3 -> 2 px (not 2x): dst x=0 samples src 0.25 -> 0.75*0 + 0.25*100 = 25; x=1 samples 1.75 -> 175.
  const ramp = Buffer.from([0, 0, 0, 100, 100, 100, 200, 200, 200]);
  const lin = await preprocessRaw(frame(3, 1, 'rgb24', ramp), 2, 2);
  assert.equal(lin.info.padY, 0);
  assert.deepEqual([px(lin.tensor, 2, 2, 0, 0)[0], px(lin.tensor, 2, 2, 1, 0)[0]], [25, 175]);
});

test('short frame data is IMAGE_UNREADABLE, not a crash', { timeout: 5000 }, async () => {
  await assert.rejects(preprocessRaw(frame(10, 10, 'rgb24', Buffer.alloc(50)), 32, 32), { code: ErrorCodes.IMAGE_UNREADABLE, message: /too short/ });
});

test('encoded images: EXIF rotation, alpha and grayscale normalised; garbage is IMAGE_UNREADABLE', { timeout: 10000 }, async () => {
  const w = 40,
    h = 20;
  const rgba = Buffer.alloc(w * h * 4);
  for (let i = 0; i < w * h; i++) rgba.set([255, 0, 0, i % 2 ? 0 : 255], i * 4);
  const png = await sharp(rgba, { raw: { width: w, height: h, channels: 4 } })
    .png()
    .toBuffer();
  const a = await preprocessImage(png, 32, 32);
  assert.deepEqual([a.info.srcWidth, a.info.srcHeight], [40, 20]);
  assert.deepEqual(px(a.tensor, 32, 32, 16, 16), [255, 0, 0]); // alpha dropped as OpenCV imread does

  // Orientation 6 = rotate 90° clockwise to display: a 40x20 stored image is 20x40 upright.
  const jpeg = await sharp(rgba, { raw: { width: w, height: h, channels: 4 } })
    .removeAlpha()
    .jpeg()
    .withMetadata({ orientation: 6 })
    .toBuffer();
  const r = await preprocessImage(jpeg, 32, 32);
  assert.deepEqual([r.info.srcWidth, r.info.srcHeight], [20, 40]);

  const grayPng = await sharp(Buffer.alloc(w * h, 90), { raw: { width: w, height: h, channels: 1 } })
    .png()
    .toBuffer();
  const g = await preprocessImage(grayPng, 32, 32);
  assert.deepEqual(px(g.tensor, 32, 32, 16, 16), [90, 90, 90]);

  const png16 = await sharp(Buffer.alloc(w * h * 3, 128), { raw: { width: w, height: h, channels: 3 } })
    .toColourspace('rgb16')
    .png()
    .toBuffer();
  const d = await preprocessImage(png16, 32, 32);
  assert.deepEqual(px(d.tensor, 32, 32, 16, 16), [128, 128, 128]);

  await assert.rejects(preprocessImage(Buffer.from('not an image'), 32, 32), { code: ErrorCodes.IMAGE_UNREADABLE, message: /cannot decode/ });
  await assert.rejects(preprocessImage(png.subarray(0, 30), 32, 32), { code: ErrorCodes.IMAGE_UNREADABLE });
});
