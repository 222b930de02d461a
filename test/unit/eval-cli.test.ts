import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, mkdir, readdir, readFile, rm, writeFile, copyFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { evalCommand, listLabelledImages, runEval, type DetectorLoader, type EvalDetector } from '../../src/cli/eval.js';
import { parseYoloLabels } from '../../src/eval/metrics.js';
import { writeDataset } from '../../src/synth/dataset.js';

/**
 * A stand-in detector injected through the loader argument: it "detects" exactly the labelled boxes
 * (read from the label file beside the image), so eval's plumbing must report mAP50 = 1.
 * The real model and Detector are exercised in test/integration/eval.test.ts.
 */
function oracleLoader(dropEvery = 0): DetectorLoader {
  return async () => {
    let n = 0;
    const det: EvalDetector = {
      metadata: { names: ['scratch', 'dent', 'stain', 'missing_hole', 'plate'] },
      async detectImage(input) {
        const img = String(input);
        const labelPath = img.replace(`${path.sep}images${path.sep}`, `${path.sep}labels${path.sep}`).replace(/\.jpg$/, '.txt');
        const gts = parseYoloLabels(await readFile(labelPath, 'utf8'), 96, 64);
        const detections = gts.filter(() => !(dropEvery && ++n % dropEvery === 0)).map((g) => ({ classId: g.classId, class: 'x', confidence: 0.9, box: g.box }));
        return { width: 96, height: 64, detections, timings: { preprocessMs: 1, inferenceMs: 2, postprocessMs: 3 } };
      },
      dispose() {},
    };
    return det;
  };
}

