import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CandidateBuffer, decodeEnd2End, decodeYolov5, decodeYolov8 } from '../../src/vision/decode.js';
import { buildThresholds, nmsClassAware } from '../../src/vision/nms.js';
import { Postprocessor } from '../../src/vision/postprocess.js';
import { DEFAULT_POSTPROCESS, type LetterboxInfo } from '../../src/contracts/vision.js';

const IDENTITY: LetterboxInfo = { scale: 1, padX: 0, padY: 0, srcWidth: 100, srcHeight: 100, dstWidth: 100, dstHeight: 100 };
const NAMES = ['ok', 'scratch', 'dent'];

/** [1, 4+nc, N] tensor from per-anchor rows [cx, cy, w, h, ...scores]. */
function v8Tensor(rows: number[][], nc: number): Float32Array {
  const n = rows.length;
  const t = new Float32Array((4 + nc) * n);
  rows.forEach((r, i) => r.forEach((v, k) => (t[k * n + i] = v)));
  return t;
}

function v5Tensor(rows: number[][]): Float32Array {
  return Float32Array.from(rows.flat());
}

const round = (v: number) => Math.round(v * 1000) / 1000;
function summary(dets: { classId: number; confidence: number; box: { x1: number; y1: number; x2: number; y2: number } }[]) {
  return dets.map((d) => [d.classId, round(d.confidence), round(d.box.x1), round(d.box.y1), round(d.box.x2), round(d.box.y2)]);
}

function v8(rows: number[][], post = DEFAULT_POSTPROCESS, info = IDENTITY) {
  const p = new Postprocessor({ layout: 'yolov8', numClasses: 3, numCandidates: rows.length, rowLength: 7 }, NAMES);
  return p.run(v8Tensor(rows, 3), info, post);
}

test('v8: no candidate above threshold -> no detections', { timeout: 5000 }, () => {
  assert.deepEqual(
    v8([
      [50, 50, 10, 10, 0.1, 0.2, 0.24],
      [10, 10, 4, 4, 0, 0, 0],
    ]),
    [],
  );
});

test('v8: argmax class, cx/cy/w/h to corners, class-aware NMS sorted by score', { timeout: 5000 }, () => {
  const dets = v8([
    [50, 50, 20, 20, 0.1, 0.8, 0.3], // scratch 0.8
    [51, 50, 20, 20, 0.0, 0.9, 0.0], // scratch 0.9 overlaps the first (IoU 0.905): keeps this one
    [50, 50, 20, 20, 0.7, 0.0, 0.0], // ok, same box, other class: kept
    [20, 20, 10, 10, 0.0, 0.0, 0.5], // dent elsewhere
  ]);
  assert.deepEqual(summary(dets), [
    [1, 0.9, 41, 40, 61, 60],
    [0, 0.7, 40, 40, 60, 60],
    [2, 0.5, 15, 15, 25, 25],
  ]);
  assert.equal(dets[0].class, 'scratch');
});

test('v8: IoU threshold is strict: overlap exactly below it survives, above it is suppressed', { timeout: 5000 }, () => {
  // Two 10x10 boxes shifted by 2 px: IoU = 80 / 120 = 0.667.
  const rows = [
    [50, 50, 10, 10, 0.9, 0, 0],
    [52, 50, 10, 10, 0.8, 0, 0],
  ];
  assert.equal(v8(rows, { ...DEFAULT_POSTPROCESS, iou: 0.7 }).length, 2);
  assert.equal(v8(rows, { ...DEFAULT_POSTPROCESS, iou: 0.6 }).length, 1);
});

test('v8: all but the best suppressed; maxDetections caps the rest', { timeout: 5000 }, () => {
  const rows = Array.from({ length: 50 }, (_, i) => [50 + i * 0.01, 50, 30, 30, 0.3 + i * 0.01, 0, 0]);
  const dets = v8(rows);
  assert.equal(dets.length, 1);
  assert.equal(round(dets[0].confidence), 0.79);
  const apart = Array.from({ length: 20 }, (_, i) => [5 + i * 5, 50, 2, 2, 0.5 + i * 0.01, 0, 0]);
  const capped = v8(apart, { ...DEFAULT_POSTPROCESS, maxDetections: 5 });
  assert.deepEqual(
    capped.map((d) => round(d.confidence)),
    [0.69, 0.68, 0.67, 0.66, 0.65],
  );
});

