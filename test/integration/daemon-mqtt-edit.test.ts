/**
 * A live mqtt.* edit that cannot work (here a TLS file that cannot be read) is refused before anything is
 * stopped: the running connection stays up, rejects keep flowing, the edit is the last config error.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { Daemon } from '../../src/app/daemon.js';
import { loadConfigFile } from '../../src/config/load.js';
import { silentLogger } from '../../src/ops/log.js';
import { mosquittoSkip, startMosquitto } from '../helpers/mosquitto.js';
import { MqttRecorder, ScriptedDetector, tempDir, writeYaml } from '../helpers/daemon-harness.js';

test('a live mqtt edit that cannot connect is refused and the running connection keeps delivering', { skip: mosquittoSkip(), timeout: 60_000 }, async (t) => {
  const tmp = tempDir('inspectd-mqtt-edit-');
  t.after(() => tmp.cleanup());
  const broker = await startMosquitto();
  t.after(() => broker.stop());
  const rec = new MqttRecorder();
  await rec.start(broker.url, 'inspectd/edit/#');
  t.after(() => rec.stop());
  const modelFile = path.join(tmp.dir, 'model.onnx');
  writeFileSync(modelFile, 'not read by the scripted detector');
  const cfgFile = path.join(tmp.dir, 'config.yaml');
  const cfg = {
    device: { id: 'edit' },
    model: { path: modelFile },
    cameras: [{ id: 'cam1', source: { type: 'synthetic', fps: 20, width: 64, height: 48 }, decision: 'frame', rules: { rejectClasses: ['scratch'] } }],
    mqtt: { url: broker.url },
    outbox: { dir: path.join(tmp.dir, 'outbox') },
    snapshots: { enabled: false },
    http: { enabled: false },
    console: { summary: 'off' },
  };
  writeYaml(cfgFile, cfg);
  const daemon = new Daemon({
    loaded: await loadConfigFile(cfgFile),
    configPath: cfgFile,
    logger: silentLogger(),
    parts: { loadDetector: async () => new ScriptedDetector(), watchdogIntervalMs: async () => null },
  });
  t.after(() => daemon.stop().catch(() => undefined));
  await daemon.start();
  await rec.until(() => rec.on('cam1/reject').length >= 2, 10_000, 'rejects flow');
  const sink = daemon.mqttSink;

  // A TLS "file" that exists but is a folder: passes validation, cannot be read when connecting.
  writeYaml(cfgFile, { ...cfg, mqtt: { url: broker.url, tls: { ca: tmp.dir } } });
  await daemon.reload();
  const err = daemon.statusInfo().lastConfigError as { message: string } | null;
  assert.match(err?.message ?? '', /cannot read an MQTT TLS file/);
  assert.equal(daemon.mqttSink, sink, 'the running sink was not replaced');
  assert.equal(daemon.mqttSink?.connected, true, 'and is still connected');
  const n = rec.on('cam1/reject').length;
  await rec.until(() => rec.on('cam1/reject').length >= n + 2, 10_000, 'rejects keep flowing after the refused edit');

  // Restoring the file is a no-op (same config as running), and a good edit applies.
  writeYaml(cfgFile, { ...cfg, mqtt: { url: broker.url, clientId: 'inspectd-edit-2' } });
  await daemon.reload();
  assert.equal(daemon.statusInfo().lastConfigError, null);
  assert.notEqual(daemon.mqttSink, sink);
  await rec.until(() => daemon.mqttSink?.connected === true, 10_000, 'the new connection is up');
});
