/**
 * Staging: with a detector that splits into prepareFrame/inferPrepared, the pipeline letterboxes the next
 * frame while the engine still runs, timed to finish as the engine frees. Real timers: a fake detector
 * whose halves take fixed times, fed like a camera faster than the engine.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { Pipeline } from '../../src/pipeline/pipeline.js';
import type { DetectionsPayload } from '../../src/contracts/messages.js';
import type { FrameDetector, PreparedFrame } from '../../src/contracts/detector.js';
import { FakeDetectorBase } from '../helpers/fake-detector.js';
import type { CameraConfig } from '../../src/config/types.js';
import type { Frame } from '../../src/contracts/frame.js';
import type { StageTimings } from '../../src/contracts/vision.js';
import { silentLogger } from '../../src/ops/log.js';
import { partsConfig } from '../../src/config/defaults.js';

const PREPARE_MS = 15;
const ENGINE_MS = 60;

interface Prepared extends PreparedFrame {
  seq: number;
}

/** Records when each half of each frame ran; the engine half refuses to overlap itself. */
class SplitDetector extends FakeDetectorBase {
  readonly engineKind = 'split';
  readonly log: { seq: number; prepareStart: number; prepareEnd: number; engineStart?: number; engineEnd?: number }[] = [];
  readonly released: number[] = [];
  wholeRuns = 0;
  private engineBusy = false;
  async prepareFrame(frame: Frame): Promise<Prepared> {
    const entry = { seq: frame.seq, prepareStart: performance.now(), prepareEnd: 0 };
    this.log.push(entry);
    await sleep(PREPARE_MS);
    entry.prepareEnd = performance.now();
    return {
      seq: frame.seq,
      tensor: new Float32Array(0),
      info: { scale: 1, padX: 0, padY: 0, srcWidth: frame.width, srcHeight: frame.height, dstWidth: frame.width, dstHeight: frame.height },
      preprocessMs: entry.prepareEnd - entry.prepareStart,
    };
  }
  async inferPrepared(prepared: PreparedFrame): Promise<{ detections: []; timings: StageTimings }> {
    const p = prepared as Prepared;
    assert.equal(this.engineBusy, false, 'one inference at a time');
    this.engineBusy = true;
    const entry = this.log.find((e) => e.seq === p.seq)!;
    entry.engineStart = performance.now();
    await sleep(ENGINE_MS);
    entry.engineEnd = performance.now();
    this.engineBusy = false;
    return { detections: [], timings: { preprocessMs: p.preprocessMs, inferenceMs: entry.engineEnd - entry.engineStart, postprocessMs: 0 } };
  }
  releasePrepared(prepared: PreparedFrame): void {
    this.released.push((prepared as Prepared).seq);
  }
  async detectFrame(frame: Frame) {
    this.wholeRuns++;
    return this.inferPrepared(await this.prepareFrame(frame));
  }
}

const camera: CameraConfig = {
  id: 'a',
  source: { type: 'synthetic', fps: 100, width: 8, height: 8, seed: 1, defectRate: 0, scene: 'still', beltPxPerFrame: 64, lossless: false },
  deadlineMs: 10_000,
  stallTimeoutMs: 5000,
  frozenFrames: 0,
  trigger: false,
  rules: { rejectClasses: [], classConf: {}, minBoxArea: 0, zones: [] },
  decision: 'frame',
  parts: partsConfig(),
};

