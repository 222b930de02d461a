/**
 * The previous outbox store (one file per event), kept for bench/outbox.ts to compare against and for
 * decodeEntryFile(), which sink/outbox.ts uses to import such files once after an upgrade.
 *
 * Storage: one file per entry, named by a zero-padded monotonic sequence (`0000000000000042.json`),
 * written to a temp name, fsync'd, renamed, then the directory fsync'd: an entry is either wholly
 * there or not at all after a crash. ack() unlinks the file. At start, leftover temp files are
 * deleted and unreadable entries moved to `quarantine/` with a log line (never fatal).
 * A file holds the event's fields with its payload as a JSON object (format v2); files of the previous
 * format (v1: the payload as base64 of a JSON string) are still read.
 * Entries are also kept in memory (bounded by maxBytes) so the sender never reads the disk.
 * A write the disk refuses (full, read-only) does not lose the event: it stays queued in memory (bounded
 * by maxBytes like every entry, counted, health() degraded) and is written again with backoff until it
 * succeeds or the event is delivered; only a stop while the disk still refuses loses it (logged at error).
 * One process at a time: start() locks the directory (util/dir-lock.ts) and refuses one held by another
 * live inspectd; stop() releases it.
 */
import path from 'node:path';
import { ErrorCodes, InspectdError, errorMessage } from '../errors.js';
import type { OutboxConfig } from '../config/types.js';
import type { Logger } from '../ops/log.js';
import type { Metrics } from '../ops/metrics.js';
import type { OutboxHealth } from '../contracts/ops.js';
import { backoffDelay, type BackoffPolicy } from '../util/backoff.js';
import { DirLock } from '../util/dir-lock.js';
import { type DropReason, fields, isDecision, isKind, isPayload, type OutboxAppend, type OutboxEntry, type OutboxKind } from './outbox-types.js';
import { nodeStateFs, type StateFileHandle, type StateFs } from '../util/state-fs.js';

interface StoredEntry extends OutboxAppend {
  v: 2;
  seq: number;
}

/** The previous format, still read so entries queued before an upgrade are delivered. */
interface StoredEntryV1 {
  v: 1;
  seq: number;
  topic: string;
  payload: string; // base64 of the JSON body
  retain: boolean;
  kind: OutboxKind;
  createdWall: number;
}

const SEQ_WIDTH = 16;
export const ENTRY_RE = /^(\d{16})\.json$/;

export class FileOutbox {
  private readonly config: OutboxConfig;
  private readonly logger: Logger;
  private readonly metrics?: Metrics;
  private readonly now: () => number;
  private readonly entries: OutboxEntry[] = [];
  private nextSeq = 1;
  private totalBytes = 0;
  private started = false;
  private stopped = false;
  /** Writes in progress by entry id: removal of a file waits for its write. */
  private readonly pending = new Map<string, Promise<void>>();
  private droppedRejectCount = 0;
  private droppedCount = 0;
  private readonly listeners = new Set<() => void>();
  private readonly lock: DirLock;
  private readonly fs: StateFs;
  /** Entries whose file the disk refused, by id, with their text: held in memory and written again later. */
  private readonly unwrittenText = new Map<string, string>();
  private lastWriteError: string | null = null;
  /** The last refusal was for space (ENOSPC, EDQUOT): other writers on the disk must leave it all to us. */
  private diskFull = false;
  private readonly writeRetry: BackoffPolicy;
  private retryTimer: NodeJS.Timeout | undefined;
  private retryAttempt = 0;

  /**
   * fs: the file operations (default node:fs); tests pass a full or read-only stand-in.
   * writeRetry: the wait before writing refused entries again (default 500 ms doubling to 30 s).
   */
  constructor(opts: { config: OutboxConfig; logger: Logger; metrics?: Metrics; now?: () => number; fs?: StateFs; writeRetry?: BackoffPolicy }) {
    this.config = opts.config;
    this.fs = opts.fs ?? nodeStateFs;
    this.writeRetry = opts.writeRetry ?? { baseMs: 500, maxMs: 30_000 };
    this.lock = new DirLock(opts.config.dir, 'outbox directory', 'outbox.dir', this.fs);
    this.logger = opts.logger.child({ component: 'outbox' });
    this.metrics = opts.metrics;
    this.now = opts.now ?? Date.now;
  }

