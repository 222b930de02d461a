import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { repoPath } from '../helpers/fixtures.js';
import { writeDataset } from '../../src/synth/dataset.js';

const run = promisify(execFile);
const MODEL = repoPath('models', 'demo', 'inspectd-demo.onnx');
const EVAL_JS = repoPath('dist', 'src', 'cli', 'eval.js');

/**
 * The acceptance figure of issue 5 (and of the retrained model of issue 10), measured the way
 * models/make-demo.sh and the model card do: the held-out set is seed 1001 (the training seed is 1), 500
 * conveyor frames at 320x240, defect rate 0.8: whole plates and plates cut by the frame's edges.
 */
test('inspectd eval: the committed demo model keeps its model-card mAP50 on the held-out synthetic set', { timeout: 240_000 }, async (t) => {
  assert.ok(existsSync(MODEL), `demo model missing at ${MODEL}: run models/make-demo.sh`);
  const dir = await mkdtemp(path.join(tmpdir(), 'inspectd-eval-it-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  await writeDataset({ out: dir, train: 0, val: 500, seed: 1001 });
  const { stdout } = await run(process.execPath, [EVAL_JS, '--model', MODEL, '--data', dir, '--split', 'val', '--threads', '2', '--json'], {
    timeout: 200_000,
  });
  const report = JSON.parse(stdout.trim()) as {
    images: number;
    instances: number;
    mAP50: number;
    precision: number;
    recall: number;
    perClass: { name: string; ap50: number; instances: number }[];
  };
  t.diagnostic(
    `mAP50 ${report.mAP50.toFixed(3)} P ${report.precision.toFixed(3)} R ${report.recall.toFixed(3)}; ${report.perClass.map((c) => `${c.name} ${c.ap50.toFixed(3)}`).join(', ')}`,
  );
  assert.equal(report.images, 500);
  assert.equal(report.instances, 1816);
  assert.deepEqual(
    report.perClass.map((c) => c.name),
    ['scratch', 'dent', 'stain', 'missing_hole', 'plate'],
  );
  // The card states 0.978 (issue 5 asks for >= 0.8). Below 0.95 the model file or the inference path
  // (letterbox, decode, NMS) has changed for the worse: re-measure and update models/demo/MODEL_CARD.md.
  assert.ok(report.mAP50 >= 0.95, `mAP50 ${report.mAP50}: the model card states 0.978`);
  for (const c of report.perClass) assert.ok(c.ap50 >= 0.9, `${c.name} AP50 ${c.ap50}`);
});

test('inspectd eval: a missing model fails with a clear message and non-zero exit', { timeout: 60_000 }, async (t) => {
  const dir = await mkdtemp(path.join(tmpdir(), 'inspectd-eval-it-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  await writeDataset({ out: dir, train: 0, val: 2, seed: 1, width: 64, height: 64 });
  await assert.rejects(run(process.execPath, [EVAL_JS, '--model', path.join(dir, 'nope.onnx'), '--data', dir], { timeout: 50_000 }), (err: { code?: number; stderr?: string }) => {
    assert.equal(err.code, 1);
    assert.match(String(err.stderr), /inspectd eval: .*nope\.onnx/);
    return true;
  });
});
