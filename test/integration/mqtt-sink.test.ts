/** MqttSink against a real mosquitto: status/LWT, rejects, broker outage replay, daemon restart, state, commands. */
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import mqtt, { type MqttClient } from 'mqtt';
import { MqttSink } from '../../src/sink/mqtt-sink.js';
import { Outbox } from '../../src/sink/outbox.js';
import { silentLogger } from '../../src/ops/log.js';
import type { MqttConfig, OutboxConfig } from '../../src/config/types.js';
import type { RejectPayload } from '../../src/contracts/messages.js';
import { freePort, mosquittoSkip, startMosquitto } from '../helpers/mosquitto.js';
import { detectionsPayload, rejectPayload, verdictPayload } from '../helpers/messages.js';
import { pendingOnDisk } from '../helpers/outbox-disk.js';

const skip = mosquittoSkip();
const logger = silentLogger();

interface Msg {
  topic: string;
  text: string;
  retain: boolean;
}

function mqttConfig(url: string, over: Partial<MqttConfig> = {}): MqttConfig {
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

function tmpDir(t: { after(fn: () => void): void }): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'inspectd-sink-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

function outboxConfig(dir: string, over: Partial<OutboxConfig> = {}): OutboxConfig {
  return { dir, maxBytes: 50_000_000, maxAgeMs: 3_600_000, rejectTtlMs: 60_000, ...over };
}

/** A subscriber that records every message; reconnects fast and resubscribes. */
async function subscriber(url: string, topic = 'inspectd/#'): Promise<{ client: MqttClient; msgs: Msg[]; waitFor(pred: (m: Msg[]) => boolean, ms?: number): Promise<void> }> {
  const client = await mqtt.connectAsync(url, { reconnectPeriod: 100, connectTimeout: 2000, clean: true });
  const msgs: Msg[] = [];
  client.on('message', (t, p, packet) => msgs.push({ topic: t, text: p.toString(), retain: packet.retain }));
  await client.subscribeAsync(topic, { qos: 1 });
  const waitFor = async (pred: (m: Msg[]) => boolean, ms = 5000): Promise<void> => {
    const end = Date.now() + ms;
    while (!pred(msgs)) {
      if (Date.now() > end) throw new Error(`timed out; got ${JSON.stringify(msgs.map((m) => [m.topic, m.text]))}`);
      await sleep(20);
    }
  };
  return { client, msgs, waitFor };
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function until(pred: () => boolean, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!pred()) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await sleep(20);
  }
}

async function makeSink(
  t: { after(fn: () => Promise<void> | void): void },
  url: string,
  dir: string,
  over: { mqtt?: Partial<MqttConfig>; outbox?: Partial<OutboxConfig>; connectWaitMs?: number } = {},
) {
  const outbox = new Outbox({ config: outboxConfig(dir, over.outbox), logger });
  await outbox.start();
  const sink = new MqttSink({
    mqtt: mqttConfig(url, over.mqtt),
    outbox,
    deviceId: 'dev1',
    logger,
    version: '0.0.0-test',
    connectWaitMs: over.connectWaitMs ?? 2000,
    flushMs: 1000,
  });
  t.after(async () => {
    await sink.stop();
    await outbox.stop();
  });
  return { sink, outbox };
}

const rejects = (msgs: Msg[]) => msgs.filter((m) => m.topic === 'inspectd/dev1/cam1/reject').map((m) => JSON.parse(m.text) as Record<string, unknown>);

