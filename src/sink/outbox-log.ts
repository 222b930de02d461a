/**
 * The outbox's segment-log record format, pure (no I/O). A record is
 *   u32 LE body length | u32 LE CRC-32 of the body | body (UTF-8 JSON)
 * with the body a PUT `{"t":"put","seq":N,...event fields}` or an ACK `{"t":"ack","seq":N}` (delivered
 * or dropped). A crash mid-append leaves a short or mismatching tail, which parseSegment() reports as the
 * offset of the last good record so the caller can cut the file there.
 */
import { crc32 } from 'node:zlib';
import { fields, isPayload, type OutboxAppend, parseFields } from './outbox-types.js';

export const HEADER_BYTES = 8;
/** A length past this is a corrupt header, not a record (events are kilobytes). */
const MAX_BODY_BYTES = 64 * 1024 * 1024;

export type LogRecord = { t: 'put'; seq: number; event: OutboxAppend } | { t: 'ack'; seq: number };

function frame(body: string): Buffer {
  const bytes = Buffer.from(body, 'utf8');
  const out = Buffer.allocUnsafe(HEADER_BYTES + bytes.length);
  out.writeUInt32LE(bytes.length, 0);
  out.writeUInt32LE(crc32(bytes), 4);
  bytes.copy(out, HEADER_BYTES);
  return out;
}

/** Throws when the event cannot be serialised (a payload with a cycle or a BigInt). */
export function encodePut(seq: number, event: OutboxAppend): Buffer {
  return frame(JSON.stringify({ t: 'put', seq, ...fields(event) }));
}

export function encodeAck(seq: number): Buffer {
  return frame(JSON.stringify({ t: 'ack', seq }));
}

export interface ParsedSegment {
  /** Each good record with its size on disk (header included). */
  records: Array<{ record: LogRecord; bytes: number }>;
  /** Bytes up to the end of the last good record. */
  goodBytes: number;
  /** Why reading stopped before the end of the buffer (a torn or corrupt tail), or undefined. */
  error?: string;
}

export function parseSegment(buf: Buffer): ParsedSegment {
  const records: ParsedSegment['records'] = [];
  let off = 0;
  while (off < buf.length) {
    if (buf.length - off < HEADER_BYTES) return { records, goodBytes: off, error: `torn record header at byte ${off}` };
    const len = buf.readUInt32LE(off);
    if (len > MAX_BODY_BYTES) return { records, goodBytes: off, error: `record length ${len} at byte ${off} is corrupt` };
    if (buf.length - off - HEADER_BYTES < len) return { records, goodBytes: off, error: `torn record body at byte ${off}` };
    const body = buf.subarray(off + HEADER_BYTES, off + HEADER_BYTES + len);
    if (crc32(body) !== buf.readUInt32LE(off + 4)) return { records, goodBytes: off, error: `record checksum mismatch at byte ${off}` };
    let record: LogRecord;
    try {
      record = decodeBody(body);
    } catch (err) {
      return { records, goodBytes: off, error: `record at byte ${off}: ${(err as Error).message}` };
    }
    records.push({ record, bytes: HEADER_BYTES + len });
    off += HEADER_BYTES + len;
  }
  return { records, goodBytes: off };
}

function decodeBody(body: Buffer): LogRecord {
  const raw: unknown = JSON.parse(body.toString('utf8'));
  if (!isPayload(raw) || !Number.isSafeInteger(raw.seq) || (raw.seq as number) < 1) throw new Error('not a record object with a sequence number');
  const seq = raw.seq as number;
  if (raw.t === 'ack') return { t: 'ack', seq };
  if (raw.t === 'put') return { t: 'put', seq, event: parseFields(raw) };
  throw new Error(`unknown record type ${String(raw.t)}`);
}
