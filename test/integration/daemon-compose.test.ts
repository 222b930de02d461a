/**
 * The Daemon wired to real parts (mosquitto, outbox, MQTT sink, synthetic camera, config watcher, http)
 * with a scripted detector, so the composition is tested without onnxruntime; the model path end to end
 * (ffmpeg, onnxruntime, a child process) is in daemon-process, daemon-outage and daemon-sdnotify tests.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import sharp from 'sharp';
import path from 'node:path';
import { Daemon } from '../../src/app/daemon.js';
import type { Notifier } from '../../src/contracts/ops.js';
import { loadConfigFile } from '../../src/config/load.js';
import { silentLogger } from '../../src/ops/log.js';
import { mosquittoSkip, startMosquitto } from '../helpers/mosquitto.js';
import { MqttRecorder, ScriptedDetector, tempDir, writeYaml } from '../helpers/daemon-harness.js';
import { pendingOnDisk } from '../helpers/outbox-disk.js';

class RecordingNotifier implements Notifier {
  readonly enabled = true;
  readonly events: string[] = [];
  ready(status?: string) {
    this.events.push(`READY ${status ?? ''}`);
  }
  watchdog() {
    this.events.push('WATCHDOG');
  }
  status(text: string) {
    this.events.push(`STATUS ${text}`);
  }
  reloading() {
    this.events.push('RELOADING');
  }
  stopping() {
    this.events.push('STOPPING');
  }
}

test('daemon composition: detections, rejects, state, status, commands, hot reload, invalid edit, clean stop', { skip: mosquittoSkip(), timeout: 60_000 }, async (t) => {
  const tmp = tempDir('inspectd-daemon-');
  t.after(() => tmp.cleanup());
  const broker = await startMosquitto();
  t.after(() => broker.stop());
  const rec = new MqttRecorder();
  await rec.start(broker.url, 'inspectd/t1/#');
  t.after(() => rec.stop());

  const modelFile = path.join(tmp.dir, 'model.onnx');
  writeFileSync(modelFile, 'not read by the scripted detector');
  const cfgFile = path.join(tmp.dir, 'config.yaml');
  const base = {
    device: { id: 't1' },
    model: { path: modelFile, engine: 'cpu', threads: 1 },
    cameras: [
      { id: 'cam1', source: { type: 'synthetic', fps: 20, width: 64, height: 48 }, deadlineMs: 2000, rules: { rejectClasses: ['scratch'] }, decision: 'frame' },
      { id: 'cam2', source: { type: 'synthetic', fps: 20, width: 64, height: 48, seed: 2 }, trigger: true, rules: { rejectClasses: ['scratch'] } },
    ],
    mqtt: { url: broker.url },
    outbox: { dir: path.join(tmp.dir, 'outbox') },
    snapshots: { enabled: false, dir: path.join(tmp.dir, 'snaps') },
    http: { enabled: false },
    console: { summary: 'off' },
    commands: { reload: true, pause: true, resume: true, trigger: true },
  };
  writeYaml(cfgFile, base);
  const detector = new ScriptedDetector();
  const notifier = new RecordingNotifier();
  const daemon = new Daemon({
    loaded: await loadConfigFile(cfgFile),
    configPath: cfgFile,
    logger: silentLogger(),
    notifier,
    statusIntervalMs: 300,
    parts: { loadDetector: async () => detector, watchdogIntervalMs: async () => 100 },
  });
  t.after(() => daemon.stop().catch(() => undefined));
  await daemon.start();
  assert.ok(
    notifier.events.some((e) => e.startsWith('READY')),
    'READY=1 after start',
  );

  // (a) detections per the contract
  await rec.until(() => rec.on('cam1/detections').length >= 3, 10_000, 'cam1 detections');
  const d = rec.json<Record<string, any>>('cam1/detections')[0];
  assert.equal(d.camera, 'cam1');
  assert.equal(d.device, 't1');
  assert.equal(d.frameId, `cam1:${d.seq}`);
  assert.equal(d.width, 64);
  assert.equal(d.engine, 'scripted');
  assert.ok(!Number.isNaN(Date.parse(d.captureTime)));
  for (const k of ['preprocessMs', 'inferenceMs', 'postprocessMs', 'queueMs', 'totalMs']) assert.equal(typeof d.latency[k], 'number', k);
  assert.deepEqual(d.detections[0], { class: 'scratch', classId: 1, confidence: 0.8, box: { x1: 4, y1: 4, x2: 20, y2: 20 } });

  // rejects: cam1 every frame, cam2 (trigger mode) none until triggered
  await rec.until(() => rec.on('cam1/reject').length >= 3, 10_000, 'cam1 rejects');
  const r = rec.json<Record<string, any>>('cam1/reject')[0];
  assert.match(r.key, /^t1:cam1:seq:\d+-\d+$/);
  assert.equal(r.deadlineMet, true);
  assert.deepEqual(r.classes, ['scratch']);
  assert.equal(rec.on('cam2/reject').length, 0, 'trigger mode: untagged frames produce no reject');
  assert.ok(rec.on('cam2/detections').length > 0);
  await rec.publish('inspectd/t1/cmd/trigger', JSON.stringify({ camera: 'cam2', partId: 'P-42' }));
  await rec.until(() => rec.on('cam2/reject').length >= 1, 10_000, 'cam2 triggered reject');
  assert.equal(rec.json<Record<string, any>>('cam2/reject')[0].key, 't1:cam2:trigger:P-42');

  // state and status
  await rec.until(() => rec.on('cam1/state').length >= 1, 10_000, 'camera state');
  assert.equal(rec.json<Record<string, any>>('cam1/state').at(-1)!.state, 'ok');
  await rec.until(() => rec.on('status/json').length >= 1, 10_000, 'status json');
  const st = rec.json<Record<string, any>>('status/json').at(-1)!;
  assert.equal(st.engine, 'scripted');
  assert.equal(st.model.sha256, 'f'.repeat(64));
  assert.equal(st.configHash, (await loadConfigFile(cfgFile)).hash);
  assert.match(st.version, /^\d+\.\d+\.\d+/);
  assert.equal(st.lastConfigError, null);
  assert.ok(rec.on('/status').some((m) => m.text === 'online'));

  // pause/resume
  await rec.publish('inspectd/t1/cmd/pause', JSON.stringify({ camera: 'cam1' }));
  await rec.until(() => daemon.pipelineStats!.isPaused('cam1'), 5000, 'pause');
  await rec.publish('inspectd/t1/cmd/resume', '');
  await rec.until(() => !daemon.pipelineStats!.isPaused('cam1'), 5000, 'resume');

  // watchdog pings while frames flow
  await rec.until(() => notifier.events.includes('WATCHDOG'), 5000, 'WATCHDOG=1');

  // (d) invalid edit: kept config, reported on status JSON
  writeFileSync(cfgFile, 'cameras: [\n  {id: cam1, source: {type: bogus}}\n');
  await rec.until(() => rec.json<Record<string, any>>('status/json').some((s) => s.lastConfigError !== null), 10_000, 'lastConfigError on status');
  const bad = rec
    .json<Record<string, any>>('status/json')
    .filter((s) => s.lastConfigError !== null)
    .at(-1)!;
  assert.match(bad.lastConfigError.message, /config\.yaml/);
  const before = rec.on('cam1/detections').length;
  await rec.until(() => rec.on('cam1/detections').length > before + 2, 10_000, 'frames keep flowing after an invalid edit');

  // valid threshold edit applies without restart: scratch needs 0.9 now -> no more cam1 rejects
  const edited = structuredClone(base);
  edited.cameras[0].rules = { rejectClasses: ['scratch'], classConf: { scratch: 0.9 } } as never;
  writeYaml(cfgFile, edited);
  await rec.until(() => rec.json<Record<string, any>>('status/json').some((s) => s.lastConfigError === null && s.configHash !== st.configHash), 10_000, 'new config applied');
  // Judged by seq, not by arrival: rejects go through the outbox (a disk write first), so one decided
  // before the switch can arrive after the status that reports the new config. The scripted detector sees
  // scratch 0.8 on every frame: the old rules keep it (and reject), the new ones filter it (empty list).
  type Det = { seq: number; detections: unknown[] };
  const maxSeqBeforeApply = Math.max(...rec.json<Det>('cam1/detections').map((x) => x.seq));
  const newRuleFrames = () => rec.json<Det>('cam1/detections').filter((x) => x.detections.length === 0);
  await rec.until(() => newRuleFrames().length >= 8, 10_000, 'frames judged by the new rules');
  const firstNew = Math.min(...newRuleFrames().map((x) => x.seq));
  // let any reject stored before the switch be delivered, then take the count and watch further frames
  const settle = rec.on('cam1/detections').length;
  await rec.until(() => rec.on('cam1/detections').length > settle + 3, 10_000, 'frames after the switch settled');
  const rejectsSettled = rec.on('cam1/reject').length;
  const detsSettled = rec.on('cam1/detections').length;
  await rec.until(() => rec.on('cam1/detections').length > detsSettled + 8, 10_000, 'more frames after the edit');
  assert.equal(rec.on('cam1/reject').length, rejectsSettled, 'no reject once the new threshold applies');
  const lateRejects = rec
    .json<{ seq: number }>('cam1/reject')
    .filter((x) => x.seq >= firstNew)
    .map((x) => x.seq);
  assert.deepEqual(lateRejects, [], `no frame judged by the new rules (seq >= ${firstNew}) produced a reject`);
  const oldAfterNew = rec
    .json<Det>('cam1/detections')
    .filter((x) => x.seq > firstNew && x.detections.length > 0)
    .map((x) => x.seq);
  assert.deepEqual(oldAfterNew, [], 'the switch is atomic: no frame after the first new-rule frame used the old rules');
  const oldAfterApply = rec
    .json<Det>('cam1/detections')
    .filter((x) => x.seq > maxSeqBeforeApply && x.detections.length > 0)
    .map((x) => x.seq);
  assert.deepEqual(oldAfterApply, [], 'no frame published after the new config was reported was judged by the old rules');
  assert.deepEqual(rec.json<Record<string, any>>('cam1/detections').at(-1)!.detections, [], 'the 0.9 threshold filters the 0.8 detection');
  assert.ok(notifier.events.includes('RELOADING'));
  const counters = daemon.pipelineStats!.counters('cam1')!;
  assert.equal(counters.dropped.error, 0);

  // (e) clean stop: offline, outbox empty
  await daemon.stop();
  assert.ok(notifier.events.includes('STOPPING'));
  await rec.until(() => rec.on('/status').some((m) => m.text === 'offline'), 5000, 'offline');
  assert.deepEqual(
    pendingOnDisk(path.join(tmp.dir, 'outbox')).map((e) => e.key),
    [],
  );
  assert.equal(detector.disposed, true);
  // keys are unique: no reject twice
  const keys = rec.json<Record<string, any>>('/reject').map((x) => x.key);
  assert.equal(new Set(keys).size, keys.length);
});

test('hot folder: every file is judged once (lossless, never superseded) and moved to done/', { skip: mosquittoSkip(), timeout: 60_000 }, async (t) => {
  const tmp = tempDir('inspectd-folder-');
  t.after(() => tmp.cleanup());
  const broker = await startMosquitto();
  t.after(() => broker.stop());
  const rec = new MqttRecorder();
  await rec.start(broker.url, 'inspectd/f1/#');
  t.after(() => rec.stop());
  const inbox = path.join(tmp.dir, 'inbox');
  mkdirSync(inbox);
  const N = 12;
  for (let i = 0; i < N; i++) {
    const background = { r: 40 + i * 10, g: 90, b: 160 - i * 5 };
    await sharp({ create: { width: 160 + i * 8, height: 120, channels: 3, background } })
      .jpeg()
      .toFile(path.join(inbox, `part-${String(i).padStart(2, '0')}.jpg`));
  }
  const modelFile = path.join(tmp.dir, 'model.onnx');
  writeFileSync(modelFile, 'x');
  const cfgFile = path.join(tmp.dir, 'config.yaml');
  writeYaml(cfgFile, {
    device: { id: 'f1' },
    model: { path: modelFile },
    cameras: [{ id: 'folder', source: { type: 'folder', path: inbox, pollMs: 50, settleMs: 0 }, rules: { rejectClasses: ['scratch'] } }],
    mqtt: { url: broker.url },
    outbox: { dir: path.join(tmp.dir, 'outbox') },
    snapshots: { enabled: false, dir: path.join(tmp.dir, 'snaps') },
    http: { enabled: false },
    console: { summary: 'off' },
  });
  const daemon = new Daemon({
    loaded: await loadConfigFile(cfgFile),
    logger: silentLogger(),
    parts: { loadDetector: async () => new ScriptedDetector(), watchdogIntervalMs: async () => null },
  });
  t.after(() => daemon.stop().catch(() => undefined));
  await daemon.start();
  await rec.until(
    () => rec.on('folder/reject').length >= N,
    30_000,
    () => `rejects: ${rec.on('folder/reject').length} of ${N}`,
  );
  await rec.until(() => readdirSync(path.join(inbox, 'done')).length === N, 10_000, 'files moved to done/');
  assert.equal(daemon.expectingFrames(), false, 'an empty hot folder is idle, not stalled');
  await daemon.stop();
  const c = daemon.pipelineStats!.counters('folder')!;
  assert.equal(c.dropped.superseded, 0);
  assert.equal(c.published, N);
  const keys = rec.json<Record<string, any>>('folder/reject').map((r) => r.key);
  assert.equal(new Set(keys).size, N);
  assert.deepEqual(
    readdirSync(inbox).filter((f) => f.endsWith('.jpg')),
    [],
  );
});
