import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { pino } from 'pino';
import { Outbox } from '../../src/sink/outbox.js';
import { Metrics } from '../../src/ops/metrics.js';
import type { OutboxConfig } from '../../src/config/types.js';
import { silentLogger, type Logger } from '../../src/ops/log.js';

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

const ev = (n: number, kind: 'reject' | 'state' = 'reject', createdWall = Date.now()) => ({
  topic: `inspectd/dev/cam1/${kind}`,
  payload: JSON.stringify({ key: `k${n}`, n }),
  retain: kind === 'state',
  kind,
  createdWall,
});

test('outbox keeps order, survives a restart, and ack removes entries', { timeout: 10_000 }, async (t) => {
  const dir = tmpDir(t);
  const { logger } = recordingLogger();
  const a = new Outbox({ config: cfg(dir), logger });
  await a.start();
  // Concurrent appends still land in call order.
  const appended = await Promise.all([1, 2, 3, 4, 5].map((n) => a.append(ev(n))));
  assert.deepEqual(appended.map((e) => e.seq), [1, 2, 3, 4, 5]);
  assert.equal(a.depth, 5);
  assert.ok(a.bytes > 0);
  await a.ack(appended[0]!.id);
  await a.ack(appended[0]!.id); // idempotent
  assert.equal(a.peek()?.seq, 2);
  await a.stop();

  const b = new Outbox({ config: cfg(dir), logger });
  await b.start();
  t.after(() => b.stop());
  assert.deepEqual(b.list().map((e) => JSON.parse(e.payload.toString()).n), [2, 3, 4, 5]);
  const next = await b.append(ev(6));
  assert.equal(next.seq, 6, 'sequence continues after the highest one on disk');
  assert.equal(b.list().at(-1)?.payload.toString(), JSON.stringify({ key: 'k6', n: 6 }));
  for (const e of b.list()) await b.ack(e.id);
  assert.equal(b.depth, 0);
  assert.equal(b.bytes, 0);
  assert.deepEqual(readdirSync(dir).filter((n) => n.endsWith('.json')), []);
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
  assert.deepEqual(b.list().map((e) => e.seq), [1, 2]);
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
  // Each entry is ~170 bytes counted; room for about 4.
  const ob = new Outbox({ config: cfg(dir, { maxBytes: 700 }), logger, metrics });
  await ob.start();
  t.after(() => ob.stop());
  await ob.append(ev(1, 'reject'));
  await ob.append(ev(2, 'state'));
  await ob.append(ev(3, 'reject'));
  await ob.append(ev(4, 'state'));
  await ob.append(ev(5, 'reject'));
  // Over the bound: the oldest state (2) goes before any reject.
  assert.deepEqual(ob.list().map((e) => e.seq), [1, 3, 4, 5]);
  assert.equal(ob.droppedRejects, 0);
  await ob.append(ev(6, 'reject'));
  assert.deepEqual(ob.list().map((e) => e.seq), [1, 3, 5, 6]);
  await ob.append(ev(7, 'reject'));
  // No state left: the oldest reject goes, loudly.
  assert.deepEqual(ob.list().map((e) => e.seq), [3, 5, 6, 7]);
  assert.equal(ob.droppedRejects, 1);
  assert.ok(ob.bytes <= 700);
  assert.ok(lines.some((l) => l.level === 50 && l.kind === 'reject' && l.reason === 'size'));
  const text = await metrics.text();
  assert.match(text, /inspectd_outbox_dropped_total\{kind="reject",reason="size"\} 1/);
  assert.match(text, /inspectd_outbox_dropped_total\{kind="state",reason="size"\} 2/);
  assert.match(text, /inspectd_outbox_depth 4/);
  assert.equal(readdirSync(dir).filter((n) => n.endsWith('.json')).length, 4, 'dropped entries are removed from disk');
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
  assert.deepEqual(ob.list().map((e) => e.seq), [3]);
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
  assert.deepEqual(readdirSync(dir).filter((n) => !n.startsWith('quarantine')), []);
  await a.stop();
  const b = new Outbox({ config: cfg(dir), logger: silentLogger() });
  await b.start();
  t.after(() => b.stop());
  assert.equal(b.depth, 0, 'an acked entry never comes back after a restart');
});
