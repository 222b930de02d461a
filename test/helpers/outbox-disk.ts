/**
 * What an outbox directory holds on disk, read without opening (nor locking) the outbox: its segments
 * replayed as sink/outbox.ts does at start, for tests that check what is pending while a daemon runs or
 * after it stopped. A torn tail (a commit being written) ends a segment's reading.
 */
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { parseSegment } from '../../src/sink/outbox-log.js';
import type { OutboxAppend } from '../../src/sink/outbox.js';

export function pendingOnDisk(dir: string): Array<OutboxAppend & { seq: number }> {
  const live = new Map<number, OutboxAppend & { seq: number }>();
  const seen = new Set<number>();
  for (const name of readdirSync(dir)
    .filter((n) => /^seg-\d{10}\.log$/.test(n))
    .sort()) {
    for (const { record } of parseSegment(readFileSync(path.join(dir, name))).records) {
      if (record.t === 'ack') live.delete(record.seq);
      else if (!seen.has(record.seq)) live.set(record.seq, { seq: record.seq, ...record.event });
      seen.add(record.seq);
    }
  }
  return [...live.values()].sort((a, b) => a.seq - b.seq);
}
