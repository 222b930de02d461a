/**
 * The daemon with sparkplug.enabled on a real mosquitto: births carry the daemon's readings, data follows the
 * camera, DCMD pause reaches the pipeline (sparkplug.commands.pause alone enables it), a stop ends with NDEATH;
 * a reload of the sparkplug section replaces the edge node.
 */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { Daemon } from '../../src/app/daemon.js';
import { loadConfigFile } from '../../src/config/load.js';
import { silentLogger } from '../../src/ops/log.js';
import { DEVICE_COMMANDS } from '../../src/sink/sparkplug/edge-node.js';
import { ScriptedDetector, tempDir, writeYaml } from '../helpers/daemon-harness.js';
import { mosquittoSkip, startMosquitto } from '../helpers/mosquitto.js';
import { SpRecorder } from '../helpers/sparkplug.js';

type TestContext = { after(fn: () => unknown): void };

/**
 * A broker, a Sparkplug recorder on it and a daemon on a scripted detector whose config file `write` rewrites
 * (the sparkplug section and the camera's fields given); the daemon is made, not started.
 */
async function sparkplugDaemon(t: TestContext, camera: Record<string, unknown>, sparkplug: Record<string, unknown>) {
  const tmp = tempDir('inspectd-sp-daemon-');
  t.after(() => tmp.cleanup());
  const broker = await startMosquitto();
  t.after(() => broker.stop());
  const rec = new SpRecorder();
  await rec.start(broker.url);
  t.after(() => rec.stop());
  const modelFile = path.join(tmp.dir, 'model.onnx');
  writeFileSync(modelFile, 'not read by the scripted detector');
  const cfgFile = path.join(tmp.dir, 'config.yaml');
  const write = (sp: Record<string, unknown>) =>
    writeYaml(cfgFile, {
      device: { id: 'spbox' },
      model: { path: modelFile },
      cameras: [{ id: 'cam1', source: { type: 'synthetic', width: 64, height: 48 }, ...camera }],
      mqtt: { url: broker.url },
      outbox: { dir: path.join(tmp.dir, 'outbox') },
      snapshots: { enabled: false },
      http: { enabled: false },
      console: { summary: 'off' },
      sparkplug: { minIntervalMs: 200, ...sp },
    });
  write(sparkplug);
  const daemon = new Daemon({
    loaded: await loadConfigFile(cfgFile),
    configPath: cfgFile,
    logger: silentLogger(),
    parts: { loadDetector: async () => new ScriptedDetector(), watchdogIntervalMs: async () => null },
  });
  t.after(() => daemon.stop().catch(() => undefined));
  return { rec, daemon, write };
}

test('daemon as a Sparkplug edge node: NBIRTH/DBIRTH with its readings, DDATA, DCMD pause, NDEATH on stop', { skip: mosquittoSkip(), timeout: 60_000 }, async (t) => {
  const { rec, daemon } = await sparkplugDaemon(
    t,
    { source: { type: 'synthetic', fps: 20, width: 64, height: 48 }, rules: { rejectClasses: ['scratch'] } },
    { enabled: true, groupId: 'line1', commands: { pause: true } },
  );
  await daemon.start();

  await rec.until(() => rec.of('DBIRTH').length >= 1, 10_000, 'DBIRTH of cam1');
  const nb = rec.of('NBIRTH')[0];
  assert.ok(nb, `an NBIRTH (got ${rec.messages.map((m) => m.topic).join(', ')})`);
  assert.equal(nb.topic, 'spBv1.0/line1/NBIRTH/spbox', 'edgeNodeId defaults to device.id');
  assert.equal(nb.metrics.get('bdSeq'), 0);
  assert.equal(nb.metrics.get('Node Info/Engine'), 'scripted');
  assert.equal(nb.metrics.get('Node Info/Model SHA256'), 'f'.repeat(64));
  assert.equal(nb.metrics.get('Node Info/Config Hash'), daemon.statusInfo().configHash);
  const db = rec.of('DBIRTH')[0];
  assert.equal(db.device, 'cam1');
  for (const cls of ['ok', 'scratch', 'dent']) assert.ok(db.metrics.has(`Rejects/By Class/${cls}`), `DBIRTH has Rejects/By Class/${cls}`);
  assert.equal(db.metrics.get(DEVICE_COMMANDS.pause), false);

  await rec.until(() => rec.of('DDATA').some((m) => ((m.metrics.get('Camera/FPS') as number) ?? 0) > 0), 10_000, 'DDATA with a frame rate');
  const p = daemon.pipelineStats!;
  assert.equal(p.isPaused('cam1'), false);
  await rec.command('spBv1.0/line1/DCMD/spbox/cam1', DEVICE_COMMANDS.pause, true);
  await rec.until(() => p.isPaused('cam1'), 5000, 'cam1 paused by DCMD');
  await rec.until(() => rec.of('DDATA').some((m) => m.metrics.get('Camera/State') === 'paused'), 5000, 'DDATA Camera/State paused');

  await daemon.stop();
  await rec.until(() => rec.of('NDEATH').length === 1, 5000, 'NDEATH on stop');
  assert.equal(rec.of('NDEATH')[0].metrics.get('bdSeq'), 0);
  const seqs = rec.messages.filter((m) => m.kind !== 'NDEATH').map((m) => m.seq!);
  for (let i = 1; i < seqs.length; i++) assert.equal(seqs[i], (seqs[i - 1] + 1) % 256, `seq continuity at ${i}`);
});

test('a reload that changes the sparkplug section replaces the edge node: NDEATH, then births with the next bdSeq; off stops it, on starts it', {
  skip: mosquittoSkip(),
  timeout: 60_000,
}, async (t) => {
  const { rec, daemon, write } = await sparkplugDaemon(t, { source: { type: 'synthetic', fps: 10, width: 64, height: 48 } }, { enabled: true, groupId: 'line1' });
  await daemon.start();
  await rec.until(() => rec.of('DBIRTH').length >= 1, 10_000, 'DBIRTH on line1');

  write({ enabled: true, groupId: 'line2' });
  await daemon.reload();
  await rec.until(() => rec.of('DBIRTH').some((m) => m.topic.startsWith('spBv1.0/line2/')), 10_000, 'DBIRTH on line2');
  const deaths = rec.of('NDEATH');
  assert.deepEqual(
    deaths.map((m) => [m.topic, m.metrics.get('bdSeq')]),
    [['spBv1.0/line1/NDEATH/spbox', 0]],
    'the old node said NDEATH with its bdSeq',
  );
  const births = rec.of('NBIRTH');
  assert.deepEqual(
    births.map((m) => [m.topic, m.metrics.get('bdSeq'), m.seq]),
    [
      ['spBv1.0/line1/NBIRTH/spbox', 0, 0],
      ['spBv1.0/line2/NBIRTH/spbox', 1, 0],
    ],
  );

  write({ enabled: false, groupId: 'line2' });
  await daemon.reload();
  await rec.until(() => rec.of('NDEATH').length === 2, 5000, 'NDEATH when disabled');
  const quietFrom = rec.messages.length;
  await new Promise((r) => setTimeout(r, 800));
  assert.equal(rec.messages.length, quietFrom, `nothing after sparkplug.enabled: false (got ${rec.messages.slice(quietFrom).map((m) => m.topic)})`);

  write({ enabled: true, groupId: 'line2' });
  await daemon.reload();
  await rec.until(() => rec.of('NBIRTH').length === 3, 10_000, 'NBIRTH when enabled again');
  assert.equal(rec.of('NBIRTH')[2].metrics.get('bdSeq'), 2);
});
