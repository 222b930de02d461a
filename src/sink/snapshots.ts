/**
 * JPEG snapshots of rejected frames with their boxes drawn, for the operator to look at later.
 * Off the hot path: saveReject() returns at once with a promise the pipeline need not await;
 * at most `maxConcurrent` encodes run, further requests are dropped and counted (a snapshot is
 * a convenience, the reject event itself is what matters). Keeps at most maxFiles and maxBytes (oldest go).
 * Rejects win over snapshots on a shared disk: with `reserve` (the outbox's folder and the space it may
 * still need) on the same filesystem, a snapshot that would leave less free than that first deletes the
 * oldest snapshots, and is skipped (counted, reason disk) if it still does not fit.
 * start() locks the directory for this process (util/dir-lock.ts) and deletes `.tmp` files a crash left;
 * a writer used without start() creates its directory on the first write and takes no lock.
 */
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import sharp from 'sharp';
import { errorMessage } from '../errors.js';
import type { SnapshotConfig } from '../config/types.js';
import type { Logger } from '../ops/log.js';
import type { Metrics } from '../ops/metrics.js';
import type { Detection } from '../contracts/vision.js';
import { DirLock } from '../util/dir-lock.js';
import { overlaySvg } from '../vision/annotate.js';

export { overlaySvg };

export interface SnapshotFrame {
  data: Buffer;
  width: number;
  height: number;
  format: 'rgb24' | 'bgr24' | 'gray8';
}

export interface SnapshotMeta {
  cameraId: string;
  seq: number;
  key: string;
}

/** Why a directory refuses a snapshot, by errno code, in words. */
const DIR_FAILURES: Readonly<Record<string, string>> = {
  ENOSPC: 'the disk is full',
  EDQUOT: 'the disk quota is used up',
  EROFS: 'the filesystem is read-only',
  EACCES: 'permission denied',
  EPERM: 'permission denied',
  ENOENT: 'the directory is gone',
};

/** Space another writer needs on its filesystem (the outbox): left free when it is the snapshots' filesystem. */
export interface SnapshotReserve {
  dir: string;
  bytes: () => number;
}

interface SnapshotFile {
  name: string;
  bytes: number;
}

export class SnapshotWriter {
  private readonly config: SnapshotConfig;
  private readonly logger: Logger;
  private readonly metrics?: Metrics;
  private readonly maxConcurrent: number;
  private readonly quality: number;
  private readonly inflight = new Set<Promise<unknown>>();
  private dirReady: Promise<void> | null = null;
  private stopped = false;
  private droppedCount = 0;
  private writtenCount = 0;
  private readonly lock: DirLock;
  private readonly reserve?: SnapshotReserve;
  /** Whether the reserve's folder is on the snapshots' filesystem (checked once the directory exists). */
  private sharedFs: Promise<boolean> | null = null;
  /** The snapshots on disk, oldest first (names sort by time), with their sizes. */
  private files: SnapshotFile[] | null = null;
  private filesBytes = 0;
  private yielding = false;
  /** Why the directory refuses snapshots (disk full, read-only), naming it; null once one is written again. */
  private failure: string | null = null;

  constructor(opts: { config: SnapshotConfig; logger: Logger; metrics?: Metrics; maxConcurrent?: number; quality?: number; reserve?: SnapshotReserve }) {
    this.config = opts.config;
    this.reserve = opts.reserve;
    this.lock = new DirLock(opts.config.dir, 'snapshots directory', 'snapshots.dir');
    this.logger = opts.logger.child({ component: 'snapshots' });
    this.metrics = opts.metrics;
    this.maxConcurrent = opts.maxConcurrent ?? 2;
    this.quality = opts.quality ?? 85;
  }

  get dropped(): number {
    return this.droppedCount;
  }
  get written(): number {
    return this.writtenCount;
  }
  /** Why snapshots are being dropped: the directory refuses them (disk full, read-only); null while they are written. */
  get error(): string | null {
    return this.failure;
  }
  /** Bytes of the snapshots on disk (after the first write or start()). */
  get bytes(): number {
    return this.filesBytes;
  }

