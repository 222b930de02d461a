import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Pipeline } from '../../src/pipeline/pipeline.js';
import type { PipelineSink } from '../../src/pipeline/types.js';
import type { DetectionsPayload, RejectPayload, VerdictPayload } from '../../src/contracts/messages.js';
import { partsConfig } from '../../src/config/defaults.js';
import type { FrameDetector } from '../../src/contracts/detector.js';
import { FakeDetectorBase } from '../helpers/fake-detector.js';
import type { CameraConfig } from '../../src/config/types.js';
import type { Frame } from '../../src/contracts/frame.js';
import type { Detection, StageTimings } from '../../src/contracts/vision.js';
import { silentLogger } from '../../src/ops/log.js';

/** A detector whose runs finish only when the test says so; records which frames it saw and concurrency. */
class FakeDetector extends FakeDetectorBase {
  readonly engineKind = 'fake';
  readonly seen: string[] = [];
  maxConcurrent = 0;
  private running = 0;
  private pending: { resolve: (v: { detections: Detection[]; timings: StageTimings }) => void; reject: (e: Error) => void; frame: Frame }[] = [];
  constructor(private readonly detect: (f: Frame) => Detection[] = () => []) {
    super();
  }
  detectFrame(frame: Frame) {
    this.seen.push(`${frame.cameraId}:${frame.seq}`);
    this.running++;
    this.maxConcurrent = Math.max(this.maxConcurrent, this.running);
    return new Promise<{ detections: Detection[]; timings: StageTimings }>((resolve, reject) => this.pending.push({ resolve, reject, frame }));
  }
  get waiting(): number {
    return this.pending.length;
  }
  /** Finishes the oldest run and lets the pipeline's continuations run. */
  async finish(err?: Error): Promise<void> {
    const p = this.pending.shift();
    assert.ok(p, 'no inference in flight');
    this.running--;
    if (err) p.reject(err);
    else p.resolve({ detections: this.detect(p.frame), timings: { preprocessMs: 1, inferenceMs: 5, postprocessMs: 0.5 } });
    await new Promise((r) => setImmediate(r));
  }
}

class RecordingSink implements PipelineSink {
  readonly dets: DetectionsPayload[] = [];
  readonly rejects: RejectPayload[] = [];
  rejectGate: Promise<void> = Promise.resolve();
  detections(p: DetectionsPayload): void {
    this.dets.push(p);
  }
  async reject(p: RejectPayload): Promise<void> {
    this.rejects.push(p);
    await this.rejectGate;
  }
  readonly verdicts: VerdictPayload[] = [];
  async verdict(p: VerdictPayload): Promise<void> {
    this.verdicts.push(p);
  }
}

const camera = (id: string, over: Partial<CameraConfig> = {}): CameraConfig => ({
  id,
  source: { type: 'synthetic', fps: 10, width: 64, height: 48, seed: 1, defectRate: 0, scene: 'still', beltPxPerFrame: 64, lossless: false },
  deadlineMs: 100,
  stallTimeoutMs: 5000,
  frozenFrames: 0,
  trigger: false,
  rules: { rejectClasses: ['scratch'], classConf: {}, minBoxArea: 0, zones: [] },
  // These tests are about the per-frame path: one reject per judged frame.
  decision: 'frame',
  parts: partsConfig(),
  ...over,
});

let clock = 1000;
const frame = (cameraId: string, seq: number, extra: Partial<Frame> = {}): Frame => ({
  cameraId,
  seq,
  captureMono: clock,
  captureWall: 1_700_000_000_000 + seq,
  width: 64,
  height: 48,
  format: 'rgb24',
  data: Buffer.alloc(0),
  ...extra,
});

function setup(detect?: (f: Frame) => Detection[]) {
  const detector = new FakeDetector(detect);
  const sink = new RecordingSink();
  const pipeline = new Pipeline({ deviceId: 'dev', detector, sink, logger: silentLogger(), now: () => clock, wallNow: () => 1_700_000_001_000 });
  return { detector, sink, pipeline };
}