  get dir(): string {
    return this.config.dir;
  }
  /** A reject delivered later than this after capture is published with expired: true. */
  get rejectTtlMs(): number {
    return this.config.rejectTtlMs;
  }
  get depth(): number {
    return this.entries.length;
  }
  get bytes(): number {
    return this.totalBytes;
  }
  /** Rejects and verdicts dropped by the bounds since start (each was logged at error level). */
  get droppedRejects(): number {
    return this.droppedRejectCount;
  }
  get dropped(): number {
    return this.droppedCount;
  }
  /** Entries held only in memory: the disk refused their file (retried with backoff). */
  get unwritten(): number {
    return this.unwrittenText.size;
  }
  /** The outbox's line on /healthz: not ok while entries wait in memory for the disk. */
  health(): OutboxHealth {
    const unwritten = this.unwrittenText.size;
    return { ok: unwritten === 0, depth: this.entries.length, unwritten, ...(unwritten > 0 && this.lastWriteError ? { error: this.lastWriteError } : {}) };
  }
  /**
   * Disk space other writers on this filesystem (snapshots) must leave free: what the outbox may still grow
   * by, or everything while the disk is refusing our writes.
   */
  get reserveBytes(): number {
    return this.unwrittenText.size > 0 && this.diskFull ? Number.POSITIVE_INFINITY : Math.max(0, this.config.maxBytes - this.totalBytes);
  }

  async start(): Promise<void> {
    if (this.stopped) throw new InspectdError(ErrorCodes.LIFECYCLE, 'outbox was stopped and cannot be reopened; create a new Outbox');
    if (this.started) return;
    const dir = this.config.dir;
    try {
      await this.fs.mkdir(dir);
    } catch (err) {
      throw new InspectdError(ErrorCodes.OUTBOX_IO, `cannot create outbox directory ${dir}: ${errorMessage(err)}; set outbox.dir to a writable folder (systemd: StateDirectory)`, {
        cause: err,
      });
    }
    await this.takeLock();
    try {
      await this.load();
    } catch (err) {
      await this.lock.release().catch(() => undefined);
      throw err;
    }
    this.started = true;
    if (this.entries.length > 0) {
      this.logger.info({ depth: this.entries.length, bytes: this.totalBytes }, 'outbox recovered entries from disk');
    }
    await this.prune();
    this.updateGauges();
  }

  /** The directory lock; creating it is also the check that the directory is writable. */
  private async takeLock(): Promise<void> {
    const dir = this.config.dir;
    try {
      const { staleFrom } = await this.lock.acquire();
      if (staleFrom !== undefined) this.logger.warn({ dir, pid: staleFrom }, 'outbox lock of a process that is gone taken over (an unclean stop)');
    } catch (err) {
      if (err instanceof InspectdError) throw err;
      throw new InspectdError(
        ErrorCodes.OUTBOX_IO,
        `outbox directory ${dir} is not writable: ${errorMessage(err)}; set outbox.dir to a writable folder (systemd: StateDirectory) or fix its permissions/mount`,
        { cause: err },
      );
    }
  }

  private async load(): Promise<void> {
    const dir = this.config.dir;
    const names = (await this.fs.readdir(dir)).sort();
    let maxSeq = 0;
    for (const name of names) {
      if (name.startsWith('.tmp-')) {
        // A write interrupted before its rename: the append never resolved, so nobody relied on it.
        await this.fs.rm(path.join(dir, name));
        continue;
      }
      const m = ENTRY_RE.exec(name);
      if (!m) continue;
      const seq = Number(m[1]);
      maxSeq = Math.max(maxSeq, seq);
      try {
        const entry = decodeEntryFile(await this.fs.readFile(path.join(dir, name)), seq, this.config.rejectTtlMs);
        this.entries.push(entry);
        this.totalBytes += entry.bytes;
      } catch (err) {
        await this.quarantine(name, errorMessage(err));
      }
    }
    this.nextSeq = maxSeq + 1;
  }