test('status: online retained, JSON status, LWT offline when the connection dies, offline on stop', { skip, timeout: 20_000 }, async (t) => {
  const broker = await startMosquitto();
  t.after(() => broker.stop());
  const { sink } = await makeSink(t, broker.url, tmpDir(t));
  await sink.start(new AbortController().signal);
  assert.equal(sink.connected, true);
  sink.publishStatus({ engine: 'ort-cpu', modelHash: 'abc', cameras: ['cam1'] });

  const sub = await subscriber(broker.url);
  t.after(() => sub.client.endAsync(true));
  await sub.waitFor((m) => m.some((x) => x.topic === 'inspectd/dev1/status' && x.text === 'online' && x.retain));
  await sub.waitFor((m) => m.some((x) => x.topic === 'inspectd/dev1/status/json'));
  const status = JSON.parse(sub.msgs.find((x) => x.topic === 'inspectd/dev1/status/json')!.text) as Record<string, unknown>;
  assert.equal(status.engine, 'ort-cpu');
  assert.equal(status.version, '0.0.0-test');
  assert.equal(status.device, 'dev1');

  // Kill the sink's TCP connection under it: the broker publishes the last will.
  (sink as unknown as { client: MqttClient }).client.stream.destroy();
  await sub.waitFor((m) => m.some((x) => x.topic === 'inspectd/dev1/status' && x.text === 'offline'));
  // ...then the sink reconnects by itself and says online again, with the JSON status re-published.
  await until(() => sink.connectCount >= 2);
  await sub.waitFor((m) => m.filter((x) => x.topic === 'inspectd/dev1/status' && x.text === 'online').length >= 2);
  await sub.waitFor((m) => m.filter((x) => x.topic === 'inspectd/dev1/status/json').length >= 2);

  await sink.stop();
  await sink.stop(); // idempotent
  assert.equal(sink.connected, false);
  // A new subscriber sees the retained offline.
  const late = await subscriber(broker.url, 'inspectd/dev1/status');
  t.after(() => late.client.endAsync(true));
  await late.waitFor((m) => m.some((x) => x.text === 'offline' && x.retain));
});

test('rejects go out QoS 1 in order with delivery fields; detections are live only', { skip, timeout: 20_000 }, async (t) => {
  const broker = await startMosquitto();
  t.after(() => broker.stop());
  const sub = await subscriber(broker.url);
  t.after(() => sub.client.endAsync(true));
  const { sink, outbox } = await makeSink(t, broker.url, tmpDir(t));
  await sink.start(new AbortController().signal);
  const captureWall = Date.now();
  for (let i = 1; i <= 5; i++) {
    await sink.publishReject(rejectPayload({ key: `dev1:cam1:${i}`, seq: i, captureWall, reason: 'defect', deadlineMet: true }));
  }
  sink.publishDetections(detectionsPayload({ seq: 1, detections: [] }));
  await sub.waitFor((m) => rejects(m).length === 5);
  await until(() => outbox.depth === 0);
  const got = rejects(sub.msgs);
  assert.deepEqual(
    got.map((r) => r.key),
    [1, 2, 3, 4, 5].map((i) => `dev1:cam1:${i}`),
  );
  for (const r of got) {
    assert.equal(r.device, 'dev1');
    assert.equal(r.camera, 'cam1');
    assert.equal(r.reason, 'defect');
    assert.equal(r.expired, false);
    assert.equal(typeof r.deliveryDelayMs, 'number');
    assert.ok((r.deliveryDelayMs as number) >= 0);
    assert.ok(!Number.isNaN(Date.parse(r.publishedAt as string)));
  }
  await sub.waitFor((m) => m.some((x) => x.topic === 'inspectd/dev1/cam1/detections'));
  const before = sink.detectionsDropped;
  sink.publishDetections(detectionsPayload({ camera: 'cam/1' })); // invalid id: dropped and counted, never thrown
  assert.equal(sink.detectionsDropped, before + 1);
  await assert.rejects(sink.publishReject(rejectPayload({ camera: 'cam#', key: 'x', captureWall: 0 })), { code: 'INSPECTD_ERR_CONFIG_INVALID' });
});