const scratch: Detection = { class: 'scratch', classId: 1, confidence: 0.9, box: { x1: 1, y1: 2, x2: 11, y2: 12 } };

test('latest frame wins: frames arriving during an inference replace each other, counted as superseded', async () => {
  const { detector, sink, pipeline } = setup();
  pipeline.addCamera(camera('a'));
  pipeline.offer(frame('a', 0));
  for (let s = 1; s <= 5; s++) pipeline.offer(frame('a', s));
  assert.equal(detector.waiting, 1);
  await detector.finish();
  await detector.finish();
  assert.deepEqual(detector.seen, ['a:0', 'a:5']);
  const c = pipeline.counters('a')!;
  assert.equal(c.captured, 6);
  assert.equal(c.dropped.superseded, 4);
  assert.equal(c.inferred, 2);
  assert.equal(c.published, 2);
  assert.deepEqual(
    sink.dets.map((d) => d.seq),
    [0, 5],
  );
  assert.equal(detector.maxConcurrent, 1);
});

test('lossless frames are never dropped and done() is called after publishing', async () => {
  const { detector, sink, pipeline } = setup((f) => (f.seq === 1 ? [scratch] : []));
  pipeline.addCamera(camera('a'));
  const acked: number[] = [];
  let gateOpen!: () => void;
  sink.rejectGate = new Promise((r) => (gateOpen = r));
  for (let s = 0; s < 4; s++) pipeline.offer(frame('a', s, { done: () => acked.push(s) }));
  for (let s = 0; s < 4; s++) await detector.finish();
  assert.deepEqual(detector.seen, ['a:0', 'a:1', 'a:2', 'a:3']);
  assert.equal(pipeline.counters('a')!.dropped.superseded, 0);
  assert.deepEqual(acked, [0, 2, 3], 'frame 1 waits until its reject is durable');
  gateOpen();
  await new Promise((r) => setImmediate(r));
  assert.deepEqual(acked, [0, 2, 3, 1]);
  assert.equal(sink.rejects.length, 1);
});

test('a failed inference is counted, acknowledged with the error, and does not stall the scheduler', async () => {
  const { detector, pipeline } = setup();
  pipeline.addCamera(camera('a'));
  let err: Error | undefined;
  pipeline.offer(frame('a', 0, { done: (e) => (err = e) }));
  await detector.finish(new Error('corrupt'));
  assert.equal(err?.message, 'corrupt');
  pipeline.offer(frame('a', 1));
  await detector.finish();
  assert.equal(pipeline.counters('a')!.dropped.error, 1);
  assert.equal(pipeline.counters('a')!.inferred, 1);
});

test('cameras share the engine fairly, round-robin, one inference in flight', async () => {
  const { detector, pipeline } = setup();
  for (const id of ['a', 'b', 'c']) pipeline.addCamera(camera(id));
  let seq = 0;
  pipeline.offer(frame('a', seq++));
  for (let round = 0; round < 9; round++) {
    // camera a floods; b and c send one frame per round
    for (let k = 0; k < 3; k++) pipeline.offer(frame('a', seq++));
    pipeline.offer(frame('b', round));
    pipeline.offer(frame('c', round));
    await detector.finish();
  }
  const cams = detector.seen.map((s) => s.split(':')[0]);
  assert.deepEqual(cams.slice(0, 9), ['a', 'b', 'c', 'a', 'b', 'c', 'a', 'b', 'c']);
  assert.equal(detector.maxConcurrent, 1);
});