  /**
   * Queues the entry and resolves once it is durable (file + directory fsync'd), or, when the disk refuses
   * the write, once it is held in memory for a later write (health() degraded, counted).
   * The entry is visible to peek()/list() at once, so the sender may transmit it while the fsync
   * runs (the fsync, not the network, is what a reject waits for); ack() of such an entry waits for
   * its write to finish before removing the file, so an acked entry never reappears after a restart.
   */
  append(input: OutboxAppend): Promise<OutboxEntry> {
    if (!this.started || this.stopped) {
      return Promise.reject(new InspectdError(ErrorCodes.LIFECYCLE, 'outbox is not running (start() it before appending)'));
    }
    const seq = this.nextSeq;
    const id = String(seq).padStart(SEQ_WIDTH, '0');
    const stored: StoredEntry = { v: 2, seq, ...fields(input) };
    let text: string;
    try {
      text = JSON.stringify(stored);
    } catch (err) {
      return Promise.reject(err);
    }
    this.nextSeq++;
    const entry: OutboxEntry = { id, seq, ...fields(input), bytes: Buffer.byteLength(text) };
    this.entries.push(entry);
    this.totalBytes += entry.bytes;
    const done = this.write(id, text).then(async () => {
      await this.prune();
      this.updateGauges();
      return entry;
    });
    this.updateGauges();
    for (const fn of this.listeners) fn();
    return done;
  }

  /** Writes one entry's file; a refusal keeps it in memory and schedules a retry. Never rejects. */
  private async write(id: string, text: string): Promise<void> {
    const write = this.writeEntry(id, text);
    this.pending.set(id, write);
    try {
      await write;
      this.unwrittenText.delete(id);
    } catch (err) {
      this.metrics?.outboxWriteFailures.inc();
      if (this.entries.some((e) => e.id === id)) {
        if (this.unwrittenText.size === 0) {
          this.logger.error(
            { dir: this.config.dir, err: errorMessage(err) },
            'outbox cannot write to disk; events are held in memory and written again when it can (check free space and permissions)',
          );
        }
        this.unwrittenText.set(id, text);
        this.lastWriteError = errorMessage(err);
        const code = ((err as Error).cause as NodeJS.ErrnoException | undefined)?.code;
        this.diskFull = code === 'ENOSPC' || code === 'EDQUOT';
        this.scheduleRetry();
      }
    } finally {
      this.pending.delete(id);
      this.updateGauges();
    }
  }

