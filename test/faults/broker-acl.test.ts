/**
 * The broker up but refusing: mosquitto's acl_file denies the reject topic while a camera rejects every frame.
 * The refusal is said on /healthz and the status topic and logged, the rejects stay in the outbox, the daemon
 * retries with backoff (a bounded number of attempts, not one per reject), and once the ACL allows the topic
 * (mosquitto reloads it on SIGHUP) every reject is delivered, once, in order.
 */
import assert from 'node:assert/strict';
import path from 'node:path';
import { test } from 'node:test';
import { Daemon } from '../../src/app/daemon.js';
import { loadConfigFile } from '../../src/config/load.js';
import { captureLogger } from '../helpers/capture-log.js';
import { MqttRecorder, sleep, tempDir, writeYaml } from '../helpers/daemon-harness.js';
import { recordFaults } from '../helpers/fault-results.js';
import { mosquittoSkip, startMosquitto } from '../helpers/mosquitto.js';
import { pendingOnDisk } from '../helpers/outbox-disk.js';
import { faultDaemonConfig, hasFfmpeg, loopedRejectCamera, rejectedImage } from '../helpers/reject-line.js';

const skip = mosquittoSkip() || (!hasFfmpeg && 'ffmpeg not installed');
const DENIED_MS = 6000;
const RETRY_MS = 500;

test('an ACL denying the reject topic: said on health and status, rejects kept, retried with backoff, delivered once allowed', { skip, timeout: 120_000 }, async (t) => {
  const tmp = tempDir('inspectd-acl-');
  t.after(() => tmp.cleanup());
  const broker = await startMosquitto({ acl: 'topic deny inspectd/acl/cam1/reject\ntopic readwrite #\n' });
  t.after(() => broker.stop());
  const rec = new MqttRecorder();
  await rec.start(broker.url, 'inspectd/acl/#');
  t.after(() => rec.stop());
  const image = await rejectedImage(tmp.dir);
  const cfgFile = path.join(tmp.dir, 'config.yaml');
  writeYaml(cfgFile, faultDaemonConfig(tmp.dir, 'acl', [loopedRejectCamera('cam1', image)], { url: broker.url, reconnectMs: RETRY_MS, reconnectMaxMs: 2000 }));
  const log = captureLogger('info');
  const daemon = new Daemon({ loaded: await loadConfigFile(cfgFile), logger: log.logger });
  t.after(() => daemon.stop().catch(() => undefined));
  await daemon.start();
  const outbox = path.join(tmp.dir, 'outbox');
  const produced = () => daemon.pipelineStats!.counters('cam1')!.rejects;

  await rec.until(() => produced() >= 3, 60_000, 'the first rejects decided');
  const deniedFrom = Date.now();
  await rec.until(
    () => /not authori[sz]ed/i.test(daemon.health().reason ?? ''),
    10_000,
    () => `health names the refusal: ${JSON.stringify(daemon.health())}`,
  );
  const health = daemon.health();
  assert.equal(health.ok, false);
  assert.match(health.reason!, /inspectd\/acl\/cam1\/reject/, 'the refused topic is named');
  assert.match(health.reason!, /ACL/, 'and what to check');
  await sleep(DENIED_MS);
  const sink = daemon.mqttSink as unknown as { publishRefusals: number };
  const deniedMs = Date.now() - deniedFrom;
  const attempts = sink.publishRefusals;
  const decidedWhileDenied = produced();
  assert.equal(rec.on('/reject').length, 0, 'nothing was published on the denied topic');
  assert.ok(pendingOnDisk(outbox).filter((e) => e.kind === 'reject').length >= decidedWhileDenied - 1, 'the rejects wait in the outbox');
  // One attempt per retry wait (RETRY_MS, doubling to 2 s), not one per reject: 4 fps of rejects would be ~24.
  assert.ok(attempts >= 2 && attempts <= Math.ceil(deniedMs / RETRY_MS) + 2, `bounded attempts while denied: ${attempts} in ${deniedMs} ms`);
  const status = rec.json<{ mqttError?: string | null }>('/status/json').at(-1);
  assert.match(status?.mqttError ?? '', /not authori[sz]ed/i, 'the status topic says it too');
  assert.ok(
    log.lines().some((l) => Number(l.level) >= 50 && /refused/.test(String(l.msg)) && /ACL/.test(String(l.msg))),
    'an error is logged',
  );

  await broker.setAcl('topic readwrite #\n');
  const allowedAt = Date.now();
  await rec.until(
    () => rec.on('/reject').length >= decidedWhileDenied,
    15_000,
    () => `delivered after the ACL allows: ${rec.on('/reject').length} of ${decidedWhileDenied}`,
  );
  const recoveryMs = Date.now() - allowedAt;
  await rec.until(
    () => daemon.health().ok,
    10_000,
    () => `health ok again: ${JSON.stringify(daemon.health())}`,
  );
  await daemon.stop();
  const total = produced();
  await rec.until(
    () => rec.on('/reject').length >= total,
    10_000,
    () => `all ${total} rejects`,
  );
  await sleep(300);
  const rejects = rec.json<{ key: string; seq: number }>('/reject');
  const keys = new Set(rejects.map((r) => r.key));
  for (let i = 1; i < rejects.length; i++) assert.ok(rejects[i].seq > rejects[i - 1].seq, `in order at ${i}`);
  recordFaults({
    test: 'broker ACL denies the reject topic',
    faults: { 'ACL denial': 1, 'refused publish attempts': attempts },
    crashes: 0,
    produced: total,
    delivered: keys.size,
    maxRecoveryMs: recoveryMs,
  });
  t.diagnostic(`${attempts} refused attempts in ${deniedMs} ms; ${total} rejects, all delivered ${recoveryMs} ms after the ACL allowed them`);
  assert.equal(keys.size, rejects.length, 'none twice');
  assert.equal(keys.size, total, 'every reject delivered');
});
