import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, mkdir, readFile, rm, writeFile, copyFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
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
      metadata: { names: ['scratch', 'dent', 'stain', 'missing_hole'] },
      async detectImage(input) {
        const img = String(input);
        const labelPath = img.replace(`${path.sep}images${path.sep}`, `${path.sep}labels${path.sep}`).replace(/\.jpg$/, '.txt');
        const gts = parseYoloLabels(await readFile(labelPath, 'utf8'), 96, 64);
        const detections = gts
          .filter(() => !(dropEvery && ++n % dropEvery === 0))
          .map((g) => ({ classId: g.classId, class: 'x', confidence: 0.9, box: g.box }));
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
  assert.deepEqual(items.map((i) => path.basename(i.image)), ['a.JPG', 'b.jpg']);
  assert.equal(items[0].label, path.join(flat, 'a.txt'));
  await assert.rejects(listLabelledImages(path.join(dir, 'nope'), 'val'), { code: 'INSPECTD_ERR_DATASET', message: /not found/ });
  await mkdir(path.join(dir, 'empty'));
  await assert.rejects(listLabelledImages(path.join(dir, 'empty'), 'val'), { code: 'INSPECTD_ERR_DATASET', message: /no images/ });
});

test('evalCommand: usage errors exit 2, a missing dataset exits 1', { timeout: 10_000 }, async (t) => {
  const err: string[] = [];
  const orig = process.stderr.write.bind(process.stderr);
  process.stderr.write = ((s: string) => (err.push(String(s)), true)) as typeof process.stderr.write;
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
