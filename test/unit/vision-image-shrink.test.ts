/**
 * Encoded images much larger than the model input are shrunk on load by libvips (README "Performance") and
 * still give boxes in source pixels, close to the full-size decode.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import sharp from 'sharp';
import { Detector } from '../../src/inference/detector.js';
import type { Box } from '../../src/contracts/vision.js';
import { renderScene } from '../../src/synth/scene.js';
import { DEFAULT_SHRINK_ON_LOAD_FACTOR, decodeImageFor } from '../../src/vision/letterbox.js';
import { repoPath } from '../helpers/fixtures.js';

const DEMO = repoPath('models', 'demo', 'inspectd-demo.onnx');

function iou(a: Box, b: Box): number {
  const iw = Math.min(a.x2, b.x2) - Math.max(a.x1, b.x1);
  const ih = Math.min(a.y2, b.y2) - Math.max(a.y1, b.y1);
  if (iw <= 0 || ih <= 0) return 0;
  const inter = iw * ih;
  return inter / ((a.x2 - a.x1) * (a.y2 - a.y1) + (b.x2 - b.x1) * (b.y2 - b.y1) - inter);
}

test('decodeImageFor: an image at least 3x the letterbox is resized on load, geometry from its full EXIF-rotated size; a smaller one is decoded whole', {
  timeout: 20_000,
}, async () => {
  assert.equal(DEFAULT_SHRINK_ON_LOAD_FACTOR, 3);
  const raw = Buffer.alloc(2000 * 1000 * 3, 90);
  const big = await sharp(raw, { raw: { width: 2000, height: 1000, channels: 3 } })
    .jpeg()
    .toBuffer();
  const a = await decodeImageFor(big, 320, 320, 3);
  assert.ok(a.geometry, 'shrunk on load');
  assert.deepEqual([a.geometry.srcWidth, a.geometry.srcHeight, a.geometry.newWidth, a.geometry.newHeight], [2000, 1000, 320, 160]);
  assert.deepEqual([a.image.width, a.image.height], [320, 160]);
  // Stored 2000x1000 with orientation 6: upright it is 1000x2000.
  const turned = await sharp(raw, { raw: { width: 2000, height: 1000, channels: 3 } })
    .jpeg()
    .withMetadata({ orientation: 6 })
    .toBuffer();
  const b = await decodeImageFor(turned, 320, 320, 3);
  assert.deepEqual([b.geometry?.srcWidth, b.geometry?.srcHeight, b.image.width, b.image.height], [1000, 2000, 160, 320]);
  // 2000 px is under 3x 960: decoded whole for the exact letterbox; Infinity never shrinks.
  const c = await decodeImageFor(big, 960, 960, 3);
  assert.equal(c.geometry, undefined);
  assert.deepEqual([c.image.width, c.image.height], [2000, 1000]);
  assert.equal((await decodeImageFor(big, 320, 320, Infinity)).geometry, undefined);
});

test('a 4K JPEG shrunk on load: boxes in source pixels, on the labelled defects, close to the full-size decode', { timeout: 60_000 }, async () => {
  const fast = await Detector.load({ modelPath: DEMO, engine: 'cpu', threads: 1, tensorrtBuild: false });
  const exact = await Detector.load({ modelPath: DEMO, engine: 'cpu', threads: 1, tensorrtBuild: false, shrinkOnLoadFactor: Infinity });
  try {
    let found = 0;
    for (const index of [1, 3]) {
      const s = await renderScene(3, index, { width: 3840, height: 2160, defectRate: 1 });
      const jpeg = await sharp(s.rgb, { raw: { width: s.width, height: s.height, channels: 3 } })
        .jpeg({ quality: 90 })
        .toBuffer();
      const a = await fast.detectImage(jpeg);
      const b = await exact.detectImage(jpeg);
      assert.deepEqual([a.width, a.height], [3840, 2160]);
      for (const label of s.labels) {
        const truth: Box = { x1: (label.cx - label.w / 2) * 3840, y1: (label.cy - label.h / 2) * 2160, x2: (label.cx + label.w / 2) * 3840, y2: (label.cy + label.h / 2) * 2160 };
        const mine = a.detections.find((d) => d.classId === label.classId && iou(d.box, truth) >= 0.5);
        assert.ok(mine, `scene ${index}: label ${JSON.stringify(truth)} found in ${JSON.stringify(a.detections)}`);
        const theirs = b.detections.find((d) => d.classId === label.classId && iou(d.box, truth) >= 0.5);
        assert.ok(theirs, `scene ${index}: the full-size decode finds it too`);
        assert.ok(iou(mine.box, theirs.box) >= 0.8, `scene ${index}: ${JSON.stringify(mine.box)} vs ${JSON.stringify(theirs.box)}`);
        assert.ok(Math.abs(mine.confidence - theirs.confidence) <= 0.1, `scene ${index}: conf ${mine.confidence} vs ${theirs.confidence}`);
        found++;
      }
    }
    assert.ok(found >= 2, `labelled defects compared: ${found}`);
  } finally {
    await fast.dispose();
    await exact.dispose();
  }
});
