import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync, existsSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { pino } from 'pino';
import { Outbox, type OutboxAppend } from '../../src/sink/outbox.js';
import { HEADER_BYTES, parseSegment } from '../../src/sink/outbox-log.js';
import { Metrics } from '../../src/ops/metrics.js';
import type { OutboxConfig } from '../../src/config/types.js';
import { silentLogger, type Logger } from '../../src/ops/log.js';
import { LOCK_FILE } from '../../src/util/dir-lock.js';

function tmpDir(t: { after(fn: () => void): void }): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'inspectd-outbox-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

function cfg(dir: string, over: Partial<OutboxConfig> = {}): OutboxConfig {
  return { dir, maxBytes: 10_000_000, maxAgeMs: 3_600_000, rejectTtlMs: 60_000, ...over };
}

/** A logger that records lines, to assert that reject drops are logged at error level. */
function recordingLogger(): { logger: Logger; lines: Array<Record<string, unknown>> } {
  const lines: Array<Record<string, unknown>> = [];
  const logger = pino({ level: 'trace' }, { write: (s: string) => void lines.push(JSON.parse(s) as Record<string, unknown>) }) as unknown as Logger;
  return { logger, lines };
}

const ev = (n: number, kind: 'reject' | 'state' = 'reject', captureWall = Date.now()): OutboxAppend => ({
  key: `k${n}`,
  kind,
  topic: `inspectd/dev/cam1/${kind}`,
  qos: 1,
  retain: kind === 'state',
  payload: { key: `k${n}`, n },
  captureWall,
});

test('outbox keeps order, survives a restart, and ack removes entries', { timeout: 10_000 }, async (t) => {
  const dir = tmpDir(t);
  const { logger } = recordingLogger();
  const a = new Outbox({ config: cfg(dir), logger });
  await a.start();
  // Concurrent appends still land in call order.
  const appended = await Promise.all([1, 2, 3, 4, 5].map((n) => a.append(ev(n))));
  assert.deepEqual(
    appended.map((e) => e.seq),
    [1, 2, 3, 4, 5],
  );
  assert.equal(a.depth, 5);
  assert.ok(a.bytes > 0);
  await a.ack(appended[0]!.id);
  await a.ack(appended[0]!.id); // idempotent
  assert.equal(a.peek()?.seq, 2);
  await a.stop();

  const b = new Outbox({ config: cfg(dir), logger });
  await b.start();
  t.after(() => b.stop());
  assert.deepEqual(
    b.list().map((e) => e.payload.n),
    [2, 3, 4, 5],
  );
  const next = await b.append(ev(6));
  assert.equal(next.seq, 6, 'sequence continues after the highest one on disk');
  assert.deepEqual(b.list().at(-1)?.payload, { key: 'k6', n: 6 });
  for (const e of b.list()) await b.ack(e.id);
  assert.equal(b.depth, 0);
  assert.equal(b.bytes, 0);
  assert.deepEqual(
    readdirSync(dir).filter((n) => n.endsWith('.json')),
    [],
  );
});

test('outbox quarantines corrupt entries and deletes partial temp files at start', { timeout: 10_000 }, async (t) => {
  const dir = tmpDir(t);
  const { logger, lines } = recordingLogger();
  const a = new Outbox({ config: cfg(dir), logger });
  await a.start();
  await a.append(ev(1));
  await a.append(ev(2));
  await a.stop();
  writeFileSync(path.join(dir, '0000000000000003.json'), '{"v":1,"seq":3,"top'); // torn write
  writeFileSync(path.join(dir, '.tmp-0000000000000004'), 'partial');
  const b = new Outbox({ config: cfg(dir), logger });
  await b.start();
  t.after(() => b.stop());
  assert.deepEqual(
    b.list().map((e) => e.seq),
    [1, 2],
  );
  assert.ok(existsSync(path.join(dir, 'quarantine')));
  assert.equal(readdirSync(path.join(dir, 'quarantine')).length, 1);
  assert.ok(!existsSync(path.join(dir, '.tmp-0000000000000004')));
  assert.ok(lines.some((l) => l.level === 50 && /quarantine/.test(String(l.msg))));
  assert.equal((await b.append(ev(5))).seq, 4, 'the corrupt file still advanced the sequence');
});

