/**
 * The part stage on scripted frames: one verdict per part, decided once (line, exit, max age, fault), the
 * k-frame and high-confidence policy, fail-safe verdicts, part ids and keys, ejector timing and encoder
 * counts in the verdict.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { partsConfig } from '../../src/config/defaults.js';
import type { Frame } from '../../src/contracts/frame.js';
import type { Detection } from '../../src/contracts/vision.js';
import { EncoderClock, ENCODER_EXTRAPOLATE_MS } from '../../src/parts/encoder.js';
import { ejectAt, lineAlong } from '../../src/parts/ejector.js';
import { PartStage, type PartVerdict } from '../../src/parts/parts.js';

const W = 640;
const H = 480;
const PERIOD = 40; // ms between frames (25 fps)
const T0_WALL = 1_700_000_000_000;

const plate = (x: number, y = 200, conf = 0.95): Detection => ({
  class: 'plate',
  classId: 4,
  confidence: conf,
  box: { x1: Math.max(0, x), y1: y, x2: Math.min(W, x + 120), y2: y + 80 },
});
const defect = (cls: string, x: number, y = 220, conf = 0.8): Detection => ({ class: cls, classId: 0, confidence: conf, box: { x1: x + 40, y1: y, x2: x + 70, y2: y + 20 } });

const REJECT = new Set(['scratch', 'dent']);

function frame(seq: number): Frame {
  return { cameraId: 'cam', seq, captureMono: seq * PERIOD, captureWall: T0_WALL + seq * PERIOD, width: W, height: H, format: 'rgb24', data: Buffer.alloc(0) };
}

function stage(parts: Record<string, unknown> = {}, extra: { bootId?: number; encoder?: EncoderClock } = {}) {
  let n = 0;
  return new PartStage({
    deviceId: 'dev',
    cameraId: 'cam',
    bootId: extra.bootId ?? 7,
    nextNumber: () => ++n,
    config: partsConfig({ partClass: 'plate', belt: { direction: 'left-to-right' }, ...parts }),
    ...(extra.encoder ? { encoder: extra.encoder } : {}),
  });
}

/** Runs frames: each is a list of detections; the decision time is capture + 5 ms. */
function feed(s: PartStage, frames: Detection[][], firstSeq = 0): PartVerdict[][] {
  return frames.map((kept, i) => {
    const f = frame(firstSeq + i);
    return s.observe({ frame: f, kept, rejectCauses: kept.filter((d) => REJECT.has(d.class)) }, f.captureMono + 5, f.captureWall + 5).verdicts;
  });
}

/** A plate crossing the whole view at 40 px/frame, with `defects(i, x)` added per frame. */
function crossing(defects: (i: number, x: number) => Detection[] = () => [], from = -100, to = W + 40): Detection[][] {
  const out: Detection[][] = [];
  for (let i = 0, x = from; x < to; i++, x += 40) out.push(x + 120 > 0 ? [plate(x), ...defects(i, x)] : []);
  return out;
}

test('one verdict per part, decided when its centre crosses the decision line; key <device>:<camera>:part:<boot>-<n>', () => {
  const s = stage();
  const per = feed(s, crossing());
  const all = per.flat();
  assert.equal(all.length, 1, 'exactly one verdict');
  const v = all[0].payload;
  const at = per.findIndex((x) => x.length > 0);
  // x = -100 + 40 * at; centre = x + 60 >= 320 first at x = 260, i.e. frame 9.
  assert.equal(at, 9);
  assert.equal(v.decidedBy, 'line');
  assert.equal(v.verdict, 'pass');
  assert.equal(v.failSafe, false);
  assert.equal(v.partId, '7-1');
  assert.equal(v.key, 'dev:cam:part:7-1');
  assert.equal(v.seq, 9);
  assert.equal(v.framesSeen, 10, 'frames 0-9: from the first sliver at the left edge to the line');
  assert.equal(v.framesMissed, 0);
  assert.match(v.reason, /^pass: seen in \d+ frames, nothing to reject$/);
  assert.deepEqual(v.classes, []);
  assert.ok(Math.abs(v.velocity.xPxPerS - 1000) < 60, `40 px per 40 ms frame = 1000 px/s: ${v.velocity.xPxPerS}`);
  assert.equal(v.latencyMs, 5);
  assert.equal(all[0].publish, true);
  assert.equal(s.live, 0, 'gone once it left the view');
  const half = stage();
  feed(half, crossing().slice(0, 12));
  assert.equal(half.live, 1, 'a decided part is still tracked (no second verdict) until it leaves');
});

