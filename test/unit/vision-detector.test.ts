import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { pino } from 'pino';
import sharp from 'sharp';
import { Detector } from '../../src/inference/detector.js';
import type { Frame } from '../../src/contracts/frame.js';
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
    assert.deepEqual(
      strict.detections.map((x) => [x.classId, r2(x.confidence)]),
      [
        [0, 0.9],
        [1, 0.85],
      ],
    );
    const perClass = await d.detectFrame(frame(32, 32), { conf: 0.7, classConf: { "it's a scratch": 0.5 } });
    assert.deepEqual(
      perClass.detections.map((x) => [x.classId, r2(x.confidence)]),
      [
        [0, 0.9],
        [1, 0.85],
        [1, 0.6],
      ],
    );

    const png = await sharp(Buffer.alloc(32 * 32 * 3, 50), { raw: { width: 32, height: 32, channels: 3 } })
      .png()
      .toBuffer();
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
    assert.deepEqual(
      detections.map((x) => [x.class, r2(x.confidence), x.box.x1, x.box.y1, x.box.x2, x.box.y2]),
      [
        ['a', 0.95, 8, 8, 24, 24],
        ['b', 0.7, 4, 4, 12, 12],
      ],
    );
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
    assert.deepEqual(
      detections.map((x) => [x.class, r2(x.confidence), x.box.x1, x.box.y2]),
      [['scratch', 0.9, 12, 20]],
    );
  } finally {
    await d.dispose();
  }
  const bare = await Detector.load({ modelPath: asset('tiny-v5-nonames.onnx'), engine: 'cpu', threads: 1 });
  assert.deepEqual(bare.metadata.names, ['class0', 'class1']);
  await bare.dispose();
});

function iou(a: { x1: number; y1: number; x2: number; y2: number }, b: typeof a): number {
  const iw = Math.max(0, Math.min(a.x2, b.x2) - Math.max(a.x1, b.x1));
  const ih = Math.max(0, Math.min(a.y2, b.y2) - Math.max(a.y1, b.y1));
  const inter = iw * ih;
  const union = (a.x2 - a.x1) * (a.y2 - a.y1) + (b.x2 - b.x1) * (b.y2 - b.y1) - inter;
  return union > 0 ? inter / union : 0;
}

test('raw frames: native preprocessing is the default and detects the same as the JS letterbox', { timeout: 60_000 }, async () => {
  const { renderScene } = await import('../../src/synth/scene.js');
  const model = repoPath('models', 'demo', 'inspectd-demo.onnx');
  const native = await Detector.load({ modelPath: model, engine: 'cpu', threads: 1 });
  const js = await Detector.load({ modelPath: model, engine: 'cpu', threads: 1, nativePreprocess: false });
  try {
    assert.equal(native.preprocessKind, 'native', 'the addon is built, so raw frames take the native path');
    assert.equal(js.preprocessKind, 'js');
    let compared = 0;
    for (let i = 0; i < 4; i++) {
      // 1280x720 BGR with 16 bytes of row padding: the daemon's ffmpeg path in miniature (downscale, stride, channel swap).
      const scene = await renderScene(11, i, { width: 1280, height: 720, defectRate: 1 });
      const stride = 1280 * 3 + 16;
      const data = Buffer.alloc(stride * 720);
      for (let y = 0; y < 720; y++) {
        for (let x = 0; x < 1280; x++) {
          const s = (y * 1280 + x) * 3;
          const d = y * stride + x * 3;
          data[d] = scene.rgb[s + 2];
          data[d + 1] = scene.rgb[s + 1];
          data[d + 2] = scene.rgb[s];
        }
      }
      const f: Frame = { ...frame(1280, 720), format: 'bgr24', data, stride };
      const a = (await native.detectFrame(f, { conf: 0.2 })).detections;
      const b = (await js.detectFrame(f, { conf: 0.2 })).detections;
      // Interpolation differs by at most 1/255 per value: confident detections must pair up closely; only
      // detections near the 0.2 threshold may appear on one side alone.
      for (const [mine, theirs] of [
        [a, b],
        [b, a],
      ] as const) {
        for (const d of mine) {
          const m = theirs.find((o) => o.classId === d.classId && iou(o.box, d.box) >= 0.95);
          if (d.confidence >= 0.3) {
            assert.ok(m, `frame ${i}: ${d.class} ${d.confidence.toFixed(3)} has no counterpart`);
          }
          if (m) {
            assert.ok(Math.abs(m.confidence - d.confidence) <= 0.02, `frame ${i}: conf ${d.confidence} vs ${m.confidence}`);
            compared++;
          }
        }
      }
    }
    assert.ok(compared >= 4, `the demo model found defects to compare (${compared} pairs)`);
  } finally {
    await native.dispose();
    await js.dispose();
  }
});

