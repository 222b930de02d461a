/**
 * Outbox benchmark: the previous one-file-per-event store (sink/outbox-files.ts: file + dir fsync per event)
 * against the segment log with group commit (sink/outbox.ts), in interleaved blocks in one process, with 1
 * and 32 appends in flight. An event is an append (resolved: durable) then its ack, as the MQTT sink does.
 * Prints events/s and ms/event per variant and the median and IQR of the per-round ratio new/old; never a
 * pass/fail. `npm run bench:outbox [-- --rounds 7 --events 2000 --dir /var/lib/inspectd --wait 2]`
 */
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { silentLogger } from '../src/ops/log.js';
import { Outbox, type OutboxAppend, type OutboxEntry } from '../src/sink/outbox.js';
import { FileOutbox } from '../src/sink/outbox-files.js';

const arg = (name: string, dflt: string): string => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1]! : dflt;
};
const ROUNDS = Number(arg('rounds', '7'));
const EVENTS = Number(arg('events', '2000'));
const ROOT = arg('dir', os.tmpdir());
/** The segment log's group-commit wait (its default when not given). */
const WAIT = process.argv.includes('--wait') ? Number(arg('wait', '2')) : undefined;

interface Store {
  start(): Promise<void>;
  append(e: OutboxAppend): Promise<OutboxEntry>;
  ack(id: string): Promise<void>;
  stop(): Promise<void>;
}
type Kind = 'files' | 'log';

const event = (n: number): OutboxAppend => ({
  key: `dev1:cam1:seq:${n}`,
  kind: 'reject',
  topic: 'inspectd/dev1/cam1/reject',
  qos: 1,
  retain: false,
  payload: {
    device: 'dev1',
    camera: 'cam1',
    key: `dev1:cam1:seq:${n}`,
    seq: n,
    captureTime: new Date().toISOString(),
    reason: 'scratch 0.91',
    boxes: [{ x1: 10, y1: 20, x2: 110, y2: 90 }],
  },
  captureWall: Date.now(),
});

/** Events per second of one block: `events` append+ack, `inFlight` at a time, on a fresh directory. */
async function block(kind: Kind, inFlight: number, events: number): Promise<number> {
  const dir = mkdtempSync(path.join(ROOT, 'inspectd-bench-outbox-'));
  const config = { dir, maxBytes: 512 * 1024 * 1024, maxAgeMs: 0, rejectTtlMs: 60_000 };
  const store: Store =
    kind === 'files'
      ? new FileOutbox({ config, logger: silentLogger() })
      : new Outbox({ config, logger: silentLogger(), ...(WAIT !== undefined ? { tuning: { commitWaitMs: WAIT } } : {}) });
  await store.start();
  let next = 0;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: inFlight }, async () => {
      while (next < events) {
        const e = await store.append(event(next++));
        await store.ack(e.id);
      }
    }),
  );
  const s = (performance.now() - t0) / 1000;
  await store.stop();
  rmSync(dir, { recursive: true, force: true });
  return events / s;
}

const quantile = (xs: number[], q: number): number => {
  const s = [...xs].sort((a, b) => a - b);
  const pos = (s.length - 1) * q;
  const lo = Math.floor(pos);
  return s[lo]! + (s[Math.min(lo + 1, s.length - 1)]! - s[lo]!) * (pos - lo);
};

async function main(): Promise<void> {
  console.log(`outbox bench: ${ROUNDS} rounds, ${EVENTS} events (append + ack) per block, in ${ROOT}, commitWaitMs ${WAIT ?? 'default'}`);
  for (const inFlight of [1, 32]) {
    const rates: Record<Kind, number[]> = { files: [], log: [] };
    const ratios: number[] = [];
    // The old store is slow: a tenth of the events (at least 200) keeps its blocks as long as the new one's.
    const oldEvents = Math.max(200, Math.round(EVENTS / 10));
    await block('log', inFlight, Math.min(EVENTS, 200)); // warm-up
    for (let r = 0; r < ROUNDS; r++) {
      const order: Kind[] = r % 2 === 0 ? ['files', 'log'] : ['log', 'files'];
      const got: Partial<Record<Kind, number>> = {};
      for (const kind of order) got[kind] = await block(kind, inFlight, kind === 'files' ? oldEvents : EVENTS);
      rates.files.push(got.files!);
      rates.log.push(got.log!);
      ratios.push(got.log! / got.files!);
    }
    for (const kind of ['files', 'log'] as const) {
      const med = quantile(rates[kind], 0.5);
      const name = kind === 'files' ? 'file per event (old)' : 'segment log (new)';
      console.log(
        `  in flight ${String(inFlight).padStart(2)}  ${name.padEnd(22)} ${med.toFixed(0).padStart(7)} events/s  ${(1000 / med).toFixed(3)} ms/event  (min ${Math.min(...rates[kind]).toFixed(0)}, max ${Math.max(...rates[kind]).toFixed(0)})`,
      );
    }
    console.log(
      `  in flight ${String(inFlight).padStart(2)}  ratio new/old per round: median ${quantile(ratios, 0.5).toFixed(1)}x  IQR ${quantile(ratios, 0.25).toFixed(1)}x..${quantile(ratios, 0.75).toFixed(1)}x`,
    );
  }
}

await main();
