/**
 * The part tracker on scripted tracks with a known answer: boxes moved by hand frame by frame, as a belt
 * would move them, with the misses, neighbours, exits and reversals the issue names.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { assign } from '../../src/parts/assignment.js';
import { Tracker, type TrackerDetection, type TrackerOptions } from '../../src/parts/tracker.js';
import type { Box } from '../../src/contracts/vision.js';

const W = 640;
const H = 480;

const OPTS: TrackerOptions = {
  highConf: 0.5,
  lowConf: 0.1,
  newTrackConf: 0.6,
  matchIou: 0.2,
  lowMatchIou: 0.5,
  probationFrames: 2,
  lostFrames: 10,
  direction: 'left-to-right',
};

/** A 120x80 part whose left edge is at x, top at y; clipped to the image like a detector's box. */
function part(x: number, y: number, w = 120, h = 80, confidence = 0.9): TrackerDetection {
  const box: Box = { x1: Math.max(0, x), y1: Math.max(0, y), x2: Math.min(W, x + w), y2: Math.min(H, y + h) };
  return { box, confidence };
}

function run(tracker: Tracker, frames: TrackerDetection[][], firstSeq = 0) {
  return frames.map((dets, i) => tracker.update(dets, { seq: firstSeq + i, width: W, height: H }));
}

/** The id each frame's detection `k` ended up with (undefined: none). */
function idsOf(steps: ReturnType<typeof run>, k = 0): (number | undefined)[] {
  return steps.map((s) => s.assigned.get(k)?.id);
}

test('assign: minimum total cost, forbidden pairs left out, any shape', () => {
  // Greedy would pair (0,0) at 0.1 and leave row 1 with 0.9; the optimum is (0,1) + (1,0).
  assert.deepEqual(
    assign(
      [
        [0.1, 0.2],
        [0.15, 0.9],
      ],
      0.95,
    ),
    [
      [0, 1],
      [1, 0],
    ],
  );
  assert.deepEqual(assign([[0.99, 0.3]], 0.8), [[0, 1]]);
  assert.deepEqual(assign([[0.99], [0.98]], 0.8), []);
  assert.deepEqual(assign([[0.5], [0.1], [0.4]], 1), [[1, 0]]);
  assert.deepEqual(assign([], 1), []);
});

test('a part moving along the belt keeps one id, entering cut by the edge and leaving the same way', () => {
  const t = new Tracker(OPTS);
  const frames: TrackerDetection[][] = [];
  for (let x = -100; x < W; x += 40) frames.push([part(x, 200)]);
  const steps = run(t, frames);
  const ids = idsOf(steps);
  assert.ok(
    ids.every((id) => id === 1),
    `ids ${ids.join(',')}`,
  );
  assert.equal(steps[1].confirmed[0]?.id, 1, 'confirmed after probationFrames = 2');
  assert.equal(steps[0].confirmed.length, 0);
  assert.deepEqual(
    steps.flatMap((s) => s.jumped.map((j) => j.id)),
    [],
    'no suspected switch on a steady belt',
  );
  const v = t.tracks[0].velocity();
  assert.ok(Math.abs(v.x - 40) < 2 && Math.abs(v.y) < 1, `velocity ${JSON.stringify(v)}`);
  // The next frame would show it outside the image: it is gone at once.
  const gone = t.update([], { seq: frames.length + 3, width: W, height: H });
  assert.deepEqual(
    gone.removed.map((r) => [r.track.id, r.why]),
    [[1, 'out-of-view']],
  );
});

test('a part missed for 2 frames keeps its id (it coasts on its predicted box)', () => {
  const t = new Tracker(OPTS);
  const frames: TrackerDetection[][] = [];
  for (let i = 0; i < 12; i++) frames.push(i === 5 || i === 6 ? [] : [part(20 + i * 40, 150)]);
  const steps = run(t, frames);
  const ids = idsOf(steps).filter((_, i) => i !== 5 && i !== 6);
  assert.ok(
    ids.every((id) => id === 1),
    `ids ${ids.join(',')}`,
  );
  assert.deepEqual(
    steps[5].missed.map((m) => m.id),
    [1],
  );
  assert.deepEqual(
    steps[6].missed.map((m) => m.id),
    [1],
  );
  assert.equal(t.tracks.length, 1);
  assert.equal(t.tracks[0].missedTotal, 2);
  assert.equal(t.started, 1, 'no second track was ever started');
});

test('a low-confidence detection continues a tracked part (ByteTrack stage 2) but never starts one', () => {
  const t = new Tracker(OPTS);
  const steps = run(t, [[part(100, 100)], [part(140, 100)], [part(180, 100, 120, 80, 0.3)], [part(220, 100)]]);
  assert.deepEqual(idsOf(steps), [1, 1, 1, 1]);
  const lone = new Tracker(OPTS);
  const s = run(lone, [[part(100, 100, 120, 80, 0.3)], [part(140, 100, 120, 80, 0.3)]]);
  assert.deepEqual(idsOf(s), [undefined, undefined]);
  assert.equal(lone.tracks.length, 0);
});

