import { test } from 'node:test';
import assert from 'node:assert/strict';
import { averagePrecision, boxIou, evaluateDetections, parseYoloLabels, type GroundTruth, type ImageResult } from '../../src/eval/metrics.js';
import type { Box } from '../../src/contracts/vision.js';

const box = (x: number, y: number, s = 10): Box => ({ x1: x, y1: y, x2: x + s, y2: y + s });
const gt = (classId: number, b: Box): GroundTruth => ({ classId, box: b });
const pred = (classId: number, confidence: number, b: Box) => ({ classId, confidence, box: b });
const close = (a: number, b: number, msg?: string) => assert.ok(Math.abs(a - b) < 1e-9, msg ?? `${a} != ${b}`);
const NAMES = ['a', 'b', 'c'];

test('boxIou: identical 1, disjoint 0, half overlap 1/3', () => {
  close(boxIou(box(0, 0), box(0, 0)), 1);
  close(boxIou(box(0, 0), box(20, 20)), 0);
  close(boxIou({ x1: 0, y1: 0, x2: 10, y2: 10 }, { x1: 5, y1: 0, x2: 15, y2: 10 }), 50 / 150);
});

test('averagePrecision: all-point interpolation over the precision envelope', () => {
  close(averagePrecision([0.5, 1], [1, 1]), 1);
  close(averagePrecision([0.5, 0.5, 1], [1, 0.5, 2 / 3]), 0.5 + 0.5 * (2 / 3));
  close(averagePrecision([], []), 0);
});

test('perfect predictions: AP 1, precision 1, recall 1', () => {
  const imgs: ImageResult[] = [
    { groundTruth: [gt(0, box(0, 0)), gt(1, box(50, 50))], predictions: [pred(0, 0.9, box(0, 0)), pred(1, 0.8, box(50, 50))] },
    { groundTruth: [gt(0, box(10, 30))], predictions: [pred(0, 0.95, box(11, 30))] },
  ];
  const m = evaluateDetections(imgs, NAMES);
  close(m.mAP50, 1);
  close(m.precision, 1);
  close(m.recall, 1);
  assert.equal(m.images, 2);
  assert.equal(m.instances, 3);
  assert.deepEqual(
    m.perClass.map((c) => [c.name, c.instances]),
    [
      ['a', 2],
      ['b', 1],
    ],
  );
});

test('half of the objects missed: AP 0.5, recall 0.5, precision 1', () => {
  const imgs: ImageResult[] = [
    { groundTruth: [gt(0, box(0, 0)), gt(0, box(40, 0))], predictions: [pred(0, 0.9, box(0, 0))] },
    { groundTruth: [gt(0, box(0, 0)), gt(0, box(40, 0))], predictions: [pred(0, 0.8, box(40, 0))] },
  ];
  const m = evaluateDetections(imgs, NAMES);
  close(m.mAP50, 0.5);
  close(m.recall, 0.5);
  close(m.precision, 1);
});

test('false positives: ranked between true positives they cost AP; ranked below all they cost none', () => {
  const between: ImageResult[] = [
    {
      groundTruth: [gt(0, box(0, 0)), gt(0, box(40, 0))],
      predictions: [pred(0, 0.9, box(0, 0)), pred(0, 0.8, box(80, 80)), pred(0, 0.7, box(40, 0))],
    },
  ];
  close(evaluateDetections(between, NAMES).mAP50, 0.5 * 1 + 0.5 * (2 / 3));
  const below: ImageResult[] = [
    {
      groundTruth: [gt(0, box(0, 0)), gt(0, box(40, 0))],
      predictions: [pred(0, 0.9, box(0, 0)), pred(0, 0.8, box(40, 0)), pred(0, 0.1, box(80, 80))],
    },
  ];
  const m = evaluateDetections(below, NAMES);
  close(m.mAP50, 1);
  // P/R are taken at the best-F1 confidence, above the stray low-confidence box.
  close(m.precision, 1);
  close(m.recall, 1);
});

test('duplicates, wrong class and poor overlap are false positives', () => {
  const imgs: ImageResult[] = [
    {
      groundTruth: [gt(0, box(0, 0))],
      predictions: [
        pred(0, 0.6, box(0, 0)), // TP
        pred(0, 0.9, box(6, 6)), // IoU 16/184 < 0.5: FP, ranked first
        pred(0, 0.5, box(0, 0)), // duplicate: FP
        pred(1, 0.95, box(0, 0)), // class 1 has no ground truth: not in the mean
      ],
    },
  ];
  const m = evaluateDetections(imgs, NAMES);
  // class 0: FP (0.9), TP (0.6) -> precision 0.5 at recall 1 -> AP 0.5
  close(m.mAP50, 0.5);
  assert.deepEqual(
    m.perClass.map((c) => c.classId),
    [0],
  );
  assert.equal(m.perClass[0].predictions, 3);
});

test('multiple classes: mAP is the mean of per-class AP', () => {
  const imgs: ImageResult[] = [
    {
      groundTruth: [gt(0, box(0, 0)), gt(1, box(40, 0)), gt(1, box(80, 0)), gt(2, box(0, 40))],
      predictions: [pred(0, 0.9, box(0, 0)), pred(1, 0.9, box(40, 0)), pred(2, 0.3, box(60, 60))],
    },
  ];
  const m = evaluateDetections(imgs, NAMES);
  const ap = Object.fromEntries(m.perClass.map((c) => [c.name, c.ap50]));
  close(ap.a, 1);
  close(ap.b, 0.5);
  close(ap.c, 0);
  close(m.mAP50, 0.5);
});

test('no predictions at all: zeros, no NaN', () => {
  const m = evaluateDetections([{ groundTruth: [gt(0, box(0, 0))], predictions: [] }], NAMES);
  assert.equal(m.mAP50, 0);
  assert.equal(m.precision, 0);
  assert.equal(m.recall, 0);
  const empty = evaluateDetections([], NAMES);
  assert.equal(empty.mAP50, 0);
  assert.equal(empty.perClass.length, 0);
});

test('parseYoloLabels converts normalised boxes to pixels and rejects malformed lines', () => {
  const g = parseYoloLabels('1 0.5 0.5 0.2 0.4\n\n0 0.1 0.1 0.2 0.2\n', 100, 50);
  assert.equal(g.length, 2);
  assert.equal(g[0].classId, 1);
  close(g[0].box.x1, 40);
  close(g[0].box.x2, 60);
  close(g[0].box.y1, 15);
  close(g[0].box.y2, 35);
  assert.deepEqual(parseYoloLabels('', 10, 10), []);
  assert.throws(() => parseYoloLabels('0 0.5 0.5\n', 10, 10), /line 1/);
  assert.throws(() => parseYoloLabels('x 0.5 0.5 0.1 0.1\n', 10, 10), /line 1/);
});
