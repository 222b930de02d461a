/**
 * The onnxruntime worker thread dies mid-run (twice) while a hot folder is judged, with the real demo model and
 * sharp. How it is killed: the message the worker cannot read makes it throw, uncaught, the way a bug in it
 * would (ort.ts: ortWorkerThreads); worker.terminate() is no such fault, it aborts the process when it lands
 * inside a native run, and no input reliably crashes onnxruntime itself. The engine is replaced, and no
 * verdict is lost: every file is judged once and moved to done/, none quarantined for the engine's failure.
 */
import assert from 'node:assert/strict';
import { copyFileSync, mkdirSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { Daemon } from '../../src/app/daemon.js';
import { DEMO_REJECT_CLASSES } from '../../src/config/defaults.js';
import { loadConfigFile } from '../../src/config/load.js';
import { ortWorkerThreads } from '../../src/inference/ort.js';
import { silentLogger } from '../../src/ops/log.js';
import { MqttRecorder, tempDir, writeYaml } from '../helpers/daemon-harness.js';
import { recordFaults } from '../helpers/fault-results.js';
import { mosquittoSkip, startMosquitto } from '../helpers/mosquitto.js';
import { faultDaemonConfig, rejectedImage } from '../helpers/reject-line.js';

const N = 16;

test('the onnxruntime worker killed mid-run, twice: the engine is replaced and every hot-folder file is judged once', { skip: mosquittoSkip(), timeout: 120_000 }, async (t) => {
  const tmp = tempDir('inspectd-engine-fault-');
  t.after(() => tmp.cleanup());
  const broker = await startMosquitto();
  t.after(() => broker.stop());
  const rec = new MqttRecorder();
  await rec.start(broker.url, 'inspectd/eng/#');
  t.after(() => rec.stop());
  const image = await rejectedImage(tmp.dir);
  const inbox = path.join(tmp.dir, 'inbox');
  mkdirSync(inbox);
  for (let i = 0; i < N; i++) copyFileSync(image, path.join(inbox, `part-${String(i).padStart(2, '0')}.png`));
  const cfgFile = path.join(tmp.dir, 'config.yaml');
  const camera = { id: 'folder', source: { type: 'folder', path: inbox, pollMs: 20, settleMs: 0 }, rules: { rejectClasses: [...DEMO_REJECT_CLASSES] }, decision: 'frame' };
  writeYaml(cfgFile, faultDaemonConfig(tmp.dir, 'eng', [camera], { url: broker.url }));
  const daemon = new Daemon({ loaded: await loadConfigFile(cfgFile), logger: silentLogger() });
  t.after(() => daemon.stop().catch(() => undefined));
  await daemon.start();
  const rejects = () => rec.on('folder/reject').length;

  let kills = 0;
  let maxRecoveryMs = 0;
  for (const after of [3, 8]) {
    await rec.until(
      () => rejects() >= after,
      60_000,
      () => `${after} files judged (${rejects()})`,
    );
    const workers = ortWorkerThreads();
    assert.ok(workers.length >= 1, 'an onnxruntime worker runs');
    const judged = rejects();
    for (const w of workers) w.postMessage({ type: 'not-a-request' });
    kills += workers.length;
    const killedAt = Date.now();
    await rec.until(
      () => rejects() > judged + 1,
      60_000,
      () => `judging again after the kill (${rejects()})`,
    );
    maxRecoveryMs = Math.max(maxRecoveryMs, Date.now() - killedAt);
  }
  await rec.until(
    () => rejects() >= N,
    60_000,
    () => `all ${N} files judged (${rejects()})`,
  );
  const done = path.join(inbox, 'done');
  await rec.until(() => readdirSync(done).length === N, 10_000, 'all files in done/');
  await daemon.stop();
  const keys = new Set(rec.json<{ key: string }>('folder/reject').map((r) => r.key));
  const quarantined = readdirSync(inbox).includes('quarantine') ? readdirSync(path.join(inbox, 'quarantine')) : [];
  recordFaults({ test: 'onnxruntime worker killed mid-run', faults: { 'ort worker thread killed': kills }, crashes: 0, produced: N, delivered: keys.size, maxRecoveryMs });
  t.diagnostic(`${kills} worker kills; judging resumed within ${maxRecoveryMs} ms`);
  assert.deepEqual(quarantined, [], 'no file quarantined for the engine failing');
  assert.equal(keys.size, N, 'one reject per file');
  assert.equal(rejects(), N, 'none twice');
});
