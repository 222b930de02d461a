/**
 * Sparkplug B conformance of the edge node against a real mosquitto, read back by a subscriber that decodes
 * with sparkplug-payload: births, seq, bdSeq (Will on SIGKILL, reconnect, restart), rebirth, DDEATH, primary host.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { silentLogger } from '../../src/ops/log.js';
import { DEVICE_COMMANDS, IGNORED_COMMANDS, REBIRTH } from '../../src/sink/sparkplug/edge-node.js';
import { tempDir } from '../helpers/daemon-harness.js';
import { REPO_ROOT } from '../helpers/fixtures.js';
import { mosquittoSkip, startMosquitto, type MosquittoHandle } from '../helpers/mosquitto.js';
import { FakeSource, SpRecorder, fakeEdgeNode, sparkplugMqttConfig } from '../helpers/sparkplug.js';

const logger = silentLogger();
const skip = mosquittoSkip();

/** The seq of every message from NBIRTH on must step by one, mod 256 (NDEATH has none). */
function assertSeqContinuity(seqs: number[]): void {
  assert.equal(seqs[0], 0, 'NBIRTH seq is 0');
  for (let i = 1; i < seqs.length; i++) assert.equal(seqs[i], (seqs[i - 1] + 1) % 256, `seq ${seqs[i]} after ${seqs[i - 1]} (message ${i})`);
}