test('ties: equal scores keep the earlier candidate and suppress the later', { timeout: 5000 }, () => {
  const dets = v8([
    [10, 10, 10, 10, 0.5, 0, 0],
    [10.5, 10, 10, 10, 0.5, 0, 0],
    [80, 80, 10, 10, 0.5, 0, 0],
  ]);
  assert.deepEqual(summary(dets), [
    [0, 0.5, 5, 5, 15, 15],
    [0, 0.5, 75, 75, 85, 85],
  ]);
});

test('boxes are un-letterboxed to source pixels and clipped to the image', { timeout: 5000 }, () => {
  // A 200x100 source letterboxed into 100x100: scale 0.5, padY 25.
  const info: LetterboxInfo = { scale: 0.5, padX: 0, padY: 25, srcWidth: 200, srcHeight: 100, dstWidth: 100, dstHeight: 100 };
  const dets = v8(
    [
      [50, 50, 20, 20, 0.9, 0, 0],
      [95, 22, 20, 10, 0.0, 0.8, 0],
    ],
    DEFAULT_POSTPROCESS,
    info,
  );
  assert.deepEqual(summary(dets), [
    [0, 0.9, 80, 30, 120, 70],
    [1, 0.8, 170, 0, 200, 4], // x2 = 210 and y1 = -16 clipped
  ]);
});

test('per-class thresholds by id and by name, on top of the global one', { timeout: 5000 }, () => {
  const rows = [
    [10, 10, 4, 4, 0.3, 0, 0],
    [30, 30, 4, 4, 0, 0.3, 0],
    [60, 60, 4, 4, 0, 0, 0.15],
  ];
  assert.deepEqual(
    v8(rows).map((d) => d.classId),
    [0, 1],
  );
  const post = { ...DEFAULT_POSTPROCESS, classConf: { '0': 0.5, dent: 0.1 } };
  assert.deepEqual(
    v8(rows, post).map((d) => d.classId),
    [1, 2],
  );
  const t = buildThresholds(post, NAMES, 3);
  assert.deepEqual(Array.from(t.perClass, round), [0.5, 0.25, 0.1]);
  assert.equal(round(t.min), 0.1);
  // Unknown class names and ids are ignored rather than crashing.
  assert.deepEqual(Array.from(buildThresholds({ conf: 0.4, classConf: { nope: 0.1, '9': 0.1 } }, NAMES, 3).perClass, round), [0.4, 0.4, 0.4]);
});

test('v5: score = objectness x class score; low objectness rows skipped', { timeout: 5000 }, () => {
  const rows = [
    [50, 50, 20, 20, 0.9, 0.1, 0.9], // 0.81 class 1
    [50, 50, 20, 20, 0.2, 1.0, 0.0], // 0.2: below threshold
    [52, 50, 20, 20, 0.8, 0.0, 0.9], // 0.72 class 1 overlaps: suppressed
    [10, 10, 4, 8, 0.5, 0.6, 0.1], // 0.3 class 0
  ];
  const p = new Postprocessor({ layout: 'yolov5', numClasses: 2, numCandidates: 4, rowLength: 7 }, ['a', 'b']);
  assert.deepEqual(summary(p.run(v5Tensor(rows), IDENTITY, DEFAULT_POSTPROCESS)), [
    [1, 0.81, 40, 40, 60, 60],
    [0, 0.3, 8, 6, 12, 14],
  ]);
  const c = new CandidateBuffer(1);
  decodeYolov5(v5Tensor(rows), 2, 4, buildThresholds({ conf: 0.9 }, [], 2), c);
  assert.equal(c.count, 0);
});

