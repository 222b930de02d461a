/**
 * Submit-ahead: with a detector whose engine queues runs in order (submitAhead), the next frame goes to the
 * engine as soon as it is letterboxed, so the engine starts it while the previous frame is still being
 * decoded and published, and at most one frame waits inside the engine. Without it (option off, or a
 * detector that cannot queue), the next run is handed over only after the previous frame was published.
 * Real timers: a fake detector whose engine is a FIFO of fixed-length runs, fed like a fast camera.
 */
import { partsConfig } from '../../src/config/defaults.js';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { Pipeline } from '../../src/pipeline/pipeline.js';
import type { DetectionsPayload } from '../../src/contracts/messages.js';
import type { PreparedFrame } from '../../src/contracts/detector.js';
import type { CameraConfig } from '../../src/config/types.js';
import type { Frame } from '../../src/contracts/frame.js';
import type { StageTimings } from '../../src/contracts/vision.js';
import { silentLogger } from '../../src/ops/log.js';
import { FakeDetectorBase } from '../helpers/fake-detector.js';

const PREPARE_MS = 10;
const ENGINE_MS = 40;
/** Decode and NMS after the engine: the engine is free during it. */
const POST_MS = 20;

interface Prepared extends PreparedFrame {
  seq: number;
}

interface Run {
  seq: number;
  /** When inferPrepared was called (the frame handed to the engine). */
  submitted: number;
  engineStart?: number;
  engineEnd?: number;
}

/** Its engine is a FIFO: runs handed over while one is in flight wait, then start as it ends. */
class QueueingDetector extends FakeDetectorBase {
  readonly engineKind = 'queueing';
  readonly submitAhead: boolean;
  readonly runs: Run[] = [];
  outstanding = 0;
  maxOutstanding = 0;
  waiting = 0;
  maxWaiting = 0;
  private engine: Promise<void> = Promise.resolve();

  constructor(submitAhead = true) {
    super();
    this.submitAhead = submitAhead;
  }

  async prepareFrame(frame: Frame): Promise<Prepared> {
    const t0 = performance.now();
    await sleep(PREPARE_MS);
    const info = { scale: 1, padX: 0, padY: 0, srcWidth: frame.width, srcHeight: frame.height, dstWidth: frame.width, dstHeight: frame.height };
    return { seq: frame.seq, tensor: new Float32Array(0), info, preprocessMs: performance.now() - t0 };
  }

  async inferPrepared(prepared: PreparedFrame): Promise<{ detections: []; timings: StageTimings }> {
    const p = prepared as Prepared;
    const run: Run = { seq: p.seq, submitted: performance.now() };
    this.runs.push(run);
    this.outstanding++;
    this.maxOutstanding = Math.max(this.maxOutstanding, this.outstanding);
    this.waiting++;
    this.maxWaiting = Math.max(this.maxWaiting, this.waiting - 1); // the one that starts now does not wait
    const engineRun = this.engine.then(async () => {
      this.waiting--;
      run.engineStart = performance.now();
      await sleep(ENGINE_MS);
      run.engineEnd = performance.now();
    });
    this.engine = engineRun;
    await engineRun;
    const t2 = performance.now();
    await sleep(POST_MS);
    this.outstanding--;
    return {
      detections: [],
      timings: {
        preprocessMs: p.preprocessMs,
        inferenceMs: run.engineEnd! - run.engineStart!,
        postprocessMs: performance.now() - t2,
        engineWaitMs: run.engineStart! - run.submitted,
      },
    };
  }