test('without the native addon, raw frames fall back to the JS letterbox with one log line saying why', { timeout: 30_000 }, async () => {
  const { execFile } = await import('node:child_process');
  const { pathToFileURL } = await import('node:url');
  const detectorUrl = pathToFileURL(repoPath('dist', 'src', 'inference', 'detector.js')).href;
  // A child process whose dlopen refuses the inspectd addon (as on a machine where it was never built).
  const script = `
    const real = process.dlopen;
    process.dlopen = (m, file, ...rest) => {
      if (String(file).includes('inspectd_native')) throw new Error('simulated: addon not built');
      return real.call(process, m, file, ...rest);
    };
    const { pino } = await import('pino');
    const { Detector } = await import(${JSON.stringify(detectorUrl)});
    const logger = pino({ level: 'info' }, process.stdout);
    const d = await Detector.load({ modelPath: ${JSON.stringify(asset('tiny-v8.onnx'))}, engine: 'cpu', threads: 1, logger, tensorrtBuild: false });
    const f = { cameraId: 'c', seq: 1, captureMono: 0, captureWall: 0, width: 64, height: 32, format: 'rgb24', data: Buffer.alloc(64 * 32 * 3, 60) };
    const { detections } = await d.detectFrame(f);
    console.log(JSON.stringify({ kind: d.preprocessKind, n: detections.length }));
    await d.dispose();
  `;
  const out = await new Promise<string>((resolve, reject) => {
    execFile(process.execPath, ['--input-type=module', '-e', script], { cwd: repoPath(), timeout: 20_000 }, (err, stdout, stderr) =>
      err ? reject(new Error(`${err.message}\n${stderr}`)) : resolve(stdout),
    );
  });
  const lines = out.trim().split('\n');
  const fallback = lines.filter((l) => l.includes('native preprocessing unavailable'));
  assert.equal(fallback.length, 1, out);
  assert.match(JSON.parse(fallback[0]).reason, /inspectd_native could not be loaded[\s\S]*simulated: addon not built[\s\S]*npm run build:native/);
  assert.deepEqual(JSON.parse(lines[lines.length - 1]), { kind: 'js', n: 3 });
});

test('an engine whose worker dies is replaced in the background; frames fail meanwhile, then detect again', { timeout: 30_000 }, async () => {
  const modelPath = repoPath('models', 'demo', 'inspectd-demo.onnx');
  const changes: string[] = [];
  const d = await Detector.load({ modelPath, engine: 'cpu', threads: 1, tensorrtBuild: false, onEngineChange: (kind, reason) => changes.push(`${kind}: ${reason}`) });
  const frame: Frame = { cameraId: 'c', seq: 1, captureMono: 0, captureWall: 0, width: 64, height: 48, format: 'rgb24', data: Buffer.alloc(64 * 48 * 3, 90) };
  const before = await d.detectFrame(frame);
  const failed = (d as unknown as { slot: { current: { handle: { worker: import('node:worker_threads').Worker }; failure?: string } } }).slot.current;
  // An uncaught exception in the worker, the way a bug in it would kill it.
  failed.handle.worker.postMessage({ type: 'not-a-request' });
  await assert.rejects(d.detectFrame(frame), { code: ErrorCodes.ENGINE_RUN });
  assert.ok(failed.failure, 'the engine knows it failed');
  await d.engineRecovery;
  assert.equal(changes.length, 1, 'one replacement');
  assert.match(changes[0], /^ort-cpu: replaces the ort-cpu engine that failed: /);
  const after = await d.detectFrame(frame);
  assert.deepEqual(after.detections, before.detections, 'the fresh engine computes what the old one did');
  await d.dispose();
});

test('a model without Ultralytics metadata or labels: loads, but says loudly that its layout was guessed and its names are placeholders', { timeout: 20000 }, async () => {
  const lines: string[] = [];
  const logger = pino({ level: 'warn' }, { write: (l: string) => void lines.push(l) });
  const d = await Detector.load({ modelPath: asset('tiny-v5-nonames.onnx'), engine: 'cpu', threads: 1, logger });
  await d.dispose();
  assert.equal(d.metadata.namesFrom, 'placeholders');
  const warn = lines.map((l) => JSON.parse(l) as { level: number; msg: string; layout?: string }).find((l) => /guessed from the output shapes/.test(l.msg));
  assert.ok(warn, lines.join('\n'));
  assert.equal(warn.level, 40);
  assert.equal(warn.layout, 'yolov5');
  assert.match(warn.msg, /class names are placeholders/);
  const named = await Detector.load({ modelPath: asset('tiny-v8.onnx'), engine: 'cpu', threads: 1 });
  await named.dispose();
  assert.equal(named.metadata.namesFrom, 'metadata');
});