test('end-to-end: rows taken as they are (no NMS), thresholded, sorted, capped', { timeout: 5000 }, () => {
  const rows = [
    [10, 10, 20, 20, 0.6, 1],
    [10, 10, 20, 20, 0.9, 1], // same box as the first: the model already did NMS, so both stay
    [0, 0, 0, 0, 0.0, 0],
    [-5, 50, 30, 120, 0.4, 2],
  ];
  const p = new Postprocessor({ layout: 'end2end', numClasses: 3, numCandidates: 4, rowLength: 6 }, NAMES);
  assert.deepEqual(summary(p.run(v5Tensor(rows), IDENTITY, DEFAULT_POSTPROCESS)), [
    [1, 0.9, 10, 10, 20, 20],
    [1, 0.6, 10, 10, 20, 20],
    [2, 0.4, 0, 50, 30, 100],
  ]);
  assert.equal(p.run(v5Tensor(rows), IDENTITY, { ...DEFAULT_POSTPROCESS, maxDetections: 1 }).length, 1);
  const c = new CandidateBuffer();
  decodeEnd2End(v5Tensor(rows), 4, buildThresholds({ conf: 0.95 }, [], 3), c);
  assert.equal(c.count, 0);
});

test('candidate buffer grows past its initial capacity', { timeout: 5000 }, () => {
  const n = 3000;
  const t = new Float32Array(6 * n);
  for (let i = 0; i < n; i++) {
    t[i] = (i % 100) * 10;
    t[n + i] = Math.floor(i / 100) * 10;
    t[2 * n + i] = 4;
    t[3 * n + i] = 4;
    t[4 * n + i] = 0.5;
  }
  const c = new CandidateBuffer(16);
  decodeYolov8(t, 2, n, buildThresholds({ conf: 0.25 }, [], 2), c);
  assert.equal(c.count, n);
  assert.equal(nmsClassAware(c, 0.7, 300).length, 300);
});

// ---- Edge cases per decoder and for NMS on hand-built tensors (issue 2 acceptance) ----

function v5(rows: number[][], post = DEFAULT_POSTPROCESS, info = IDENTITY) {
  const p = new Postprocessor({ layout: 'yolov5', numClasses: 3, numCandidates: rows.length, rowLength: 8 }, NAMES);
  return p.run(v5Tensor(rows), info, post);
}

function e2e(rows: number[][], post = DEFAULT_POSTPROCESS, info = IDENTITY) {
  const p = new Postprocessor({ layout: 'end2end', numClasses: 3, numCandidates: rows.length, rowLength: 6 }, NAMES);
  return p.run(v5Tensor(rows), info, post);
}

/** Every class's own threshold above every score: nothing passes even though the global conf would. */
const ALL_CLASSES_STRICT = { ...DEFAULT_POSTPROCESS, conf: 0.1, classConf: { ok: 0.95, scratch: 0.95, '2': 0.95 } };

/** 200x100 source letterboxed into 100x100: scale 0.5, padY 25 (rows 0..24 and 75..99 are padding). */
const WIDE: LetterboxInfo = { scale: 0.5, padX: 0, padY: 25, srcWidth: 200, srcHeight: 100, dstWidth: 100, dstHeight: 100 };

function buffer(entries: [number, number, number, number, number, number][]): CandidateBuffer {
  const c = new CandidateBuffer(2);
  for (const e of entries) c.push(...e);
  return c;
}

test('NMS: an empty candidate set gives nothing; maxDetections 0 gives nothing', { timeout: 5000 }, () => {
  assert.deepEqual(nmsClassAware(new CandidateBuffer(), 0.7, 300), []);
  assert.deepEqual(nmsClassAware(buffer([[0, 0, 10, 10, 0.9, 0]]), 0.7, 0), []);
});