test('eval over a synthetic set with an oracle detector reports mAP50 1; dropping boxes lowers recall', { timeout: 20_000 }, async (t) => {
  const dir = await mkdtemp(path.join(tmpdir(), 'inspectd-eval-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  await writeDataset({ out: dir, train: 0, val: 12, seed: 3, width: 96, height: 64, defectRate: 1 });
  const opts = { modelPath: 'm.onnx', dataDir: dir, split: 'val', conf: 0.001, iou: 0.7, maxDetections: 300 };
  const r = await runEval(opts, oracleLoader());
  assert.equal(r.images, 12);
  assert.ok(r.instances >= 10);
  assert.equal(r.mAP50, 1);
  assert.deepEqual(r.speed, { preprocessMs: 1, inferenceMs: 2, postprocessMs: 3 });
  const r2 = await runEval(opts, oracleLoader(2));
  assert.ok(r2.recall < 0.75 && r2.recall > 0.25, `recall ${r2.recall}`);
  assert.ok(r2.mAP50 < 0.75);
});

test('listLabelledImages handles the Ultralytics layout and flat folders; errors name the folder', { timeout: 10_000 }, async (t) => {
  const dir = await mkdtemp(path.join(tmpdir(), 'inspectd-eval-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  await writeDataset({ out: path.join(dir, 'ds'), train: 2, val: 1, seed: 1, width: 64, height: 64 });
  const train = await listLabelledImages(path.join(dir, 'ds'), 'train');
  assert.equal(train.length, 2);
  assert.match(train[0].label, /labels[/\\]train[/\\]train_000000\.txt$/);
  const flat = path.join(dir, 'flat');
  await mkdir(flat);
  await copyFile(train[1].image, path.join(flat, 'b.jpg'));
  await copyFile(train[0].image, path.join(flat, 'a.JPG'));
  await writeFile(path.join(flat, 'notes.md'), 'not an image');
  const items = await listLabelledImages(flat, 'val');
  assert.deepEqual(
    items.map((i) => path.basename(i.image)),
    ['a.JPG', 'b.jpg'],
  );
  assert.equal(items[0].label, path.join(flat, 'a.txt'));
  await assert.rejects(listLabelledImages(path.join(dir, 'nope'), 'val'), { code: 'INSPECTD_ERR_DATASET', message: /not found/ });
  await mkdir(path.join(dir, 'empty'));
  await assert.rejects(listLabelledImages(path.join(dir, 'empty'), 'val'), { code: 'INSPECTD_ERR_DATASET', message: /no images/ });
});

test('evalCommand: usage errors exit 2, a missing dataset exits 1', { timeout: 10_000 }, async (t) => {
  const err: string[] = [];
  const orig = process.stderr.write.bind(process.stderr);
  process.stderr.write = ((s: string) => {
    err.push(String(s));
    return true;
  }) as typeof process.stderr.write;
  t.after(() => {
    process.stderr.write = orig;
  });
  assert.equal(await evalCommand(['--data', 'x'], oracleLoader()), 2);
  assert.equal(await evalCommand(['--model', 'm', '--data', 'x', '--conf', '2'], oracleLoader()), 2);
  assert.equal(await evalCommand(['--model', 'm', '--data', 'x', '--bogus'], oracleLoader()), 2);
  assert.equal(await evalCommand(['--model', 'm', '--data', path.join(tmpdir(), 'inspectd-no-such-dir')], oracleLoader()), 1);
  process.stderr.write = orig;
  assert.match(err.join(''), /--model and --data are required/);
  assert.match(err.join(''), /--conf must be a number/);
  assert.match(err.join(''), /INSPECTD_ERR_DATASET/);
});

/**
 * A labelled folder whose answers are worked out by hand (200x100 images, flat layout, one background
 * image without labels, one broken label file). Predictions are scripted per image so every figure is known:
 *   scratch: 2 boxes; predicted 0.9 TP (a), 0.7 FP (b), 0.6 TP (b) -> P/R curve (1,.5) (.5,.5) (2/3,1): AP = .5 + .5*2/3
 *   dent:    2 boxes; predicted 0.8 TP (a), 0.3 FP (c, background); d's dent missed -> AP = .5
 *   stain:   predicted on a, never labelled -> not in the mean (as Ultralytics)
 * Best mean F1 is for thresholds in (0.3, 0.6]: first grid point 0.301 -> scratch P 2/3 R 1, dent P 1 R .5.
 */
test('eval on a hand-labelled folder reports the worked-out precision, recall and mAP50', { timeout: 20_000 }, async (t) => {
  const dir = await mkdtemp(path.join(tmpdir(), 'inspectd-eval-known-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const W = 200;
  const H = 100;
  type B = [number, number, number, number];
  const yolo = (c: number, [x1, y1, x2, y2]: B) => `${c} ${(x1 + x2) / 2 / W} ${(y1 + y2) / 2 / H} ${(x2 - x1) / W} ${(y2 - y1) / H}`;
  const labels: Record<string, string | null> = {
    a: [yolo(0, [10, 10, 40, 30]), yolo(1, [120, 60, 150, 90])].join('\n') + '\n',
    b: yolo(0, [80, 40, 110, 70]) + '\n',
    c: null, // background: no label file
    d: yolo(1, [20, 50, 50, 80]) + '\n',
    e: 'this is not a label\n',
  };
  const preds: Record<string, [number, number, B][]> = {
    a: [
      [0, 0.9, [11, 10, 40, 31]],
      [1, 0.8, [120, 60, 150, 90]],
      [2, 0.95, [170, 5, 190, 25]],
    ],
    b: [
      [0, 0.7, [0, 0, 30, 20]],
      [0, 0.6, [80, 41, 109, 70]],
    ],
    c: [[1, 0.3, [20, 50, 50, 80]]],
    d: [],
    e: [[0, 0.99, [0, 0, 10, 10]]],
  };
  const gray = await sharp({ create: { width: W, height: H, channels: 3, background: { r: 90, g: 90, b: 90 } } })
    .jpeg()
    .toBuffer();
  for (const [name, text] of Object.entries(labels)) {
    await writeFile(path.join(dir, `${name}.jpg`), gray);
    if (text !== null) await writeFile(path.join(dir, `${name}.txt`), text);
  }
  const names = ['scratch', 'dent', 'stain', 'missing_hole'];
  const loader: DetectorLoader = async () => ({
    metadata: { names },
    async detectImage(input, post) {
      const key = path.basename(String(input), '.jpg');
      // Like the real detector, honour the confidence floor eval passes down.
      const detections = (preds[key] ?? [])
        .filter(([, conf]) => conf >= (post?.conf ?? 0))
        .map(([classId, confidence, [x1, y1, x2, y2]]) => ({ classId, class: names[classId], confidence, box: { x1, y1, x2, y2 } }));
      return { width: W, height: H, detections, timings: { preprocessMs: 0, inferenceMs: 0, postprocessMs: 0 } };
    },
    dispose() {},
  });

  const out: string[] = [];
  const orig = process.stdout.write.bind(process.stdout);
  process.stdout.write = ((s: string) => {
    out.push(String(s));
    return true;
  }) as typeof process.stdout.write;
  let code: number;
  try {
    code = await evalCommand(['--model', 'm.onnx', '--data', dir, '--json'], loader);
  } finally {
    process.stdout.write = orig;
  }
  assert.equal(code, 0);
  const r = JSON.parse(out.join('')) as Awaited<ReturnType<typeof runEval>>;
  const close = (a: number, b: number, what: string) => assert.ok(Math.abs(a - b) < 1e-9, `${what}: ${a} != ${b}`);
  assert.equal(r.images, 4, 'e.jpg has a broken label file and is skipped');
  assert.equal(r.badLabels.length, 1);
  assert.match(r.badLabels[0], /e\.txt: line 1/);
  assert.equal(r.instances, 4);
  assert.deepEqual(
    r.perClass.map((c) => [c.name, c.instances, c.predictions]),
    [
      ['scratch', 2, 3],
      ['dent', 2, 2],
    ],
  );
  close(r.perClass[0].ap50, 0.5 + 0.5 * (2 / 3), 'scratch AP50');
  close(r.perClass[1].ap50, 0.5, 'dent AP50');
  close(r.mAP50, (0.5 + 0.5 * (2 / 3) + 0.5) / 2, 'mAP50');
  close(r.f1Confidence, 0.301, 'best-F1 confidence');
  close(r.perClass[0].precision, 2 / 3, 'scratch P');
  close(r.perClass[0].recall, 1, 'scratch R');
  close(r.perClass[1].precision, 1, 'dent P');
  close(r.perClass[1].recall, 0.5, 'dent R');
  close(r.precision, (2 / 3 + 1) / 2, 'P');
  close(r.recall, 0.75, 'R');

  // A stricter --conf drops the 0.6 TP and 0.3 FP before matching: scratch AP .5, dent AP .5.
  out.length = 0;
  process.stdout.write = ((s: string) => {
    out.push(String(s));
    return true;
  }) as typeof process.stdout.write;
  try {
    code = await evalCommand(['--model', 'm.onnx', '--data', dir, '--json', '--conf', '0.65'], loader);
  } finally {
    process.stdout.write = orig;
  }
  assert.equal(code, 0);
  close((JSON.parse(out.join('')) as { mAP50: number }).mAP50, 0.5, 'mAP50 at --conf 0.65');
});

test('eval refuses a dataset whose data.yaml or classes.txt names other classes than the model', { timeout: 20_000 }, async (t) => {
  const dir = await mkdtemp(path.join(tmpdir(), 'inspectd-eval-names-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  await writeDataset({ out: dir, train: 0, val: 2, seed: 3, width: 96, height: 64, defectRate: 1 });
  const opts = { modelPath: 'coco.onnx', dataDir: dir, split: 'val', conf: 0.001, iou: 0.7, maxDetections: 300 };
  const coco: DetectorLoader = async () => {
    const det = await oracleLoader()(opts);
    return { ...det, metadata: { names: ['person', 'bicycle', 'car', 'motorcycle'] }, detectImage: det.detectImage, dispose: det.dispose };
  };
  await assert.rejects(runEval(opts, coco), {
    code: 'INSPECTD_ERR_DATASET',
    message: /data\.yaml: scratch, dent, stain, missing_hole, plate\) are not the model's \(coco\.onnx: person, bicycle, car, motorcycle\)/,
  });
  assert.equal((await runEval(opts, oracleLoader())).mAP50, 1, 'matching names: evaluated');

  await rm(path.join(dir, 'data.yaml'));
  await writeFile(path.join(dir, 'classes.txt'), 'scratch\ndent\n');
  await assert.rejects(runEval(opts, oracleLoader()), { code: 'INSPECTD_ERR_DATASET', message: /classes\.txt: scratch, dent\)/ });
});

test('eval reports label files with out-of-range classes or unnormalised boxes in badLabels instead of counting them', { timeout: 20_000 }, async (t) => {
  const dir = await mkdtemp(path.join(tmpdir(), 'inspectd-eval-bad-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  await writeDataset({ out: dir, train: 0, val: 3, seed: 4, width: 96, height: 64, defectRate: 1 });
  const labels = path.join(dir, 'labels', 'val');
  const files = (await readdir(labels)).sort();
  await writeFile(path.join(labels, files[0]!), '9 0.5 0.5 0.2 0.2\n');
  await writeFile(path.join(labels, files[1]!), '1 0.5 0.5 2 0.2\n');
  const blind: DetectorLoader = async () => ({
    metadata: { names: ['scratch', 'dent', 'stain', 'missing_hole', 'plate'] },
    async detectImage() {
      return { width: 96, height: 64, detections: [], timings: { preprocessMs: 1, inferenceMs: 2, postprocessMs: 3 } };
    },
    dispose() {},
  });
  const r = await runEval({ modelPath: 'm.onnx', dataDir: dir, split: 'val', conf: 0.001, iou: 0.7, maxDetections: 300 }, blind);
  assert.equal(r.badLabels.length, 2);
  assert.match(r.badLabels[0]!, /line 1: class 9 is out of range: the model has 5 classes \(0-4\)/);
  assert.match(r.badLabels[1]!, /line 1: coordinates must be normalised to 0\.\.1/);
  assert.equal(r.images, 1, 'only the good file is counted');
});
