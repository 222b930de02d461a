/**
 * Many boxes (issue 15): the two fleet deployments of deploy/fleet/, run from those files as written (only
 * the @...@ placeholders and listener ports replaced), with two daemons each on the synthetic conveyor:
 * - bridged: each box's own mosquitto (edge-mosquitto.conf) bridged over TLS to the central one
 *   (central-mosquitto.conf + acl); the central broker stopped for 30 s while parts pass;
 * - direct: inspectd straight to the central broker with its client certificate (inspectd-direct.yaml),
 *   the ACL scoping it to inspectd/<device>/#; a 10 s outage.
 * A central subscriber (persistent session, QoS 1) must get every verdict of both devices, exactly once
 * after deduplicating by key; duplicates are counted and printed.
 */
import { type TestContext, test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, copyFileSync, mkdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import mqtt, { type MqttClient } from 'mqtt';
import { parse } from 'yaml';
import { Daemon } from '../../src/app/daemon.js';
import { DEMO_MODEL_RELPATH, DEMO_PART_CLASS, DEMO_REJECT_CLASSES } from '../../src/config/defaults.js';
import { loadConfigFile } from '../../src/config/load.js';
import { silentLogger } from '../../src/ops/log.js';
import { packageVersion } from '../../src/util/package.js';
import { makeClientCert, makePki, opensslSkip } from '../helpers/certs.js';
import { MqttRecorder, sleep, tempDir, writeYaml } from '../helpers/daemon-harness.js';
import { repoPath } from '../helpers/fixtures.js';
import { mosquittoSkip, startMosquitto, type MosquittoHandle } from '../helpers/mosquitto.js';

const skip = mosquittoSkip() || opensslSkip();
const DEVICES = ['box-a', 'box-b'] as const;
const DASHBOARD = 'fleet-dashboard';

/** A deploy/fleet file with its placeholders filled and its listener on `port` (loopback). */
function fromTemplate(name: string, vars: Record<string, string>, port?: number): string {
  let text = readFileSync(repoPath(path.join('deploy', 'fleet', name)), 'utf8');
  for (const [k, v] of Object.entries(vars)) text = text.replaceAll(`@${k}@`, v);
  if (port !== undefined) text = text.replace(/^listener \d+.*$/m, `listener ${port} 127.0.0.1`);
  assert.doesNotMatch(text, /@[A-Z]+@/, `${name}: every placeholder filled`);
  return text;
}

interface Fleet {
  dir: string;
  ca: string;
  central: string;
  /** Per box a folder as the templates expect it: ca.crt, device.crt, device.key. */
  box: Record<string, string>;
  dashboard: { cert: string; key: string };
}

let fleet: Fleet | undefined;
let pkiDir: { dir: string; cleanup: () => void } | undefined;
test.after(() => pkiDir?.cleanup());
/** One CA for the whole file (RSA key generation is slow on a shared machine). */
function pki(): Fleet {
  if (fleet) return fleet;
  pkiDir = tempDir('inspectd-fleet-pki-');
  const dir = pkiDir.dir;
  chmodSync(dir, 0o755);
  const p = makePki(dir, 'fleet');
  const central = path.join(dir, 'central');
  mkdirSync(central, { mode: 0o755 });
  copyFileSync(p.ca, path.join(central, 'ca.crt'));
  copyFileSync(p.server.cert, path.join(central, 'server.crt'));
  copyFileSync(p.server.key, path.join(central, 'server.key'));
  const box: Record<string, string> = {};
  for (const d of DEVICES) {
    const c = makeClientCert(dir, 'fleet', d);
    box[d] = path.join(dir, d);
    mkdirSync(box[d], { mode: 0o755 });
    copyFileSync(p.ca, path.join(box[d], 'ca.crt'));
    copyFileSync(c.cert, path.join(box[d], 'device.crt'));
    copyFileSync(c.key, path.join(box[d], 'device.key'));
  }
  for (const f of [central, ...Object.values(box)].flatMap((d) => ['ca.crt', 'device.crt', 'device.key', 'server.crt', 'server.key'].map((n) => path.join(d, n)))) {
    try {
      chmodSync(f, 0o644); // mosquitto drops to its own user before reading them
    } catch {
      // not in this folder
    }
  }
  fleet = { dir, ca: p.ca, central, box, dashboard: makeClientCert(dir, 'fleet', DASHBOARD) };
  return fleet;
}

/** A folder mosquitto (running as its own user) can write its persistence file to. */
function dataDir(parent: string, name: string): string {
  const d = path.join(parent, name);
  mkdirSync(d, { recursive: true });
  chmodSync(d, 0o777);
  return d + path.sep;
}

async function startCentral(tmp: string, f: Fleet): Promise<MosquittoHandle & { tlsUrl: string }> {
  const data = dataDir(tmp, 'central-data');
  const broker = await startMosquitto({ config: (port) => fromTemplate('central-mosquitto.conf', { CERTS: f.central, DATA: data, ACL: repoPath('deploy/fleet/acl') }, port) });
  return Object.assign(broker, { tlsUrl: `mqtts://127.0.0.1:${broker.port}` });
}

/** The fleet dashboard: persistent session (clean false, fixed client id), QoS 1 on everything. */
class CentralSubscriber {
  readonly messages: { topic: string; text: string; retain: boolean }[] = [];
  private client: MqttClient | null = null;

  async start(url: string, f: Fleet, clientId: string): Promise<void> {
    const client = mqtt.connect(url, {
      clientId,
      clean: false,
      reconnectPeriod: 250,
      connectTimeout: 3000,
      ca: readFileSync(f.ca),
      cert: readFileSync(f.dashboard.cert),
      key: readFileSync(f.dashboard.key),
    });
    this.client = client;
    client.on('message', (topic, payload, packet) => this.messages.push({ topic, text: payload.toString(), retain: packet.retain }));
    await new Promise<void>((resolve, reject) => {
      client.once('connect', () => client.subscribe('inspectd/#', { qos: 1 }, (err) => (err ? reject(err) : resolve())));
      client.once('error', reject);
    });
  }

  /** Verdict (and reject) keys of a device, in arrival order, duplicates included. */
  keys(device: string): string[] {
    return this.messages.filter((m) => m.topic.startsWith(`inspectd/${device}/`) && /\/(verdict|reject)$/.test(m.topic)).map((m) => String(JSON.parse(m.text).key));
  }

  publish(topic: string, text: string): Promise<void> {
    return new Promise((resolve, reject) => this.client!.publish(topic, text, { qos: 1 }, (err) => (err ? reject(err) : resolve())));
  }

  lastJson(topic: string): Record<string, unknown> | undefined {
    const m = this.messages.filter((x) => x.topic === topic).at(-1);
    return m ? (JSON.parse(m.text) as Record<string, unknown>) : undefined;
  }

  async stop(): Promise<void> {
    await this.client?.endAsync(true).catch(() => undefined);
  }
}

async function until(pred: () => boolean, ms: number, what: () => string): Promise<void> {
  for (const end = Date.now() + ms; !pred(); await sleep(50)) if (Date.now() > end) throw new Error(`timed out after ${ms} ms waiting for ${what()}`);
}

/** A daemon of device `d` on the synthetic conveyor (about 1.5 plates a second), its mqtt section from a deploy/fleet template. */
async function startDaemon(tmp: string, d: string, template: string, vars: Record<string, string>, seed: number, mqttUrl?: string): Promise<Daemon> {
  const tpl = parse(fromTemplate(template, { DEVICE: d, ...vars })) as Record<string, any>;
  const cfgFile = path.join(tmp, `${d}.yaml`);
  writeYaml(cfgFile, {
    ...tpl,
    mqtt: { ...tpl.mqtt, ...(mqttUrl ? { url: mqttUrl } : {}) },
    model: { path: repoPath(DEMO_MODEL_RELPATH), engine: 'cpu', threads: 1 },
    cameras: [
      {
        id: 'belt',
        source: { type: 'synthetic', scene: 'conveyor', lossless: true, fps: 10, seed, width: 320, height: 240, beltPxPerFrame: 32, defectRate: 0.3 },
        deadlineMs: 10_000,
        rules: { rejectClasses: [...DEMO_REJECT_CLASSES] },
        parts: { partClass: DEMO_PART_CLASS, belt: { direction: 'left-to-right' } },
      },
    ],
    outbox: { ...tpl.outbox, dir: path.join(tmp, `${d}-outbox`) },
    snapshots: { enabled: false, dir: path.join(tmp, `${d}-snaps`) },
    http: { enabled: false },
    console: { summary: 'off' },
  });
  const daemon = new Daemon({ loaded: await loadConfigFile(cfgFile), logger: silentLogger() });
  await daemon.start();
  return daemon;
}

const decided = (daemon: Daemon): number => {
  const p = daemon.pipelineStats?.counters('belt')?.parts;
  return p ? p.reject + p.pass : 0;
};

/** What both tests stand on: a temp folder, the PKI, the central broker and the dashboard's subscriber, all undone after the test. */
async function startFleet(t: TestContext, name: string, subscriberId: string) {
  const tmp = tempDir(`inspectd-fleet-${name}-`);
  chmodSync(tmp.dir, 0o755);
  t.after(() => tmp.cleanup());
  const f = pki();
  const central = await startCentral(tmp.dir, f);
  t.after(() => central.stop());
  const sub = new CentralSubscriber();
  await sub.start(central.tlsUrl, f, subscriberId);
  t.after(() => sub.stop());
  return { tmp, f, central, sub };
}

/** Every produced key at the central broker once (after dedupe) and nothing else; returns the duplicates suppressed. */
function compare(device: string, produced: string[], delivered: string[]): number {
  const unique = new Set(delivered);
  assert.equal(new Set(produced).size, produced.length, `${device}: produced keys are unique`);
  assert.deepEqual([...unique].sort(), [...produced].sort(), `${device}: the central subscriber has exactly the keys produced`);
  return delivered.length - unique.size;
}

test('bridged edge brokers: central broker down 30 s while parts pass; every verdict of both boxes reaches the central subscriber once by key', {
  skip,
  timeout: 150_000,
}, async (t) => {
  const { tmp, f, central, sub } = await startFleet(t, 'bridge', 'dashboard-bridged');

  const edges: Record<string, { broker: MosquittoHandle; rec: MqttRecorder; daemon: Daemon }> = {};
  await Promise.all(
    DEVICES.map(async (d, i) => {
      const data = dataDir(tmp.dir, `${d}-edge-data`);
      const broker = await startMosquitto({
        config: (port) => fromTemplate('edge-mosquitto.conf', { DEVICE: d, CENTRAL: `127.0.0.1:${central.port}`, CERTS: f.box[d], DATA: data }, port),
      });
      t.after(() => broker.stop());
      const rec = new MqttRecorder();
      await rec.start(broker.url, `inspectd/${d}/#`);
      t.after(() => rec.stop());
      const daemon = await startDaemon(tmp.dir, d, 'inspectd-edge.yaml', {}, 100 + i, broker.url);
      t.after(() => daemon.stop().catch(() => undefined));
      edges[d] = { broker, rec, daemon };
    }),
  );
  const edgeKeys = (d: string): string[] => edges[d].rec.json('/verdict').map((v) => String(v.key));

  await until(
    () => DEVICES.every((d) => sub.keys(d).length >= 2),
    60_000,
    () => `verdicts over the bridges: ${DEVICES.map((d) => `${d} ${sub.keys(d).length}`).join(', ')}`,
  );
  await central.down();
  const atHalt = Object.fromEntries(DEVICES.map((d) => [d, { edge: edgeKeys(d).length, central: sub.keys(d).length }]));
  await sleep(30_000);
  const during: Record<string, number> = {};
  for (const d of DEVICES) {
    during[d] = edgeKeys(d).length - atHalt[d].edge;
    assert.ok(during[d] >= 10, `${d}: verdicts were decided and handed to the edge broker during the outage (${during[d]})`);
    assert.equal(sub.keys(d).length, atHalt[d].central, `${d}: nothing reached the central subscriber while its broker was down`);
    // The edge broker took them (PUBACK): they wait in its bridge queue, not in inspectd's outbox.
    assert.ok(Number(edges[d].daemon.statusInfo().outboxDepth) <= 2, `${d}: the outbox is drained into the edge broker (${edges[d].daemon.statusInfo().outboxDepth})`);
  }
  await central.restart();
  await until(
    () => DEVICES.every((d) => new Set(sub.keys(d)).size > atHalt[d].edge),
    40_000,
    () => `the queued verdicts after the restart: ${DEVICES.map((d) => `${d} ${new Set(sub.keys(d)).size} of ${edgeKeys(d).length}`).join(', ')}`,
  );
  await Promise.all(DEVICES.map((d) => edges[d].daemon.stop()));
  await until(
    () => DEVICES.every((d) => new Set(sub.keys(d)).size >= edgeKeys(d).length),
    30_000,
    () => `every verdict: ${DEVICES.map((d) => `${d} ${new Set(sub.keys(d)).size} of ${edgeKeys(d).length}`).join(', ')}`,
  );
  // A command from the fleet comes in over the bridge (topic ... in 1), once: not echoed back out by the `out` line.
  await sub.publish('inspectd/box-a/cmd/reload', 'fleet-cmd-probe');
  await until(
    () => edges['box-a'].rec.on('/cmd/reload').length >= 1,
    10_000,
    () => 'the command at box-a',
  );
  await sleep(1000); // a resend, or an echo, would arrive now
  assert.equal(edges['box-a'].rec.on('/cmd/reload').length, 1, 'the command reached the box once');
  assert.equal(sub.messages.filter((m) => m.topic === 'inspectd/box-a/cmd/reload').length, 1, 'and came back to the central broker never');
  assert.equal(edges['box-b'].rec.on('/cmd/reload').length, 0, 'and not to the other box');

  for (const d of DEVICES) {
    const produced = edgeKeys(d);
    assert.equal(produced.length, decided(edges[d].daemon), `${d}: the edge broker got every verdict the daemon decided`);
    const delivered = sub.keys(d);
    const dups = compare(d, produced, delivered);
    t.diagnostic(
      `bridged ${d}: produced ${produced.length} (decided ${decided(edges[d].daemon)}), during the 30 s outage ${during[d]}, ` +
        `delivered ${delivered.length}, unique ${new Set(delivered).size}, duplicates suppressed ${dups}`,
    );
    // Status conventions, as the fleet dashboard sees them through the bridge.
    const status = sub.lastJson(`inspectd/${d}/status/json`);
    assert.equal(status?.device, d);
    assert.equal(status?.version, packageVersion());
    assert.match(String(status?.configHash), /^[0-9a-f]{8,}$/);
    assert.equal(typeof status?.host, 'string');
    assert.ok(
      sub.messages.some((m) => m.topic === `inspectd/${d}/bridge` && m.text === '1'),
      `${d}: the bridge notification says the link is up`,
    );
  }
});

test('direct to the central broker over TLS with client certificates: the ACL scopes each box to its prefix; a 10 s outage loses nothing', {
  skip,
  timeout: 120_000,
}, async (t) => {
  const { tmp, f, central, sub } = await startFleet(t, 'direct', 'dashboard-direct');

  const daemons: Record<string, Daemon> = {};
  await Promise.all(
    DEVICES.map(async (d, i) => {
      daemons[d] = await startDaemon(tmp.dir, d, 'inspectd-direct.yaml', { CENTRAL: `127.0.0.1:${central.port}`, CERTS: f.box[d] }, 200 + i);
      t.after(() => daemons[d].stop().catch(() => undefined));
    }),
  );
  await until(
    () => DEVICES.every((d) => sub.keys(d).length >= 2),
    60_000,
    () => `verdicts over TLS: ${DEVICES.map((d) => `${d} ${sub.keys(d).length}`).join(', ')}`,
  );

  // box-a's certificate, MQTT 5 (the broker answers a denied publish with a reason code): its own prefix
  // is delivered, box-b's is refused and never reaches a subscriber.
  const intruder = mqtt.connect(central.tlsUrl, {
    clientId: 'box-a-acl-probe',
    protocolVersion: 5,
    reconnectPeriod: 0,
    ca: readFileSync(f.ca),
    cert: readFileSync(path.join(f.box['box-a'], 'device.crt')),
    key: readFileSync(path.join(f.box['box-a'], 'device.key')),
  });
  t.after(() => intruder.end(true));
  await new Promise<void>((resolve, reject) => {
    intruder.once('connect', () => resolve());
    intruder.once('error', reject);
  });
  const pub = (topic: string): Promise<Error | undefined> =>
    new Promise((resolve) => intruder.publish(topic, JSON.stringify({ key: `probe:${topic}` }), { qos: 1 }, (err) => resolve(err ?? undefined)));
  assert.equal(await pub('inspectd/box-a/acl-probe'), undefined, 'its own prefix is allowed');
  const denied = await pub('inspectd/box-b/belt/verdict');
  await until(
    () => sub.messages.some((m) => m.topic === 'inspectd/box-a/acl-probe'),
    5000,
    () => 'the allowed probe at the dashboard',
  );
  await sleep(300);
  assert.ok(!sub.messages.some((m) => m.text.includes('probe:inspectd/box-b')), 'a publish outside its prefix is not delivered');
  assert.match(String(denied?.message), /Not authorized/i, 'and the broker said so (PUBACK 0x87)');
  intruder.end(true);

  await central.down();
  const atHalt = Object.fromEntries(DEVICES.map((d) => [d, decided(daemons[d])]));
  await sleep(10_000);
  const during: Record<string, number> = {};
  for (const d of DEVICES) {
    during[d] = decided(daemons[d]) - atHalt[d];
    assert.ok(decided(daemons[d]) - atHalt[d] >= 3, `${d}: verdicts decided during the outage (${decided(daemons[d]) - atHalt[d]})`);
    assert.ok(Number(daemons[d].statusInfo().outboxDepth) >= 3, `${d}: they wait in inspectd's outbox (${daemons[d].statusInfo().outboxDepth})`);
  }
  await central.restart();
  // Everything decided until now waits in the outboxes: wait for all of it before stopping (a stop keeps the rest on disk).
  const atRestart = Object.fromEntries(DEVICES.map((d) => [d, decided(daemons[d])]));
  await until(
    () => DEVICES.every((d) => new Set(sub.keys(d)).size >= atRestart[d]),
    30_000,
    () => `the outbox replay: ${DEVICES.map((d) => `${d} ${new Set(sub.keys(d)).size} of ${atRestart[d]}`).join(', ')}`,
  );
  await Promise.all(DEVICES.map((d) => daemons[d].stop()));
  await until(
    () => DEVICES.every((d) => new Set(sub.keys(d)).size >= decided(daemons[d])),
    20_000,
    () => `every verdict: ${DEVICES.map((d) => `${d} ${new Set(sub.keys(d)).size} of ${decided(daemons[d])}`).join(', ')}`,
  );
  await sleep(1000);
  for (const d of DEVICES) {
    const delivered = sub.keys(d);
    const unique = new Set(delivered);
    assert.equal(unique.size, decided(daemons[d]), `${d}: one verdict per decided part, by key (metrics: ${decided(daemons[d])})`);
    assert.ok(
      [...unique].every((k) => k.startsWith(`${d}:belt:part:`)),
      `${d}: keys carry the device id`,
    );
    t.diagnostic(
      `direct ${d}: produced ${decided(daemons[d])}, during the 10 s outage ${during[d]}, delivered ${delivered.length}, duplicates suppressed ${delivered.length - unique.size}`,
    );
  }
});
