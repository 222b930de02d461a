/**
 * The outbox on a disk that is full or read-only, through a stand-in fs (test/helpers/quota-fs.ts) passed
 * to the constructor; the same on a real 256 KiB tmpfs is in test/integration/outbox-tmpfs.test.ts.
 */
import assert from 'node:assert/strict';
import { chmodSync, mkdirSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { Outbox, type OutboxAppend } from '../../src/sink/outbox.js';
import { Metrics } from '../../src/ops/metrics.js';
import type { OutboxConfig } from '../../src/config/types.js';
import { silentLogger } from '../../src/ops/log.js';
import { QuotaFs } from '../helpers/quota-fs.js';

function tmpDir(t: { after(fn: () => void): void }): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'inspectd-outbox-disk-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

const cfg = (dir: string, over: Partial<OutboxConfig> = {}): OutboxConfig => ({ dir, maxBytes: 10_000_000, maxAgeMs: 3_600_000, rejectTtlMs: 60_000, ...over });

const ev = (n: number): OutboxAppend => ({
  key: `k${n}`,
  kind: 'reject',
  topic: 'inspectd/dev/cam1/reject',
  qos: 1,
  retain: false,
  payload: { key: `k${n}`, n, reason: 'scratch 0.90' },
  captureWall: Date.now(),
});

const until = async (pred: () => boolean, what: string): Promise<void> => {
  for (let i = 0; i < 250 && !pred(); i++) await new Promise((r) => setTimeout(r, 20));
  assert.ok(pred(), what);
};

const metric = async (m: Metrics, name: string): Promise<number> => (await m.registry.getSingleMetric(name)!.get()).values.reduce((n, v) => n + v.value, 0);

test('a full disk keeps every reject in memory (counted, degraded), retries, and writes them all once there is room', { timeout: 15_000 }, async (t) => {
  const dir = tmpDir(t);
  const fs = new QuotaFs(Number.MAX_SAFE_INTEGER);
  const metrics = new Metrics();
  const ob = new Outbox({ config: cfg(dir), logger: silentLogger(), metrics, fs, writeRetry: { baseMs: 20, maxMs: 100 } });
  await ob.start();
  const first = await ob.append(ev(1));
  fs.quota = fs.used + 3 * first.bytes; // room for three more entries

  const entries = await Promise.all(Array.from({ length: 19 }, (_, i) => ob.append(ev(i + 2))));
  assert.equal(entries.length, 19, 'every append resolves: none is lost to the full disk');
  assert.equal(ob.depth, 20);
  assert.equal(ob.droppedRejects, 0);
  assert.equal(ob.unwritten, 16);
  const health = ob.health();
  assert.equal(health.ok, false);
  assert.equal(health.unwritten, 16);
  assert.match(health.error ?? '', /ENOSPC/);
  assert.ok(health.error?.includes(dir), health.error);
  assert.ok((await metric(metrics, 'inspectd_outbox_write_failures_total')) >= 16);
  assert.equal(await metric(metrics, 'inspectd_outbox_unwritten'), 16);
  assert.deepEqual(
    readdirSync(dir).filter((n) => n.startsWith('.tmp-')),
    [],
    'a refused write leaves no temp file',
  );
  assert.deepEqual(
    ob.list().map((e) => e.key),
    Array.from({ length: 20 }, (_, i) => `k${i + 1}`),
    'the sender sees them all, in order',
  );

  fs.quota = Number.MAX_SAFE_INTEGER; // space freed
  await until(() => ob.unwritten === 0, 'the retry writes what was held in memory');
  assert.equal(ob.health().ok, true);
  assert.equal(await metric(metrics, 'inspectd_outbox_unwritten'), 0);
  await ob.stop();

  const again = new Outbox({ config: cfg(dir), logger: silentLogger() });
  await again.start();
  t.after(() => again.stop());
  assert.deepEqual(
    again.list().map((e) => e.key),
    Array.from({ length: 20 }, (_, i) => `k${i + 1}`),
    'all on disk after a restart',
  );
});

test('a reject delivered while only in memory is never written later; the bounds still apply to what is held', { timeout: 15_000 }, async (t) => {
  const dir = tmpDir(t);
  const fs = new QuotaFs(Number.MAX_SAFE_INTEGER);
  const ob = new Outbox({ config: cfg(dir), logger: silentLogger(), fs, writeRetry: { baseMs: 20, maxMs: 100 } });
  await ob.start();
  fs.quota = fs.used; // full
  await ob.append(ev(1));
  await ob.append(ev(2));
  assert.equal(ob.unwritten, 2);
  await ob.ack(ob.peek()!.id); // delivered to the broker before the disk had room
  assert.equal(ob.unwritten, 1);
  fs.quota = Number.MAX_SAFE_INTEGER;
  await until(() => ob.unwritten === 0, 'retried');
  await ob.stop();
  const again = new Outbox({ config: cfg(dir), logger: silentLogger() });
  await again.start();
  t.after(() => again.stop());
  assert.deepEqual(
    again.list().map((e) => e.key),
    ['k2'],
  );
});

test('a read-only outbox directory at start is a clear error naming it (OUTBOX_IO), not a silent start', { timeout: 5_000 }, async (t) => {
  const dir = tmpDir(t);
  const fs = new QuotaFs(Number.MAX_SAFE_INTEGER);
  fs.readOnly = true;
  const ob = new Outbox({ config: cfg(dir), logger: silentLogger(), fs });
  await assert.rejects(ob.start(), (err: Error & { code?: string }) => {
    assert.equal(err.code, 'INSPECTD_ERR_OUTBOX_IO');
    assert.ok(err.message.includes(`outbox directory ${dir} is not writable`), err.message);
    assert.match(err.message, /EROFS/);
    return true;
  });
});

const root = process.getuid?.() === 0;
test('a directory without write permission (chmod 0555) at start is the same clear error', {
  skip: root ? 'running as root, which writes into a 0555 directory anyway (CAP_DAC_OVERRIDE); the EROFS stand-in above and the tmpfs test cover it' : false,
  timeout: 5_000,
}, async (t) => {
  const parent = tmpDir(t);
  const dir = path.join(parent, 'outbox');
  mkdirSync(dir);
  chmodSync(dir, 0o555);
  t.after(() => chmodSync(dir, 0o755));
  const ob = new Outbox({ config: cfg(dir), logger: silentLogger() });
  await assert.rejects(ob.start(), (err: Error & { code?: string }) => {
    assert.equal(err.code, 'INSPECTD_ERR_OUTBOX_IO');
    assert.ok(err.message.includes(`outbox directory ${dir} is not writable`), err.message);
    assert.match(err.message, /EACCES/);
    return true;
  });
});