test('NMS: equal scores are ordered by candidate index, across classes, whatever the input order', { timeout: 5000 }, () => {
  // Four disjoint boxes, all 0.5: kept in index order.
  const apart = buffer([
    [60, 0, 70, 10, 0.5, 2],
    [0, 0, 10, 10, 0.5, 1],
    [20, 0, 30, 10, 0.5, 0],
    [40, 0, 50, 10, 0.5, 1],
  ]);
  assert.deepEqual(nmsClassAware(apart, 0.7, 300), [0, 1, 2, 3]);
  assert.deepEqual(nmsClassAware(apart, 0.7, 2), [0, 1], 'the cap keeps the earliest of the tied');
  // Identical boxes of one class with equal scores: the first survives, wherever the higher scores sit.
  const same = buffer([
    [0, 0, 10, 10, 0.4, 0],
    [0, 0, 10, 10, 0.6, 0],
    [0, 0, 10, 10, 0.6, 0],
    [0, 0, 10, 10, 0.6, 1],
  ]);
  assert.deepEqual(nmsClassAware(same, 0.7, 300), [1, 3]);
  // Repeatable: the same input gives the same answer every time.
  for (let i = 0; i < 5; i++) assert.deepEqual(nmsClassAware(same, 0.7, 300), [1, 3]);
});

test('NMS: boxes of other classes never suppress; a degenerate box suppresses nothing', { timeout: 5000 }, () => {
  const c = buffer([
    [0, 0, 10, 10, 0.9, 0],
    [0, 0, 10, 10, 0.8, 1],
    [5, 5, 5, 5, 0.7, 0], // zero area inside the first: IoU 0, kept
    [1, 0, 11, 10, 0.6, 0], // IoU 90/110 = 0.82 with the first: suppressed
  ]);
  assert.deepEqual(nmsClassAware(c, 0.7, 300), [0, 1, 2]);
});

test('v8: all classes suppressed by their per-class thresholds -> no detections', { timeout: 5000 }, () => {
  const rows = [
    [50, 50, 10, 10, 0.9, 0.2, 0.1],
    [20, 20, 10, 10, 0.1, 0.9, 0.3],
    [80, 80, 10, 10, 0, 0, 0.94],
  ];
  assert.equal(v8(rows).length, 3, 'all pass the default threshold');
  assert.deepEqual(v8(rows, ALL_CLASSES_STRICT), []);
});

test('v8: an empty head (zero anchors) and an all-zero head give nothing', { timeout: 5000 }, () => {
  assert.deepEqual(v8([]), []);
  assert.deepEqual(v8(Array.from({ length: 8 }, () => [0, 0, 0, 0, 0, 0, 0])), []);
});

test('v8: equal class scores on one anchor take the lower class id; equal scores across anchors keep index order', { timeout: 5000 }, () => {
  const dets = v8([
    [80, 80, 10, 10, 0.6, 0.6, 0.6], // three-way tie: class 0
    [20, 20, 10, 10, 0.0, 0.6, 0.6], // tie of 1 and 2: class 1
    [50, 50, 10, 10, 0.6, 0.0, 0.0],
  ]);
  assert.deepEqual(summary(dets), [
    [0, 0.6, 75, 75, 85, 85],
    [1, 0.6, 15, 15, 25, 25],
    [0, 0.6, 45, 45, 55, 55],
  ]);
});

test('v8: a box wholly in the letterbox padding clips to a zero-height box on the edge (as Ultralytics)', { timeout: 5000 }, () => {
  const dets = v8(
    [
      [50, 10, 20, 10, 0.9, 0, 0],
      [50, 50, 400, 400, 0, 0.8, 0],
    ],
    DEFAULT_POSTPROCESS,
    WIDE,
  );
  assert.deepEqual(summary(dets), [
    [0, 0.9, 80, 0, 120, 0], // y 5..15 in the model input is above the image (padY 25)
    [1, 0.8, 0, 0, 200, 100], // larger than the image in every direction
  ]);
});

test('v5: no detections when every objectness (or every product) is below threshold', { timeout: 5000 }, () => {
  assert.deepEqual(v5([]), []);
  assert.deepEqual(
    v5([
      [50, 50, 10, 10, 0.0, 1, 1, 1],
      [50, 50, 10, 10, 0.49, 0.5, 0.1, 0.1], // 0.245 < 0.25
      [50, 50, 10, 10, 1.0, 0.2, 0.24, 0.1],
    ]),
    [],
  );
});