test('outbox size bound drops oldest non-reject entries first, and logs+counts dropped rejects', { timeout: 10_000 }, async (t) => {
  const dir = tmpDir(t);
  const { logger, lines } = recordingLogger();
  const metrics = new Metrics();
  // Each entry is counted as its file, ~155 bytes; room for 4.
  const ob = new Outbox({ config: cfg(dir, { maxBytes: 700 }), logger, metrics });
  await ob.start();
  t.after(() => ob.stop());
  await ob.append(ev(1, 'reject'));
  await ob.append(ev(2, 'state'));
  await ob.append(ev(3, 'reject'));
  await ob.append(ev(4, 'state'));
  await ob.append(ev(5, 'reject'));
  // Over the bound: the oldest state (2) goes before any reject.
  assert.deepEqual(
    ob.list().map((e) => e.seq),
    [1, 3, 4, 5],
  );
  assert.equal(ob.droppedRejects, 0);
  await ob.append(ev(6, 'reject'));
  assert.deepEqual(
    ob.list().map((e) => e.seq),
    [1, 3, 5, 6],
  );
  await ob.append(ev(7, 'reject'));
  // No state left: the oldest reject goes, loudly.
  assert.deepEqual(
    ob.list().map((e) => e.seq),
    [3, 5, 6, 7],
  );
  assert.equal(ob.droppedRejects, 1);
  assert.ok(ob.bytes <= 700);
  assert.ok(lines.some((l) => l.level === 50 && l.kind === 'reject' && l.reason === 'size'));
  const text = await metrics.text();
  assert.match(text, /inspectd_outbox_dropped_total\{kind="reject",reason="size"\} 1/);
  assert.match(text, /inspectd_outbox_dropped_total\{kind="state",reason="size"\} 2/);
  assert.match(text, /inspectd_outbox_depth 4/);
  await ob.stop();
  const again = new Outbox({ config: cfg(dir, { maxBytes: 700 }), logger: silentLogger() });
  await again.start();
  t.after(() => again.stop());
  assert.deepEqual(
    again.list().map((e) => e.seq),
    [3, 5, 6, 7],
    'dropped entries are gone from disk (an ACK record each)',
  );
});

test('outbox age bound drops entries older than maxAgeMs, counting rejects', { timeout: 10_000 }, async (t) => {
  const dir = tmpDir(t);
  const { logger, lines } = recordingLogger();
  let now = 1_000_000;
  const ob = new Outbox({ config: cfg(dir, { maxAgeMs: 5000 }), logger, now: () => now });
  await ob.start();
  t.after(() => ob.stop());
  await ob.append(ev(1, 'reject', now));
  await ob.append(ev(2, 'state', now));
  now += 3000;
  await ob.append(ev(3, 'reject', now));
  now += 3000; // 1 and 2 are 6 s old now
  await ob.prune();
  assert.deepEqual(
    ob.list().map((e) => e.seq),
    [3],
  );
  assert.equal(ob.droppedRejects, 1);
  assert.equal(ob.dropped, 2);
  assert.ok(lines.some((l) => l.level === 50 && l.reason === 'age' && l.kind === 'reject'));
});

test('outbox refuses appends before start and after stop', { timeout: 5_000 }, async (t) => {
  const dir = tmpDir(t);
  const ob = new Outbox({ config: cfg(dir), logger: silentLogger() });
  await assert.rejects(ob.append(ev(1)), { name: 'InspectdError', code: 'INSPECTD_ERR_LIFECYCLE' });
  await ob.start();
  await ob.stop();
  await ob.stop();
  await assert.rejects(ob.append(ev(1)), { name: 'InspectdError', code: 'INSPECTD_ERR_LIFECYCLE' });
  await assert.rejects(ob.start(), { code: 'INSPECTD_ERR_LIFECYCLE' });
});

test('outbox entry is visible before its fsync completes; an early ack still leaves no file behind', { timeout: 10_000 }, async (t) => {
  const dir = tmpDir(t);
  const a = new Outbox({ config: cfg(dir), logger: silentLogger() });
  await a.start();
  let woke = 0;
  a.onAppend(() => woke++);
  const pending = a.append(ev(1));
  assert.equal(woke, 1, 'the sender is woken at once');
  const head = a.peek();
  assert.equal(head?.seq, 1);
  const acked = a.ack(head!.id); // e.g. PUBACK arrived before the fsync finished
  const entry = await pending;
  await acked;
  assert.equal(entry.seq, 1);
  assert.equal(a.depth, 0);
  assert.deepEqual(
    readdirSync(dir).filter((n) => !n.startsWith('quarantine') && n !== LOCK_FILE && !/^seg-\d{10}\.log$/.test(n)),
    [],
  );
  await a.stop();
  const b = new Outbox({ config: cfg(dir), logger: silentLogger() });
  await b.start();
  t.after(() => b.stop());
  assert.equal(b.depth, 0, 'an acked entry never comes back after a restart');
});