test('a reject is published field for field as the pipeline made it, less captureWall, plus the delivery fields', { skip, timeout: 20_000 }, async (t) => {
  const broker = await startMosquitto();
  t.after(() => broker.stop());
  const sub = await subscriber(broker.url);
  t.after(() => sub.client.endAsync(true));
  const { sink } = await makeSink(t, broker.url, tmpDir(t));
  await sink.start(new AbortController().signal);
  const captureWall = Date.now();
  // In the pipeline's field order (src/pipeline/pipeline.ts).
  const payload: RejectPayload = {
    key: 'dev1:cam1:trigger:P7',
    device: 'dev1',
    camera: 'cam1',
    seq: 42,
    triggerId: 'P7',
    captureTime: new Date(captureWall).toISOString(),
    captureWall,
    decidedAt: new Date(captureWall + 9).toISOString(),
    reason: 'scratch 0.91',
    classes: ['scratch'],
    detections: [{ class: 'scratch', classId: 3, confidence: 0.91, box: { x1: 10.5, y1: 20, x2: 30, y2: 40.25 } }],
    deadlineMs: 150,
    latencyMs: 9.37,
    deadlineMet: true,
  };
  await sink.publishReject(payload);
  await sub.waitFor((m) => rejects(m).length === 1);
  const text = sub.msgs.find((m) => m.topic === 'inspectd/dev1/cam1/reject')!.text;
  const got = JSON.parse(text) as Record<string, unknown>;
  assert.equal(got.captureWall, undefined, 'captureWall is the outbox clock, not part of the contract');
  assert.equal(got.expired, false);
  assert.ok((got.deliveryDelayMs as number) >= 0 && (got.deliveryDelayMs as number) <= Date.now() - captureWall);
  assert.ok(!Number.isNaN(Date.parse(got.publishedAt as string)));
  // Byte for byte what this version published before, less captureWall: device and camera first.
  const { captureWall: _clock, device, camera, ...rest } = payload;
  assert.equal(text, JSON.stringify({ device, camera, ...rest, publishedAt: got.publishedAt, deliveryDelayMs: got.deliveryDelayMs, expired: false }));
  assert.deepEqual(Object.keys(got), [
    'device',
    'camera',
    'key',
    'seq',
    'triggerId',
    'captureTime',
    'decidedAt',
    'reason',
    'classes',
    'detections',
    'deadlineMs',
    'latencyMs',
    'deadlineMet',
    'publishedAt',
    'deliveryDelayMs',
    'expired',
  ]);
});

test('broker outage: rejects buffered, replayed in order exactly once per key after restart on the same port; old ones expired', { skip, timeout: 30_000 }, async (t) => {
  const broker = await startMosquitto();
  t.after(() => broker.stop());
  const sub = await subscriber(broker.url);
  t.after(() => sub.client.endAsync(true));
  // Sink reconnects slower than the subscriber, so the subscriber is back before replay starts.
  const { sink, outbox } = await makeSink(t, broker.url, tmpDir(t), { mqtt: { reconnectMs: 1500 }, outbox: { rejectTtlMs: 10_000 } });
  await sink.start(new AbortController().signal);
  let n = 0;
  const produce = (captureWall = Date.now()) => sink.publishReject(rejectPayload({ key: `dev1:cam1:${++n}`, seq: n, captureWall, reason: 'defect' }));
  for (let i = 0; i < 3; i++) await produce();
  await sub.waitFor((m) => rejects(m).length === 3);

  await broker.stop();
  await until(() => !sink.connected);
  sink.publishDetections(detectionsPayload({ seq: 99 }));
  assert.ok(sink.detectionsDropped >= 1, 'detections while disconnected are dropped and counted');
  await produce(Date.now() - 20_000); // captured long ago: must arrive, flagged expired
  for (let i = 0; i < 6; i++) {
    await produce();
    await sleep(50);
  }
  assert.equal(outbox.depth, 7, 'all rejects produced during the outage are in the outbox');
  await broker.restart();
  await until(() => sub.client.connected, 5000);
  await sub.waitFor((m) => rejects(m).length >= 10, 10_000);
  await until(() => outbox.depth === 0);
  await sleep(200); // a late duplicate would show up here
  const got = rejects(sub.msgs);
  assert.deepEqual(
    got.map((r) => r.key),
    Array.from({ length: 10 }, (_, i) => `dev1:cam1:${i + 1}`),
    'each key exactly once, in order',
  );
  const old = got[3]!;
  assert.equal(old.expired, true);
  assert.ok((old.deliveryDelayMs as number) >= 20_000);
  for (const r of got.slice(4)) {
    assert.equal(r.expired, false);
    assert.ok((r.deliveryDelayMs as number) >= 500, 'delay covers the outage');
  }
  assert.ok(sink.connectCount >= 2);
});

