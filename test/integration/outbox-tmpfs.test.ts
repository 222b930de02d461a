/**
 * The outbox and snapshots on a real, tiny filesystem: a 256 KiB tmpfs (mounted by the test, which needs
 * root with CAP_SYS_ADMIN; elsewhere the tests skip, and test/unit/outbox-disk.test.ts covers the same through
 * a stand-in fs). A broker outage fills it: every reject must survive, snapshots must yield, nothing may be
 * left half-written; a read-only mount must refuse the start.
 */
import assert from 'node:assert/strict';
import { mkdirSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { Outbox } from '../../src/sink/outbox.js';
import { SnapshotWriter } from '../../src/sink/snapshots.js';
import { silentLogger } from '../../src/ops/log.js';
import { rejectPayload } from '../helpers/messages.js';
import { remount, tmpfs } from '../helpers/tmpfs.js';

const COVERED = 'test/unit/outbox-disk.test.ts covers this with a stand-in fs';

const frame = { data: Buffer.alloc(320 * 240 * 3, 90), width: 320, height: 240, format: 'rgb24' as const };
const det = { classId: 0, class: 'scratch', confidence: 0.9, box: { x1: 10, y1: 10, x2: 100, y2: 90 } };

test('256 KiB tmpfs during an outage: all 589 rejects kept and later delivered in order, snapshots yield, no half-written file', { timeout: 60_000 }, async (t) => {
  const mnt = tmpfs(t, '256k', COVERED);
  if (!mnt) return;
  const outboxDir = path.join(mnt, 'outbox');
  const snapDir = path.join(mnt, 'snapshots');
  const outbox = new Outbox({
    config: { dir: outboxDir, maxBytes: 64 * 1024 * 1024, maxAgeMs: 3_600_000, rejectTtlMs: 2000 },
    logger: silentLogger(),
    writeRetry: { baseMs: 20, maxMs: 200 },
  });
  await outbox.start();
  t.after(() => outbox.stop());
  const snaps = new SnapshotWriter({
    config: { enabled: true, dir: snapDir, maxFiles: 500, maxBytes: 256 * 1024 * 1024 },
    logger: silentLogger(),
    reserve: { dir: outboxDir, bytes: () => outbox.reserveBytes },
  });
  await snaps.start();
  t.after(() => snaps.stop());

  const N = 589;
  const keys = Array.from({ length: N }, (_, i) => `dev1:cam1:seq:${i}`);
  for (const [i, key] of keys.entries()) {
    const { captureWall, device, camera, ...fields } = rejectPayload({ key, seq: i, captureWall: Date.now() });
    await outbox.append({ key, kind: 'reject', topic: 'inspectd/dev1/cam1/reject', qos: 1, retain: false, payload: { device, camera, ...fields }, captureWall });
    await snaps.saveReject(frame, [det], { cameraId: 'cam1', seq: i, key });
  }
  assert.equal(outbox.depth, N);
  assert.equal(outbox.droppedRejects, 0, 'no reject lost');
  assert.ok(outbox.unwritten > 0, 'the disk did fill up (else this test proves nothing)');
  assert.equal(outbox.health().ok, false);
  assert.match(outbox.health().error ?? '', /ENOSPC/);
  assert.equal(snaps.written, 0, 'snapshots left the space to the rejects');
  assert.deepEqual(
    readdirSync(snapDir).filter((n) => n.endsWith('.tmp')),
    [],
    'no half-written snapshot',
  );
  assert.deepEqual(
    readdirSync(outboxDir).filter((n) => n.startsWith('.tmp-')),
    [],
    'no half-written outbox entry',
  );

  // The broker is back: the sender delivers and acks in order.
  const delivered: string[] = [];
  for (let e = outbox.peek(); e; e = outbox.peek()) {
    delivered.push(e.key!);
    await outbox.ack(e.id);
  }
  assert.deepEqual(delivered, keys, 'every reject delivered, in order');
  assert.equal(outbox.unwritten, 0);
  assert.equal(outbox.health().ok, true);
  await outbox.stop(); // it holds its segment open: closed before the after hook unmounts the tmpfs
});

test('a read-only outbox directory (tmpfs remounted ro) is refused at start, naming the directory', { timeout: 20_000 }, async (t) => {
  const mnt = tmpfs(t, '1m', COVERED);
  if (!mnt) return;
  const dir = path.join(mnt, 'outbox');
  mkdirSync(dir);
  remount(mnt, true);
  const outbox = new Outbox({ config: { dir, maxBytes: 1e6, maxAgeMs: 60_000, rejectTtlMs: 2000 }, logger: silentLogger() });
  await assert.rejects(outbox.start(), (err: Error & { code?: string }) => {
    assert.equal(err.code, 'INSPECTD_ERR_OUTBOX_IO');
    assert.ok(err.message.includes(`outbox directory ${dir} is not writable`), err.message);
    assert.match(err.message, /EROFS/);
    return true;
  });
});
