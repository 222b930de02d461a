/**
 * Verdicts through a broker outage while parts pass (issue 10 acceptance): the moving line keeps being
 * judged while mosquitto is down; the verdicts wait in the outbox and are delivered once each, in decision
 * order, with the keys they were stored under. A second start on the same state folder gives keys of a new
 * boot: no key repeats across restarts.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { Daemon } from '../../src/app/daemon.js';
import { DEMO_MODEL_RELPATH, DEMO_PART_CLASS, DEMO_REJECT_CLASSES } from '../../src/config/defaults.js';
import { loadConfigFile } from '../../src/config/load.js';
import type { PublishedVerdict } from '../../src/contracts/sink.js';
import { silentLogger } from '../../src/ops/log.js';
import { repoPath } from '../helpers/fixtures.js';
import { mosquittoSkip, startMosquitto } from '../helpers/mosquitto.js';
import { MqttRecorder, sleep, tempDir, writeYaml } from '../helpers/daemon-harness.js';
import { pendingOnDisk } from '../helpers/outbox-disk.js';

const OUTAGE_MS = 6000;

test('broker down while parts pass: every verdict delivered once, in order, with its original key; keys new after a restart', {
  skip: mosquittoSkip(),
  timeout: 120_000,
}, async (t) => {
  const tmp = tempDir('inspectd-parts-outage-');
  t.after(() => tmp.cleanup());
  const broker = await startMosquitto();
  t.after(() => broker.stop());
  const rec = new MqttRecorder();
  await rec.start(broker.url, 'inspectd/outage/belt/verdict');
  t.after(() => rec.stop());
  const outboxDir = path.join(tmp.dir, 'outbox');
  const cfgFile = path.join(tmp.dir, 'config.yaml');
  writeYaml(cfgFile, {
    device: { id: 'outage' },
    model: { path: repoPath(DEMO_MODEL_RELPATH), engine: 'cpu', threads: 1 },
    cameras: [
      {
        id: 'belt',
        // 25 fps, never a frame dropped: about 4 plates a second cross the view.
        source: { type: 'synthetic', scene: 'conveyor', lossless: true, fps: 25, seed: 4711, width: 320, height: 240, beltPxPerFrame: 32, defectRate: 0.3 },
        deadlineMs: 10_000,
        rules: { rejectClasses: [...DEMO_REJECT_CLASSES] },
        parts: { partClass: DEMO_PART_CLASS, belt: { direction: 'left-to-right' } },
      },
    ],
    // the recorder reconnects every 200 ms, the daemon every 2 s: the recorder is subscribed before the replay
    mqtt: { url: broker.url, reconnectMs: 2000, publishDetections: false },
    outbox: { dir: outboxDir },
    snapshots: { enabled: false, dir: path.join(tmp.dir, 'snaps') },
    http: { enabled: false },
    console: { summary: 'off' },
  });
  const daemon = new Daemon({ loaded: await loadConfigFile(cfgFile), logger: silentLogger() });
  t.after(() => daemon.stop().catch(() => undefined));
  await daemon.start();
  const decided = () => {
    const p = daemon.pipelineStats!.counters('belt')!.parts;
    return p.reject + p.pass;
  };

  await rec.until(() => rec.messages.length >= 3, 60_000, 'the first verdicts');
  await broker.stop();
  const atOutage = decided();
  await sleep(OUTAGE_MS);
  const duringOutage = decided() - atOutage;
  assert.ok(duringOutage >= 5, `verdicts were decided during the outage (${duringOutage})`);
  // What waits in the outbox now: each verdict with the key it was stored under.
  const stored = pendingOnDisk(outboxDir)
    .filter((e) => e.kind === 'verdict')
    .map((e) => String(e.key));
  assert.ok(stored.length >= duringOutage - 1, `verdicts wait in the outbox (${stored.length})`);
  const received = rec.messages.length;
  await broker.restart();
  await rec.until(() => rec.messages.length > received, 30_000, 'the first replayed verdict');
  await daemon.stop();
  const total = decided();
  await rec.until(
    () => rec.messages.length >= total,
    15_000,
    () => `every verdict: received ${rec.messages.length} of ${total}`,
  );
  await sleep(300); // a duplicate would arrive now

  const verdicts = rec.json<PublishedVerdict>('/verdict');
  const keys = verdicts.map((v) => v.key);
  assert.equal(new Set(keys).size, keys.length, 'no key twice');
  assert.equal(verdicts.length, total, `every verdict decided (${total}) was delivered (${verdicts.length})`);
  for (const k of stored) assert.ok(keys.includes(k), `stored verdict ${k} delivered under its key`);
  for (let i = 1; i < verdicts.length; i++) {
    assert.ok(verdicts[i].seq >= verdicts[i - 1].seq, `in decision order at ${i}: frame ${verdicts[i - 1].seq} then ${verdicts[i].seq}`);
  }
  const delayed = verdicts.filter((v) => v.deliveryDelayMs > OUTAGE_MS / 2);
  assert.ok(delayed.length >= 1, 'the verdicts of the outage were delivered late, and say so by their delay');
  assert.ok(
    delayed.every((v) => v.late),
    'delivered past rejectTtlMs (2 s): late',
  );
  const boot = new Set(verdicts.map((v) => v.partId.split('-')[0]));
  assert.equal(boot.size, 1);
  t.diagnostic(`verdicts ${total}, during the outage ${duringOutage}, stored while down ${stored.length}, delivered late ${verdicts.filter((v) => v.late).length}`);

  // A restart on the same state: a new boot number, so the part numbers that start again at 1 make new keys.
  const again = new Daemon({ loaded: await loadConfigFile(cfgFile), logger: silentLogger() });
  t.after(() => again.stop().catch(() => undefined));
  const before = rec.messages.length;
  await again.start();
  await rec.until(() => rec.messages.length >= before + 2, 30_000, 'verdicts after the restart');
  await again.stop();
  const after = rec.json<PublishedVerdict>('/verdict').slice(before);
  assert.ok(
    after.every((v) => !keys.includes(v.key)),
    'no key of the first start repeats',
  );
  assert.equal(after[0].partId, `${Number([...boot][0]) + 1}-1`);
});
