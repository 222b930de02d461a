/**
 * The synthetic conveyor: deterministic frames in which plates move at belt speed, enter cut by the left
 * edge and leave at the right; the ground truth (conveyorParts) agrees with what each frame shows.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { buildConveyorSvg, conveyorParts, framesForParts, renderConveyor, type ConveyorOptions } from '../../src/synth/conveyor.js';
import { DEFECT_CLASSES, PLATE_CLASS_ID } from '../../src/synth/scene.js';
import { SyntheticSource } from '../../src/source/synthetic.js';
import type { Frame } from '../../src/contracts/frame.js';

const OPTS: ConveyorOptions = { width: 320, height: 240, defectRate: 0.5, beltPxPerFrame: 24 };

test('renderConveyor: same seed and frame give the same pixels; the belt moves between frames', { timeout: 10_000 }, async () => {
  const a = await renderConveyor(3, 10, OPTS);
  const b = await renderConveyor(3, 10, OPTS);
  const c = await renderConveyor(3, 11, OPTS);
  assert.equal(a.rgb.length, 320 * 240 * 3);
  assert.ok(a.rgb.equals(b.rgb));
  assert.deepEqual(a.labels, b.labels);
  assert.ok(!a.rgb.equals(c.rgb));
});

test('plates move exactly beltPxPerFrame per frame, left to right, and keep their ids', () => {
  for (let n = 0; n < 60; n++) {
    const now = buildConveyorSvg(9, n, OPTS).parts;
    const next = new Map(buildConveyorSvg(9, n + 1, OPTS).parts.map((p) => [p.id, p]));
    for (const p of now) {
      const q = next.get(p.id);
      if (!q) {
        assert.ok(p.cx + OPTS.beltPxPerFrame > 0, `part ${p.id} vanished inside the view at frame ${n + 1}`);
        continue;
      }
      assert.ok(Math.abs(q.cx - p.cx - OPTS.beltPxPerFrame) < 1e-9, `part ${p.id} frame ${n}: moved ${q.cx - p.cx}`);
      assert.equal(q.cy, p.cy);
    }
  }
});

test('ground truth: every part is in view exactly from firstFrame to lastFrame, with its labels there', () => {
  const frames = 120;
  const truth = conveyorParts(9, OPTS, frames);
  assert.ok(truth.length >= 10, `${truth.length} parts`);
  const seen = new Map<number, number[]>();
  let defectLabels = 0;
  for (let n = 0; n < frames; n++) {
    const f = buildConveyorSvg(9, n, OPTS);
    for (const p of f.parts) seen.set(p.id, [...(seen.get(p.id) ?? []), n]);
    defectLabels += f.labels.filter((l) => l.classId !== PLATE_CLASS_ID).length;
    for (const l of f.labels) {
      assert.ok(l.cx - l.w / 2 >= -1e-6 && l.cx + l.w / 2 <= 1 + 1e-6 && l.cy - l.h / 2 >= -1e-6 && l.cy + l.h / 2 <= 1 + 1e-6, JSON.stringify(l));
    }
  }
  assert.ok(defectLabels > 0);
  for (const p of truth) {
    const ns = seen.get(p.id) ?? [];
    assert.equal(ns[0], p.firstFrame, `part ${p.id} first frame`);
    assert.equal(ns.at(-1), p.lastFrame, `part ${p.id} last frame`);
    assert.equal(ns.length, p.lastFrame - p.firstFrame + 1, `part ${p.id} in view without a gap`);
    if (p.lastFrame < frames - 1) assert.ok(p.lastFrame - p.firstFrame >= 10, `part ${p.id} is seen in several frames`);
    assert.equal(p.defective, p.classes.length === 1);
    for (const c of p.classes) assert.ok(DEFECT_CLASSES.includes(c));
  }
  // Parts are numbered along the belt; some slots carry two plates side by side.
  assert.ok(
    truth.some((p) => p.lane === 1),
    'two plates side by side somewhere',
  );
  const defective = truth.filter((p) => p.defective).length / truth.length;
  assert.ok(defective > 0.2 && defective < 0.8, `defect rate ${defective}`);
});

test('a defective part shows its defect class in frames where it is whole; a good part never shows one', () => {
  const truth = conveyorParts(5, { ...OPTS, defectRate: 0.5 }, 200);
  const byId = new Map(truth.map((p) => [p.id, p]));
  let checked = 0;
  for (let n = 0; n < 200; n++) {
    const f = buildConveyorSvg(5, n, OPTS);
    for (const v of f.parts) {
      const whole = v.box.x1 > 0 && v.box.x2 < OPTS.width;
      const p = byId.get(v.id);
      if (!p || !whole) continue;
      const inside = f.labels.filter((l) => {
        if (l.classId === PLATE_CLASS_ID) return false;
        const x = l.cx * OPTS.width;
        const y = l.cy * OPTS.height;
        return x > v.box.x1 && x < v.box.x2 && y > v.box.y1 && y < v.box.y2;
      });
      assert.deepEqual(
        inside.map((l) => DEFECT_CLASSES[l.classId]),
        p.classes,
        `frame ${n} part ${v.id}`,
      );
      checked++;
    }
  }
  assert.ok(checked > 50, `${checked} whole-part views checked`);
});

test('framesForParts: that many frames carry at least that many parts across the view', () => {
  const frames = framesForParts(50, OPTS);
  const done = conveyorParts(2, OPTS, frames).filter((p) => p.firstFrame > 0 && p.lastFrame < frames - 1);
  assert.ok(done.length >= 50, `${done.length} parts in ${frames} frames`);
});

const source = (over: Record<string, unknown> = {}) =>
  new SyntheticSource('belt', { type: 'synthetic', fps: 500, width: 160, height: 120, seed: 4, defectRate: 0.5, scene: 'conveyor', beltPxPerFrame: 16, lossless: false, ...over });

test('SyntheticSource films the conveyor: frame n is conveyor frame n of the seed', { timeout: 10_000 }, async (t) => {
  const src = source({ fps: 50 });
  t.after(() => src.stop());
  const frames: Frame[] = [];
  await new Promise<void>((resolve, reject) => {
    src.start({ frame: (f) => void (frames.push(f) === 3 && resolve()), ended: (e) => reject(e ?? new Error('ended')) }).catch(reject);
  });
  await src.stop();
  const want = await renderConveyor(4, 2, { width: 160, height: 120, defectRate: 0.5, beltPxPerFrame: 16 });
  assert.ok(frames[2].data.equals(want.rgb));
  assert.equal(frames[0].done, undefined, 'a live camera does not wait for anyone');
});

test('SyntheticSource lossless: the next frame waits until the previous one is done; none is skipped', { timeout: 10_000 }, async (t) => {
  const src = source({ lossless: true });
  t.after(() => src.stop());
  const frames: Frame[] = [];
  let pending: Frame | null = null;
  await src.start({ frame: (f) => void frames.push((pending = f)), ended: () => {} });
  const until = async (pred: () => boolean) => {
    const end = Date.now() + 5000;
    while (!pred()) {
      if (Date.now() > end) throw new Error('timed out');
      await new Promise((r) => setTimeout(r, 5));
    }
  };
  await until(() => frames.length === 1);
  await new Promise((r) => setTimeout(r, 100)); // at 500 fps, 50 ticks would have passed
  assert.equal(frames.length, 1, 'nothing more until done()');
  for (let i = 1; i < 6; i++) {
    pending!.done!();
    await until(() => frames.length === i + 1);
  }
  await src.stop();
  assert.deepEqual(
    frames.map((f) => f.seq),
    [0, 1, 2, 3, 4, 5],
  );
  assert.equal(src.skippedTicks, 0);
});