test('v5: all classes suppressed by their per-class thresholds -> no detections', { timeout: 5000 }, () => {
  const rows = [
    [50, 50, 10, 10, 1, 0.9, 0, 0],
    [20, 20, 10, 10, 0.95, 0, 0.9, 0],
    [80, 80, 10, 10, 1, 0, 0, 0.9],
  ];
  assert.equal(v5(rows).length, 3);
  assert.deepEqual(v5(rows, ALL_CLASSES_STRICT), []);
});

test('v5: boxes outside the image are clipped; ties keep index order and the lower class id', { timeout: 5000 }, () => {
  const dets = v5(
    [
      [95, 30, 20, 10, 1, 0.7, 0, 0], // x2 210 clipped to 200, y1 -15 clipped to 0
      [-10, 90, 8, 4, 1, 0.7, 0, 0], // wholly left of and below the image: clips to the corner
      [50, 50, 10, 10, 1, 0.0, 0.7, 0.7], // tie between classes 1 and 2: class 1
    ],
    DEFAULT_POSTPROCESS,
    WIDE,
  );
  assert.deepEqual(summary(dets), [
    [0, 0.7, 170, 0, 200, 20],
    [0, 0.7, 0, 100, 0, 100],
    [1, 0.7, 90, 40, 110, 60],
  ]);
});

test('end-to-end: zero rows (the padding of a real export) and an all-below-threshold head give nothing', { timeout: 5000 }, () => {
  assert.deepEqual(e2e([]), []);
  assert.deepEqual(e2e(Array.from({ length: 300 }, () => [0, 0, 0, 0, 0, 0])), []);
  assert.deepEqual(
    e2e([
      [1, 1, 5, 5, 0.24, 0],
      [1, 1, 5, 5, Number.NaN, 0],
    ]),
    [],
    'NaN scores never pass',
  );
});

test('end-to-end: all classes suppressed by their per-class thresholds -> no detections', { timeout: 5000 }, () => {
  const rows = [
    [1, 1, 5, 5, 0.9, 0],
    [10, 10, 20, 20, 0.9, 1],
    [30, 30, 40, 40, 0.94, 2],
  ];
  assert.equal(e2e(rows).length, 3);
  assert.deepEqual(e2e(rows, ALL_CLASSES_STRICT), []);
});

test('end-to-end: boxes outside the image are clipped; ties keep row order; negative class ids are dropped', { timeout: 5000 }, () => {
  const dets = e2e(
    [
      [-20, 10, 30, 110, 0.5, 1], // x1 -40 and y2 170 clipped
      [0, 0, 100, 10, 0.5, 0], // wholly in the top padding: clips to a zero-height box
      [40, 40, 60, 60, 0.5, 2],
      [40, 40, 60, 60, 0.9, -1], // no such class
    ],
    DEFAULT_POSTPROCESS,
    WIDE,
  );
  assert.deepEqual(summary(dets), [
    [1, 0.5, 0, 0, 60, 100],
    [0, 0.5, 0, 0, 200, 0],
    [2, 0.5, 80, 30, 120, 70],
  ]);
});

test('NaN scores (a broken or overflowing fp16 head) never become detections in any decoder', { timeout: 5000 }, () => {
  assert.deepEqual(
    v8([
      [50, 50, 10, 10, Number.NaN, 0, 0],
      [20, 20, 10, 10, Number.NaN, Number.NaN, Number.NaN],
    ]),
    [],
  );
  assert.deepEqual(summary(v8([[50, 50, 10, 10, Number.NaN, 0.6, 0]])), [[1, 0.6, 45, 45, 55, 55]], 'a real score beside a NaN still counts');
  assert.deepEqual(
    v5([
      [50, 50, 10, 10, Number.NaN, 0.9, 0, 0],
      [50, 50, 10, 10, 0.9, Number.NaN, Number.NaN, Number.NaN],
    ]),
    [],
  );
  assert.deepEqual(summary(v5([[50, 50, 10, 10, 1, Number.NaN, 0.5, 0]])), [[1, 0.5, 45, 45, 55, 55]]);
});
