import { test } from 'node:test';
import assert from 'node:assert/strict';
import { detectLayout } from '../../src/vision/layout.js';
import { ErrorCodes } from '../../src/errors.js';

test('YOLOv8/11 [1, 4+nc, N]', { timeout: 5000 }, () => {
  assert.deepEqual(detectLayout([[1, 84, 8400]], { numClasses: 80, end2end: false, imgsz: [640, 640] }), {
    layout: 'yolov8',
    numClasses: 80,
    numCandidates: 8400,
    rowLength: 84,
  });
  // Without metadata the larger axis is the anchors.
  assert.equal(detectLayout([[1, 84, 8400]]).layout, 'yolov8');
});

test('YOLOv5 [1, N, 5+nc], including a 960 px model', { timeout: 5000 }, () => {
  const l = detectLayout([[1, 56700, 187]], { numClasses: 182, imgsz: [960, 960] });
  assert.equal(l.layout, 'yolov5');
  assert.equal(l.numClasses, 182);
  assert.equal(l.numCandidates, 56700);
  assert.equal(detectLayout([[1, 25200, 85]]).layout, 'yolov5');
});

test('end-to-end [1, 300, 6]', { timeout: 5000 }, () => {
  assert.equal(detectLayout([[1, 300, 6]], { numClasses: 80, end2end: true }).layout, 'end2end');
  // No end2end flag: the anchor count for the input size tells e2e from a one-class v5 head.
  assert.equal(detectLayout([[1, 300, 6]], { imgsz: [640, 640] }).layout, 'end2end');
  assert.equal(detectLayout([[1, 25200, 6]], { imgsz: [640, 640] }).layout, 'yolov5');
});

test('refusals name the shapes found', { timeout: 5000 }, () => {
  const cases: [number[][], RegExp][] = [
    [[[1, 3, 80, 80, 85]], /\[1, 3, 80, 80, 85\].*5-D/],
    [[[1, 32, 160, 160]], /\[1, 32, 160, 160\].*4-D/],
    [
      [
        [1, 84, 8400],
        [1, 32, 160, 160],
      ],
      /\[1, 84, 8400\], \[1, 32, 160, 160\].*exactly one output/,
    ],
    [[[2, 84, 8400]], /\[2, 84, 8400\].*batch/],
    [[[1, 300, 6]], /\[1, 300, 6\].*ambiguous/],
  ];
  for (const [shapes, message] of cases) {
    assert.throws(() => detectLayout(shapes), { code: ErrorCodes.MODEL_LAYOUT, message }, message.source);
  }
  // Metadata contradicts the shape.
  assert.throws(() => detectLayout([[1, 84, 8400]], { numClasses: 3 }), { code: ErrorCodes.MODEL_LAYOUT, message: /shape \[1, 84, 8400\].*3 classes/ });
  assert.throws(() => detectLayout([[1, 84, 8400]], { end2end: true }), { code: ErrorCodes.MODEL_LAYOUT, message: /shape.*end2end/ });
});
