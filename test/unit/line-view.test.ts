/** LineView: no frames taken without a viewer, one encode for many viewers, a bounded rate, the strip. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import sharp from 'sharp';
import { embeddedDefaults } from '../../src/config/defaults.js';
import type { Frame } from '../../src/contracts/frame.js';
import type { ViewEvent } from '../../src/contracts/line-view.js';
import type { DetectionsPayload, RejectPayload } from '../../src/contracts/messages.js';
import { NOOP_NOTIFIER } from '../../src/contracts/ops.js';
import type { DaemonEvents } from '../../src/app/events.js';
import { LineView } from '../../src/app/line-view.js';
import { ModelSupply } from '../../src/app/model-supply.js';
import { StatusReporter } from '../../src/app/status.js';
import { silentLogger } from '../../src/ops/log.js';
import { EventBus } from '../../src/util/event-bus.js';
import { packageRoot } from '../../src/util/package.js';

function setup(fps: number) {
  const logger = silentLogger();
  const bus = new EventBus<DaemonEvents>();
  const loaded = embeddedDefaults(packageRoot());
  const model = new ModelSupply({ load: () => Promise.reject(new Error('not in this test')), logger, bus, notifier: () => NOOP_NOTIFIER, model: () => loaded.config.model });
  const status = new StatusReporter(
    {
      config: () => loaded.config,
      configHash: () => loaded.hash,
      configSource: () => loaded.source,
      lastConfigError: () => null,
      ready: () => true,
      model,
      pipeline: () => null,
      cameras: () => null,
      sink: () => null,
      outboxDepth: () => 3,
      outbox: () => null,
      httpError: () => null,
      snapshotError: () => null,
      commands: () => null,
      notifier: () => NOOP_NOTIFIER,
    },
    { bus, logger, version: '0.0.0', intervalMs: 60_000, isTTY: false },
  );
  const view = new LineView({ bus, status, logger, fps, stateIntervalMs: 60_000 });
  view.start();
  return { bus, view };
}

function frame(seq: number): { payload: DetectionsPayload; frame: Frame } {
  const data = Buffer.alloc(64 * 48 * 3, 90);
  return {
    frame: { cameraId: 'line1', seq, captureMono: 0, captureWall: Date.now(), width: 64, height: 48, format: 'bgr24', data },
    payload: {
      frameId: `line1:${seq}`,
      seq,
      camera: 'line1',
      device: 'vm',
      captureTime: new Date().toISOString(),
      width: 64,
      height: 48,
      latency: { preprocessMs: 1, inferenceMs: 1, postprocessMs: 1, queueMs: 0, totalMs: 3 },
      deadlineMs: 500,
      deadlineMet: true,
      engine: 'ort-cpu',
      detections: [{ class: 'scratch', classId: 0, confidence: 0.9, box: { x1: 4, y1: 4, x2: 30, y2: 30 } }],
    },
  };
}

test('line view: nobody watching = no frame listener; five viewers get the one JPEG; at most fps per camera; last one out unsubscribes', { timeout: 10_000 }, async () => {
  const { bus, view } = setup(2);
  assert.equal(bus.listenerCount('frame.judged'), 0, 'no viewer: the pipeline is not even asked for frames');
  const got: ViewEvent[][] = [];
  const unwatch = Array.from({ length: 5 }, () => {
    const events: ViewEvent[] = [];
    got.push(events);
    return view.watch((e) => events.push(e));
  });
  assert.equal(bus.listenerCount('frame.judged'), 1, 'one subscription whatever the number of viewers');

  const f = frame(1);
  bus.emit('frame.judged', f);
  f.frame.data.fill(0); // the source reuses its buffer: the view kept a copy
  bus.emit('frame.judged', frame(2)); // within 1/fps of the first: not taken
  const end = Date.now() + 5000;
  while (got.some((g) => !g.some((e) => e.type === 'frame')) && Date.now() < end) await new Promise((r) => setTimeout(r, 10));
  for (const g of got)
    assert.deepEqual(
      g.filter((e) => e.type === 'frame'),
      [{ type: 'frame', camera: 'line1', seq: 1 }],
    );
  assert.equal(view.encoded, 1, 'one encode for five viewers, and the second frame inside 1/fps was not taken');
  const latest = view.latestJpeg('line1')!;
  assert.equal(latest.seq, 1);
  const meta = await sharp(latest.jpeg).metadata();
  assert.equal(meta.format, 'jpeg');
  assert.equal(meta.width, 64);
  const stats = await sharp(latest.jpeg).stats();
  assert.ok(stats.channels[0]!.mean > 40, 'encoded from the copy, not the zeroed buffer');

  for (const u of unwatch.slice(0, 4)) u();
  assert.equal(bus.listenerCount('frame.judged'), 1, 'still watched by one');
  unwatch[4]!();
  assert.equal(bus.listenerCount('frame.judged'), 0, 'nobody watching: unsubscribed');
  assert.equal(bus.listenerCount('frame.published'), 0);
  assert.equal(view.latestJpeg('line1'), null, 'images dropped');
  view.stop();
});

test('line view: rejects fill the strip (newest first, bounded) with or without viewers; a saved snapshot is attached', () => {
  const { bus, view } = setup(4);
  for (let seq = 0; seq < 30; seq++) {
    const f = frame(seq);
    const payload: RejectPayload = {
      key: `vm:line1:seq:${seq}`,
      device: 'vm',
      camera: 'line1',
      seq,
      ...(seq === 29 ? { triggerId: 'P-29' } : {}),
      captureTime: f.payload.captureTime,
      captureWall: f.frame.captureWall,
      decidedAt: f.payload.captureTime,
      reason: 'reject: scratch (0.90)',
      classes: ['scratch'],
      detections: [...f.payload.detections, { class: 'scratch', classId: 0, confidence: 0.95, box: { x1: 1, y1: 1, x2: 2, y2: 2 } }],
      deadlineMs: 500,
      latencyMs: 3,
      deadlineMet: true,
    };
    bus.emit('reject.decided', { payload, frame: f.frame, causes: [] });
  }
  bus.emit('snapshot.saved', { key: 'vm:line1:seq:29', camera: 'line1', file: 'x_line1_000000000029.jpg' });
  const recent = view.recent();
  assert.equal(recent.length, 24);
  assert.deepEqual(recent[0], {
    kind: 'reject',
    key: 'vm:line1:seq:29',
    camera: 'line1',
    seq: 29,
    time: recent[0]!.time,
    decision: 'reject',
    classes: ['scratch'],
    confidence: 0.95,
    reason: 'reject: scratch (0.90)',
    partId: 'P-29',
    snapshot: 'x_line1_000000000029.jpg',
  });
  assert.equal(recent[23]!.seq, 6);
  assert.equal(view.state().outboxDepth, 3);
  view.stop();
});