  private scheduleRetry(): void {
    if (this.retryTimer || this.stopped) return;
    const delayMs = backoffDelay(this.writeRetry, this.retryAttempt++);
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined;
      void this.retryWrites();
    }, delayMs);
    this.retryTimer.unref();
  }

  /** Writes the held entries again, oldest first; stops at the first refusal (which schedules the next try). */
  private async retryWrites(): Promise<void> {
    const held = this.unwrittenText.size;
    for (const [id, text] of [...this.unwrittenText]) {
      if (this.stopped) return;
      if (!this.entries.some((e) => e.id === id)) {
        this.unwrittenText.delete(id); // delivered or dropped meanwhile: nothing to write
        continue;
      }
      await this.write(id, text);
      if (this.unwrittenText.has(id)) return;
    }
    this.updateGauges();
    if (this.unwrittenText.size === 0) {
      this.retryAttempt = 0;
      this.lastWriteError = null;
      this.logger.info({ dir: this.config.dir, written: held }, 'outbox writes to disk again; events held in memory are on disk');
    }
  }

  private async writeEntry(id: string, text: string): Promise<void> {
    const file = path.join(this.config.dir, `${id}.json`);
    const tmp = path.join(this.config.dir, `.tmp-${id}`);
    try {
      const fh = await this.fs.open(tmp, 'w');
      try {
        await fh.writeFile(text);
        await fh.sync();
      } finally {
        await fh.close();
      }
      await this.fs.rename(tmp, file);
      await syncDir(this.fs, this.config.dir);
    } catch (err) {
      await this.fs.rm(tmp).catch(() => undefined);
      throw new InspectdError(ErrorCodes.OUTBOX_IO, `cannot write outbox entry in ${this.config.dir}: ${errorMessage(err)}; check free disk space and permissions`, { cause: err });
    }
  }

  /** Oldest entry still queued, or undefined. */
  peek(): OutboxEntry | undefined {
    return this.entries[0];
  }

  /** A snapshot of all queued entries, oldest first. */
  list(): readonly OutboxEntry[] {
    return this.entries.slice();
  }

  /** Removes an entry (delivered, or superseded). Unknown ids are ignored: ack is idempotent. */
  async ack(id: string): Promise<void> {
    const i = this.entries.findIndex((e) => e.id === id);
    if (i < 0) return;
    const [entry] = this.entries.splice(i, 1);
    this.totalBytes -= entry!.bytes;
    this.updateGauges();
    await this.unlink(id);
  }

  /** Called whenever an entry is appended (the sender wakes up on it). Returns an unsubscribe. */
  onAppend(fn: () => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  /**
   * Applies the bounds: entries past maxAgeMs go; then, while over maxBytes,
   * the oldest non-reject entries go first, rejects only when nothing else is left to drop.
   */
  async prune(): Promise<void> {
    const now = this.now();
    const victims: Array<{ entry: OutboxEntry; reason: DropReason }> = [];
    for (const e of this.entries) {
      if (this.config.maxAgeMs > 0 && now - e.captureWall > this.config.maxAgeMs) victims.push({ entry: e, reason: 'age' });
    }
    const chosen = new Set(victims.map((v) => v.entry.id));
    let bytes = this.totalBytes - victims.reduce((s, v) => s + v.entry.bytes, 0);
    // The newest entry is never evicted for size: it is the one just promised durable.
    const keepLast = this.entries[this.entries.length - 1]?.id;
    if (this.config.maxBytes > 0 && bytes > this.config.maxBytes) {
      for (const pass of ['other', 'reject'] as const) {
        for (const e of this.entries) {
          if (bytes <= this.config.maxBytes) break;
          if (chosen.has(e.id) || e.id === keepLast) continue;
          if ((pass === 'other') === isDecision(e.kind)) continue;
          chosen.add(e.id);
          victims.push({ entry: e, reason: 'size' });
          bytes -= e.bytes;
        }
      }
    }
    for (const { entry, reason } of victims) {
      const i = this.entries.findIndex((e) => e.id === entry.id);
      if (i < 0) continue;
      this.entries.splice(i, 1);
      this.totalBytes -= entry.bytes;
      this.droppedCount++;
      this.metrics?.outboxDropped.inc({ kind: entry.kind, reason });
      const info = { id: entry.id, ...(entry.key !== undefined ? { key: entry.key } : {}), topic: entry.topic, kind: entry.kind, reason, ageMs: now - entry.captureWall };
      if (isDecision(entry.kind)) {
        this.droppedRejectCount++;
        this.logger.error(
          { ...info, maxBytes: this.config.maxBytes, maxAgeMs: this.config.maxAgeMs },
          `outbox dropped an undelivered ${entry.kind.toUpperCase()} event (bound reached); raise outbox.maxBytes/maxAgeMs or fix the broker connection`,
        );
      } else {
        this.logger.warn(info, 'outbox dropped an undelivered event (bound reached)');
      }
      await this.unlink(entry.id);
    }
    if (victims.length > 0) this.updateGauges();
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    clearTimeout(this.retryTimer);
    await Promise.allSettled([...this.pending.values()]);
    const lost = [...this.unwrittenText.keys()].filter((id) => this.entries.some((e) => e.id === id));
    if (lost.length > 0) {
      const keys = this.entries.filter((e) => this.unwrittenText.has(e.id) && e.key !== undefined).map((e) => e.key);
      this.logger.error(
        { dir: this.config.dir, lost: lost.length, keys: keys.slice(0, 20), err: this.lastWriteError },
        'outbox stopped while the disk refused writes: undelivered events held only in memory are LOST',
      );
    }
    this.listeners.clear();
    await this.lock.release().catch((err: unknown) => this.logger.warn({ dir: this.config.dir, err: errorMessage(err) }, 'outbox lock not released'));
  }

  private updateGauges(): void {
    this.metrics?.outboxDepth.set(this.entries.length);
    this.metrics?.outboxBytes.set(this.totalBytes);
    this.metrics?.outboxUnwritten.set(this.unwrittenText.size);
  }

  private async unlink(id: string): Promise<void> {
    const write = this.pending.get(id);
    if (write) await write.catch(() => undefined);
    if (this.unwrittenText.delete(id)) {
      this.updateGauges();
      return; // never written: no file
    }
    try {
      await this.fs.rm(path.join(this.config.dir, `${id}.json`));
    } catch (err) {
      // Left on disk, it would be re-sent after a restart: the idempotency key lets subscribers dedupe.
      this.logger.error({ id, err: errorMessage(err) }, 'cannot remove outbox entry file');
    }
  }

  private async quarantine(name: string, why: string): Promise<void> {
    const qdir = path.join(this.config.dir, 'quarantine');
    try {
      await this.fs.mkdir(qdir);
      await this.fs.rename(path.join(this.config.dir, name), path.join(qdir, `${name}.${Date.now()}`));
      this.logger.error({ file: name, reason: why, quarantine: qdir }, 'corrupt outbox entry moved to quarantine');
    } catch (err) {
      this.logger.error({ file: name, reason: why, err: errorMessage(err) }, 'corrupt outbox entry could not be quarantined; ignored');
    }
  }
}