  /**
   * Resolves to the JPEG path, or null when disabled, busy, stopped, short of disk (yielding to the outbox)
   * or failed (logged, counted). `file`: the path to write (from plannedFile()); default: a fresh name.
   * The frame bytes are copied before this returns, so the caller may reuse its buffer at once.
   */
  saveReject(frame: SnapshotFrame, detections: Detection[], meta: SnapshotMeta, file?: string): Promise<string | null> {
    if (!this.config.enabled || this.stopped) return Promise.resolve(null);
    if (this.inflight.size >= this.maxConcurrent) {
      this.drop('busy');
      return Promise.resolve(null);
    }
    const copy = Buffer.from(frame.data);
    const job = this.write(
      { ...frame, data: copy },
      detections.map((d) => ({ ...d, box: { ...d.box } })),
      meta,
      file,
    ).catch((err: unknown) => {
      this.drop('error');
      this.failed(err, meta);
      return null;
    });
    this.inflight.add(job);
    void job.finally(() => this.inflight.delete(job));
    return job;
  }

  /**
   * Creates and locks the directory (LOCKED when another inspectd holds it) and removes the `.tmp` files of
   * writes a crash cut off. A disabled writer does nothing.
   */
  async start(): Promise<void> {
    if (!this.config.enabled || this.stopped) return;
    const dir = this.config.dir;
    await this.ensureDir();
    const { staleFrom } = await this.lock.acquire();
    if (staleFrom !== undefined) this.logger.warn({ dir, pid: staleFrom }, 'snapshots lock of a process that is gone taken over (an unclean stop)');
    for (const name of await fsp.readdir(dir)) {
      if (name.endsWith('.jpg.tmp')) await fsp.rm(path.join(dir, name), { force: true });
    }
    await this.index();
    await this.enforceBounds();
  }

  /**
   * Refuses new snapshots, then resolves once every one being written is complete on disk (renamed from
   * its .tmp, or failed and cleaned up), and releases the directory. Idempotent.
   */
  async stop(): Promise<void> {
    this.stopped = true;
    await Promise.allSettled([...this.inflight]);
    await this.lock.release();
  }

  private ensureDir(): Promise<void> {
    this.dirReady ??= fsp.mkdir(this.config.dir, { recursive: true }).then(() => undefined);
    return this.dirReady;
  }

  /** A directory that refuses writes is said once (an error naming it), not once per reject; other failures per snapshot. */
  private failed(err: unknown, meta: SnapshotMeta): void {
    const code = (err as NodeJS.ErrnoException).code;
    const fields = { camera: meta.cameraId, seq: meta.seq, key: meta.key, err: errorMessage(err) };
    if (typeof code !== 'string') {
      this.logger.warn(fields, 'reject snapshot not written');
      return;
    }
    const why = DIR_FAILURES[code] ?? errorMessage(err).split(', ')[0];
    const text = `snapshots directory ${this.config.dir}: ${why} (${code}); reject snapshots are dropped (counted) until it can be written again, rejects are unaffected`;
    if (text === this.failure) {
      this.logger.debug(fields, 'reject snapshot not written');
      return;
    }
    this.failure = text;
    this.logger.error({ ...fields, dir: this.config.dir, dropped: this.droppedCount }, text);
  }

  private drop(reason: 'busy' | 'error' | 'disk'): void {
    this.droppedCount++;
    this.metrics?.snapshotsDropped.inc({ reason });
  }

  /**
   * The file a snapshot of `meta` taken now would be written to (a verdict names its evidence before the
   * JPEG exists); undefined when disabled or stopped. Pass it to saveReject() as `file`.
   */
  plannedFile(meta: SnapshotMeta): string | undefined {
    if (!this.config.enabled || this.stopped) return undefined;
    return path.join(this.config.dir, snapshotName(meta, Date.now()));
  }

  private async write(frame: SnapshotFrame, detections: Detection[], meta: SnapshotMeta, planned?: string): Promise<string | null> {
    await this.ensureDir();
    const channels = frame.format === 'gray8' ? 1 : 3;
    const expected = frame.width * frame.height * channels;
    if (frame.data.length < expected) throw new Error(`frame has ${frame.data.length} bytes, expected ${expected} for ${frame.width}x${frame.height} ${frame.format}`);
    const data = frame.format === 'bgr24' ? bgrToRgb(frame.data, expected) : frame.data;
    const svg = overlaySvg(frame.width, frame.height, detections);
    const jpeg = await sharp(data, { raw: { width: frame.width, height: frame.height, channels } })
      .toColourspace('srgb')
      .composite([{ input: Buffer.from(svg), top: 0, left: 0 }])
      // 4:4:4: thin red box lines lose their colour under 4:2:0 chroma subsampling.
      .jpeg({ quality: this.quality, chromaSubsampling: '4:4:4' })
      .toBuffer();
    const files = await this.index();
    if (!(await this.makeRoom(jpeg.length, meta))) {
      this.drop('disk');
      return null;
    }
    const file = planned ?? path.join(this.config.dir, snapshotName(meta, Date.now()));
    const name = path.basename(file);
    const tmp = `${file}.tmp`;
    try {
      await fsp.writeFile(tmp, jpeg);
      await fsp.rename(tmp, file);
    } catch (err) {
      await fsp.rm(tmp, { force: true }).catch(() => undefined);
      throw err;
    }
    this.writtenCount++;
    if (this.failure) {
      this.failure = null;
      this.logger.info({ dir: this.config.dir, dropped: this.droppedCount }, 'snapshots directory writable again: reject snapshots are written');
    }
    files.push({ name, bytes: jpeg.length });
    this.filesBytes += jpeg.length;
    await this.enforceBounds();
    return file;
  }