describe('Sparkplug B edge node', { skip }, () => {
  let broker: MosquittoHandle;
  before(async () => {
    broker = await startMosquitto();
  });
  after(async () => {
    await broker?.stop();
  });

  async function setup(over: Parameters<typeof fakeEdgeNode>[4] = {}, cams = ['cam1', 'cam2']) {
    const state = tempDir('inspectd-sp-');
    const rec = new SpRecorder();
    await rec.start(broker.url);
    const source = new FakeSource();
    for (const c of cams) source.camera(c);
    const edge = fakeEdgeNode(broker.url, state.dir, source, logger, over);
    const done = async () => {
      await edge.stop();
      await rec.stop();
      state.cleanup();
    };
    return { state, rec, source, edge, done };
  }

  test('NBIRTH holds bdSeq, Node Control/Rebirth and every node metric; then a DBIRTH per camera', async () => {
    const { rec, edge, done } = await setup();
    try {
      await edge.start();
      await rec.until(() => rec.of('DBIRTH').length === 2, 5000, 'two DBIRTHs');
      const [nb] = rec.of('NBIRTH');
      assert.equal(nb.topic, 'spBv1.0/g1/NBIRTH/box1');
      assert.equal(nb.seq, 0);
      assert.equal(nb.metrics.get('bdSeq'), 0, 'a fresh state dir starts at bdSeq 0');
      assert.equal(nb.types.get('bdSeq'), 'Int64', 'bdSeq is INT64 (tck-id-message-flow-edge-node-birth-publish-nbirth-payload-bdSeq)');
      assert.equal(nb.metrics.get(REBIRTH), false);
      assert.equal(nb.types.get(REBIRTH), 'Boolean');
      for (const name of ['Node Info/Version', 'Outbox/Depth', IGNORED_COMMANDS]) assert.ok(nb.metrics.has(name), `NBIRTH has ${name}`);
      const db = rec.of('DBIRTH');
      assert.deepEqual(db.map((m) => m.device).sort(), ['cam1', 'cam2']);
      assert.deepEqual(
        db.map((m) => m.seq),
        [1, 2],
      );
      for (const m of db) {
        assert.equal(m.metrics.get('Camera/State'), 'ok');
        assert.equal(m.metrics.get('Rejects/Total'), 0);
        assert.equal(m.metrics.get(DEVICE_COMMANDS.resume), false, 'enabled commands are announced in DBIRTH');
        assert.ok(!m.metrics.has(DEVICE_COMMANDS.pause), 'a disabled command is not announced');
      }
    } finally {
      await done();
    }
  });

  test('NDATA/DDATA carry only changed metrics; seq stays continuous over 300+ messages and wraps 255 -> 0', async () => {
    const { rec, source, edge, done } = await setup();
    try {
      await edge.start();
      await rec.until(() => rec.of('DBIRTH').length === 2, 5000, 'births');
      edge.flush();
      await new Promise((r) => setTimeout(r, 100));
      assert.equal(rec.messages.length, 3, 'nothing changed: no data message');
      const rounds = 130;
      for (let i = 1; i <= rounds; i++) {
        source.node['Outbox/Depth'] = { type: 'UInt64', value: i };
        source.cams.get('cam1')!.metrics['Rejects/Total'] = { type: 'UInt64', value: i };
        if (i % 2 === 0) source.cams.get('cam2')!.metrics['Rejects/Total'] = { type: 'UInt64', value: i };
        edge.flush();
      }
      const expected = 3 + rounds * 2 + rounds / 2;
      await rec.until(() => rec.messages.length >= expected, 10_000, `${expected} messages`);
      assert.ok(expected > 300);
      const seqs = rec.messages.map((m) => m.seq!);
      assertSeqContinuity(seqs);
      assert.ok(
        seqs.some((s, i) => s === 255 && seqs[i + 1] === 0),
        'the seq wrapped',
      );
      const ndata = rec.of('NDATA');
      assert.equal(ndata.length, rounds);
      assert.deepEqual([...ndata[0].metrics.keys()], ['Outbox/Depth'], 'only the changed metric');
      assert.equal(ndata.at(-1)!.metrics.get('Outbox/Depth'), rounds);
      const cam2 = rec.of('DDATA').filter((m) => m.device === 'cam2');
      assert.equal(cam2.length, rounds / 2);
    } finally {
      await done();
    }
  });

  test('SIGKILLed edge node: the broker delivers the Will NDEATH with the bdSeq of its NBIRTH; a restart increments bdSeq', async () => {
    const state = tempDir('inspectd-sp-kill-');
    const rec = new SpRecorder();
    await rec.start(broker.url);
    const child = spawn(process.execPath, [path.join(REPO_ROOT, 'dist/test/helpers/sparkplug-child.js'), broker.url, state.dir], { stdio: 'ignore' });
    try {
      await rec.until(() => rec.of('DBIRTH').length === 1, 10_000, 'child births');
      const birthSeq = rec.of('NBIRTH')[0].metrics.get('bdSeq');
      assert.equal(rec.of('NDEATH').length, 0);
      child.kill('SIGKILL');
      // mosquitto sends the Will when it notices the socket closed (immediately on loopback).
      await rec.until(() => rec.of('NDEATH').length === 1, 10_000, 'the Will (NDEATH)');
      const death = rec.of('NDEATH')[0];
      assert.equal(death.topic, 'spBv1.0/g1/NDEATH/box1');
      assert.equal(death.metrics.get('bdSeq'), birthSeq, 'NDEATH bdSeq == NBIRTH bdSeq');
      assert.equal(death.seq, null, 'NDEATH carries no seq');
      assert.equal(death.qos, 1, 'the Will is QoS 1');
      assert.equal(death.retain, false, 'and not retained');
      assert.equal(death.types.get('bdSeq'), 'Int64', "the Will's bdSeq is INT64 (tck-id-message-flow-edge-node-birth-publish-will-message-payload-bdSeq)");

      // Restart on the same state dir: the next bdSeq; a clean stop publishes NDEATH with it.
      const source = new FakeSource();
      const edge = fakeEdgeNode(broker.url, state.dir, source, logger);
      await edge.start();
      await rec.until(() => rec.of('NBIRTH').length === 2, 5000, 'second NBIRTH');
      assert.equal(rec.of('NBIRTH')[1].metrics.get('bdSeq'), (birthSeq as number) + 1);
      await edge.stop();
      await rec.until(() => rec.of('NDEATH').length === 2, 5000, 'NDEATH of the clean stop');
      assert.equal(rec.of('NDEATH')[1].metrics.get('bdSeq'), (birthSeq as number) + 1);
      await new Promise((r) => setTimeout(r, 300));
      assert.equal(rec.of('NDEATH').length, 2, 'the clean disconnect does not also fire the Will');
    } finally {
      child.kill('SIGKILL');
      await rec.stop();
      state.cleanup();
    }
  });

  test('a reconnect (broker restart) takes a new bdSeq, its Will matches, and births start again at seq 0', async () => {
    const { rec, edge, done } = await setup({}, ['cam1']);
    try {
      await edge.start();
      await rec.until(() => rec.of('DBIRTH').length === 1, 5000, 'births');
      assert.equal(rec.of('NBIRTH')[0].metrics.get('bdSeq'), 0);
      await rec.stop();
      await broker.restart();
      await rec.start(broker.url);
      await rec.until(() => rec.of('DBIRTH').length === 2, 10_000, 'births after the broker restart');
      const nb = rec.of('NBIRTH')[1];
      assert.equal(nb.metrics.get('bdSeq'), 1);
      assert.equal(nb.seq, 0);
      assert.equal(edge.stats.bdSeq, 1);
      assert.equal(edge.stats.connects, 2);
    } finally {
      await done();
    }
  });

  test('NCMD Node Control/Rebirth: NBIRTH (seq 0, same bdSeq) and DBIRTHs again; DCMD routed only when enabled', async () => {
    const { rec, source, edge, done } = await setup();
    try {
      await edge.start();
      await rec.until(() => rec.of('DBIRTH').length === 2, 5000, 'births');
      await rec.command('spBv1.0/g1/NCMD/box1', REBIRTH, true);
      await rec.until(() => rec.of('DBIRTH').length === 4, 5000, 'rebirth');
      const nb = rec.of('NBIRTH');
      assert.equal(nb.length, 2);
      assert.equal(nb[1].seq, 0);
      assert.equal(nb[1].metrics.get('bdSeq'), nb[0].metrics.get('bdSeq'));
      assertSeqContinuity(rec.messages.slice(rec.messages.indexOf(nb[1])).map((m) => m.seq!));

      await rec.command('spBv1.0/g1/DCMD/box1/cam2', DEVICE_COMMANDS.resume, true);
      await rec.command('spBv1.0/g1/DCMD/box1/cam1', DEVICE_COMMANDS.pause, true); // disabled: ignored
      await rec.until(() => edge.stats.ignoredCommands === 1 && source.commands.length === 1, 5000, 'commands handled');
      assert.deepEqual(source.commands, [['cam2', 'resume']]);
      edge.flush();
      await rec.until(() => rec.of('NDATA').length === 1, 5000, 'ignored count as NDATA');
      assert.equal(rec.of('NDATA')[0].metrics.get(IGNORED_COMMANDS), 1);
    } finally {
      await done();
    }
  });

  test('every message QoS 0 and not retained (NDEATH QoS 1), a UTC ms payload timestamp and one on every metric; a null metric is is_null without a value; NDEATH holds bdSeq only', async () => {
    const { rec, source, edge, done } = await setup({}, ['cam1']);
    source.cams.get('cam1')!.metrics['Latency/P50 ms'] = { type: 'Double', value: null };
    try {
      const before = Date.now();
      await edge.start();
      await rec.until(() => rec.of('DBIRTH').length === 1, 5000, 'births');
      source.node['Outbox/Depth'] = { type: 'UInt64', value: 3 };
      source.cams.get('cam1')!.metrics['Latency/P50 ms'] = { type: 'Double', value: 12.5 };
      edge.flush();
      source.cams.get('cam1')!.online = false;
      edge.poke();
      await rec.until(() => rec.of('DDEATH').length === 1, 5000, 'NDATA, DDATA, DDEATH');
      await edge.stop();
      await rec.until(() => rec.of('NDEATH').length === 1, 5000, 'NDEATH on stop');
      const after = Date.now();
      assert.deepEqual([...new Set(rec.messages.map((m) => m.kind))].sort(), ['DBIRTH', 'DDATA', 'DDEATH', 'NBIRTH', 'NDATA', 'NDEATH']);
      for (const m of rec.messages) {
        assert.equal(m.retain, false, `${m.kind} not retained`);
        assert.equal(m.qos, m.kind === 'NDEATH' ? 1 : 0, `${m.kind} QoS`);
        assert.ok(m.timestamp !== null && m.timestamp >= before && m.timestamp <= after, `${m.kind} payload timestamp is now, in ms since the epoch (UTC)`);
        for (const [name, ts] of m.metricTimestamps) if (m.kind !== 'NDEATH') assert.ok(ts !== null && ts >= before && ts <= after, `${m.kind} ${name} has a timestamp`);
      }
      const db = rec.of('DBIRTH')[0];
      assert.ok(db.nulls.has('Latency/P50 ms') && db.metrics.get('Latency/P50 ms') == null, 'a metric with no reading: is_null, no value');
      assert.equal(db.types.get('Latency/P50 ms'), 'Double', 'and still its datatype');
      assert.equal(rec.of('DDATA')[0].metrics.get('Latency/P50 ms'), 12.5);
      assert.deepEqual([...rec.of('NDEATH')[0].metrics.keys()], ['bdSeq'], 'NDEATH: the bdSeq metric only');
      assert.deepEqual(rec.of('DDEATH')[0].metrics.size, 0);
    } finally {
      await done();
    }
  });

  test('a metric name the births did not list is never sent as data: NBIRTH and DBIRTHs again with it (births list every metric)', async () => {
    const { rec, source, edge, done } = await setup({}, ['cam1']);
    try {
      await edge.start();
      await rec.until(() => rec.of('DBIRTH').length === 1, 5000, 'births');
      source.cams.get('cam1')!.metrics['Rejects/By Class/dent'] = { type: 'UInt64', value: 1 };
      edge.flush();
      await rec.until(() => rec.of('DBIRTH').length === 2, 5000, 'rebirth with the new metric');
      assert.equal(rec.of('NBIRTH').length, 2);
      assert.equal(rec.of('NBIRTH')[1].seq, 0);
      assert.equal(rec.of('DBIRTH')[1].metrics.get('Rejects/By Class/dent'), 1);
      assert.ok(!rec.of('DDATA').some((m) => m.metrics.has('Rejects/By Class/dent')), 'never as DDATA before its birth');
    } finally {
      await done();
    }
  });

  test('a camera fault is a DDEATH, its recovery a DBIRTH', async () => {
    const { rec, source, edge, done } = await setup();
    try {
      await edge.start();
      await rec.until(() => rec.of('DBIRTH').length === 2, 5000, 'births');
      source.cams.get('cam1')!.online = false;
      edge.poke();
      await rec.until(() => rec.of('DDEATH').length === 1, 5000, 'DDEATH');
      assert.equal(rec.of('DDEATH')[0].topic, 'spBv1.0/g1/DDEATH/box1/cam1');
      source.cams.get('cam1')!.metrics['Rejects/Total'] = { type: 'UInt64', value: 5 };
      edge.flush();
      await new Promise((r) => setTimeout(r, 100));
      assert.equal(rec.of('DDATA').length, 0, 'no data for a dead device');
      source.cams.get('cam1')!.online = true;
      edge.poke();
      await rec.until(() => rec.of('DBIRTH').length === 3, 5000, 'DBIRTH on recovery');
      assert.equal(rec.of('DBIRTH')[2].metrics.get('Rejects/Total'), 5);
      assertSeqContinuity(rec.messages.map((m) => m.seq!));
    } finally {
      await done();
    }
  });

  test('primary host: no birth until STATE online; offline is NDEATH and a new connection (next bdSeq) whose births wait for online', async () => {
    const { rec, edge, done } = await setup({ primaryHostId: 'scada1' }, ['cam1']);
    const state = (online: boolean, timestamp: number) => rec.publish('spBv1.0/STATE/scada1', JSON.stringify({ online, timestamp }), true);
    try {
      await edge.start();
      await rec.until(() => edge.stats.connected, 5000, 'connected');
      await new Promise((r) => setTimeout(r, 300));
      assert.equal(rec.messages.length, 0, 'no birth while the primary host is unknown');
      const t0 = Date.now();
      await state(true, t0);
      await rec.until(() => rec.of('DBIRTH').length === 1, 5000, 'birth once the host is online');
      const firstBdSeq = rec.of('NBIRTH')[0].metrics.get('bdSeq') as number;
      await state(false, t0 - 5); // older than the online STATE: no disconnect (tck-id-operational-behavior-edge-node-termination-host-offline-timestamp)
      await new Promise((r) => setTimeout(r, 300));
      assert.equal(rec.of('NDEATH').length, 0, 'a stale offline STATE is ignored');
      assert.equal(edge.stats.connects, 1);
      // tck-id-message-flow-edge-node-birth-publish-phid-offline: NDEATH at once, disconnect, start over.
      await state(false, t0 + 1);
      await rec.until(() => rec.of('NDEATH').length === 1, 5000, 'NDEATH when the host goes offline');
      assert.equal(rec.of('NDEATH')[0].metrics.get('bdSeq'), firstBdSeq, 'the NDEATH of that session');
      await rec.until(() => edge.stats.connects === 2 && edge.stats.connected, 5000, 'a new connection');
      assert.equal(edge.stats.bdSeq, firstBdSeq + 1, 'with the next bdSeq');
      edge.flush();
      await state(true, t0 - 10); // stale: ignored
      await new Promise((r) => setTimeout(r, 200));
      assert.equal(rec.of('NBIRTH').length, 1, 'no birth while the retained STATE says offline, nor on a stale online');
      await state(true, t0 + 2);
      await rec.until(() => rec.of('DBIRTH').length === 2, 5000, 'births when the host is back');
      assert.equal(rec.of('NBIRTH')[1].seq, 0);
      assert.equal(rec.of('NBIRTH')[1].metrics.get('bdSeq'), firstBdSeq + 1, "the new session's bdSeq");
    } finally {
      await rec.publish('spBv1.0/STATE/scada1', '', true).catch(() => undefined); // clear the retained STATE
      await done();
    }
  });
});

test('sameSecrets: true while the passwordFile holds what the node connected with, false once it is rotated', async (t) => {
  const state = tempDir('inspectd-sp-secret-');
  t.after(() => state.cleanup());
  const pwFile = path.join(state.dir, 'pw');
  writeFileSync(pwFile, 'first-secret\n');
  const url = 'mqtt://127.0.0.1:9'; // nothing listens: only the options matter here
  const mqttCfg = { ...sparkplugMqttConfig(url), username: 'u', passwordFile: pwFile };
  const edge = fakeEdgeNode(url, state.dir, new FakeSource(), silentLogger(), { mqtt: mqttCfg });
  t.after(() => edge.stop());
  await edge.start();
  assert.equal(edge.sameSecrets(mqttCfg), true);
  writeFileSync(pwFile, 'second-secret\n');
  assert.equal(edge.sameSecrets(mqttCfg), false);
});