/** rejectTtlMs: the expiry deadline of a v1 reject, which did not store one. */
export function decodeEntryFile(buf: Buffer, seq: number, rejectTtlMs: number): OutboxEntry {
  const raw = JSON.parse(buf.toString('utf8')) as Record<string, unknown>;
  const id = String(seq).padStart(SEQ_WIDTH, '0');
  if (!isPayload(raw) || raw.seq !== seq) throw new Error('entry is not an object of this sequence number');
  if (raw.v === 1) return { id, seq, ...decodeV1(raw as Partial<StoredEntryV1>, rejectTtlMs), bytes: buf.length };
  if (
    raw.v !== 2 ||
    (raw.key !== undefined && typeof raw.key !== 'string') ||
    !isKind(raw.kind) ||
    typeof raw.topic !== 'string' ||
    (raw.qos !== 1 && raw.qos !== 2) ||
    typeof raw.retain !== 'boolean' ||
    !isPayload(raw.payload) ||
    typeof raw.captureWall !== 'number' ||
    (raw.expiresWall !== undefined && typeof raw.expiresWall !== 'number')
  ) {
    throw new Error('entry fields missing or of the wrong type');
  }
  const input: OutboxAppend = {
    ...(typeof raw.key === 'string' ? { key: raw.key } : {}),
    kind: raw.kind,
    topic: raw.topic,
    qos: raw.qos,
    retain: raw.retain,
    payload: raw.payload,
    captureWall: raw.captureWall,
    ...(typeof raw.expiresWall === 'number' ? { expiresWall: raw.expiresWall } : {}),
  };
  return { id, seq, ...input, bytes: buf.length };
}

/**
 * A v1 entry as a v2 one. v1 rejects carried their capture clock inside the payload (and published it);
 * it moves out of the payload into captureWall, as for a reject queued now.
 */
function decodeV1(raw: Partial<StoredEntryV1>, rejectTtlMs: number): OutboxAppend {
  if (typeof raw.topic !== 'string' || typeof raw.payload !== 'string' || typeof raw.retain !== 'boolean' || !isKind(raw.kind) || typeof raw.createdWall !== 'number') {
    throw new Error('entry fields missing or of the wrong type');
  }
  const body: unknown = JSON.parse(Buffer.from(raw.payload, 'base64').toString('utf8'));
  if (!isPayload(body)) throw new Error('entry payload is not a JSON object');
  if (raw.kind === 'state') {
    return { kind: 'state', topic: raw.topic, qos: 1, retain: raw.retain, payload: body, captureWall: raw.createdWall };
  }
  const { captureWall, ...payload } = body;
  const capturedAt = typeof captureWall === 'number' ? captureWall : raw.createdWall;
  return {
    ...(typeof payload.key === 'string' ? { key: payload.key } : {}),
    kind: 'reject',
    topic: raw.topic,
    qos: 1,
    retain: raw.retain,
    payload,
    captureWall: capturedAt,
    expiresWall: capturedAt + rejectTtlMs,
  };
}

async function syncDir(fs: StateFs, dir: string): Promise<void> {
  let fh: StateFileHandle | undefined;
  try {
    fh = await fs.open(dir, 'r');
    await fh.sync();
  } catch {
    // Some filesystems refuse fsync on directories; the rename is still atomic.
  } finally {
    await fh?.close();
  }
}