test('k-frame policy: a defect in one frame does not reject; in two frames it does; once above highConf it does', () => {
  const once = feed(
    stage(),
    crossing((i, x) => (i === 5 ? [defect('scratch', x)] : [])),
  ).flat();
  assert.equal(once.length, 1);
  assert.equal(once[0].payload.verdict, 'pass', 'one noisy frame does not eject a good part');
  assert.deepEqual(
    once[0].payload.detections.find((d) => d.class === 'scratch'),
    { ...once[0].payload.detections.find((d) => d.class === 'scratch')!, frames: 1 },
    'the single detection is still reported',
  );

  const twice = feed(
    stage(),
    crossing((i, x) => (i === 5 || i === 6 ? [defect('scratch', x)] : [])),
  ).flat();
  assert.equal(twice.length, 1);
  assert.equal(twice[0].payload.verdict, 'reject');
  assert.deepEqual(twice[0].payload.classes, ['scratch']);
  assert.match(twice[0].payload.reason, /^reject: scratch in 2 of \d+ frames \(best 0\.80\)$/);
  assert.ok(twice[0].frame, 'the evidence frame is handed on for the snapshot');
  assert.equal(twice[0].payload.evidence.seq, 5);

  const strong = feed(
    stage(),
    crossing((i, x) => (i === 5 ? [defect('dent', x, 220, 0.95)] : [])),
  ).flat();
  assert.equal(strong[0].payload.verdict, 'reject', 'one detection at or above highConf (0.9) rejects');
});

test('class-agnostic: a defect read as scratch in one frame and dent in the next counts as two frames of one part', () => {
  const v = feed(
    stage(),
    crossing((i, x) => (i === 5 ? [defect('scratch', x)] : i === 6 ? [defect('dent', x)] : [])),
  ).flat();
  assert.equal(v.length, 1);
  assert.equal(v[0].payload.verdict, 'reject');
  assert.deepEqual([...v[0].payload.classes].sort(), ['dent', 'scratch']);
});

test('two boxes for one part (the model doubled it) give one verdict, whether from the first frame or later', () => {
  const doubled = (from: number) =>
    crossing().map((dets, i) => {
      if (i < from || dets.length === 0) return dets;
      const b = dets[0].box;
      // A second, weaker box for the same plate, shifted by 20 px: IoU 0.6, a quarter of it outside the first.
      return [...dets, { ...dets[0], confidence: 0.8, box: { x1: b.x1, y1: b.y1 + 20, x2: b.x2, y2: b.y2 + 20 } }];
    });
  for (const from of [0, 4]) {
    const v = feed(stage(), doubled(from)).flat();
    assert.equal(v.length, 1, `doubled from frame ${from}: one verdict`);
  }
  // Tracked twice already (duplicate suppression off for the first frames): the younger track is merged at decision.
  const s = stage({ tracker: { duplicateIou: 1 } });
  const frames = doubled(0);
  const early = feed(s, frames.slice(0, 5)).flat();
  assert.equal(early.length, 0);
  assert.equal(s.tracks, 2, 'tracked twice');
  s.configure(partsConfig({ partClass: 'plate', belt: { direction: 'left-to-right' }, tracker: { duplicateIou: 0.5 } }));
  const rest = feed(s, frames.slice(5), 5).flat();
  assert.equal(rest.length, 1, 'merged into one part');
});

test('a defect outside every part is not given to one (counted as an orphan)', () => {
  const s = stage();
  let orphans = 0;
  crossing((i) => (i === 5 ? [defect('scratch', 500, 20)] : [])).forEach((kept, i) => {
    const f = frame(i);
    orphans += s.observe({ frame: f, kept, rejectCauses: kept.filter((d) => REJECT.has(d.class)) }, f.captureMono, f.captureWall).stats.orphans;
  });
  assert.equal(orphans, 1);
});

test('duplicates suppressed: reject detections after the first rejecting frame are counted', () => {
  const s = stage();
  let suppressed = 0;
  crossing((i, x) => (i >= 4 && i <= 8 ? [defect('scratch', x)] : [])).forEach((kept, i) => {
    const f = frame(i);
    suppressed += s.observe({ frame: f, kept, rejectCauses: kept.filter((d) => REJECT.has(d.class)) }, f.captureMono, f.captureWall).stats.suppressed;
  });
  assert.equal(suppressed, 4, 'five frames with a scratch: a per-frame decision would have published four more rejects');
});

test('two parts, each decided once; numbers are dense and never reused; a part re-entering gets a new id', () => {
  const s = stage();
  const frames: Detection[][] = [];
  for (let i = 0; i < 30; i++) {
    const a = -100 + i * 40;
    const b = -380 + i * 40;
    frames.push([a + 120 > 0 && a < W ? plate(a) : null, b + 120 > 0 && b < W ? plate(b, 300) : null].filter((d): d is Detection => d !== null));
  }
  const v = feed(s, frames).flat();
  assert.deepEqual(
    v.map((x) => x.payload.partId),
    ['7-1', '7-2'],
  );
  // The first part comes back from the left after leaving: a new part.
  const back = feed(s, crossing(), 40).flat();
  assert.deepEqual(
    back.map((x) => x.payload.partId),
    ['7-3'],
  );
});

