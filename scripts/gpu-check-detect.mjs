// Detections on the shared fixtures by every engine path this machine has, each compared with onnxruntime CPU:
//   ort-image   Detector.detectImage, engine cpu (the OpenCV-exact JS letterbox): checked against the fixtures'
//               independent references (expected/*.jsonl), which validates the fixtures and this comparison;
//   ort-cpu     Detector.detectFrame, engine cpu, raw frame through the native CPU letterbox: the reference for the
//               TensorRT paths (same letterbox arithmetic as the GPU kernel); its distance to expected/*.jsonl is
//               shown, not counted (the native letterbox does not round to uint8 as OpenCV does);
//   trt-run     Detector, engine tensorrt (the daemon's path: CPU letterbox, run());
//   trt-frame   createTensorRtEngine + runFrame (letterbox on the GPU into the input binding) + the same postprocessing.
// Matching rule (fixtures README): every reference detection with conf >= 0.3 has one of the same class with IoU >= 0.9 and |dconf| <= 0.05.
// Usage: node scripts/gpu-check-detect.mjs --fixtures DIR [--cache DIR] [--precision fp16|fp32|int8] [--models a.onnx,b.onnx]
// Needs a built tree (npm run build). Exit 1 when a path that ran does not match; paths that cannot run are reported.
import { readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const dist = (p) => import(pathToFileURL(path.join(root, 'dist', 'src', p)).href);
const { Detector } = await dist('inference/detector.js');
const { createTensorRtEngine, defaultEngineCacheDir } = await dist('inference/tensorrt.js');
const { decodeImage } = await dist('vision/letterbox.js');
const { Postprocessor } = await dist('vision/postprocess.js');
const { DEFAULT_POSTPROCESS } = await dist('contracts/vision.js');
const { silentLogger } = await dist('ops/log.js');

const { values: opt } = parseArgs({
  options: {
    fixtures: { type: 'string' },
    cache: { type: 'string' },
    precision: { type: 'string', default: 'fp16' },
    models: { type: 'string' },
  },
});
if (!opt.fixtures) {
  console.error('usage: gpu-check-detect.mjs --fixtures DIR [--cache DIR] [--precision fp16|fp32|int8] [--models a.onnx,b.onnx]');
  process.exit(2);
}
const cache = opt.cache ?? defaultEngineCacheDir();
const modelDir = path.join(opt.fixtures, 'models');
const models = opt.models
  ? opt.models.split(',')
  : readdirSync(modelDir)
      .filter((f) => f.endsWith('.onnx'))
      .sort();
const images = readdirSync(path.join(opt.fixtures, 'images'))
  .filter((f) => /\.(jpe?g|png)$/i.test(f))
  .sort();

function iou(a, b) {
  const w = Math.max(0, Math.min(a[2], b[2]) - Math.max(a[0], b[0]));
  const h = Math.max(0, Math.min(a[3], b[3]) - Math.max(a[1], b[1]));
  const inter = w * h;
  const union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter;
  return union > 0 ? inter / union : 0;
}
const plain = (dets) => dets.map((d) => ({ cls: d.classId, conf: d.confidence, box: [d.box.x1, d.box.y1, d.box.x2, d.box.y2] }));

/** The reference detections (conf >= 0.3) that `got` lacks: {cls, conf, best IoU, best dconf}. */
function unmatched(reference, got) {
  const missing = [];
  for (const r of reference.filter((d) => d.conf >= 0.3)) {
    const same = got.filter((g) => g.cls === r.cls);
    const ok = same.some((g) => iou(g.box, r.box) >= 0.9 && Math.abs(g.conf - r.conf) <= 0.05);
    if (!ok) {
      const best = same.map((g) => iou(g.box, r.box)).reduce((a, b) => Math.max(a, b), 0);
      missing.push(`class ${r.cls} conf ${r.conf.toFixed(3)} (best same-class IoU ${best.toFixed(3)})`);
    }
  }
  return missing;
}

function expectedFor(model) {
  try {
    const lines = readFileSync(path.join(opt.fixtures, 'expected', model.replace(/\.onnx$/, '.jsonl')), 'utf8')
      .trim()
      .split('\n');
    return new Map(lines.map((l) => JSON.parse(l)).map((e) => [e.image, e.detections]));
  } catch {
    return new Map();
  }
}

const frames = [];
for (const image of images) {
  const img = await decodeImage(path.join(opt.fixtures, 'images', image));
  frames.push({ image, frame: { cameraId: 'gpu-check', seq: 0, captureMono: 0, captureWall: 0, width: img.width, height: img.height, format: img.format, data: img.data } });
}

const logger = silentLogger();
let failed = 0;
const notRun = [];
const rows = [];
for (const model of models) {
  const modelPath = path.join(modelDir, model);
  const expected = expectedFor(model);
  const ort = await Detector.load({ modelPath, engine: 'cpu', tensorrtBuild: false, logger });
  const { width, height } = { width: ort.metadata.imgsz[1], height: ort.metadata.imgsz[0] };
  const ref = new Map();
  for (const { image, frame } of frames) {
    const want = expected.get(image);
    const t0 = performance.now();
    const whole = await ort.detectImage(path.join(opt.fixtures, 'images', image));
    const bad = want ? unmatched(want, plain(whole.detections)) : [];
    if (bad.length) failed++;
    rows.push({
      model,
      image,
      path: 'ort-image',
      detections: whole.detections.length,
      'ms/frame': (performance.now() - t0).toFixed(1),
      letterbox: 'js',
      vs: want ? 'expected/*.jsonl' : '(no reference)',
      result: bad.length ? `MISSING ${bad.join('; ')}` : 'match',
    });
    const t1 = performance.now();
    const r = await ort.detectFrame(frame);
    ref.set(image, plain(r.detections));
    const missing = want ? unmatched(want, ref.get(image)) : [];
    rows.push({
      model,
      image,
      path: 'ort-cpu',
      detections: r.detections.length,
      'ms/frame': (performance.now() - t1).toFixed(1),
      letterbox: 'cpu',
      vs: want ? 'expected/*.jsonl (shown, not counted)' : '(no reference)',
      result: missing.length ? `differs: ${missing.join('; ')}` : 'match',
    });
  }

  let trt = null;
  try {
    trt = await Detector.load({ modelPath, engine: 'tensorrt', engineCacheDir: cache, tensorrtBuild: false, tensorrt: { precision: opt.precision }, logger });
    if (trt.engineKind !== 'tensorrt') throw new Error(`served on ${trt.engineKind}: ${trt.refusals.map((r) => r.reason).join('; ')}`);
  } catch (err) {
    notRun.push(`${model}: trt-run: ${err.message}`);
    await trt?.dispose();
    trt = null;
  }
  if (trt) {
    for (const { image, frame } of frames) {
      const t0 = performance.now();
      const r = await trt.detectFrame(frame);
      const missing = unmatched(ref.get(image), plain(r.detections));
      if (missing.length) failed++;
      rows.push({
        model,
        image,
        path: 'trt-run',
        detections: r.detections.length,
        'ms/frame': (performance.now() - t0).toFixed(1),
        letterbox: 'cpu',
        vs: 'ort-cpu',
        result: missing.length ? `MISSING ${missing.join('; ')}` : 'match',
      });
    }
    await trt.dispose();
  }

  let engine = null;
  try {
    engine = await createTensorRtEngine({ onnxPath: modelPath, cacheDir: cache, precision: opt.precision, logger });
  } catch (err) {
    notRun.push(`${model}: trt-frame: ${err.message}`);
  }
  if (engine) {
    const post = new Postprocessor(ort.layoutInfo, ort.metadata.names);
    console.log(`${model}: runFrame letterbox: ${engine.inputLetterbox.on} (${engine.inputLetterbox.reason})`);
    for (const { image, frame } of frames) {
      const t0 = performance.now();
      const r = await engine.runFrame(frame, [1, 3, height, width]);
      const dets = post.run(r.outputs[0].data, r.info, DEFAULT_POSTPROCESS);
      const missing = unmatched(ref.get(image), plain(dets));
      if (missing.length) failed++;
      rows.push({
        model,
        image,
        path: 'trt-frame',
        detections: dets.length,
        'ms/frame': (performance.now() - t0).toFixed(1),
        letterbox: r.letterboxOn,
        vs: 'ort-cpu',
        result: missing.length ? `MISSING ${missing.join('; ')}` : 'match',
      });
    }
    await engine.dispose();
  }
  await ort.dispose();
}
console.table(rows);
for (const n of notRun) console.log(`not run: ${n}`);
console.log(`gpu-check-detect: ${failed === 0 ? 'every path that ran matches' : `${failed} mismatch(es)`}; ${notRun.length} path(s) not run`);
process.exit(failed === 0 ? 0 : 1);
