/**
 * The pipeline's part stage (decision: part): frames feed the camera's part tracker after the rules and
 * verdicts go to the sink; per-frame rejects stay for decision: frame and trigger mode; a lossless frame is
 * done once its verdicts are durable; a camera fault, an inference error, a removal and the drain decide
 * the parts in view.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Pipeline } from '../../src/pipeline/pipeline.js';
import type { PipelineSink } from '../../src/pipeline/types.js';
import type { DetectionsPayload, RejectPayload, VerdictPayload } from '../../src/contracts/messages.js';
import type { Frame } from '../../src/contracts/frame.js';
import type { Detection, StageTimings } from '../../src/contracts/vision.js';
import type { CameraConfig } from '../../src/config/types.js';
import { partsConfig } from '../../src/config/defaults.js';
import { silentLogger } from '../../src/ops/log.js';
import { FakeDetectorBase } from '../helpers/fake-detector.js';

const W = 640;
const H = 480;

/** A belt: a plate enters at the left at frame 0 and moves 40 px per frame; a scratch on it in frames 4-6. */
function beltDetections(seq: number): Detection[] {
  const x = -100 + 40 * seq;
  if (x + 120 <= 0 || x >= W) return [];
  const plate: Detection = { class: 'plate', classId: 2, confidence: 0.95, box: { x1: Math.max(0, x), y1: 200, x2: Math.min(W, x + 120), y2: 280 } };
  const out = [plate];
  if (seq >= 4 && seq <= 6) out.push({ class: 'scratch', classId: 1, confidence: 0.8, box: { x1: x + 40, y1: 220, x2: x + 70, y2: 240 } });
  return out;
}

class BeltDetector extends FakeDetectorBase {
  readonly engineKind = 'fake';
  failSeqs = new Set<number>();
  constructor() {
    super(['ok', 'scratch', 'plate']);
  }
  async detectFrame(frame: Frame): Promise<{ detections: Detection[]; timings: StageTimings }> {
    if (this.failSeqs.has(frame.seq)) throw new Error('inference failed');
    return { detections: beltDetections(frame.seq), timings: { preprocessMs: 1, inferenceMs: 2, postprocessMs: 0.1 } };
  }
}

class Sink implements PipelineSink {
  readonly dets: DetectionsPayload[] = [];
  readonly rejects: RejectPayload[] = [];
  readonly verdicts: VerdictPayload[] = [];
  readonly evidence: (Frame | undefined)[] = [];
  gate: Promise<void> = Promise.resolve();
  detections(p: DetectionsPayload): void {
    this.dets.push(p);
  }
  async reject(p: RejectPayload): Promise<void> {
    this.rejects.push(p);
  }
  async verdict(p: VerdictPayload, e: { frame?: Frame }): Promise<void> {
    this.verdicts.push(p);
    this.evidence.push(e.frame);
    await this.gate;
  }
}

const camera = (over: Partial<CameraConfig> = {}): CameraConfig => ({
  id: 'belt',
  source: { type: 'synthetic', fps: 25, width: W, height: H, seed: 1, defectRate: 0, scene: 'conveyor', beltPxPerFrame: 40, lossless: false },
  deadlineMs: 1000,
  stallTimeoutMs: 5000,
  frozenFrames: 0,
  trigger: false,
  rules: { rejectClasses: ['scratch'], classConf: {}, minBoxArea: 0, zones: [] },
  decision: 'part',
  parts: partsConfig({ partClass: 'plate', belt: { direction: 'left-to-right' } }),
  ...over,
});

function frame(seq: number, done?: (err?: Error) => void): Frame {
  return {
    cameraId: 'belt',
    seq,
    captureMono: seq * 40,
    captureWall: 1_700_000_000_000 + seq * 40,
    width: W,
    height: H,
    format: 'rgb24',
    data: Buffer.alloc(0),
    ...(done ? { done } : {}),
  };
}

function setup(cam = camera(), bootId = 3) {
  const detector = new BeltDetector();
  const sink = new Sink();
  let clock = 0;
  const pipeline = new Pipeline({ deviceId: 'dev', bootId, detector, sink, logger: silentLogger(), now: () => clock, wallNow: () => 1_700_000_000_000 + clock });
  pipeline.addCamera(cam);
  /** Offers frames one at a time, waiting for each to be judged (a lossless camera). */
  const run = async (from: number, to: number) => {
    for (let s = from; s < to; s++) {
      clock = s * 40 + 5;
      await new Promise<void>((resolve) => pipeline.offer(frame(s, () => resolve())));
    }
  };
  return { detector, sink, pipeline, run };
}

test('decision: part — one verdict for the plate, no per-frame rejects; detections still per frame', async () => {
  const { sink, pipeline, run } = setup();
  await run(0, 20);
  assert.equal(sink.rejects.length, 0, 'no per-frame reject');
  assert.equal(sink.dets.length, 20);
  assert.equal(sink.verdicts.length, 1);
  const v = sink.verdicts[0];
  assert.equal(v.verdict, 'reject');
  assert.equal(v.key, 'dev:belt:part:3-1');
  assert.deepEqual(v.classes, ['scratch']);
  assert.equal(v.evidence.seq, 4);
  assert.equal(sink.evidence[0]?.seq, 4, 'the evidence frame goes to the sink (snapshots)');
  const c = pipeline.counters('belt')!;
  assert.equal(c.rejects, 0);
  assert.deepEqual(c.parts, { seen: 1, reject: 1, pass: 0, failSafe: 0, unpublished: 0, suppressed: 2, switches: 0 });
});

