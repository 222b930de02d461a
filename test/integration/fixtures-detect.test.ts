/**
 * Acceptance against the third-party fixtures (../shared/fixtures): the real CLI, real onnxruntime and sharp,
 * compared with the independent reference outputs. Skips visibly where the fixtures are absent.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { promisify } from 'node:util';
import { repoPath, sharedFixture, sharedFixturesSkip } from '../helpers/fixtures.js';

const run = promisify(execFile);
const skip = sharedFixturesSkip();
const MAIN = repoPath('dist', 'src', 'main.js');

interface RefDet {
  cls: number;
  conf: number;
  box: [number, number, number, number];
}
interface OurDet {
  classId: number;
  confidence: number;
  box: { x1: number; y1: number; x2: number; y2: number };
}

function iou(a: [number, number, number, number], b: [number, number, number, number]): number {
  const iw = Math.min(a[2], b[2]) - Math.max(a[0], b[0]);
  const ih = Math.min(a[3], b[3]) - Math.max(a[1], b[1]);
  if (iw <= 0 || ih <= 0) return 0;
  const inter = iw * ih;
  return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter);
}

const models = skip
  ? []
  : readdirSync(sharedFixture('models'))
      .filter((f) => f.endsWith('.onnx'))
      .sort();

test('fixture models: detections match the reference (conf>=0.3: same class, IoU>=0.9, |dconf|<=0.05)', { skip, timeout: 300000 }, async (t) => {
  assert.ok(models.length > 0, 'fixture models present');
  const images = ['bus.jpg', 'zidane.jpg'].map((f) => sharedFixture('images', f));
  for (const model of models) {
    await t.test(model, { timeout: 120000 }, async () => {
      const expectedFile = sharedFixture('expected', model.replace(/\.onnx$/, '.jsonl'));
      assert.ok(existsSync(expectedFile), `reference ${expectedFile}`);
      const expected = readFileSync(expectedFile, 'utf8')
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l));
      const { stdout } = await run(process.execPath, [MAIN, 'detect', '--json', '--engine', 'cpu', '--model', sharedFixture('models', model), ...images], {
        timeout: 110000,
        maxBuffer: 16 << 20,
      });
      const ours = stdout
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l));
      assert.equal(ours.length, images.length);
      for (const ref of expected) {
        const got = ours.find((o) => o.image === ref.image);
        assert.ok(got, `${ref.image} in the output`);
        assert.deepEqual([got.width, got.height], [ref.width, ref.height], `${ref.image} size`);
        const dets: OurDet[] = got.detections;
        const box = (d: OurDet): [number, number, number, number] => [d.box.x1, d.box.y1, d.box.x2, d.box.y2];
        const used = new Set<number>();
        for (const r of ref.detections as RefDet[]) {
          const idx = dets.findIndex((d, i) => !used.has(i) && d.classId === r.cls && iou(box(d), r.box) >= 0.9 && Math.abs(d.confidence - r.conf) <= 0.05);
          if (idx >= 0) used.add(idx);
          else if (r.conf >= 0.3) assert.fail(`${model} ${ref.image}: reference ${JSON.stringify(r)} not matched in ${JSON.stringify(dets)}`);
        }
        dets.forEach((d, i) => {
          if (!used.has(i)) assert.ok(d.confidence < 0.4, `${model} ${ref.image}: unmatched detection ${JSON.stringify(d)}`);
        });
      }
    });
  }
});
