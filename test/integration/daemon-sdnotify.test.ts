/**
 * Acceptance (f): `inspectd run` as a child process under a fake systemd: NOTIFY_SOCKET is a unix datagram
 * socket this test reads (the addon's test-only receiver), WATCHDOG_USEC=1 s (a tick every 500 ms).
 * READY=1 after warm-up, WATCHDOG=1 while frames flow, none while the camera process is frozen (SIGSTOP:
 * a stalled source that should stream), pings again once it streams, RELOADING=1 then READY=1 on a config
 * edit, STOPPING=1 on SIGTERM and exit 0. Real ffmpeg (lavfi test pattern), the demo model on onnxruntime,
 * the embedded broker on a free port.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { REPO_ROOT } from '../helpers/fixtures.js';
import { InspectdProcess, NotifyReceiver, notifyReceiverSkip, sleep, tempDir, writeYaml } from '../helpers/daemon-harness.js';

const demoModel = path.join(REPO_ROOT, 'models', 'demo', 'inspectd-demo.onnx');
const hasFfmpeg = spawnSync('ffmpeg', ['-version']).status === 0;
const skip = notifyReceiverSkip() || (!hasFfmpeg && 'ffmpeg not installed') || (!existsSync(demoModel) && `demo model not built (${demoModel}; see models/make-demo.sh)`);

async function until(pred: () => boolean, timeoutMs: number, what: () => string): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!pred()) {
    if (Date.now() > end) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what()}`);
    await sleep(20);
  }
}

test('sd_notify: READY, WATCHDOG only while frames reach inference, RELOADING, STOPPING', { skip, timeout: 120_000 }, async (t) => {
  const tmp = tempDir('inspectd-notify-');
  t.after(() => tmp.cleanup());
  const rx = new NotifyReceiver(path.join(tmp.dir, 'notify.sock'));
  rx.start();
  t.after(() => rx.stop());

  const cfgFile = path.join(tmp.dir, 'config.yaml');
  const cfg = {
    device: { id: 'notify' },
    model: { path: demoModel, engine: 'cpu', threads: 1 },
    cameras: [
      {
        id: 'line',
        source: { type: 'ffmpeg', input: 'testsrc2=size=320x240:rate=5', inputFormat: 'lavfi', realtime: true, width: 320, height: 240 },
        deadlineMs: 5000,
        // longer than the stall below: the pings must stop because no frame reaches inference, not because
        // the supervisor has declared the camera in fault (from then on its restarts are the recovery)
        stallTimeoutMs: 60_000,
        rules: { rejectClasses: ['scratch'] },
      },
    ],
    mqtt: { embedded: { host: '127.0.0.1', port: 0 } },
    outbox: { dir: path.join(tmp.dir, 'outbox') },
    snapshots: { enabled: false, dir: path.join(tmp.dir, 'snaps') },
    http: { enabled: false },
    console: { summary: 'off' },
  };
  writeYaml(cfgFile, cfg);
  const env: NodeJS.ProcessEnv = { ...process.env, NOTIFY_SOCKET: rx.socketPath, WATCHDOG_USEC: '1000000', STATE_DIRECTORY: tmp.dir, INSPECTD_LOG_LEVEL: 'info' };
  delete env.WATCHDOG_PID;
  const daemon = new InspectdProcess(['--config', cfgFile], env);
  t.after(() => daemon.kill());
  const why = (what: string) => () => `${what}; datagrams ${JSON.stringify(rx.datagrams.map((d) => d.text))}\n${daemon.tail()}`;

  await until(() => rx.count('READY=1') >= 1, 60_000, why('READY=1'));
  const ready = rx.datagrams.find((d) => d.text.startsWith('READY=1'))!;
  assert.match(ready.text, /^READY=1\nSTATUS=.*engine ort-cpu/, 'READY carries a STATUS line');

  // frames flow: a ping at (nearly) every 500 ms tick
  const flowing = Date.now();
  await until(() => rx.count('WATCHDOG=1', flowing) >= 4, 10_000, why('WATCHDOG=1 while frames flow'));
  const warm = daemon.output.indexOf('"msg":"model loaded and warm"');
  assert.ok(warm >= 0 && warm < daemon.output.indexOf('"msg":"inspectd ready"'), 'READY (sent with "inspectd ready") only after the warm-up frame');

  // the camera process freezes: frames stop reaching inference, so the pings stop
  const [ffmpeg, ...more] = daemon.ffmpegPids();
  assert.ok(ffmpeg !== undefined && more.length === 0, 'one ffmpeg child');
  process.kill(ffmpeg, 'SIGSTOP');
  t.after(() => {
    try {
      process.kill(ffmpeg, 'SIGCONT');
    } catch {
      // gone
    }
  });
  await sleep(1500); // the frame in flight finishes, and the tick after it may still see its progress
  const stalled = Date.now();
  await sleep(3000); // six ticks
  const pingsWhileStalled = rx.count('WATCHDOG=1', stalled);
  process.kill(ffmpeg, 'SIGCONT');
  assert.equal(pingsWhileStalled, 0, 'no WATCHDOG=1 while the source is stalled');
  assert.match(daemon.output, /"msg":"systemd watchdog ping withheld: the pipeline made no progress"/);
  assert.equal(daemon.child.exitCode, null);

  const resumed = Date.now();
  await until(() => rx.count('WATCHDOG=1', resumed) >= 2, 15_000, why('WATCHDOG=1 once frames flow again'));

  // a valid edit: RELOADING=1, then READY=1 again
  const edited = structuredClone(cfg);
  (edited.cameras[0].rules as Record<string, unknown>).classConf = { scratch: 0.9 };
  const reloadFrom = Date.now();
  writeYaml(cfgFile, edited);
  await until(() => rx.count('READY=1', reloadFrom) >= 1, 15_000, why('READY=1 after the reload'));
  const afterEdit = rx.datagrams.filter((d) => d.at >= reloadFrom).map((d) => d.text.split('\n')[0]);
  const reloading = afterEdit.indexOf('RELOADING=1');
  assert.ok(reloading >= 0 && afterEdit.indexOf('READY=1', reloading) > reloading, `RELOADING=1 then READY=1: ${afterEdit.join(', ')}`);

  // SIGTERM: STOPPING=1, exit 0
  daemon.signal('SIGTERM');
  const code = await daemon.waitExit(20_000);
  assert.equal(code, 0, daemon.tail());
  await until(() => rx.count('STOPPING=1') === 1, 2000, why('STOPPING=1'));
  const all = rx.datagrams.map((d) => d.text.split('\n')[0]);
  assert.ok(all.indexOf('STOPPING=1') > all.lastIndexOf('WATCHDOG=1'), 'no WATCHDOG=1 after STOPPING=1');
  t.diagnostic(`datagrams: ${rx.datagrams.length}, WATCHDOG=1: ${rx.count('WATCHDOG=1')}`);
});
