import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { loadNativeAddon } from '../../src/native/loader.js';
import { SdNotifier } from '../../src/ops/sd-notify.js';

// The receiver is the test-only addon inspectd_test_native: Node cannot bind AF_UNIX datagram sockets.
function receiver(t: { after: (fn: () => void) => void }, socketPath: string) {
  const addon = loadNativeAddon('inspectd_test_native');
  const fd = addon.dgramBind(socketPath);
  t.after(() => {
    addon.dgramClose(fd);
    if (!socketPath.startsWith('@')) rmSync(socketPath, { force: true });
  });
  return { recv: (timeoutMs = 2000) => addon.dgramRecv(fd, timeoutMs) };
}

test('sends READY, WATCHDOG, STATUS, RELOADING and STOPPING datagrams to a path socket', { timeout: 10_000 }, (t) => {
  const sock = path.join(os.tmpdir(), `inspectd-notify-${process.pid}-${randomBytes(4).toString('hex')}.sock`);
  const rx = receiver(t, sock);
  const n = new SdNotifier({ socketPath: sock });
  assert.equal(n.enabled, true);
  assert.equal(n.ready('warm: yolov8n on tensorrt'), true);
  assert.equal(rx.recv(), 'READY=1\nSTATUS=warm: yolov8n on tensorrt');
  assert.equal(n.watchdog(), true);
  assert.equal(rx.recv(), 'WATCHDOG=1');
  assert.equal(n.status('12.0 fps\nengine ort'), true);
  assert.equal(rx.recv(), 'STATUS=12.0 fps engine ort', 'newlines cannot break the protocol');
  const before = process.hrtime.bigint() / 1000n;
  assert.equal(n.reloading(), true);
  const msg = rx.recv() ?? '';
  const m = /^RELOADING=1\nMONOTONIC_USEC=(\d+)$/.exec(msg);
  assert.ok(m, `got ${JSON.stringify(msg)}`);
  const usec = BigInt(m[1]);
  assert.ok(usec >= before && usec <= process.hrtime.bigint() / 1000n, 'MONOTONIC_USEC is CLOCK_MONOTONIC now');
  assert.equal(n.stopping(), true);
  assert.equal(rx.recv(), 'STOPPING=1');
  assert.equal(rx.recv(50), null, 'nothing else was sent');
});

test('honours an abstract socket (@name) from NOTIFY_SOCKET', { timeout: 10_000 }, (t) => {
  const name = `@inspectd-notify-${process.pid}-${randomBytes(4).toString('hex')}`;
  const rx = receiver(t, name);
  const saved = process.env.NOTIFY_SOCKET;
  process.env.NOTIFY_SOCKET = name;
  t.after(() => {
    if (saved === undefined) delete process.env.NOTIFY_SOCKET;
    else process.env.NOTIFY_SOCKET = saved;
  });
  const n = new SdNotifier();
  assert.equal(n.enabled, true);
  assert.equal(n.ready(), true);
  assert.equal(rx.recv(), 'READY=1');
});

test('is a no-op when NOTIFY_SOCKET is unset, and never throws when the socket is gone', () => {
  const n = new SdNotifier({ socketPath: undefined });
  assert.equal(n.enabled, false);
  assert.equal(n.ready(), false);
  assert.equal(n.watchdog(), false);
  const gone = new SdNotifier({ socketPath: path.join(os.tmpdir(), `inspectd-missing-${process.pid}.sock`) });
  assert.equal(gone.enabled, true);
  assert.equal(gone.notify('READY=1'), false);
  assert.equal(gone.lastError, 2, 'ENOENT');
  assert.equal(new SdNotifier({ socketPath: 'relative.sock' }).enabled, false, 'systemd only uses / or @');
  const noAddon = new SdNotifier({ socketPath: '/run/x', addon: null });
  assert.equal(noAddon.notify('READY=1'), false);
});

test('watchdogIntervalMs is half of WATCHDOG_USEC and honours WATCHDOG_PID', () => {
  assert.equal(SdNotifier.watchdogIntervalMs({}), null);
  assert.equal(SdNotifier.watchdogIntervalMs({ WATCHDOG_USEC: '20000000' }), 10_000);
  assert.equal(SdNotifier.watchdogIntervalMs({ WATCHDOG_USEC: '20000000', WATCHDOG_PID: String(process.pid) }), 10_000);
  assert.equal(SdNotifier.watchdogIntervalMs({ WATCHDOG_USEC: '20000000', WATCHDOG_PID: String(process.pid + 1) }), null);
  assert.equal(SdNotifier.watchdogIntervalMs({ WATCHDOG_USEC: '0' }), null);
  assert.equal(SdNotifier.watchdogIntervalMs({ WATCHDOG_USEC: 'soon' }), null);
});