test('decision: frame and trigger mode keep the per-frame reject', async () => {
  const f = setup(camera({ decision: 'frame' }));
  await f.run(0, 20);
  assert.equal(f.sink.verdicts.length, 0);
  assert.equal(f.sink.rejects.length, 3, 'a reject per frame with a scratch');
  const tr = setup(camera({ trigger: true, decision: 'part' }));
  tr.pipeline.trigger('belt', 'P-1');
  await tr.run(0, 6);
  tr.pipeline.trigger('belt', 'P-2');
  await tr.run(6, 20);
  assert.equal(tr.sink.verdicts.length, 0, 'trigger mode never tracks parts');
  assert.deepEqual(
    tr.sink.rejects.map((r) => r.triggerId),
    ['P-2'],
  );
});

test('a lossless frame is done only once the verdict decided on it is durable', async () => {
  const { sink, pipeline } = setup();
  let release!: () => void;
  sink.gate = new Promise<void>((r) => (release = r));
  const done: number[] = [];
  for (let s = 0; s < 12; s++) {
    await new Promise<void>((resolve) => {
      pipeline.offer(
        frame(s, () => {
          done.push(s);
          resolve();
        }),
      );
      if (s === 9) setTimeout(resolve, 50); // frame 9 decides the plate: it must wait for the gate
    });
  }
  assert.equal(sink.verdicts.length, 1);
  assert.equal(sink.verdicts[0].seq, 9);
  assert.ok(!done.includes(9), 'frame 9 waits for its verdict to be stored');
  release();
  await new Promise((r) => setTimeout(r, 10));
  assert.ok(done.includes(9));
});

test('a camera fault decides the parts in view: fail-safe reject; tracking starts afresh', async () => {
  const { sink, pipeline, run } = setup();
  await run(0, 3);
  pipeline.cameraFault('belt');
  assert.equal(sink.verdicts.length, 1);
  assert.equal(sink.verdicts[0].decidedBy, 'fault');
  assert.equal(sink.verdicts[0].failSafe, true);
  assert.equal(sink.verdicts[0].verdict, 'reject');
  assert.match(sink.verdicts[0].reason, /^no-verdict: /);
  assert.equal(pipeline.counters('belt')!.parts.failSafe, 1);
  await run(3, 20);
  assert.deepEqual(
    sink.verdicts.map((v) => v.partId),
    ['3-1', '3-2'],
    'the plate seen again is a new part with a new number',
  );
});

test('inference errors: the part in view is given up after the lost buffer, then decided', async () => {
  const cam = camera({ parts: partsConfig({ partClass: 'plate', belt: { direction: 'none' }, tracker: { lostFrames: 2 } }) });
  const { sink, detector, run } = setup(cam);
  for (let s = 3; s < 12; s++) detector.failSeqs.add(s);
  await run(0, 12);
  assert.equal(sink.verdicts.length, 1);
  assert.equal(sink.verdicts[0].decidedBy, 'lost');
});

test('drain decides the parts still in view; removeCamera too; part numbers never repeat in a pipeline', async () => {
  const { sink, pipeline, run } = setup();
  await run(0, 4);
  pipeline.removeCamera('belt');
  assert.equal(sink.verdicts.length, 1);
  pipeline.addCamera(camera());
  await run(0, 4);
  assert.equal(await pipeline.drain(1000), true);
  assert.deepEqual(
    sink.verdicts.map((v) => v.partId),
    ['3-1', '3-2'],
  );
  assert.ok(sink.verdicts.every((v) => v.decidedBy === 'fault'));
});

test('hot update: decision part -> frame decides the parts in view and switches to per-frame rejects', async () => {
  const { sink, pipeline, run } = setup();
  await run(0, 5);
  pipeline.updateCamera(camera({ decision: 'frame' }));
  assert.equal(sink.verdicts.length, 1);
  await run(5, 8);
  assert.equal(sink.rejects.length, 2, 'frames 5 and 6 carry the scratch');
  // Back to parts: tracking starts afresh; the plate (still before the line) is a new part.
  pipeline.updateCamera(camera());
  await run(8, 30);
  assert.deepEqual(
    sink.verdicts.map((v) => [v.partId, v.decidedBy]),
    [
      ['3-1', 'fault'],
      ['3-2', 'line'],
    ],
  );
});

test('a part class the model does not have: the defects are tracked as parts (logged)', async () => {
  const cam = camera({ parts: partsConfig({ partClass: 'widget', belt: { direction: 'left-to-right', speedMmPerS: 1000, mmPerPixel: 1 } }) });
  const { sink, run } = setup(cam);
  await run(0, 20);
  assert.equal(sink.verdicts.length, 1);
  assert.equal(sink.verdicts[0].verdict, 'reject');
});

test('encoder readings reach the verdict of the camera they are for', async () => {
  const { sink, pipeline, run } = setup();
  for (let t = 0; t <= 1000; t += 20) assert.equal(pipeline.encoder(undefined, t * 2, 1_700_000_000_000 + t), true);
  assert.equal(pipeline.encoder('nope', 1, 1), false);
  await run(0, 12);
  assert.equal(sink.verdicts[0].encoderAtCapture, 9 * 40 * 2);
  assert.equal(sink.verdicts[0].encoderAtDecision, (9 * 40 + 5) * 2);
});
