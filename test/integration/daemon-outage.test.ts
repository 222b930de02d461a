/**
 * Acceptance (b): the broker goes away for 20 s while rejects keep coming (ffmpeg loops one frame of the
 * synthetic line with a defect, which the demo model rejects), then comes back on the same port. Every
 * reject the pipeline decided arrives exactly once per key, in order, none missing. Real ffmpeg,
 * onnxruntime (the project's demo model, so a fresh clone runs it too), mosquitto.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { Daemon } from '../../src/app/daemon.js';
import { loadConfigFile } from '../../src/config/load.js';
import { silentLogger } from '../../src/ops/log.js';
import { mosquittoSkip, startMosquitto } from '../helpers/mosquitto.js';
import { MqttRecorder, tempDir, writeYaml } from '../helpers/daemon-harness.js';
import { pendingOnDisk } from '../helpers/outbox-disk.js';
import { DEMO_MODEL, hasFfmpeg, loopedRejectCamera, rejectedImage } from '../helpers/reject-line.js';

const skip = mosquittoSkip() || (!hasFfmpeg && 'ffmpeg not installed');
const OUTAGE_MS = 20_000;

test('broker down 20 s: every reject delivered exactly once, in order, none missing', { skip, timeout: 120_000 }, async (t) => {
  const tmp = tempDir('inspectd-outage-');
  t.after(() => tmp.cleanup());
  const broker = await startMosquitto();
  t.after(() => broker.stop());
  const rec = new MqttRecorder();
  await rec.start(broker.url, 'inspectd/outage/+/reject');
  t.after(() => rec.stop());

  const image = await rejectedImage(tmp.dir);
  const cfgFile = path.join(tmp.dir, 'config.yaml');
  writeYaml(cfgFile, {
    device: { id: 'outage' },
    model: { path: DEMO_MODEL, engine: 'cpu', threads: 1 },
    cameras: [loopedRejectCamera('cam1', image)],
    // the recorder reconnects every 200 ms, the daemon every 3 s: the recorder is subscribed before the replay
    mqtt: { url: broker.url, reconnectMs: 3000 },
    outbox: { dir: path.join(tmp.dir, 'outbox') },
    snapshots: { enabled: false, dir: path.join(tmp.dir, 'snaps') },
    http: { enabled: false },
    console: { summary: 'off' },
  });
  const daemon = new Daemon({ loaded: await loadConfigFile(cfgFile), logger: silentLogger(), notifier: undefined });
  t.after(() => daemon.stop().catch(() => undefined));
  await daemon.start();
  const produced = () => daemon.pipelineStats!.counters('cam1')!.rejects;

  await rec.until(() => rec.messages.length >= 3, 60_000, 'first rejects');
  await broker.stop();
  const atOutage = produced();
  await new Promise((r) => setTimeout(r, OUTAGE_MS));
  const duringOutage = produced() - atOutage;
  assert.ok(duringOutage >= 10, `rejects were produced during the outage (${duringOutage})`);
  const received = rec.messages.length;
  await broker.restart();
  const back = Date.now();
  await rec.until(() => rec.messages.length > received, 30_000, 'the first replayed reject');
  const replayStartMs = Date.now() - back;
  await rec.until(
    () => rec.messages.length >= produced() - 1,
    30_000,
    () => `replay: received ${rec.messages.length} of ${produced()}`,
  );
  const replayDoneMs = Date.now() - back;
  await daemon.stop();
  const total = produced();
  // the daemon's stop ends with PUBACKs from the broker, which may still be forwarding the last rejects
  await rec.until(
    () => rec.messages.length >= total,
    10_000,
    () => `the last rejects: received ${rec.messages.length} of ${total}`,
  );
  await new Promise((r) => setTimeout(r, 300)); // a duplicate would arrive now

  const rejects = rec.messages.map((m) => JSON.parse(m.text) as { key: string; seq: number; deadlineMet: boolean; expired?: boolean });
  const keys = rejects.map((r) => r.key);
  assert.equal(new Set(keys).size, keys.length, 'no key twice');
  for (let i = 1; i < rejects.length; i++) assert.ok(rejects[i].seq > rejects[i - 1].seq, `in order at ${i}: ${rejects[i - 1].seq} then ${rejects[i].seq}`);
  assert.equal(rejects.length, total, `every reject decided (${total}) was delivered (${rejects.length})`);
  assert.deepEqual(
    pendingOnDisk(path.join(tmp.dir, 'outbox')).map((e) => e.key),
    [],
    'outbox empty',
  );
  // every frame shows the same defect, so between the first and the last reject no published frame is missing
  const c = daemon.pipelineStats!.counters('cam1')!;
  assert.equal(c.published, c.rejects, 'each published frame produced exactly one reject');
  t.diagnostic(`rejects: ${total}, during the outage: ${duringOutage}, late: ${rejects.filter((r) => !r.deadlineMet).length}, expired: ${rejects.filter((r) => r.expired).length}`);
  t.diagnostic(`broker back to first replayed reject: ${replayStartMs} ms, to the replay complete: ${replayDoneMs} ms`);
});
