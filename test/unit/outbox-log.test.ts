/** The segment log of the outbox: torn tails, compaction, and the import of the previous file-per-event store. */
import assert from 'node:assert/strict';
import { appendFileSync, mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { pino } from 'pino';
import { Outbox, type OutboxAppend } from '../../src/sink/outbox.js';
import { FileOutbox } from '../../src/sink/outbox-files.js';
import { encodeAck, encodePut, parseSegment } from '../../src/sink/outbox-log.js';
import type { OutboxConfig } from '../../src/config/types.js';
import { silentLogger, type Logger } from '../../src/ops/log.js';

function tmpDir(t: { after(fn: () => void): void }): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'inspectd-outbox-log-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}
const cfg = (dir: string): OutboxConfig => ({ dir, maxBytes: 10_000_000, maxAgeMs: 3_600_000, rejectTtlMs: 60_000 });
const ev = (n: number): OutboxAppend => ({
  key: `k${n}`,
  kind: 'reject',
  topic: 'inspectd/dev/cam1/reject',
  qos: 1,
  retain: false,
  payload: { key: `k${n}`, n },
  captureWall: Date.now(),
});
const segments = (dir: string): string[] => readdirSync(dir).filter((n) => /^seg-\d{10}\.log$/.test(n));

function recordingLogger(): { logger: Logger; lines: Array<Record<string, unknown>> } {
  const lines: Array<Record<string, unknown>> = [];
  const logger = pino({ level: 'trace' }, { write: (s: string) => void lines.push(JSON.parse(s) as Record<string, unknown>) }) as unknown as Logger;
  return { logger, lines };
}

test('records round-trip; a flipped byte or a short tail stops parsing at the last good record', () => {
  const a = encodePut(1, ev(1));
  const b = encodeAck(1);
  const ok = parseSegment(Buffer.concat([a, b]));
  assert.equal(ok.error, undefined);
  assert.deepEqual(
    ok.records.map((r) => [r.record.t, r.record.seq, r.bytes]),
    [
      ['put', 1, a.length],
      ['ack', 1, b.length],
    ],
  );
  const flipped = Buffer.concat([a, b]);
  flipped[a.length + 10] ^= 0xff;
  const bad = parseSegment(flipped);
  assert.equal(bad.goodBytes, a.length);
  assert.match(bad.error ?? '', /checksum/);
  const short = parseSegment(Buffer.concat([a, b.subarray(0, 5)]));
  assert.equal(short.goodBytes, a.length);
  assert.match(short.error ?? '', /torn/);
});

test('a torn tail is cut at the last good record at start (logged), and the entries before it are kept', { timeout: 10_000 }, async (t) => {
  const dir = tmpDir(t);
  const a = new Outbox({ config: cfg(dir), logger: silentLogger() });
  await a.start();
  await Promise.all([1, 2, 3].map((n) => a.append(ev(n))));
  await a.stop();
  const seg = path.join(dir, segments(dir).find((n) => statSync(path.join(dir, n)).size > 0)!);
  const good = statSync(seg).size;
  appendFileSync(seg, encodePut(4, ev(4)).subarray(0, 30)); // a crash mid-append
  const { logger, lines } = recordingLogger();
  const b = new Outbox({ config: cfg(dir), logger });
  await b.start();
  t.after(() => b.stop());
  assert.deepEqual(
    b.list().map((e) => e.key),
    ['k1', 'k2', 'k3'],
  );
  assert.equal(statSync(seg).size, good, 'the torn record is cut off');
  assert.ok(lines.some((l) => l.level === 40 && /torn/.test(String(l.msg))));
  assert.equal((await b.append(ev(5))).seq, 4);
});

test('rolled segments of acked entries are deleted, sparse live ones rewritten; a restart keeps exactly the live entries', { timeout: 20_000 }, async (t) => {
  const dir = tmpDir(t);
  const ob = new Outbox({ config: cfg(dir), logger: silentLogger(), tuning: { segmentBytes: 2048 } });
  await ob.start();
  const keep: string[] = [];
  for (let n = 1; n <= 600; n++) {
    const e = await ob.append(ev(n));
    if (n % 50 === 0) keep.push(e.key!);
    else await ob.ack(e.id);
  }
  assert.ok(segments(dir).length <= 4, `old segments are compacted away: ${segments(dir).join(', ')}`);
  await ob.stop();
  const again = new Outbox({ config: cfg(dir), logger: silentLogger() });
  await again.start();
  t.after(() => again.stop());
  assert.deepEqual(
    again.list().map((e) => e.key),
    keep,
  );
});

test('entries of the previous one-file-per-event store are imported once at start, in order, and their files removed', { timeout: 10_000 }, async (t) => {
  const dir = tmpDir(t);
  const old = new FileOutbox({ config: cfg(dir), logger: silentLogger() });
  await old.start();
  for (let n = 1; n <= 5; n++) await old.append(ev(n));
  await old.ack(old.list()[1]!.id);
  await old.stop();
  assert.equal(readdirSync(dir).filter((n) => n.endsWith('.json')).length, 4);
  const ob = new Outbox({ config: cfg(dir), logger: silentLogger() });
  await ob.start();
  assert.deepEqual(
    ob.list().map((e) => [e.key, e.seq]),
    [
      ['k1', 1],
      ['k3', 3],
      ['k4', 4],
      ['k5', 5],
    ],
  );
  assert.deepEqual(
    readdirSync(dir).filter((n) => n.endsWith('.json')),
    [],
    'the old files are gone',
  );
  assert.equal((await ob.append(ev(6))).seq, 6);
  await ob.stop();
  const again = new Outbox({ config: cfg(dir), logger: silentLogger() });
  await again.start();
  t.after(() => again.stop());
  assert.deepEqual(
    again.list().map((e) => e.key),
    ['k1', 'k3', 'k4', 'k5', 'k6'],
    'imported once: nothing twice after a restart',
  );
});