test('deadline: a late frame is counted and its reject says deadlineMet false (still published)', async () => {
  const { detector, sink, pipeline } = setup(() => [scratch]);
  pipeline.addCamera(camera('a', { deadlineMs: 50 }));
  clock = 1000;
  pipeline.offer(frame('a', 0));
  clock = 1030;
  await detector.finish();
  clock = 2000;
  pipeline.offer(frame('a', 1, { captureMono: 1900 }));
  clock = 2080;
  await detector.finish();
  assert.deepEqual(
    sink.rejects.map((r) => [r.seq, r.deadlineMet, r.latencyMs]),
    [
      [0, true, 30],
      [1, false, 180],
    ],
  );
  assert.equal(pipeline.counters('a')!.late, 1);
  assert.equal(sink.dets[1].latency.totalMs, 180);
  assert.equal(sink.dets[1].latency.queueMs, 100);
});

test('trigger mode: only tagged frames produce rejects; the key is the part id; tagged frames are not superseded', async () => {
  const { detector, sink, pipeline } = setup(() => [scratch]);
  pipeline.addCamera(camera('a', { trigger: true }));
  pipeline.offer(frame('a', 0));
  assert.equal(pipeline.trigger('a', 'PART-1'), true);
  assert.equal(pipeline.trigger('nope', 'x'), false);
  pipeline.offer(frame('a', 1)); // tagged PART-1, queued behind the in-flight frame 0
  pipeline.offer(frame('a', 2)); // untagged, must not displace frame 1
  await detector.finish();
  await detector.finish();
  await detector.finish();
  assert.deepEqual(detector.seen, ['a:0', 'a:1', 'a:2']);
  assert.equal(sink.rejects.length, 1);
  assert.equal(sink.rejects[0].key, 'dev:a:trigger:PART-1');
  assert.equal(sink.rejects[0].triggerId, 'PART-1');
  assert.equal(sink.dets.length, 3, 'every frame still publishes detections');
  assert.equal(sink.dets[1].triggerId, 'PART-1');
});

test('trigger mode: a triggered frame that misses its deadline is published as late, not dropped', async () => {
  // P-1 (frame 1) shows scratch: a late reject; P-2 (frame 6) shows nothing: a late pass
  const { detector, sink, pipeline } = setup((f) => (f.seq === 6 ? [] : [scratch]));
  pipeline.addCamera(camera('a', { trigger: true, deadlineMs: 50 }));
  clock = 1000;
  pipeline.offer(frame('a', 0)); // untagged, in flight
  pipeline.trigger('a', 'P-1');
  pipeline.offer(frame('a', 1, { captureMono: 1000 })); // tagged P-1, waits behind frame 0
  for (let seq = 2; seq < 6; seq++) pipeline.offer(frame('a', seq, { captureMono: 1000 })); // live frames supersede each other, not P-1
  clock = 1040;
  await detector.finish(); // frame 0 on time
  clock = 1200;
  await detector.finish(); // P-1: 200 ms after capture
  pipeline.trigger('a', 'P-2');
  pipeline.offer(frame('a', 6, { captureMono: 1200 })); // tagged P-2 (frame 5 still waits: it is in the mailbox)
  clock = 1300;
  await detector.finish(); // frame 5, untagged
  clock = 1400;
  await detector.finish(); // P-2, 200 ms after capture
  assert.deepEqual(detector.seen, ['a:0', 'a:1', 'a:5', 'a:6']);
  assert.equal(pipeline.counters('a')!.dropped.superseded, 3);
  const tagged = sink.dets.filter((d) => d.triggerId !== undefined).map((d) => [d.triggerId, d.deadlineMet, d.latency.totalMs]);
  assert.deepEqual(
    tagged,
    [
      ['P-1', false, 200],
      ['P-2', false, 200],
    ],
    'both late triggers are published, marked late',
  );
  assert.deepEqual(
    sink.rejects.map((r) => [r.key, r.deadlineMet, r.latencyMs]),
    [['dev:a:trigger:P-1', false, 200]],
    'the late reject is published, marked late',
  );
  assert.equal(pipeline.counters('a')!.late, 3, 'frames 1, 5 (300 ms) and 6 are late');
});

