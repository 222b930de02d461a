/**
 * Output buffers recycled frame after frame, and frames overlapping in the engine (submit-ahead), detect
 * exactly what a fresh engine detects on the same frames.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Detector } from '../../src/inference/detector.js';
import type { Frame } from '../../src/contracts/frame.js';
import type { Detection } from '../../src/contracts/vision.js';
import { renderScene } from '../../src/synth/scene.js';
import { repoPath } from '../helpers/fixtures.js';

const DEMO = repoPath('models', 'demo', 'inspectd-demo.onnx');

const strip = (ds: Detection[]) => ds.map((d) => ({ classId: d.classId, confidence: d.confidence, box: d.box }));

test('recycled output buffers do not leak one frame into the next: every frame detects what a fresh engine detects', { timeout: 60_000 }, async () => {
  const reusing = await Detector.load({ modelPath: DEMO, engine: 'cpu', threads: 1, tensorrtBuild: false });
  const fresh = await Detector.load({ modelPath: DEMO, engine: 'cpu', threads: 1, tensorrtBuild: false, reuseOutputs: false });
  try {
    assert.equal(reusing.submitAhead, true);
    const frames: Frame[] = [];
    for (let i = 0; i < 3; i++) {
      const s = await renderScene(5, i, { width: 960, height: 540, defectRate: 1 });
      frames.push({ cameraId: 'c', seq: i, captureMono: 0, captureWall: 0, width: s.width, height: s.height, format: 'rgb24', data: s.rgb });
    }
    const expected: ReturnType<typeof strip>[] = [];
    for (const f of frames) expected.push(strip((await fresh.detectFrame(f, { conf: 0.05 })).detections));
    assert.notDeepEqual(expected[0], expected[1], 'the frames detect differently');
    // One after the other, and two at a time as the pipeline's submit-ahead hands them over.
    for (let round = 0; round < 3; round++) {
      for (const [i, f] of frames.entries()) assert.deepEqual(strip((await reusing.detectFrame(f, { conf: 0.05 })).detections), expected[i], `round ${round} frame ${i}`);
      const prepared = await Promise.all(frames.map((f) => reusing.prepareFrame(f)));
      const results = await Promise.all(prepared.map((p) => reusing.inferPrepared(p, { conf: 0.05 })));
      for (const [i, r] of results.entries()) assert.deepEqual(strip(r.detections), expected[i], `round ${round} frame ${i}, overlapping`);
      // The later ones waited for the engine, and say so apart from their own run time.
      assert.ok(
        results.some((r) => (r.timings.engineWaitMs ?? 0) > 0),
        JSON.stringify(results.map((r) => r.timings)),
      );
    }
  } finally {
    await reusing.dispose();
    await fresh.dispose();
  }
});
