/** MqttSink over TLS (CA file) and with username/password against a real mosquitto. */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { MqttSink } from '../../src/sink/mqtt-sink.js';
import { Outbox } from '../../src/sink/outbox.js';
import { silentLogger } from '../../src/ops/log.js';
import type { MqttConfig } from '../../src/config/types.js';
import { mosquittoSkip, startMosquitto } from '../helpers/mosquitto.js';
import { rejectPayload } from '../helpers/messages.js';

const opensslOk = spawnSync('openssl', ['version']).status === 0;
const skip = mosquittoSkip() || (opensslOk ? false : 'openssl not installed');
const logger = silentLogger();
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

function tmpDir(t: { after(fn: () => void): void }, name: string): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), `inspectd-${name}-`));
  chmodSync(dir, 0o755); // mosquitto may drop privileges before reading the certificates
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

function openssl(dir: string, ...args: string[]): void {
  const r = spawnSync('openssl', args, { cwd: dir, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`openssl ${args.join(' ')}: ${r.stderr}`);
}

/** A throwaway CA and a server certificate for 127.0.0.1. */
function makeCerts(dir: string): { ca: string; cert: string; key: string } {
  openssl(dir, 'req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'ca.key', '-out', 'ca.crt', '-days', '2', '-subj', '/CN=inspectd test CA');
  openssl(dir, 'req', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'server.key', '-out', 'server.csr', '-subj', '/CN=127.0.0.1');
  writeFileSync(path.join(dir, 'ext.cnf'), 'subjectAltName=IP:127.0.0.1\n');
  openssl(dir, 'x509', '-req', '-in', 'server.csr', '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial', '-out', 'server.crt', '-days', '2', '-extfile', 'ext.cnf');
  for (const f of readdirSync(dir)) chmodSync(path.join(dir, f), 0o644);
  return { ca: path.join(dir, 'ca.crt'), cert: path.join(dir, 'server.crt'), key: path.join(dir, 'server.key') };
}

function cfg(url: string, over: Partial<MqttConfig>): MqttConfig {
  return {
    url,
    baseTopic: 'inspectd',
    detectionsQos: 0,
    protocolVersion: 5,
    publishDetections: true,
    keepaliveSec: 5,
    reconnectMs: 300,
    reconnectMaxMs: 30_000,
    embedded: { host: '127.0.0.1', port: 0 },
    ...over,
  };
}

async function sinkFor(t: { after(fn: () => Promise<void>): void }, mqtt: MqttConfig, dir: string) {
  const outbox = new Outbox({ config: { dir, maxBytes: 1e6, maxAgeMs: 60_000, rejectTtlMs: 60_000 }, logger });
  await outbox.start();
  const sink = new MqttSink({ mqtt, outbox, deviceId: 'dev1', logger, version: 't', connectWaitMs: 1500 });
  t.after(async () => {
    await sink.stop();
    await outbox.stop();
  });
  return { sink, outbox };
}

test('TLS: connects with the CA file and delivers a reject; a wrong CA does not connect and keeps the event', { skip, timeout: 30_000 }, async (t) => {
  const certDir = tmpDir(t, 'tls');
  const certs = makeCerts(certDir);
  const broker = await startMosquitto({ tls: certs });
  t.after(() => broker.stop());
  assert.match(broker.url, /^mqtts:/);

  const good = await sinkFor(t, cfg(broker.url, { tls: { ca: certs.ca, rejectUnauthorized: true } }), tmpDir(t, 'ob'));
  await good.sink.start(new AbortController().signal);
  assert.equal(good.sink.connected, true);
  await good.sink.publishReject(rejectPayload({ key: 'tls-1', captureWall: Date.now() }));
  for (let i = 0; i < 100 && good.outbox.depth > 0; i++) await sleep(20);
  assert.equal(good.outbox.depth, 0, 'delivered over TLS (PUBACK received)');

  const otherDir = tmpDir(t, 'tls2');
  const other = makeCerts(otherDir);
  const bad = await sinkFor(t, cfg(broker.url, { tls: { ca: other.ca, rejectUnauthorized: true } }), tmpDir(t, 'ob'));
  await bad.sink.start(new AbortController().signal);
  assert.equal(bad.sink.connected, false);
  await bad.sink.publishReject(rejectPayload({ key: 'tls-2', captureWall: Date.now() }));
  assert.equal(bad.outbox.depth, 1);

  await assert.rejects(
    new MqttSink({
      mqtt: cfg(broker.url, { tls: { ca: path.join(certDir, 'missing.crt'), rejectUnauthorized: true } }),
      outbox: good.outbox,
      deviceId: 'dev1',
      logger,
      version: 't',
    }).start(new AbortController().signal),
    { code: 'INSPECTD_ERR_MQTT', message: /TLS file/ },
  );
});

test('username/password: right credentials connect, wrong ones keep retrying without crashing', { skip, timeout: 30_000 }, async (t) => {
  const broker = await startMosquitto({ auth: { username: 'edge', password: 's3cret' } });
  t.after(() => broker.stop());
  const ok = await sinkFor(t, cfg(broker.url, { username: 'edge', password: 's3cret' }), tmpDir(t, 'ob'));
  await ok.sink.start(new AbortController().signal);
  assert.equal(ok.sink.connected, true);
  const bad = await sinkFor(t, cfg(broker.url, { username: 'edge', password: 'wrong' }), tmpDir(t, 'ob'));
  await bad.sink.start(new AbortController().signal);
  assert.equal(bad.sink.connected, false);
});

test('mosquitto helper: an auth broker comes back after stop() + restart() on the same port', { skip: mosquittoSkip(), timeout: 20_000 }, async (t) => {
  const broker = await startMosquitto({ auth: { username: 'edge', password: 's3cret' } });
  t.after(() => broker.stop());
  const port = broker.port;
  await broker.stop();
  await broker.restart();
  assert.equal(broker.port, port);
  const ok = await sinkFor(t, cfg(broker.url, { username: 'edge', password: 's3cret' }), tmpDir(t, 'ob'));
  await ok.sink.start(new AbortController().signal);
  assert.equal(ok.sink.connected, true);
});

test('refused (wrong password): reported in words and counted, retried with a growing wait, connects once the broker takes the password', {
  skip: mosquittoSkip(),
  timeout: 30_000,
}, async (t) => {
  const broker = await startMosquitto({ auth: { username: 'edge', password: 's3cret' } });
  t.after(() => broker.stop());
  const { Metrics } = await import('../../src/ops/metrics.js');
  const metrics = new Metrics();
  const outbox = new Outbox({ config: { dir: tmpDir(t, 'ob'), maxBytes: 1e6, maxAgeMs: 60_000, rejectTtlMs: 60_000 }, logger });
  await outbox.start();
  const sink = new MqttSink({
    mqtt: cfg(broker.url, { username: 'edge', password: 'new-pass', reconnectMs: 200, reconnectMaxMs: 800 }),
    outbox,
    deviceId: 'dev1',
    logger,
    metrics,
    version: 't',
    connectWaitMs: 1500,
  });
  t.after(async () => {
    await sink.stop();
    await outbox.stop();
  });
  await sink.start(new AbortController().signal);
  assert.equal(sink.connected, false);
  assert.match(sink.connectionError ?? '', /^mqtt: refused \((bad credentials|not authorised)\)$/);
  const refused = async () => (await metrics.registry.getSingleMetric('inspectd_mqtt_refused_total')!.get()).values.reduce((n, v) => n + v.value, 0);
  // Retried, not given up after the first CONNACK: mqtt.js stops after a refusal unless told otherwise.
  for (let i = 0; i < 150 && (await refused()) < 3; i++) await sleep(20);
  assert.ok((await refused()) >= 3, `refusals counted: ${await refused()}`);
  assert.ok(sink.reconnectDelayMs > 200 && sink.reconnectDelayMs <= 800, `the wait grows from reconnectMs to reconnectMaxMs: ${sink.reconnectDelayMs}`);

  // The broker is fixed (the password the box has is now the right one): the sink connects by itself.
  await broker.restart({ auth: { username: 'edge', password: 'new-pass' } });
  for (let i = 0; i < 250 && !sink.connected; i++) await sleep(20);
  assert.equal(sink.connected, true, 'reconnected after the broker took the password');
  assert.equal(sink.connectionError, null);
  assert.equal(sink.reconnectDelayMs, 200, 'the wait is back to reconnectMs once connected');
});
