import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { Detector } from '../../src/vision/detector.js';
import type { Frame } from '../../src/source/frame.js';
import { ErrorCodes } from '../../src/errors.js';
import { repoPath } from '../helpers/fixtures.js';

const asset = (name: string) => repoPath('test', 'assets', name);

function frame(width: number, height: number): Frame {
  return { cameraId: 'c', seq: 1, captureMono: 0, captureWall: 0, width, height, format: 'rgb24', data: Buffer.alloc(width * height * 3, 60) };
}

const r2 = (v: number) => Math.round(v * 100) / 100;

test('Detector on a v8 head: metadata, layout, NMS and un-letterboxing through onnxruntime', { timeout: 20000 }, async () => {
  const d = await Detector.load({ modelPath: asset('tiny-v8.onnx'), engine: 'cpu', threads: 1 });
  try {
    assert.equal(d.layout, 'yolov8');
    assert.deepEqual(d.inputSize, { width: 32, height: 32 });
    assert.deepEqual(d.metadata.names, ['good part', "it's a scratch"]);
    assert.equal(d.engineKind, 'ort-cpu');
    assert.match(d.modelSha256, /^[0-9a-f]{64}$/);

    // 64x32 source -> scale 0.5, padY 8.
    const { detections, timings } = await d.detectFrame(frame(64, 32));
    assert.deepEqual(
      detections.map((x) => [x.class, r2(x.confidence), r2(x.box.x1), r2(x.box.y1), r2(x.box.x2), r2(x.box.y2)]),
      [
        ['good part', 0.9, 24, 8, 40, 24],
        ["it's a scratch", 0.85, 24, 8, 40, 24],
        ["it's a scratch", 0.6, 50, 0, 64, 8], // x2 = 70 clipped to the 64 px image
      ],
    );
    for (const v of Object.values(timings)) assert.ok(v >= 0);

    const strict = await d.detectFrame(frame(32, 32), { conf: 0.7 });
    assert.deepEqual(strict.detections.map((x) => [x.classId, r2(x.confidence)]), [[0, 0.9], [1, 0.85]]);
    const perClass = await d.detectFrame(frame(32, 32), { conf: 0.7, classConf: { "it's a scratch": 0.5 } });
    assert.deepEqual(perClass.detections.map((x) => [x.classId, r2(x.confidence)]), [[0, 0.9], [1, 0.85], [1, 0.6]]);

    const png = await sharp(Buffer.alloc(32 * 32 * 3, 50), { raw: { width: 32, height: 32, channels: 3 } }).png().toBuffer();
    const img = await d.detectImage(png);
    assert.deepEqual([img.width, img.height, img.detections.length], [32, 32, 3]);
  } finally {
    await d.dispose();
  }
  await assert.rejects(d.detectFrame(frame(8, 8)), { code: ErrorCodes.ENGINE_DISPOSED });
});

test('Detector on an end-to-end head takes rows as they are', { timeout: 20000 }, async () => {
  const d = await Detector.load({ modelPath: asset('tiny-e2e.onnx'), engine: 'cpu', threads: 1 });
  try {
    assert.equal(d.layout, 'end2end');
    const { detections } = await d.detectFrame(frame(32, 32));
    assert.deepEqual(detections.map((x) => [x.class, r2(x.confidence), x.box.x1, x.box.y1, x.box.x2, x.box.y2]), [
      ['a', 0.95, 8, 8, 24, 24],
      ['b', 0.7, 4, 4, 12, 12],
    ]);
  } finally {
    await d.dispose();
  }
});

test('models with unsupported heads are refused at load, naming the shapes', { timeout: 20000 }, async () => {
  await assert.rejects(Detector.load({ modelPath: asset('tiny-4d.onnx'), engine: 'cpu', threads: 1 }), {
    code: ErrorCodes.MODEL_LAYOUT,
    message: /shape \[1, 3, 4, 4\].*4-D/,
  });
  await assert.rejects(Detector.load({ modelPath: asset('tiny-2out.onnx'), engine: 'cpu', threads: 1 }), {
    code: ErrorCodes.MODEL_LAYOUT,
    message: /shape \[1, 6, 21\], \[1, 32, 8, 8\]/,
  });
});

test('unreadable model or labels files are clear errors', { timeout: 20000 }, async (t) => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'inspectd-det-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  await writeFile(path.join(dir, 'junk.onnx'), 'not a model');
  await assert.rejects(Detector.load({ modelPath: path.join(dir, 'junk.onnx'), engine: 'cpu' }), {
    code: ErrorCodes.MODEL_INVALID,
    message: /junk\.onnx.*not a valid ONNX model/,
  });
  await assert.rejects(Detector.load({ modelPath: path.join(dir, 'none.onnx') }), { code: ErrorCodes.MODEL_NOT_FOUND, message: /none\.onnx/ });
  await assert.rejects(Detector.load({ modelPath: asset('tiny-v8.onnx'), labelsPath: path.join(dir, 'nolabels.txt') }), {
    code: ErrorCodes.MODEL_LABELS,
  });
});

test('an fp16 model gets half-precision input and its half outputs are read back', { timeout: 20000 }, async () => {
  const d = await Detector.load({ modelPath: asset('tiny-v8-fp16.onnx'), engine: 'cpu', threads: 1 });
  try {
    const { detections } = await d.detectFrame(frame(64, 32));
    assert.deepEqual(
      detections.map((x) => [x.classId, r2(x.confidence), x.box.x1, x.box.y1, x.box.x2, x.box.y2]),
      [
        [0, 0.9, 24, 8, 40, 24],
        [1, 0.85, 24, 8, 40, 24],
        [1, 0.6, 50, 0, 64, 8],
      ],
    );
  } finally {
    await d.dispose();
  }
});

test('a model without names takes them from a labels file, else class<N>', { timeout: 20000 }, async (t) => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'inspectd-labels-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const labels = path.join(dir, 'labels.txt');
  await writeFile(labels, 'ok\nscratch\n');
  const d = await Detector.load({ modelPath: asset('tiny-v5-nonames.onnx'), labelsPath: labels, engine: 'cpu', threads: 1 });
  try {
    assert.equal(d.layout, 'yolov5');
    assert.deepEqual(d.inputSize, { width: 32, height: 32 });
    assert.deepEqual(d.metadata.names, ['ok', 'scratch']);
    const { detections } = await d.detectFrame(frame(32, 32));
    assert.deepEqual(detections.map((x) => [x.class, r2(x.confidence), x.box.x1, x.box.y2]), [['scratch', 0.9, 12, 20]]);
  } finally {
    await d.dispose();
  }
  const bare = await Detector.load({ modelPath: asset('tiny-v5-nonames.onnx'), engine: 'cpu', threads: 1 });
  assert.deepEqual(bare.metadata.names, ['class0', 'class1']);
  await bare.dispose();
});
