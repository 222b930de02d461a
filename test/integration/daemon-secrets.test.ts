/**
 * The broker password from a systemd credential (passwordFile relative to $CREDENTIALS_DIRECTORY) against a
 * mosquitto with a password file: the daemon connects; when the broker stops taking it, the refusal is
 * reported, events stay in the outbox and retries back off (bounded); a reload (config unchanged) reads the
 * rotated file. The
 * passwords never appear in the log, on any topic (status included) or in the metrics.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { Daemon } from '../../src/app/daemon.js';
import { loadConfigFile } from '../../src/config/load.js';
import { mosquittoSkip, startMosquitto } from '../helpers/mosquitto.js';
import { MqttRecorder, ScriptedDetector, sleep, tempDir, writeYaml } from '../helpers/daemon-harness.js';
import { captureLogger } from '../helpers/capture-log.js';

test('passwordFile from $CREDENTIALS_DIRECTORY: connects, a refusal is reported and backs off with events kept, a reload reads the rotated file, never leaked', {
  skip: mosquittoSkip(),
  timeout: 90_000,
}, async (t) => {
  const tmp = tempDir('inspectd-secrets-');
  t.after(() => tmp.cleanup());
  const first = `first-${randomUUID()}`;
  const second = `second-${randomUUID()}`;
  const creds = path.join(tmp.dir, 'credentials');
  mkdirSync(creds, { mode: 0o700 });
  const credFile = path.join(creds, 'mqtt-password');
  writeFileSync(credFile, `${first}\n`, { mode: 0o600 });
  const savedCreds = process.env.CREDENTIALS_DIRECTORY;
  process.env.CREDENTIALS_DIRECTORY = creds;
  t.after(() => {
    if (savedCreds === undefined) delete process.env.CREDENTIALS_DIRECTORY;
    else process.env.CREDENTIALS_DIRECTORY = savedCreds;
  });

  const broker = await startMosquitto({ auth: { username: 'edge', password: first } });
  t.after(() => broker.stop());
  const recorders: MqttRecorder[] = [];
  t.after(async () => {
    for (const r of recorders) await r.stop();
  });
  const record = async (password: string): Promise<MqttRecorder> => {
    const rec = new MqttRecorder();
    await rec.start(`mqtt://edge:${password}@127.0.0.1:${broker.port}`, 'inspectd/sec/#');
    recorders.push(rec);
    return rec;
  };
  let rec = await record(first);

  const modelFile = path.join(tmp.dir, 'model.onnx');
  writeFileSync(modelFile, 'not read by the scripted detector');
  const cfgFile = path.join(tmp.dir, 'config.yaml');
  const cfg = {
    device: { id: 'sec' },
    model: { path: modelFile },
    cameras: [{ id: 'cam1', source: { type: 'synthetic', fps: 10, width: 64, height: 48 }, decision: 'frame', rules: { rejectClasses: ['scratch'] } }],
    mqtt: { url: broker.url, username: 'edge', passwordFile: 'mqtt-password', reconnectMs: 200, reconnectMaxMs: 1000 },
    outbox: { dir: path.join(tmp.dir, 'outbox') },
    snapshots: { enabled: false },
    http: { enabled: false },
    console: { summary: 'off' },
  };
  writeYaml(cfgFile, cfg);
  const log = captureLogger();
  const daemon = new Daemon({
    loaded: await loadConfigFile(cfgFile),
    configPath: cfgFile,
    logger: log.logger,
    parts: { loadDetector: async () => new ScriptedDetector(), watchdogIntervalMs: async () => null },
  });
  t.after(() => daemon.stop().catch(() => undefined));
  await daemon.start();
  await rec.until(() => rec.on('cam1/reject').length >= 2 && rec.on('status/json').length >= 1, 15_000, 'rejects and status with the password from the credential');

  // A reload with nothing changed keeps the connection.
  const firstSink = daemon.mqttSink;
  await daemon.reload();
  assert.equal(daemon.mqttSink, firstSink, 'same secret: the sink is kept');

  // The broker's password changes; the box still has the old one.
  await broker.restart({ auth: { username: 'edge', password: second } });
  const metrics = daemon.metricsRegistry!;
  const refusals = async (): Promise<number> => (await metrics.registry.getSingleMetric('inspectd_mqtt_refused_total')!.get()).values.reduce((n, v) => n + v.value, 0);
  await rec.until(
    () => /refused/.test(String(daemon.statusInfo().mqttError ?? '')),
    10_000,
    () => `refusal reported (${String(daemon.statusInfo().mqttError)})`,
  );
  const before = await refusals();
  await sleep(5000);
  const inWindow = (await refusals()) - before;
  t.diagnostic(`connect attempts refused in 5 s: ${inWindow}`);
  // 200 ms doubling to 1000 ms: about 6 attempts in 5 s; a client that spins would make hundreds.
  assert.ok(inWindow >= 2 && inWindow <= 12, `connect attempts in 5 s while refused: ${inWindow}`);
  assert.match(String(daemon.statusInfo().mqttError), /^mqtt: refused \((bad credentials|not authorised)\)$/);
  assert.match(daemon.health().reason ?? '', /refused/);
  assert.ok(Number(daemon.statusInfo().outboxDepth) > 0, 'rejects wait in the outbox');
  assert.ok(
    log.lines().some((l) => l.level === 50 && /refused the connection; check mqtt\.username\/password/.test(String(l.msg))),
    'the refusal is logged with what to check',
  );

  // Rotated: the credential file gets the new password, the config stays as it is; a reload (SIGHUP) reads it.
  writeFileSync(credFile, `${second}\n`, { mode: 0o600 });
  await daemon.reload();
  assert.notEqual(daemon.mqttSink, firstSink, 'a new secret: a new connection');
  assert.equal(daemon.statusInfo().lastConfigError, null);
  rec = await record(second);
  await rec.until(() => daemon.mqttSink?.connected === true, 10_000, 'connected with the rotated password');
  await rec.until(() => daemon.statusInfo().outboxDepth === 0 && rec.on('cam1/reject').length >= 2, 15_000, 'the outbox drains after the rotation');
  await rec.until(() => rec.on('status/json').length >= 1, 10_000, 'status after the rotation');

  const everything = [
    log.text(),
    ...recorders.flatMap((r) => r.messages.map((m) => `${m.topic} ${m.text}`)),
    JSON.stringify(daemon.statusInfo()),
    JSON.stringify(daemon.health()),
    await metrics.registry.metrics(),
  ].join('\n');
  assert.ok(log.text().length > 1000 && everything.includes('"state"'), 'the haystack holds logs and status');
  for (const secret of [first, second]) assert.ok(!everything.includes(secret), 'a password leaked into the log, a topic or the metrics');
});
