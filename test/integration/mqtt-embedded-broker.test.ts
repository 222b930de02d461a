import assert from 'node:assert/strict';
import net from 'node:net';
import { test } from 'node:test';
import mqtt from 'mqtt';
import { EmbeddedBroker, PORT_TRIES } from '../../src/sink/embedded-broker.js';
import { silentLogger } from '../../src/ops/log.js';
import { rejectPayload } from '../helpers/messages.js';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

test('embedded broker: a real mqtt.js client publishes and receives through it (QoS 1, retained)', { timeout: 15_000 }, async (t) => {
  const broker = new EmbeddedBroker({ host: '127.0.0.1', port: 0, logger: silentLogger() });
  await broker.start();
  t.after(() => broker.stop());
  assert.match(broker.url, /^mqtt:\/\/127\.0\.0\.1:\d+$/);
  assert.ok(broker.port > 0);

  const pub = await mqtt.connectAsync(broker.url, { reconnectPeriod: 0 });
  t.after(() => pub.endAsync(true));
  await pub.publishAsync('inspectd/dev/status', 'online', { qos: 1, retain: true });

  const sub = await mqtt.connectAsync(broker.url, { reconnectPeriod: 0 });
  t.after(() => sub.endAsync(true));
  const got: Array<[string, string, boolean]> = [];
  sub.on('message', (topic, payload, packet) => got.push([topic, payload.toString(), packet.retain]));
  await sub.subscribeAsync('inspectd/#', { qos: 1 });
  await pub.publishAsync('inspectd/dev/cam1/reject', '{"key":"k1"}', { qos: 1 });
  for (let i = 0; i < 100 && got.length < 2; i++) await sleep(20);
  assert.deepEqual(got, [
    ['inspectd/dev/status', 'online', true],
    ['inspectd/dev/cam1/reject', '{"key":"k1"}', false],
  ]);
});

/** Whether something listens on 127.0.0.1:port (then a broker cannot take it). */
async function inUse(port: number): Promise<boolean> {
  const probe = net.createServer();
  return new Promise((resolve) => {
    probe.once('error', () => resolve(true));
    probe.listen(port, '127.0.0.1', () => probe.close(() => resolve(false)));
  });
}

async function block(port: number): Promise<net.Server | null> {
  const s = net.createServer();
  return new Promise((resolve) => {
    s.once('error', () => resolve(null));
    s.listen(port, '127.0.0.1', () => resolve(s));
  });
}

test('embedded broker: a taken port falls back to the next free one (port+1 …); stop closes clients and is idempotent', { timeout: 15_000 }, async (t) => {
  const blocker = net.createServer();
  await new Promise<void>((r) => blocker.listen(0, '127.0.0.1', () => r()));
  t.after(() => new Promise<void>((r) => blocker.close(() => r())));
  const taken = (blocker.address() as net.AddressInfo).port;

  const broker = new EmbeddedBroker({ host: '127.0.0.1', port: taken, logger: silentLogger() });
  await broker.start();
  t.after(() => broker.stop());
  assert.ok(broker.port > taken && broker.port < taken + PORT_TRIES, `next ports tried: got ${broker.port} for ${taken}`);
  for (let p = taken + 1; p < broker.port; p++) assert.equal(await inUse(p), true, `${p} skipped only because it was in use`);
  const client = await mqtt.connectAsync(broker.url, { reconnectPeriod: 0 });
  const closed = new Promise<void>((r) => client.once('close', () => r()));
  await broker.stop();
  await broker.stop();
  await closed;
  client.end(true);
  await assert.rejects(broker.start(), { code: 'INSPECTD_ERR_LIFECYCLE' });
});

test('embedded broker: when the port and the next ones are all taken the start fails, naming the range', { timeout: 15_000 }, async (t) => {
  let servers: net.Server[] = [];
  let base = 0;
  for (let attempt = 0; attempt < 20 && servers.length < PORT_TRIES; attempt++) {
    for (const s of servers) s.close();
    servers = [];
    const probe = await block(0);
    base = (probe!.address() as net.AddressInfo).port;
    probe!.close();
    if (base + PORT_TRIES - 1 > 65535) continue;
    for (let p = base; p < base + PORT_TRIES; p++) {
      const s = await block(p);
      if (!s) break;
      servers.push(s);
    }
  }
  t.after(() => {
    for (const s of servers) s.close();
  });
  assert.equal(servers.length, PORT_TRIES, 'found a run of free ports to block');
  const broker = new EmbeddedBroker({ host: '127.0.0.1', port: base, logger: silentLogger() });
  t.after(() => broker.stop());
  await assert.rejects(broker.start(), (err: Error & { code?: string }) => {
    assert.equal(err.code, 'INSPECTD_ERR_MQTT');
    assert.ok(err.message.includes(`127.0.0.1:${base}-${base + PORT_TRIES - 1} (all in use)`), err.message);
    return true;
  });
});

test('embedded broker: MqttSink runs against it (online, reject delivered, offline on stop)', { timeout: 15_000 }, async (t) => {
  const { mkdtempSync, rmSync } = await import('node:fs');
  const os = await import('node:os');
  const path = await import('node:path');
  const { Outbox } = await import('../../src/sink/outbox.js');
  const { MqttSink } = await import('../../src/sink/mqtt-sink.js');
  const dir = mkdtempSync(path.join(os.tmpdir(), 'inspectd-emb-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const broker = new EmbeddedBroker({ host: '127.0.0.1', port: 0, logger: silentLogger() });
  await broker.start();
  t.after(() => broker.stop());
  const sub = await mqtt.connectAsync(broker.url, { reconnectPeriod: 0 });
  t.after(() => sub.endAsync(true));
  const got: Array<[string, string]> = [];
  sub.on('message', (topic, payload) => got.push([topic, payload.toString()]));
  await sub.subscribeAsync('inspectd/#', { qos: 1 });

  const outbox = new Outbox({ config: { dir, maxBytes: 1_000_000, maxAgeMs: 60_000, rejectTtlMs: 60_000 }, logger: silentLogger() });
  await outbox.start();
  const sink = new MqttSink({
    mqtt: {
      url: broker.url,
      baseTopic: 'inspectd',
      detectionsQos: 0,
      protocolVersion: 4,
      publishDetections: true,
      keepaliveSec: 5,
      reconnectMs: 500,
      reconnectMaxMs: 30_000,
      embedded: { host: '127.0.0.1', port: 0 },
    },
    outbox,
    deviceId: 'edge1',
    logger: silentLogger(),
    version: 't',
  });
  await sink.start(new AbortController().signal);
  await sink.publishReject(rejectPayload({ device: 'edge1', key: 'edge1:cam1:1', captureWall: Date.now() }));
  for (let i = 0; i < 100 && !got.some(([tp]) => tp === 'inspectd/edge1/cam1/reject'); i++) await sleep(20);
  await sink.stop();
  await outbox.stop();
  for (let i = 0; i < 100 && !got.some(([tp, p]) => tp === 'inspectd/edge1/status' && p === 'offline'); i++) await sleep(20);
  const statuses = got.filter(([tp]) => tp === 'inspectd/edge1/status').map(([, p]) => p);
  assert.deepEqual(statuses, ['online', 'offline']);
  const reject = JSON.parse(got.find(([tp]) => tp === 'inspectd/edge1/cam1/reject')![1]) as { key: string; expired: boolean };
  assert.equal(reject.key, 'edge1:cam1:1');
  assert.equal(reject.expired, false);
});