  /** The snapshots already on disk (a previous run's count against the bounds too). */
  private async index(): Promise<SnapshotFile[]> {
    if (this.files) return this.files;
    const files: SnapshotFile[] = [];
    for (const name of (await fsp.readdir(this.config.dir)).filter((n) => n.endsWith('.jpg')).sort()) {
      const st = await fsp.stat(path.join(this.config.dir, name)).catch(() => null);
      if (st?.isFile()) files.push({ name, bytes: st.size });
    }
    if (this.files) return this.files; // another write indexed meanwhile
    this.files = files;
    this.filesBytes = files.reduce((n, f) => n + f.bytes, 0);
    return files;
  }

  /** Oldest first while over maxFiles or maxBytes; the newest always stays. */
  private async enforceBounds(): Promise<void> {
    const files = await this.index();
    while (files.length > 1 && (files.length > this.config.maxFiles || this.filesBytes > this.config.maxBytes)) await this.removeOldest();
  }

  private async removeOldest(): Promise<number> {
    const oldest = this.files?.shift();
    if (!oldest) return 0;
    this.filesBytes -= oldest.bytes;
    await fsp.rm(path.join(this.config.dir, oldest.name), { force: true });
    return oldest.bytes;
  }

  /**
   * Whether `bytes` more leave the reserve free on a shared filesystem, deleting the oldest snapshots to
   * get there (snapshots yield first). Always true without a reserve or on another filesystem.
   */
  private async makeRoom(bytes: number, meta: SnapshotMeta): Promise<boolean> {
    const reserve = this.reserve;
    if (!reserve) return true;
    this.sharedFs ??= sameFilesystem(this.config.dir, reserve.dir);
    if (!(await this.sharedFs)) return true;
    const st = await fsp.statfs(this.config.dir);
    let free = st.bavail * st.bsize;
    const need = bytes + reserve.bytes();
    let freed = 0;
    while (free < need && (this.files?.length ?? 0) > 0) {
      const n = await this.removeOldest();
      free += n;
      freed += n;
    }
    const fits = free >= need;
    if (!fits || freed > 0) {
      if (!this.yielding) {
        this.logger.warn(
          { camera: meta.cameraId, key: meta.key, freeBytes: free, reservedBytes: reserve.bytes(), deletedBytes: freed, written: fits },
          'disk space is kept for the outbox: old snapshots deleted, new ones skipped while it is short',
        );
      }
      this.yielding = true;
    } else {
      this.yielding = false;
    }
    return fits;
  }
}

async function sameFilesystem(a: string, b: string): Promise<boolean> {
  try {
    return (await fsp.stat(a)).dev === (await fsp.stat(b)).dev;
  } catch {
    return true; // unknown: assume shared, the careful side
  }
}

/** `20261125T061502123Z_cam1_000000000042.jpg`: sorts by time, then camera and sequence. */
export function snapshotName(meta: SnapshotMeta, wall: number): string {
  const ts = new Date(wall).toISOString().replace(/[-:.]/g, '');
  const cam = meta.cameraId.replace(/[^A-Za-z0-9_.-]/g, '_');
  return `${ts}_${cam}_${String(meta.seq).padStart(12, '0')}.jpg`;
}

function bgrToRgb(src: Buffer, len: number): Buffer {
  const out = Buffer.allocUnsafe(len);
  for (let i = 0; i < len; i += 3) {
    out[i] = src[i + 2]!;
    out[i + 1] = src[i + 1]!;
    out[i + 2] = src[i]!;
  }
  return out;
}