test('outbox stores the payload as a JSON object beside the event fields (no base64), and reads it back', { timeout: 10_000 }, async (t) => {
  const dir = tmpDir(t);
  const a = new Outbox({ config: cfg(dir, { maxAgeMs: 0 }), logger: silentLogger() }); // the fixed clock is long past
  await a.start();
  const entry = await a.append({ ...ev(1), expiresWall: 1_700_000_002_000, captureWall: 1_700_000_000_000 });
  await a.stop();
  const segs = readdirSync(dir).filter((n) => /^seg-\d{10}\.log$/.test(n));
  const withData = segs.filter((n) => statSync(path.join(dir, n)).size > 0);
  assert.equal(withData.length, 1, `one segment holds the entry: ${segs.join(', ')}`);
  const seg = readFileSync(path.join(dir, withData[0]!));
  const parsed = parseSegment(seg);
  assert.equal(parsed.error, undefined);
  assert.equal(parsed.records.length, 1);
  const file = JSON.parse(seg.subarray(HEADER_BYTES).toString('utf8')) as Record<string, unknown>;
  assert.deepEqual(file, {
    t: 'put',
    seq: 1,
    key: 'k1',
    kind: 'reject',
    topic: 'inspectd/dev/cam1/reject',
    qos: 1,
    retain: false,
    payload: { key: 'k1', n: 1 },
    captureWall: 1_700_000_000_000,
    expiresWall: 1_700_000_002_000,
  });
  assert.equal(entry.bytes, seg.length, 'an entry counts as its record against maxBytes');
  const b = new Outbox({ config: cfg(dir, { maxAgeMs: 0 }), logger: silentLogger() });
  await b.start();
  t.after(() => b.stop());
  const { id, seq, bytes, ...back } = b.peek()!;
  assert.deepEqual([id, seq, bytes], [entry.id, 1, entry.bytes]);
  assert.deepEqual(back, {
    key: 'k1',
    kind: 'reject',
    topic: 'inspectd/dev/cam1/reject',
    qos: 1,
    retain: false,
    payload: { key: 'k1', n: 1 },
    captureWall: 1_700_000_000_000,
    expiresWall: 1_700_000_002_000,
  });
});

test('outbox reads entries of the previous format (base64 payload): the reject capture clock leaves the payload', { timeout: 10_000 }, async (t) => {
  const dir = tmpDir(t);
  // Written by hand as the previous version wrote them: {v:1, payload: base64 of the JSON body}.
  const rejectBody = { device: 'dev', camera: 'cam1', key: 'dev:cam1:seq:7', seq: 7, captureTime: '2023-11-14T22:13:20.000Z', captureWall: 1_700_000_000_000, reason: 'scratch' };
  const stateBody = { device: 'dev', camera: 'cam1', state: 'fault', reason: 'camera stalled', at: '2023-11-14T22:13:21.000Z' };
  const v1 = (seq: number, kind: string, body: object, retain: boolean, createdWall: number) =>
    JSON.stringify({ v: 1, seq, topic: `inspectd/dev/cam1/${kind}`, payload: Buffer.from(JSON.stringify(body)).toString('base64'), retain, kind, createdWall });
  writeFileSync(path.join(dir, '0000000000000007.json'), v1(7, 'reject', rejectBody, false, 1_700_000_000_005));
  writeFileSync(path.join(dir, '0000000000000008.json'), v1(8, 'state', stateBody, true, 1_700_000_001_000));
  const ob = new Outbox({ config: cfg(dir, { maxAgeMs: 0, rejectTtlMs: 2000 }), logger: silentLogger() });
  await ob.start();
  t.after(() => ob.stop());
  const [rej, st] = ob.list();
  const { captureWall: _published, ...rest } = rejectBody;
  assert.deepEqual(
    { key: rej!.key, kind: rej!.kind, qos: rej!.qos, retain: rej!.retain, payload: rej!.payload, captureWall: rej!.captureWall, expiresWall: rej!.expiresWall },
    { key: 'dev:cam1:seq:7', kind: 'reject', qos: 1, retain: false, payload: rest, captureWall: 1_700_000_000_000, expiresWall: 1_700_000_002_000 },
  );
  assert.deepEqual(
    { key: st!.key, kind: st!.kind, qos: st!.qos, retain: st!.retain, payload: st!.payload, captureWall: st!.captureWall, expiresWall: st!.expiresWall },
    { key: undefined, kind: 'state', qos: 1, retain: true, payload: stateBody, captureWall: 1_700_000_001_000, expiresWall: undefined },
  );
  assert.equal((await ob.append(ev(9))).seq, 9, 'the sequence continues after the old entries');
  await ob.ack(rej!.id);
  assert.ok(!existsSync(path.join(dir, '0000000000000007.json')), 'an old entry is removed on ack like a new one');
});

test('outbox locks its directory: a second outbox on it is refused naming the directory and pid; free again after stop', { timeout: 5_000 }, async (t) => {
  const dir = tmpDir(t);
  const a = new Outbox({ config: cfg(dir), logger: silentLogger() });
  await a.start();
  assert.ok(existsSync(path.join(dir, LOCK_FILE)));
  const b = new Outbox({ config: cfg(dir), logger: silentLogger() });
  await assert.rejects(b.start(), (err: Error & { code?: string }) => {
    assert.equal(err.code, 'INSPECTD_ERR_LOCKED');
    assert.ok(err.message.includes(`outbox directory ${dir} is in use`), err.message);
    assert.match(err.message, new RegExp(`pid ${process.pid}`));
    return true;
  });
  await a.append(ev(1));
  await a.stop();
  assert.equal(existsSync(path.join(dir, LOCK_FILE)), false, 'stop releases the lock');
  const c = new Outbox({ config: cfg(dir), logger: silentLogger() });
  await c.start();
  t.after(() => c.stop());
  assert.equal(c.depth, 1);
});