test('daemon restart: events left in the outbox are delivered by a new sink; acked ones are not re-sent', { skip, timeout: 30_000 }, async (t) => {
  const broker = await startMosquitto();
  t.after(() => broker.stop());
  const dir = tmpDir(t);
  const deadUrl = `mqtt://127.0.0.1:${await freePort()}`;

  // Run 1: broker unreachable; start() still resolves (bounded wait) and events are buffered.
  const o1 = new Outbox({ config: outboxConfig(dir), logger });
  await o1.start();
  const s1 = new MqttSink({ mqtt: mqttConfig(deadUrl), outbox: o1, deviceId: 'dev1', logger, version: 't', connectWaitMs: 300, flushMs: 300 });
  const t0 = Date.now();
  await s1.start(new AbortController().signal);
  assert.ok(Date.now() - t0 < 2000);
  assert.equal(s1.connected, false);
  for (let i = 1; i <= 3; i++) await s1.publishReject(rejectPayload({ key: `k${i}`, seq: i, captureWall: Date.now() }));
  await s1.publishState('cam1', { state: 'fault', reason: 'camera stalled' });
  await s1.publishState('cam1', { state: 'ok' });
  assert.equal(o1.depth, 4, 'older unsent state of the same camera collapsed');
  await s1.stop();
  await assert.rejects(s1.publishReject(rejectPayload({ key: 'late', captureWall: 0 })), { code: 'INSPECTD_ERR_LIFECYCLE' });
  await o1.stop();

  // Run 2: same dir, broker up.
  const sub = await subscriber(broker.url);
  t.after(() => sub.client.endAsync(true));
  const o2 = new Outbox({ config: outboxConfig(dir), logger });
  await o2.start();
  assert.equal(o2.depth, 4);
  const s2 = new MqttSink({ mqtt: mqttConfig(broker.url), outbox: o2, deviceId: 'dev1', logger, version: 't' });
  await s2.start(new AbortController().signal);
  await sub.waitFor((m) => rejects(m).length === 3 && m.some((x) => x.topic === 'inspectd/dev1/cam1/state'));
  await until(() => o2.depth === 0);
  assert.deepEqual(
    rejects(sub.msgs).map((r) => r.key),
    ['k1', 'k2', 'k3'],
  );
  const states = sub.msgs.filter((x) => x.topic === 'inspectd/dev1/cam1/state').map((x) => JSON.parse(x.text) as Record<string, unknown>);
  assert.equal(states.length, 1);
  assert.equal(states[0]!.state, 'ok');
  await s2.stop();
  await o2.stop();

  // Run 3: nothing left to send.
  const o3 = new Outbox({ config: outboxConfig(dir), logger });
  await o3.start();
  assert.equal(o3.depth, 0);
  await o3.stop();
  // The retained state is the latest one.
  const late = await subscriber(broker.url, 'inspectd/dev1/cam1/state');
  t.after(() => late.client.endAsync(true));
  await late.waitFor((m) => m.length === 1 && m[0]!.retain && JSON.parse(m[0]!.text).state === 'ok');
});

test('entries written by the previous version (base64 payload) are delivered once after an upgrade', { skip, timeout: 20_000 }, async (t) => {
  const broker = await startMosquitto();
  t.after(() => broker.stop());
  const dir = tmpDir(t);
  const captureWall = Date.now() - 5_000;
  // What the previous version put in the outbox: {device, camera, ...payload} with captureWall inside, base64 in a v1 entry.
  const oldReject = {
    device: 'dev1',
    camera: 'cam1',
    key: 'dev1:cam1:seq:7',
    seq: 7,
    captureTime: new Date(captureWall).toISOString(),
    captureWall,
    decidedAt: new Date(captureWall + 4).toISOString(),
    reason: 'scratch 0.80',
    classes: ['scratch'],
    detections: [],
    deadlineMs: 200,
    latencyMs: 4,
    deadlineMet: true,
  };
  const oldState = { device: 'dev1', camera: 'cam1', state: 'fault', reason: 'camera stalled', at: new Date(captureWall + 100).toISOString() };
  const v1 = (seq: number, kind: string, body: object, retain: boolean, createdWall: number) =>
    JSON.stringify({ v: 1, seq, topic: `inspectd/dev1/cam1/${kind}`, payload: Buffer.from(JSON.stringify(body)).toString('base64'), retain, kind, createdWall });
  writeFileSync(path.join(dir, '0000000000000003.json'), v1(3, 'reject', oldReject, false, captureWall + 6));
  writeFileSync(path.join(dir, '0000000000000004.json'), v1(4, 'state', oldState, true, captureWall + 100));

  const sub = await subscriber(broker.url);
  t.after(() => sub.client.endAsync(true));
  const { sink, outbox } = await makeSink(t, broker.url, dir, { outbox: { rejectTtlMs: 2_000 } });
  assert.equal(outbox.depth, 2, 'both old entries read');
  await sink.start(new AbortController().signal);
  await sub.waitFor((m) => rejects(m).length === 1 && m.some((x) => x.topic === 'inspectd/dev1/cam1/state'));
  await until(() => outbox.depth === 0);
  await sleep(200); // a duplicate would show up here
  const got = rejects(sub.msgs);
  assert.equal(got.length, 1);
  const { captureWall: _clock, ...fields } = oldReject;
  const r = got[0]!;
  assert.deepEqual(r, { ...fields, publishedAt: r.publishedAt, deliveryDelayMs: r.deliveryDelayMs, expired: true });
  assert.ok((r.deliveryDelayMs as number) >= 5_000, 'the delay counts from the capture clock the old entry carried');
  const states = sub.msgs.filter((x) => x.topic === 'inspectd/dev1/cam1/state');
  assert.deepEqual(
    states.map((x) => x.text),
    [JSON.stringify(oldState)],
  );
  assert.deepEqual(
    readdirSync(dir).filter((n) => n.endsWith('.json')),
    [],
    'delivered old entries are removed',
  );
});

