/**
 * Child of test/unit/outbox-crash.test.ts, killed with SIGKILL at a random moment: opens the outbox in
 * argv[2], acks half of what it recovered, then appends events numbered from argv[3] (32 in flight) and acks
 * every third once durable. Prints `durable <key>` only after an append resolved and `acked <key>` only after
 * an ack resolved, and `acking <key>` before an ack starts (after which the key may be either; stdout to a pipe is synchronous on Linux, so a printed line is a promise kept).
 */
import { Outbox } from '../../src/sink/outbox.js';
import { silentLogger } from '../../src/ops/log.js';

const [dir, baseArg, segArg] = process.argv.slice(2);
// `node --test dist/test/` also loads the helpers: without arguments this is not the crash child.
if (dir === undefined || segArg === undefined) process.exit(0);
const base = Number(baseArg);
const out = (line: string): void => void process.stdout.write(`${line}\n`);

const ob = new Outbox({
  config: { dir: dir!, maxBytes: 100_000_000, maxAgeMs: 0, rejectTtlMs: 60_000 },
  logger: silentLogger(),
  tuning: { segmentBytes: Number(segArg) },
});
await ob.start();
const recovered = ob.list();
for (const e of recovered.slice(0, Math.ceil(recovered.length / 2))) {
  out(`acking ${e.key}`);
  await ob.ack(e.id);
  out(`acked ${e.key}`);
}
out('ready');
let n = base;
const one = async (): Promise<void> => {
  while (n < base + 50_000) {
    const key = `k${n++}`;
    const entry = await ob.append({
      key,
      kind: 'reject',
      topic: 'inspectd/crash/cam1/reject',
      qos: 1,
      retain: false,
      payload: { key, pad: 'x'.repeat(64) },
      captureWall: Date.now(),
    });
    out(`durable ${key}`);
    if (Number(key.slice(1)) % 3 === 0) {
      out(`acking ${key}`);
      await ob.ack(entry.id);
      out(`acked ${key}`);
    }
  }
};
setTimeout(() => process.exit(3), 20_000).unref(); // the parent kills it long before
await Promise.all(Array.from({ length: 32 }, one));
await ob.stop();
