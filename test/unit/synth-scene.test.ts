import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { DEMO_CLASSES, frameSeed, mulberry32, PLATE_CLASS_ID, renderScene } from '../../src/synth/scene.js';
import { writeDataset } from '../../src/synth/dataset.js';

test('mulberry32 is deterministic and spreads over [0, 1)', { timeout: 5_000 }, () => {
  const a = mulberry32(42);
  const b = mulberry32(42);
  const xs = Array.from({ length: 1000 }, () => a());
  assert.deepEqual(
    xs.slice(0, 10),
    Array.from({ length: 10 }, () => b()),
  );
  assert.ok(xs.every((x) => x >= 0 && x < 1));
  const mean = xs.reduce((s, x) => s + x, 0) / xs.length;
  assert.ok(Math.abs(mean - 0.5) < 0.05, `mean ${mean}`);
  assert.notEqual(frameSeed(1, 0), frameSeed(1, 1));
  assert.notEqual(frameSeed(1, 0), frameSeed(2, 0));
});

test('renderScene: same seed and index give identical pixels and labels; others differ', { timeout: 10_000 }, async () => {
  const opts = { width: 160, height: 120, defectRate: 1 };
  const a = await renderScene(7, 3, opts);
  const b = await renderScene(7, 3, opts);
  const c = await renderScene(7, 4, opts);
  assert.equal(a.rgb.length, 160 * 120 * 3);
  assert.equal(a.width, 160);
  assert.equal(a.height, 120);
  assert.ok(a.rgb.equals(b.rgb));
  assert.deepEqual(a.labels, b.labels);
  assert.ok(!a.rgb.equals(c.rgb));
});

test('renderScene: labels are normalised, in range, and cover every demo class', { timeout: 20_000 }, async () => {
  const seen = new Set<number>();
  let defective = 0;
  for (let i = 0; i < 60; i++) {
    const s = await renderScene(1, i, { width: 128, height: 96, defectRate: 1 });
    if (s.labels.some((l) => l.classId !== PLATE_CLASS_ID)) defective++;
    assert.ok(
      s.labels.some((l) => l.classId === PLATE_CLASS_ID),
      `frame ${i}: every plate is labelled`,
    );
    for (const l of s.labels) {
      seen.add(l.classId);
      assert.ok(l.classId >= 0 && l.classId < DEMO_CLASSES.length);
      // Defects are small; a plate's box may take most of the frame.
      const most = l.classId === PLATE_CLASS_ID ? 1 + 1e-6 : 0.6;
      assert.ok(l.w > 0 && l.h > 0 && l.w < most && l.h < most, JSON.stringify(l));
      assert.ok(l.cx - l.w / 2 >= -1e-6 && l.cx + l.w / 2 <= 1 + 1e-6, JSON.stringify(l));
      assert.ok(l.cy - l.h / 2 >= -1e-6 && l.cy + l.h / 2 <= 1 + 1e-6, JSON.stringify(l));
    }
  }
  assert.deepEqual([...seen].sort(), [0, 1, 2, 3, 4]);
  assert.ok(defective >= 55, `defectRate 1 gave only ${defective}/60 defective frames`);
  for (let i = 0; i < 20; i++) {
    const s = await renderScene(1, i, { width: 128, height: 96, defectRate: 0 });
    assert.deepEqual(
      s.labels.map((l) => l.classId).filter((c) => c !== PLATE_CLASS_ID),
      [],
      'no defect labels at defect rate 0',
    );
  }
});

test('renderScene refuses nonsense sizes', { timeout: 5_000 }, async () => {
  await assert.rejects(renderScene(1, 0, { width: 0, height: 10, defectRate: 0.5 }), { name: 'RangeError' });
});

test('writeDataset writes an Ultralytics-style layout, deterministically', { timeout: 20_000 }, async (t) => {
  const dir = await mkdtemp(path.join(tmpdir(), 'inspectd-synth-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const res = await writeDataset({ out: path.join(dir, 'a'), train: 4, val: 2, seed: 5, width: 96, height: 64 });
  await writeDataset({ out: path.join(dir, 'b'), train: 4, val: 2, seed: 5, width: 96, height: 64 });
  assert.equal(res.images, 6);
  assert.deepEqual((await readdir(path.join(dir, 'a', 'images', 'train'))).sort(), ['train_000000.jpg', 'train_000001.jpg', 'train_000002.jpg', 'train_000003.jpg']);
  assert.equal((await readdir(path.join(dir, 'a', 'labels', 'val'))).length, 2);
  const yaml = await readFile(path.join(dir, 'a', 'data.yaml'), 'utf8');
  assert.match(yaml, /train: images\/train/);
  assert.match(yaml, /nc: 5/);
  assert.match(yaml, /3: missing_hole/);
  assert.match(yaml, /4: plate/);
  for (const f of ['images/train/train_000002.jpg', 'labels/val/val_000001.txt']) {
    assert.ok((await readFile(path.join(dir, 'a', f))).equals(await readFile(path.join(dir, 'b', f))), f);
  }
  const jpg = await readFile(path.join(dir, 'a', 'images', 'val', 'val_000000.jpg'));
  assert.equal(jpg[0], 0xff);
  assert.equal(jpg[1], 0xd8);
  for (const line of (await readFile(path.join(dir, 'a', 'labels', 'train', 'train_000000.txt'), 'utf8')).split('\n').filter(Boolean)) {
    assert.match(line, /^[0-4] (0|1)\.\d{6} (0|1)\.\d{6} (0|1)\.\d{6} (0|1)\.\d{6}$/);
  }
});