test('payloads follow the MQTT contract', async () => {
  const { detector, sink, pipeline } = setup(() => [scratch, { class: 'ok', classId: 0, confidence: 0.5, box: { x1: 0, y1: 0, x2: 5, y2: 5 } }]);
  pipeline.addCamera(camera('cam1'));
  clock = 500;
  pipeline.offer(frame('cam1', 7));
  clock = 520;
  await detector.finish();
  const d = sink.dets[0];
  assert.deepEqual(Object.keys(d).sort(), ['camera', 'captureTime', 'deadlineMet', 'deadlineMs', 'detections', 'device', 'engine', 'frameId', 'height', 'latency', 'seq', 'width']);
  assert.equal(d.deadlineMs, 100);
  assert.equal(d.deadlineMet, true);
  assert.equal(d.frameId, 'cam1:7');
  assert.equal(d.captureTime, new Date(1_700_000_000_007).toISOString());
  assert.deepEqual(d.latency, { preprocessMs: 1, inferenceMs: 5, postprocessMs: 0.5, queueMs: 0, totalMs: 20 });
  assert.deepEqual(d.detections[0], { class: 'scratch', classId: 1, confidence: 0.9, box: { x1: 1, y1: 2, x2: 11, y2: 12 } });
  const r = sink.rejects[0];
  assert.equal(r.key, 'dev:cam1:seq:0-1', 'boot 0 (none given), the first reject of cam1');
  assert.deepEqual(r.classes, ['scratch']);
  assert.equal(r.detections.length, 1);
  assert.equal(r.reason, 'reject: scratch (0.90)');
  assert.equal(r.captureWall, 1_700_000_000_007);
  assert.equal(r.deadlineMs, 100);
});

test('hot rules edit applies to the next frame; pause drops live frames; drain finishes queued work', async () => {
  const { detector, sink, pipeline } = setup(() => [scratch]);
  pipeline.addCamera(camera('a'));
  pipeline.offer(frame('a', 0));
  await detector.finish();
  pipeline.updateCamera(camera('a', { rules: { rejectClasses: ['scratch'], classConf: { scratch: 0.95 }, minBoxArea: 0, zones: [] } }));
  pipeline.offer(frame('a', 1));
  await detector.finish();
  assert.deepEqual(
    sink.rejects.map((r) => r.seq),
    [0],
  );
  assert.equal(sink.dets[1].detections.length, 0);
  pipeline.pause('a');
  pipeline.offer(frame('a', 2));
  assert.equal(detector.waiting, 0);
  assert.equal(pipeline.counters('a')!.dropped.paused, 1);
  let acked = false;
  pipeline.offer(frame('a', 3, { done: () => (acked = true) }));
  assert.equal(detector.waiting, 0, 'lossless frames wait while paused');
  const drained = pipeline.drain(2000);
  await new Promise((r) => setImmediate(r));
  assert.equal(detector.waiting, 1, 'drain processes the queued lossless frame');
  await detector.finish();
  assert.equal(await drained, true);
  assert.equal(acked, true);
  pipeline.offer(frame('a', 4));
  assert.equal(detector.waiting, 0, 'no frames after drain');
});

test('setDetector swaps for later frames and hands back the old one after its run', async () => {
  const { detector, sink, pipeline } = setup();
  pipeline.addCamera(camera('a'));
  pipeline.offer(frame('a', 0));
  const next = new FakeDetector();
  let oldBack: FrameDetector | undefined;
  const swapped = pipeline.setDetector(next).then((d) => (oldBack = d));
  pipeline.offer(frame('a', 1));
  await new Promise((r) => setImmediate(r));
  assert.equal(oldBack, undefined, 'old detector still running');
  await detector.finish();
  await swapped;
  assert.equal(oldBack, detector);
  assert.deepEqual(next.seen, ['a:1']);
  await next.finish();
  assert.equal(sink.dets.length, 2);
});