test('without a belt direction: decided when it leaves the view', () => {
  const s = stage({ belt: { direction: 'none' } });
  const per = feed(s, [...crossing(), [], [], []]);
  const all = per.flat();
  assert.equal(all.length, 1);
  assert.equal(all[0].payload.decidedBy, 'left');
  assert.equal(all[0].payload.verdict, 'pass');
});

test('max age: a part that stays in view is decided after parts.maxAgeMs', () => {
  const s = stage({ maxAgeMs: 400 });
  const still: Detection[][] = Array.from({ length: 20 }, () => [plate(100)]);
  const per = feed(s, still);
  const first = per.findIndex((x) => x.length > 0);
  assert.equal(first, 10, '400 ms at 40 ms per frame');
  assert.equal(per.flat().length, 1);
  assert.equal(per.flat()[0].payload.decidedBy, 'max-age');
});

test('fail-safe: parts in view when the camera faults get reject no-verdict; none publishes nothing; pass passes', () => {
  const run = (failSafe: string) => {
    const s = stage({ failSafe });
    feed(s, crossing().slice(0, 6));
    return s.flush(1000, T0_WALL + 1000).verdicts;
  };
  const [r] = run('reject');
  assert.equal(r.payload.verdict, 'reject');
  assert.equal(r.payload.failSafe, true);
  assert.equal(r.payload.decidedBy, 'fault');
  assert.match(r.payload.reason, /^no-verdict: the camera faulted/);
  assert.equal(r.publish, true);
  const [n] = run('none');
  assert.equal(n.publish, false);
  assert.equal(n.payload.failSafe, true);
  const [p] = run('pass');
  assert.equal(p.payload.verdict, 'pass');
  assert.equal(p.payload.failSafe, true);
});

test('fail-safe: evidence for a reject wins over a fault; a part never seen whole cannot pass', () => {
  const s = stage();
  feed(s, crossing((i, x) => (i >= 3 ? [defect('scratch', x)] : [])).slice(0, 6));
  const [v] = s.flush(1000, T0_WALL + 1000).verdicts;
  assert.equal(v.payload.verdict, 'reject');
  assert.equal(v.payload.failSafe, false);

  // Frames lost in the middle: the plate is seen entering and leaving, never whole.
  const cut = stage({ belt: { direction: 'none' }, tracker: { lostFrames: 20 } });
  const frames: Detection[][] = [[plate(-100)], [plate(-60)], [plate(-20)], [], [], [], [], [], [], [], [], [], [], [], [plate(540)], [plate(580)], [], [], []];
  const all = feed(cut, frames).flat();
  assert.equal(all.length, 1);
  assert.equal(all[0].payload.failSafe, true);
  assert.match(all[0].payload.reason, /never seen whole/);
  assert.equal(all[0].payload.verdict, 'reject');
});

test('inference failures: skipped frames age the parts, which are given up (lost) and get the fail-safe', () => {
  const s = stage({ belt: { direction: 'none' }, tracker: { lostFrames: 3 } });
  feed(s, [[plate(100)], [plate(140)]]);
  const out: PartVerdict[] = [];
  for (let seq = 2; seq < 8; seq++) out.push(...s.skip(frame(seq), seq * PERIOD, T0_WALL + seq * PERIOD).verdicts);
  assert.equal(out.length, 1);
  assert.equal(out[0].payload.decidedBy, 'lost');
  assert.equal(out[0].payload.failSafe, false, 'seen twice whole: judged on what was seen');
  assert.equal(out[0].payload.verdict, 'pass');
  assert.equal(out[0].payload.framesMissed, 4);
});

test('case (b): without a part class each tracked defect is the part (moving faster than its size: belt speed given)', () => {
  // 30 px defects moving 40 px per frame never overlap themselves: the belt speed (1000 px/s) carries them.
  const s = stage({ partClass: undefined, belt: { direction: 'left-to-right', speedMmPerS: 1000, mmPerPixel: 1 } });
  const frames: Detection[][] = [];
  for (let i = 0; i < 16; i++) frames.push(i < 14 ? [defect('scratch', -30 + i * 40)].filter((d) => d.box.x1 >= 0) : []);
  const v = feed(s, frames).flat();
  assert.equal(v.length, 1);
  assert.equal(v[0].payload.verdict, 'reject');
  assert.equal(v[0].payload.decidedBy, 'line');
});