test('commands: valid ones reach the handler, others are ignored', { skip, timeout: 20_000 }, async (t) => {
  const broker = await startMosquitto();
  t.after(() => broker.stop());
  const { sink } = await makeSink(t, broker.url, tmpDir(t));
  const got: Array<[string, string]> = [];
  sink.onCommand((c, p) => {
    got.push([c, p.toString()]);
    if (c === 'pause') throw new Error('handler bug'); // must not take the sink down
  });
  await sink.start(new AbortController().signal);
  const pub = await mqtt.connectAsync(broker.url, { reconnectPeriod: 0 });
  t.after(() => pub.endAsync(true));
  await sleep(100); // subscription in place
  await pub.publishAsync('inspectd/dev1/cmd/format-disk', 'x', { qos: 1 });
  await pub.publishAsync('inspectd/dev1/cmd/pause', '', { qos: 1 });
  await pub.publishAsync('inspectd/dev1/cmd/trigger', '{"camera":"cam1","partId":"P7"}', { qos: 1 });
  await pub.publishAsync('inspectd/other/cmd/reload', '', { qos: 1 });
  await until(() => got.length >= 2);
  await sleep(100);
  assert.deepEqual(got, [
    ['pause', ''],
    ['trigger', '{"camera":"cam1","partId":"P7"}'],
  ]);
  assert.equal(sink.connected, true);
});

test('broker killed while rejects flow continuously: no key lost, first arrivals in order, a resend only repeats a key', { skip, timeout: 30_000 }, async (t) => {
  const broker = await startMosquitto();
  t.after(() => broker.stop());
  const sub = await subscriber(broker.url);
  t.after(() => sub.client.endAsync(true));
  const { sink, outbox } = await makeSink(t, broker.url, tmpDir(t), { mqtt: { reconnectMs: 1000 } });
  await sink.start(new AbortController().signal);
  let n = 0;
  let producing = true;
  const producer = (async () => {
    while (producing) {
      await sink.publishReject(rejectPayload({ key: `k${++n}`, seq: n, captureWall: Date.now() }));
      await sleep(10);
    }
  })();
  await sleep(300);
  await broker.stop(); // mid-stream: a publish may be in flight without its PUBACK
  await sleep(700);
  await broker.restart();
  await until(() => sub.client.connected, 5000);
  await sleep(300);
  producing = false;
  await producer;
  await until(() => outbox.depth === 0, 10_000);
  await sub.waitFor((m) => rejects(m).some((r) => r.key === `k${n}`), 10_000);
  const keys = rejects(sub.msgs).map((r) => r.key as string);
  const first: string[] = [];
  for (const k of keys) if (!first.includes(k)) first.push(k);
  assert.deepEqual(
    first,
    Array.from({ length: n }, (_, i) => `k${i + 1}`),
    'every key arrives, first arrivals in order',
  );
  assert.ok(keys.length - first.length <= 1, `at most the one in-flight message repeats (got ${keys.length - first.length})`);
  assert.ok(n > 40);
});