function frame(seq: number): Frame {
  return { cameraId: 'a', seq, captureMono: performance.now(), captureWall: Date.now(), width: 8, height: 8, format: 'rgb24', data: Buffer.alloc(192) };
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

function setup(detector: FrameDetector) {
  const dets: DetectionsPayload[] = [];
  const pipeline = new Pipeline({ deviceId: 'dev', detector, sink: { detections: (p) => dets.push(p), reject: async () => {}, verdict: async () => {} }, logger: silentLogger() });
  pipeline.addCamera(camera);
  return { pipeline, dets };
}

test('the next frame is prepared while the engine runs, just in time: the engine does not wait, the frame is not stale', { timeout: 20_000 }, async () => {
  const detector = new SplitDetector();
  const { pipeline, dets } = setup(detector);
  let seq = 0;
  const camera = setInterval(() => pipeline.offer(frame(seq++)), 5); // a camera faster than the engine
  try {
    while (dets.length < 12) await sleep(10);
  } finally {
    clearInterval(camera);
  }
  assert.equal(await pipeline.drain(5000), true);
  pipeline.stop();

  const ran = detector.log.filter((e) => e.engineEnd !== undefined);
  assert.ok(ran.length >= 12);
  assert.equal(detector.wholeRuns, 0, 'every frame went through the two halves');
  // From the third frame on the averages are known.
  const steady = ran.slice(3);
  const idle = steady.map((e, i) => (i === 0 ? NaN : e.engineStart! - steady[i - 1].engineEnd!)).slice(1);
  const leadBeforeEnd = steady.slice(1).map((e, i) => steady[i].engineEnd! - e.prepareStart);
  const waitAfterPrepare = steady.map((e) => e.engineStart! - e.prepareEnd);
  // Unstaged, the engine would idle PREPARE_MS (15 ms) between frames; staged eagerly, the next frame would
  // be prepared ENGINE_MS (60 ms) before the engine frees. Timer slack on a loaded machine is a few ms.
  assert.ok(median(idle) < PREPARE_MS / 2, `engine idle between frames, median ${median(idle).toFixed(1)} ms: ${idle.map((v) => v.toFixed(1))}`);
  assert.ok(median(leadBeforeEnd) < PREPARE_MS + 15, `preparation starts shortly before the engine frees, median ${median(leadBeforeEnd).toFixed(1)} ms before`);
  assert.ok(median(waitAfterPrepare) < 12, `a prepared frame waits little for the engine, median ${median(waitAfterPrepare).toFixed(1)} ms`);
  const c = pipeline.counters('a')!;
  const dropped = Object.values(c.dropped).reduce((a, b) => a + b, 0);
  assert.equal(c.captured, c.inferred + dropped, 'every captured frame is inferred or dropped with a reason');
  assert.ok(dets.every((d) => d.latency.queueMs >= 0 && d.latency.queueMs < d.latency.totalMs));
});

test('a frame staged by a detector that was swapped out runs whole on the new one; stop drops a staged frame', { timeout: 20_000 }, async () => {
  const first = new SplitDetector();
  const second = new SplitDetector();
  const { pipeline, dets } = setup(first);
  pipeline.offer(frame(0));
  await sleep(PREPARE_MS + 5); // frame 0 is on the engine now
  pipeline.offer(frame(1)); // no averages yet: staged at once
  await sleep(5);
  const old = pipeline.setDetector(second);
  assert.equal(await old, first);
  while (dets.length < 2) await sleep(5);
  assert.deepEqual(first.released, [1], 'the old detector got its prepared tensor back');
  assert.equal(second.wholeRuns, 1, 'frame 1 was prepared again by the new detector');
  assert.deepEqual(
    dets.map((d) => d.seq),
    [0, 1],
  );

  // stop while a frame is staged: it is dropped as stopped and its preparation released
  pipeline.offer(frame(2));
  await sleep(PREPARE_MS + 5);
  pipeline.offer(frame(3));
  // staged (timed from the averages) before frame 2's engine run ends
  for (let i = 0; i < 100 && !second.log.some((e) => e.seq === 3); i++) await sleep(2);
  const staged = second.log.find((e) => e.seq === 3);
  assert.ok(staged, 'frame 3 was staged');
  assert.equal(second.log.find((e) => e.seq === 2)!.engineEnd, undefined, 'while frame 2 was still on the engine');
  pipeline.stop();
  await sleep(ENGINE_MS + 20);
  assert.deepEqual(second.released, [3]);
  const c = pipeline.counters('a')!;
  assert.equal(c.dropped.stopped, 1);
});