  async detectFrame(frame: Frame) {
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

/** Feeds a camera faster than the engine until `frames` were published; returns the payloads and publish times. */
async function run(detector: QueueingDetector, frames: number, submitAhead?: boolean) {
  const dets: DetectionsPayload[] = [];
  const publishedAt = new Map<number, number>();
  const pipeline = new Pipeline({
    deviceId: 'dev',
    detector,
    submitAhead,
    sink: {
      detections: (p) => {
        dets.push(p);
        publishedAt.set(p.seq, performance.now());
      },
      reject: async () => {},
      verdict: async () => {},
    },
    logger: silentLogger(),
  });
  pipeline.addCamera(camera);
  let seq = 0;
  const feed = setInterval(() => pipeline.offer(frame(seq++)), 5);
  try {
    for (let i = 0; i < 400 && dets.length < frames; i++) await sleep(10);
  } finally {
    clearInterval(feed);
  }
  assert.equal(await pipeline.drain(5000), true);
  pipeline.stop();
  return { dets, publishedAt, pipeline };
}

test('submit-ahead: the engine starts the next frame while the previous one is decoded and published; at most one frame waits in it', { timeout: 30_000 }, async () => {
  const detector = new QueueingDetector();
  const { dets, publishedAt, pipeline } = await run(detector, 14);
  assert.ok(dets.length >= 14);
  assert.ok(detector.maxWaiting <= 1, `at most one frame queued inside the engine, saw ${detector.maxWaiting}`);
  assert.ok(detector.maxOutstanding <= 2, `at most two frames handed to the detector at once, saw ${detector.maxOutstanding}`);
  assert.deepEqual(
    dets.map((d) => d.seq),
    [...dets.map((d) => d.seq)].sort((a, b) => a - b),
    'published in capture order',
  );

  const ran = detector.runs.filter((r) => r.engineEnd !== undefined);
  const steady = ran.slice(3);
  // Handed over before the previous frame's results were out: the engine did not wait for decode and publish.
  const ahead = steady.slice(1).filter((r, i) => r.submitted < publishedAt.get(steady[i].seq)!);
  assert.ok(ahead.length >= (steady.length - 1) / 2, `${ahead.length} of ${steady.length - 1} frames handed to the engine before the previous one was published`);
  // Without submit-ahead the engine would idle POST_MS (20 ms) between frames; timer slack on a loaded machine is a few ms.
  const idle = steady.slice(1).map((r, i) => r.engineStart! - steady[i].engineEnd!);
  assert.ok(median(idle) < POST_MS / 2, `engine idle between frames, median ${median(idle).toFixed(1)} ms: ${idle.map((v) => v.toFixed(1))}`);

  // A frame's queue time counts its wait inside the engine.
  for (const d of dets) {
    const r = detector.runs.find((x) => x.seq === d.seq)!;
    assert.ok(d.latency.queueMs >= r.engineStart! - r.submitted - 1, `seq ${d.seq}: queueMs ${d.latency.queueMs} covers the engine wait`);
    assert.ok(d.latency.queueMs < d.latency.totalMs);
  }
  const c = pipeline.counters('a')!;
  const dropped = Object.values(c.dropped).reduce((a, b) => a + b, 0);
  assert.equal(c.captured, c.inferred + dropped, 'every captured frame is inferred or dropped with a reason');
});

for (const [what, detector, option] of [
  ['submitAhead: false', new QueueingDetector(true), false],
  ['a detector that cannot queue runs', new QueueingDetector(false), undefined],
] as const) {
  test(`${what}: the next frame is handed to the engine only after the previous one was published`, { timeout: 30_000 }, async () => {
    const { dets, publishedAt } = await run(detector, 8, option);
    assert.ok(dets.length >= 8);
    assert.equal(detector.maxOutstanding, 1);
    const ran = detector.runs.filter((r) => r.engineEnd !== undefined);
    for (let i = 1; i < ran.length; i++) {
      assert.ok(ran[i].submitted >= publishedAt.get(ran[i - 1].seq)!, `frame ${ran[i].seq} handed over after frame ${ran[i - 1].seq} was published`);
    }
  });
}

test('setDetector waits for both frames in flight before handing back the old detector', { timeout: 30_000 }, async () => {
  const first = new QueueingDetector();
  const second = new QueueingDetector();
  const dets: DetectionsPayload[] = [];
  const pipeline = new Pipeline({
    deviceId: 'dev',
    detector: first,
    sink: { detections: (p) => dets.push(p), reject: async () => {}, verdict: async () => {} },
    logger: silentLogger(),
  });
  pipeline.addCamera(camera);
  let seq = 0;
  const feed = setInterval(() => pipeline.offer(frame(seq++)), 5);
  try {
    // Wait until a second frame was handed to the engine behind the first.
    for (let i = 0; i < 300 && first.outstanding < 2; i++) await sleep(2);
    assert.equal(first.outstanding, 2, 'two frames in flight');
    const old = await pipeline.setDetector(second);
    assert.equal(old, first);
    assert.equal(first.outstanding, 0, 'both finished before the old detector was handed back');
  } finally {
    clearInterval(feed);
  }
  assert.equal(await pipeline.drain(5000), true);
  pipeline.stop();
  assert.ok(second.runs.length > 0, 'later frames ran on the new detector');
});