test('case (b) defects that stay in view are decided by age, not duplicated', () => {
  const s = stage({ partClass: undefined, maxAgeMs: 200 });
  const v = feed(
    s,
    Array.from({ length: 20 }, () => [defect('dent', 100)]),
  ).flat();
  assert.equal(v.length, 1);
});

test('ejector timing: ejectAt - decision matches distance/speed within one frame period', () => {
  // 40 px per 40 ms frame at 0.5 mm/px = 500 mm/s; the ejector 300 mm past the line: 600 ms.
  const s = stage({ belt: { direction: 'left-to-right', speedMmPerS: 500, mmPerPixel: 0.5, ejectorDistanceMm: 300 } });
  const [v] = feed(s, crossing()).flat();
  const decided = Date.parse(v.payload.decidedAt);
  const eject = Date.parse(v.payload.ejectAt!);
  assert.ok(Math.abs(eject - decided - 600) <= PERIOD, `ejectAt - decision = ${eject - decided} ms, expected 600 ± ${PERIOD}`);
  assert.equal(v.payload.ejectInMs, eject - decided);
  // Speed measured from the track when none is configured: the same answer.
  const m = stage({ belt: { direction: 'left-to-right', mmPerPixel: 0.5, ejectorDistanceMm: 300 } });
  const [w] = feed(m, crossing()).flat();
  const dm = Date.parse(w.payload.ejectAt!) - Date.parse(w.payload.decidedAt);
  assert.ok(Math.abs(dm - 600) <= PERIOD, `measured speed: ${dm} ms`);
  // Without distance or scale: no ejector fields.
  const [x] = feed(stage(), crossing()).flat();
  assert.equal(x.payload.ejectAt, undefined);
  assert.equal(x.payload.ejectInMs, undefined);
});

test('ejectAt arithmetic and the decision line along each belt direction', () => {
  const m = { direction: 'left-to-right' as const, mmPerPixel: 2, ejectorDistanceMm: 1000, speedMmPerS: 250 };
  assert.equal(ejectAt(m, 300, 300, 10_000), 14_000);
  assert.equal(ejectAt(m, 350, 300, 10_000), 13_600, '50 px = 100 mm already past the line');
  assert.equal(ejectAt({ ...m, speedMmPerS: undefined }, 300, 300, 0, 0.125), 4000, '0.125 px/ms * 2 mm/px = 0.25 mm/ms');
  assert.equal(ejectAt({ ...m, speedMmPerS: undefined }, 300, 300, 0), undefined);
  assert.equal(lineAlong('left-to-right', 0.25, 640, 480), 160);
  assert.equal(lineAlong('right-to-left', 0.25, 640, 480), -480, 'x = 480, a quarter of the way from the right');
  assert.equal(lineAlong('top-to-bottom', 0.5, 640, 480), 240);
  assert.equal(lineAlong('bottom-to-top', 0.25, 640, 480), -360);
});

test('encoder counts: interpolated at capture and at decision, extrapolated briefly, reset on a count going back', () => {
  const e = new EncoderClock();
  assert.equal(e.at(1000), undefined);
  e.add({ count: 1000, wall: 10_000 });
  e.add({ count: 2000, wall: 11_000 });
  e.add({ count: 1500, wall: 10_500 }); // out of order: placed in order
  assert.equal(e.at(10_250), 1250);
  assert.equal(e.at(10_750), 1750);
  assert.equal(e.at(11_000), 2000);
  assert.equal(e.at(11_200), 2200, 'extrapolated at the last rate');
  assert.equal(e.at(11_000 + ENCODER_EXTRAPOLATE_MS + 1), undefined, 'too far past the last reading');
  assert.equal(e.at(9_999), undefined, 'before the first reading');
  e.add({ count: 5, wall: 12_000 });
  assert.equal(e.size, 1, 'a count going back is a counter reset: history dropped');

  const enc = new EncoderClock();
  // 10 counts per ms, read every 20 ms.
  for (let t = 0; t <= 2000; t += 20) enc.add({ count: t * 10, wall: T0_WALL + t });
  const [v] = feed(stage({}, { encoder: enc }), crossing()).flat();
  assert.equal(v.payload.encoderAtCapture, 9 * PERIOD * 10, 'the deciding frame (seq 9) was captured at 360 ms');
  assert.equal(v.payload.encoderAtDecision, (9 * PERIOD + 5) * 10);
});

test('a frame numbering going back (new source) decides the parts in view first', () => {
  const s = stage();
  feed(s, crossing().slice(0, 5), 100);
  const v = feed(s, [[plate(10)]], 0).flat();
  assert.equal(v.length, 1);
  assert.equal(v[0].payload.decidedBy, 'fault');
});
