/**
 * Crash safety of the segment log: a child (test/helpers/outbox-crash-child.ts) appends and acks events and
 * is SIGKILLed at a seeded random moment, again and again on one directory; after each kill the outbox is
 * opened here and must hold every key the child printed durable and not acked, none it printed acked, in
 * append order. 100 kills by default; INSPECTD_CRASH_KILLS=1000 for a longer run.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { Outbox } from '../../src/sink/outbox.js';
import { silentLogger } from '../../src/ops/log.js';

const KILLS = Number(process.env.INSPECTD_CRASH_KILLS ?? 100);
const CHILD = fileURLToPath(new URL('../helpers/outbox-crash-child.js', import.meta.url));
/** Small segments so that rolls, prefix deletes and rewrites happen within a few kills. */
const SEGMENT_BYTES = 16 * 1024;

/** mulberry32: a seeded generator, so a failing run can be repeated. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Runs the child until `ready` plus delayMs, SIGKILLs it, and returns the lines it printed. */
function runAndKill(dir: string, base: number, delayMs: number): Promise<string[]> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CHILD, dir, String(base), String(SEGMENT_BYTES)], { stdio: ['ignore', 'pipe', 'pipe'] });
    let text = '';
    let err = '';
    let armed = false;
    const guard = setTimeout(() => child.kill('SIGKILL'), 15_000);
    child.stdout.setEncoding('utf8').on('data', (d: string) => {
      text += d;
      if (!armed && text.includes('ready\n')) {
        armed = true;
        setTimeout(() => child.kill('SIGKILL'), delayMs);
      }
    });
    child.stderr.setEncoding('utf8').on('data', (d: string) => (err += d));
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(guard);
      if (signal !== 'SIGKILL' || !armed) reject(new Error(`crash child ended by itself (code ${code}, signal ${signal}) before the kill: ${err}`));
      else resolve(text.split('\n').slice(0, -1)); // the last piece is an unfinished line (or empty)
    });
  });
}

test(`outbox SIGKILLed ${KILLS} times mid-append/ack loses no durable key and revives no acked one, order kept`, { timeout: Math.max(90_000, KILLS * 1_000) }, async (t) => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'inspectd-outbox-crash-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const seed = Number(process.env.INSPECTD_CRASH_SEED ?? 20261202);
  const rand = rng(seed);
  const durable = new Set<string>();
  const acked = new Set<string>();
  /** Acks begun and not seen to end: the key may be pending or not. */
  const acking = new Set<string>();
  let base = 0;
  let totalDurable = 0;
  let maxSegments = 0;
  for (let kill = 0; kill < KILLS; kill++) {
    const lines = await runAndKill(dir, base, Math.floor(rand() * 60));
    base += 50_000;
    for (const line of lines) {
      const [what, key] = line.split(' ');
      if (what === 'durable') {
        durable.add(key!);
        totalDurable++;
      } else if (what === 'acking') {
        acking.add(key!);
      } else if (what === 'acked') {
        acking.delete(key!);
        acked.add(key!);
      }
    }
    maxSegments = Math.max(maxSegments, readdirSync(dir).filter((n) => n.startsWith('seg-')).length);
    const ob = new Outbox({ config: { dir, maxBytes: 100_000_000, maxAgeMs: 0, rejectTtlMs: 60_000 }, logger: silentLogger() });
    await ob.start();
    const keys = ob.list().map((e) => e.key!);
    await ob.stop();
    const pending = new Set(keys);
    const ctx = `seed ${seed}, kill ${kill}`;
    for (const k of durable) if (!acked.has(k) && !acking.has(k)) assert.ok(pending.has(k), `${ctx}: durable key ${k} lost`);
    for (const k of acked) assert.ok(!pending.has(k), `${ctx}: acked key ${k} is pending again`);
    const nums = keys.map((k) => Number(k.slice(1)));
    for (let i = 1; i < nums.length; i++) assert.ok(nums[i - 1]! < nums[i]!, `${ctx}: order broken at ${keys[i - 1]}, ${keys[i]}`);
    // Keys acked or gone for good are not needed any more: keep the sets small.
    for (const k of durable) if (!pending.has(k)) durable.delete(k);
    for (const k of acked) if (!pending.has(k)) acked.delete(k);
    for (const k of acking) if (!pending.has(k)) acking.delete(k); // still pending: the next child may ack it
  }
  assert.ok(totalDurable >= KILLS, `the child made progress between kills (${totalDurable} durable appends)`);
  t.diagnostic(`${KILLS} kills, ${totalDurable} durable appends, at most ${maxSegments} segment files`);
});