test('two parts side by side across the belt keep their ids', () => {
  const t = new Tracker(OPTS);
  const frames: TrackerDetection[][] = [];
  // Same x, 10 px apart across the belt; listed in alternating order so order cannot carry identity.
  for (let i = 0; i < 14; i++) {
    const upper = part(-60 + i * 45, 100, 110, 90);
    const lower = part(-50 + i * 45, 200, 110, 90);
    frames.push(i % 2 ? [lower, upper] : [upper, lower]);
  }
  const steps = run(t, frames);
  steps.forEach((s, i) => {
    const upperIdx = i % 2 ? 1 : 0;
    assert.equal(s.assigned.get(upperIdx)?.id, 1, `frame ${i}: upper part`);
    assert.equal(s.assigned.get(1 - upperIdx)?.id, 2, `frame ${i}: lower part`);
  });
  assert.equal(t.started, 2);
});

test('a part re-entering after it left gets a new id', () => {
  const t = new Tracker(OPTS);
  const frames: TrackerDetection[][] = [];
  for (let x = 400; x < W; x += 50) frames.push([part(x, 200)]);
  frames.push([], [], []); // gone past the right edge
  for (let x = -100; x < 300; x += 50) frames.push([part(x, 200)]);
  const steps = run(t, frames);
  const ids = idsOf(steps);
  const first = ids.slice(0, 5);
  const second = ids.slice(8);
  assert.ok(
    first.every((id) => id === 1),
    `first pass ${first.join(',')}`,
  );
  assert.ok(
    second.every((id) => id === 2),
    `second pass ${second.join(',')}`,
  );
  assert.ok(
    steps.some((s) => s.removed.some((r) => r.track.id === 1 && r.why === 'out-of-view')),
    'the first track was removed when it left',
  );
});

test('a part back within the lost buffer, far from its prediction, is a new track once the old one is gone', () => {
  const t = new Tracker({ ...OPTS, lostFrames: 3 });
  const steps = run(t, [[part(100, 100)], [part(140, 100)], [part(180, 100)], [], [], [], [], [part(180, 300)], [part(220, 300)]]);
  assert.ok(
    steps[6].removed.some((r) => r.track.id === 1 && r.why === 'lost'),
    'given up after lostFrames misses',
  );
  assert.equal(steps[7].assigned.get(0)?.id, 2);
});

test('a track moving against the belt direction is reported, once', () => {
  const t = new Tracker(OPTS);
  const frames: TrackerDetection[][] = [];
  for (let i = 0; i < 8; i++) frames.push([part(500 - i * 30, 200), part(40 + i * 30, 50)]);
  const steps = run(t, frames);
  const reversed = steps.flatMap((s) => s.reversed.map((r) => r.id));
  assert.deepEqual(reversed, [1], 'the backward part only, reported once');
  assert.equal(t.tracks.find((x) => x.id === 1)?.againstBelt, true);
  assert.equal(t.tracks.find((x) => x.id === 2)?.againstBelt, false);
  // Without a belt direction there is nothing to move against.
  const free = new Tracker({ ...OPTS, direction: 'none' });
  assert.deepEqual(
    run(free, frames).flatMap((s) => s.reversed),
    [],
  );
});

test('a match far from the prediction is reported as a suspected identity switch', () => {
  const t = new Tracker({ ...OPTS, matchIou: 0.05 });
  const steps = run(t, [[part(100, 100, 200, 150)], [part(140, 100, 200, 150)], [part(180, 100, 200, 150)], [part(60, 100, 200, 150)]]);
  assert.deepEqual(idsOf(steps), [1, 1, 1, 1]);
  assert.deepEqual(
    steps[3].jumped.map((j) => j.id),
    [1],
  );
});

test('a small part moving further than its size per frame is followed from its second frame (belt prior)', () => {
  // 30 px defects moving 60 px/frame never overlap themselves; the belt velocity of a confirmed part carries them.
  const t = new Tracker(OPTS);
  const frames: TrackerDetection[][] = [];
  for (let i = 0; i < 8; i++) frames.push([part(20 + i * 60, 300, 160, 100), part(-200 + i * 60, 100, 30, 30)].filter((d) => d.box.x2 > d.box.x1));
  const steps = run(t, frames);
  const small = steps.map((s) => [...s.assigned].find(([, tr]) => tr.box.y1 < 200)?.[1].id).filter((x) => x !== undefined);
  assert.ok(small.length >= 3, `the small part was seen ${small.length} times`);
  assert.equal(new Set(small).size, 1, `one id for the small part: ${small.join(',')}`);
});

test('probation: a detection seen once is not a part; frames counted by seq, so dropped frames are steps', () => {
  const t = new Tracker(OPTS);
  const s = run(t, [[part(100, 100)], []]);
  assert.deepEqual(
    s[1].removed.map((r) => r.why),
    ['probation'],
  );
  assert.equal(t.tracks.length, 0);
  // Seq 0, 1 then 4: the prediction takes the three steps (40 px each), so the match holds.
  const g = new Tracker(OPTS);
  const a = g.update([part(100, 100)], { seq: 0, width: W, height: H });
  const b = g.update([part(140, 100)], { seq: 1, width: W, height: H });
  const c = g.update([part(260, 100)], { seq: 4, width: W, height: H });
  assert.deepEqual(
    [a, b, c].map((x) => x.assigned.get(0)?.id),
    [1, 1, 1],
  );
  assert.equal(c.jumped.length, 0);
});