test('credentials never reach the log; the URL is logged without them', { skip, timeout: 15_000 }, async (t) => {
  const broker = await startMosquitto();
  t.after(() => broker.stop());
  const lines: string[] = [];
  const { pino } = await import('pino');
  const recLogger = pino({ level: 'trace' }, { write: (s: string) => void lines.push(s) }) as unknown as typeof logger;
  const outbox = new Outbox({ config: outboxConfig(tmpDir(t)), logger: recLogger });
  await outbox.start();
  const url = broker.url.replace('mqtt://', 'mqtt://operator:urlsecret123@');
  const sink = new MqttSink({ mqtt: mqttConfig(url, { username: 'operator', password: 'cfgsecret456' }), outbox, deviceId: 'dev1', logger: recLogger, version: 't' });
  await sink.start(new AbortController().signal);
  assert.equal(sink.connected, true);
  await sink.stop();
  await outbox.stop();
  const all = lines.join('\n');
  assert.match(all, new RegExp(`127\\.0\\.0\\.1:${broker.port}`));
  assert.doesNotMatch(all, /urlsecret123|cfgsecret456/);
});

test('stop() while connecting to a broker that never sends CONNACK: start() returns, the socket closes, no timer is left', { timeout: 15_000 }, async (t) => {
  const net = await import('node:net');
  let closed = 0;
  const sockets: import('node:net').Socket[] = [];
  const server = net.createServer((s) => {
    sockets.push(s);
    s.resume();
    s.on('close', () => closed++);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  t.after(() => {
    for (const s of sockets) s.destroy();
    return new Promise<void>((r) => server.close(() => r()));
  });
  const url = `mqtt://127.0.0.1:${(server.address() as import('node:net').AddressInfo).port}`;
  // keepalive 60 s: mqtt.js's own connect timeout (max(2 s, keepalive)) would close the socket only after a minute.
  const { sink } = await makeSink(t, url, tmpDir(t), { mqtt: { keepaliveSec: 60 }, connectWaitMs: 30_000 });
  const started = sink.start(new AbortController().signal);
  await until(() => sockets.length === 1);
  await sink.stop();
  await started; // the wait for the first connect ends with stop(), not after connectWaitMs
  await until(() => closed === 1, 3000);
  assert.equal(sink.connected, false);
});

/** What a subscriber arriving now is told: the retained message of each topic under the device. */
async function retained(t: { after(fn: () => Promise<void> | void): void }, url: string, expect: string[]): Promise<Map<string, string>> {
  const sub = await subscriber(url, 'inspectd/dev1/#');
  t.after(() => sub.client.endAsync(true));
  await sub.waitFor((m) => expect.every((topic) => m.some((x) => x.topic === topic && x.retain)));
  await sleep(200); // anything else retained arrives with them
  return new Map(sub.msgs.filter((m) => m.retain).map((m) => [m.topic, m.text]));
}

test('clean stop: the retained status/json and every camera state say offline, not the last running state', { skip, timeout: 20_000 }, async (t) => {
  const broker = await startMosquitto();
  t.after(() => broker.stop());
  const { sink, outbox } = await makeSink(t, broker.url, tmpDir(t));
  await sink.start(new AbortController().signal);
  sink.publishStatus({ state: 'online', engine: 'ort-cpu' });
  await sink.publishState('cam1', { state: 'ok' });
  await sink.publishState('cam2', { state: 'fault', reason: 'camera stalled' });
  await until(() => outbox.depth === 0);
  await sink.stop();

  const got = await retained(t, broker.url, ['inspectd/dev1/status', 'inspectd/dev1/status/json', 'inspectd/dev1/cam1/state', 'inspectd/dev1/cam2/state']);
  assert.equal(got.get('inspectd/dev1/status'), 'offline');
  const status = JSON.parse(got.get('inspectd/dev1/status/json')!) as Record<string, unknown>;
  assert.equal(status.state, 'offline');
  assert.equal(status.engine, 'ort-cpu', 'the rest of the last status stays');
  for (const cam of ['cam1', 'cam2']) {
    const s = JSON.parse(got.get(`inspectd/dev1/${cam}/state`)!) as Record<string, unknown>;
    assert.equal(s.state, 'offline', `${cam}: ${JSON.stringify(s)}`);
    assert.equal(s.reason, 'inspectd stopped');
    assert.equal(s.camera, cam);
  }
});

test('broker restarted without persistence: every retained topic (camera states too) is published again on reconnect', { skip, timeout: 30_000 }, async (t) => {
  const broker = await startMosquitto();
  t.after(() => broker.stop());
  const { sink, outbox } = await makeSink(t, broker.url, tmpDir(t));
  await sink.start(new AbortController().signal);
  sink.publishStatus({ state: 'online', engine: 'ort-cpu' });
  await sink.publishState('cam1', { state: 'ok' });
  await sink.publishState('cam2', { state: 'fault', reason: 'camera stalled' });
  await until(() => outbox.depth === 0);

  await broker.restart(); // persistence false: the broker forgets every retained message
  await until(() => sink.connectCount >= 2, 10_000);
  const got = await retained(t, broker.url, ['inspectd/dev1/status', 'inspectd/dev1/status/json', 'inspectd/dev1/cam1/state', 'inspectd/dev1/cam2/state']);
  assert.equal(got.get('inspectd/dev1/status'), 'online');
  assert.equal((JSON.parse(got.get('inspectd/dev1/status/json')!) as Record<string, unknown>).state, 'online');
  assert.equal((JSON.parse(got.get('inspectd/dev1/cam1/state')!) as Record<string, unknown>).state, 'ok');
  const cam2 = JSON.parse(got.get('inspectd/dev1/cam2/state')!) as Record<string, unknown>;
  assert.deepEqual([cam2.state, cam2.reason], ['fault', 'camera stalled']);
});

test('verdicts: <camera>/verdict, QoS 1 through the outbox, in order with rejects; late when delivered after ejectAt', { skip, timeout: 20_000 }, async (t) => {
  const broker = await startMosquitto();
  t.after(() => broker.stop());
  const sub = await subscriber(broker.url, 'inspectd/dev1/cam1/+');
  t.after(() => sub.client.endAsync(true));
  const dir = tmpDir(t);
  const { sink } = await makeSink(t, broker.url, dir);
  await sink.start(new AbortController().signal);
  const now = Date.now();
  await sink.publishVerdict(verdictPayload({ key: 'dev1:cam1:part:4-1', captureWall: now, ejectAt: new Date(now + 60_000).toISOString(), ejectInMs: 60_000 }));
  await sink.publishReject(rejectPayload({ key: 'dev1:cam1:seq:9', captureWall: now }));
  // The ejector has already passed: still published, marked late.
  await sink.publishVerdict(verdictPayload({ key: 'dev1:cam1:part:4-2', captureWall: now - 5000, ejectAt: new Date(now - 4000).toISOString(), ejectInMs: -4000 }));
  // No ejector model: late means later than rejectTtlMs (60 s here) after capture.
  await sink.publishVerdict(verdictPayload({ key: 'dev1:cam1:part:4-3', captureWall: now, verdict: 'pass', classes: [] }));
  await sub.waitFor((m) => m.length >= 4);
  assert.deepEqual(
    sub.msgs.map((m) => [m.topic.split('/').at(-1), (JSON.parse(m.text) as { key: string }).key]),
    [
      ['verdict', 'dev1:cam1:part:4-1'],
      ['reject', 'dev1:cam1:seq:9'],
      ['verdict', 'dev1:cam1:part:4-2'],
      ['verdict', 'dev1:cam1:part:4-3'],
    ],
  );
  const verdicts = sub.msgs.filter((m) => m.topic.endsWith('/verdict')).map((m) => JSON.parse(m.text) as Record<string, unknown>);
  assert.deepEqual(
    verdicts.map((v) => v.late),
    [false, true, false],
  );
  for (const v of verdicts) {
    assert.equal(v.captureWall, undefined, 'the outbox clock is not published');
    assert.equal(v.device, 'dev1');
    assert.equal(typeof v.publishedAt, 'string');
    assert.equal(typeof v.deliveryDelayMs, 'number');
    assert.equal(sub.msgs.find((m) => m.text.includes(String(v.key)))?.retain, false);
  }
  assert.equal(verdicts[2].verdict, 'pass');
  // The last PUBACK may still be on its way when the subscriber has the message.
  await until(() => pendingOnDisk(dir).length === 0);
});
