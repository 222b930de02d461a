/**
 * Hot folder: image files dropped into a folder are judged one at a time, in name order, losslessly:
 * the next file is emitted only after the pipeline calls Frame.done(). A file is read only once its size
 * and mtime have held still for settleMs (a camera or copy may still be writing it). Judged files move to
 * doneDir; undecodable ones (or done(err)) move to quarantineDir with `<name>.reason.txt`.
 *
 * Bounded: an image over maxPixels is quarantined from its header, never decoded, and a file bigger than
 * any image within maxPixels can be is quarantined unread. Images keep their own size (no shrink-on-load):
 * zones, minBoxArea and the boxes published are in source pixels. A GIF is judged by its first frame.
 * Symbolic links are quarantined unread unless followSymlinks is set (a link could make us read, and
 * publish snapshots of, any image the daemon can read); the file is opened with O_NOFOLLOW, so a link
 * swapped in after the listing is refused too.
 *
 * A judged file that cannot be moved out (an unwritable doneDir) would be judged again at every poll,
 * each time with a new reject key. It is remembered instead (dev/inode, size, mtime: a file rewritten in
 * place counts as new), not judged again while it stays, the camera is held in fault naming the directory,
 * and the move is retried every moveRetryMs; the fault clears once no such file is left.
 *
 * A file whose frame failed because the inference engine did (its worker died; isEngineFailure) was not judged:
 * it stays and is handed again after a growing wait, and is quarantined only after ENGINE_RETRIES such failures
 * (an image that kills every engine must not hold the folder forever).
 */
import { constants as fsc, type Stats } from 'node:fs';
import { copyFile, lstat, mkdir, open, readdir, rename, stat, unlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import sharp from 'sharp';
import { errorMessage, isEngineFailure } from '../errors.js';
import type { Logger } from '../ops/log.js';
import type { FolderSourceConfig } from '../config/types.js';
import type { Frame } from '../contracts/frame.js';
import type { FrameSource, SourceHandlers } from './source.js';

export const IMAGE_EXTENSIONS = new Set(['.jpg', '.jpeg', '.png', '.bmp', '.tif', '.tiff', '.webp', '.gif']);

/** No image format this folder decodes stores a pixel in more than 8 bytes (16-bit RGBA); plus metadata room. */
const BYTES_PER_PIXEL_MAX = 8;
const METADATA_BYTES_MAX = 16 * 1024 * 1024;
const MOVE_RETRY_MS = 5000;
/**
 * Engine failures one file may meet before it is quarantined, and the wait before it is handed again: doubling from
 * 1 s to 4 s, about 35 s in all, beyond the 5 s an engine replacement may wait (inference/engine-slot.ts).
 */
const ENGINE_RETRIES = 10;
const ENGINE_RETRY_MS = 1000;
const ENGINE_RETRY_MAX_MS = 4000;

interface Seen {
  size: number;
  mtimeMs: number;
  /** When size/mtime were first seen with these values. */
  since: number;
}

/** Which file, as the folder entry shows it: dev/inode of the entry, size/mtime of what it holds. */
interface FileId {
  dev: number;
  ino: number;
  size: number;
  mtimeMs: number;
}

/** A candidate that has settled: judged next, or refused (quarantined unread) with the reason. */
interface Ready {
  name: string;
  id: FileId;
  refusal?: string;
}

/** A judged file that could not be moved out of the hot folder. */
interface Unmovable {
  id: FileId;
  name: string;
  destDir: string;
  /** The quarantine reason, when it was headed for quarantine. */
  why: Error | null;
  error: string;
  lastTry: number;
}

export class FolderSource implements FrameSource {
  readonly kind = 'folder';
  private readonly dir: string;
  private readonly doneDir: string;
  private readonly quarantineDir: string;
  private readonly moveRetryMs: number;
  private handlers: SourceHandlers | undefined;
  private timer: NodeJS.Timeout | undefined;
  private seen = new Map<string, Seen>();
  /** Judged files that could not be moved, by `dev:ino`. */
  private unmovable = new Map<string, Unmovable>();
  private reportedFault: string | undefined;
  /** The file whose frame is out (waiting for done()), or being decoded. */
  private busy: string | undefined;
  private polling: Promise<void> = Promise.resolve();
  private pendingMoves = new Set<Promise<void>>();
  private stopped = false;
  private seq = 0;
  private warnedMissing = false;
  /** Engine failures met by the file being judged again (by `dev:ino`), and until when the folder waits for the engine. */
  private engineFailures = new Map<string, number>();
  private holdUntil = 0;

  constructor(
    readonly cameraId: string,
    private readonly cfg: FolderSourceConfig,
    /**
     * logger: bound to the camera. moveRetryMs: how often a file that could not be moved is tried again.
     * engineRetryMs: the first wait before a file the engine failed on is handed again (default 1 s, doubling to 4x).
     */
    private readonly deps: { logger?: Logger; moveRetryMs?: number; engineRetryMs?: number } = {},
  ) {
    this.dir = path.resolve(cfg.path);
    this.doneDir = path.resolve(cfg.doneDir);
    this.quarantineDir = path.resolve(cfg.quarantineDir);
    this.moveRetryMs = deps.moveRetryMs ?? MOVE_RETRY_MS;
  }

  async start(handlers: SourceHandlers): Promise<void> {
    if (this.handlers) return;
    this.handlers = handlers;
    this.schedule(0);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    await this.polling;
    await Promise.all([...this.pendingMoves]);
  }

  private schedule(ms: number): void {
    if (this.stopped) return;
    if (this.timer) clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.polling = this.poll()
        .catch((err) => {
          this.deps.logger?.warn({ err: errorMessage(err) }, 'hot folder poll failed');
        })
        .finally(() => this.schedule(this.cfg.pollMs));
    }, ms);
  }

  private async poll(): Promise<void> {
    if (this.stopped || this.busy || performance.now() < this.holdUntil) return;
    let names: string[];
    try {
      names = await readdir(this.dir);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      // Survive a folder that does not exist yet: create it (or wait until someone else does).
      await mkdir(this.dir, { recursive: true }).catch((mkErr) => {
        if (!this.warnedMissing) this.deps.logger?.warn({ dir: this.dir, err: errorMessage(mkErr) }, 'hot folder missing; waiting for it');
        this.warnedMissing = true;
      });
      return;
    }
    const now = performance.now();
    const candidates = names.filter((n) => IMAGE_EXTENSIONS.has(path.extname(n).toLowerCase())).sort();
    const present = new Set(candidates);
    for (const k of this.seen.keys()) if (!present.has(k)) this.seen.delete(k);
    const stillUnmovable = new Set<string>();
    let next: Ready | undefined;
    for (const name of candidates) {
      const file = path.join(this.dir, name);
      let entry: Stats;
      try {
        entry = await lstat(file);
      } catch {
        continue; // vanished between readdir and lstat
      }
      const link = entry.isSymbolicLink();
      let target: Stats | undefined = entry;
      if (link) target = this.cfg.followSymlinks ? await stat(file).catch(() => undefined) : undefined;
      const id: FileId = { dev: entry.dev, ino: entry.ino, size: (target ?? entry).size, mtimeMs: (target ?? entry).mtimeMs };
      const key = `${id.dev}:${id.ino}`;
      const stuck = this.unmovable.get(key);
      if (stuck && sameFile(stuck.id, id)) {
        stuck.name = name; // renamed in place: the same file, still judged already
        stillUnmovable.add(key);
        continue;
      }
      if (stuck) this.unmovable.delete(key); // rewritten: a new image, judged afresh
      if (target && !target.isFile()) continue; // a directory or device with an image-like name
      const prev = this.seen.get(name);
      if (!prev || prev.size !== id.size || prev.mtimeMs !== id.mtimeMs) {
        this.seen.set(name, { size: id.size, mtimeMs: id.mtimeMs, since: now });
        if (this.cfg.settleMs > 0) continue;
      } else if (now - prev.since < this.cfg.settleMs) {
        continue;
      }
      if (next) continue;
      if (link && !this.cfg.followSymlinks) next = { name, id, refusal: 'symbolic link refused (set source.followSymlinks: true to judge links)' };
      else if (link && !target) next = { name, id, refusal: 'symbolic link to a file that does not exist' };
      else next = { name, id };
    }
    for (const [key, u] of this.unmovable) {
      if (stillUnmovable.has(key)) continue;
      this.unmovable.delete(key);
      this.deps.logger?.info({ file: path.join(this.dir, u.name) }, 'a file that could not be moved is gone from the hot folder');
    }
    await this.retryMoves(now);
    this.reportFault();
    if (!next || this.stopped) return;
    if (next.refusal) await this.refuse(next.name, next.id, next.refusal);
    else await this.emit(next.name, next.id);
  }

  private async refuse(name: string, id: FileId, reason: string): Promise<void> {
    this.busy = name;
    this.seen.delete(name);
    this.deps.logger?.warn({ file: path.join(this.dir, name), reason }, 'hot folder file quarantined unread');
    await this.finish(name, id, new Error(reason));
  }

  private async emit(name: string, id: FileId): Promise<void> {
    const file = path.join(this.dir, name);
    this.busy = name;
    this.seen.delete(name);
    const maxPixels = this.cfg.maxPixels;
    let data: Buffer;
    try {
      data = await this.read(file);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOENT') {
        this.busy = undefined; // gone before it could be read: nothing to judge or move
        this.schedule(0);
        return;
      }
      const reason = code === 'ELOOP' ? 'symbolic link refused (set source.followSymlinks: true to judge links)' : `cannot read file: ${errorMessage(err)}`;
      return this.refuse(name, id, reason);
    }
    let decoded: { data: Buffer; info: { width: number; height: number; channels: number } };
    try {
      // The header first: an image over the limit is refused before a pixel of it is decoded.
      const meta = await sharp(data, { failOn: 'error', limitInputPixels: false }).metadata();
      const w = meta.width ?? 0;
      const h = meta.pageHeight ?? meta.height ?? 0;
      if (w * h > maxPixels) {
        return this.refuse(name, id, `image is ${w} x ${h} px (${megapixels(w * h)} MP), over source.maxPixels (${megapixels(maxPixels)} MP); not decoded`);
      }
      decoded = await sharp(data, { failOn: 'error', limitInputPixels: maxPixels })
        .rotate()
        .flatten({ background: { r: 0, g: 0, b: 0 } })
        .toColourspace('srgb')
        .raw()
        .toBuffer({ resolveWithObject: true });
      if (decoded.info.channels !== 3) throw new Error(`decoded to ${decoded.info.channels} channels, expected 3`);
    } catch (err) {
      this.deps.logger?.warn({ file, err: errorMessage(err) }, 'unreadable image quarantined');
      await this.finish(name, id, new Error(`cannot decode image: ${errorMessage(err)}`));
      return;
    }
    let called = false;
    const frame: Frame = {
      cameraId: this.cameraId,
      seq: this.seq++,
      captureMono: performance.now(),
      captureWall: Date.now(),
      width: decoded.info.width,
      height: decoded.info.height,
      format: 'rgb24',
      data: decoded.data,
      origin: file,
      done: (err?: Error) => {
        if (called) return;
        called = true;
        if (err && isEngineFailure(err) && this.handAgain(name, id, err)) return;
        const p = this.finish(name, id, err ?? null);
        this.pendingMoves.add(p);
        void p.finally(() => this.pendingMoves.delete(p));
      },
    };
    this.handlers!.frame(frame);
  }

  /** Not judged, the engine failed: the file stays, handed again after a wait; false once it met ENGINE_RETRIES failures. */
  private handAgain(name: string, id: FileId, err: Error): boolean {
    const key = `${id.dev}:${id.ino}`;
    const failures = (this.engineFailures.get(key) ?? 0) + 1;
    if (failures > ENGINE_RETRIES) return false; // finish() quarantines it, counting these
    this.engineFailures.set(key, failures);
    const first = this.deps.engineRetryMs ?? ENGINE_RETRY_MS;
    const waitMs = Math.min(first * (ENGINE_RETRY_MAX_MS / ENGINE_RETRY_MS), first * 2 ** (failures - 1));
    this.deps.logger?.warn(
      { file: path.join(this.dir, name), err: errorMessage(err), failures, retryInMs: waitMs },
      'inference engine failed on a hot folder file; it stays and is judged again',
    );
    this.holdUntil = performance.now() + waitMs;
    this.busy = undefined;
    return true;
  }

  /** The file's bytes, through one descriptor: no link followed unless allowed, no FIFO waited on, bounded. */
  private async read(file: string): Promise<Buffer> {
    const flags = fsc.O_RDONLY | fsc.O_NONBLOCK | (this.cfg.followSymlinks ? 0 : fsc.O_NOFOLLOW);
    const fh = await open(file, flags);
    try {
      const st = await fh.stat();
      if (!st.isFile()) throw new Error('not a regular file');
      const maxBytes = this.cfg.maxPixels * BYTES_PER_PIXEL_MAX + METADATA_BYTES_MAX;
      if (st.size > maxBytes) {
        throw new Error(`the file is ${st.size} bytes, more than an image within source.maxPixels (${megapixels(this.cfg.maxPixels)} MP) can be`);
      }
      return await fh.readFile();
    } finally {
      await fh.close();
    }
  }

  /** Moves the file out of the hot folder, then lets the next one through. */
  private async finish(name: string, id: FileId, err: Error | null): Promise<void> {
    const engineFailures = this.engineFailures.get(`${id.dev}:${id.ino}`);
    this.engineFailures.delete(`${id.dev}:${id.ino}`);
    const why =
      err && isEngineFailure(err) && engineFailures !== undefined
        ? new Error(`the inference engine failed on it ${engineFailures + 1} times (${errorMessage(err)}); check the model and engine, then move the file back`)
        : err;
    const destDir = why ? this.quarantineDir : this.doneDir;
    try {
      await this.move(name, destDir, why);
    } catch (moveErr) {
      if ((moveErr as NodeJS.ErrnoException).code !== 'ENOENT' || (await exists(path.join(this.dir, name)))) {
        this.unmovable.set(`${id.dev}:${id.ino}`, { id, name, destDir, why, error: fsErrorSummary(moveErr), lastTry: performance.now() });
        this.deps.logger?.error(
          { file: path.join(this.dir, name), dir: destDir, err: errorMessage(moveErr) },
          'cannot move a judged file out of the hot folder; it is not judged again while it stays (fix the directory permissions)',
        );
      }
    } finally {
      this.reportFault();
      this.busy = undefined;
      if (!this.stopped) this.schedule(0);
    }
  }

  private async move(name: string, destDir: string, why: Error | null): Promise<void> {
    const file = path.join(this.dir, name);
    const dest = await moveUnique(file, destDir, name);
    if (!why) return;
    // Written beside, then renamed: whoever watches quarantine/ never reads a reason file half-written (or empty).
    const reasonFile = dest + '.reason.txt';
    await writeFile(reasonFile + '.tmp', `${new Date().toISOString()} ${why.message}\n`)
      .then(() => rename(reasonFile + '.tmp', reasonFile))
      .catch((err) => {
        this.deps.logger?.warn({ file: dest, err: errorMessage(err) }, 'quarantined, but the reason file could not be written');
      });
  }

  /** Tries again to move the files that could not be moved (not judged again: they were judged). */
  private async retryMoves(now: number): Promise<void> {
    for (const [key, u] of this.unmovable) {
      if (this.stopped) return;
      if (now - u.lastTry < this.moveRetryMs) continue;
      u.lastTry = now;
      try {
        await this.move(u.name, u.destDir, u.why);
        this.unmovable.delete(key);
        this.deps.logger?.info({ file: path.join(this.dir, u.name), dir: u.destDir }, 'judged file moved out of the hot folder on retry');
      } catch (err) {
        u.error = fsErrorSummary(err);
      }
    }
  }

  /** The camera is in fault while some judged file cannot be moved; cleared when none is left. */
  private reportFault(): void {
    const [first] = this.unmovable.values();
    const reason = first
      ? `cannot move judged files into ${first.destDir} (${first.error}); they stay in ${this.dir} and are not judged again: fix the directory permissions`
      : undefined;
    if (reason === this.reportedFault) return;
    this.reportedFault = reason;
    this.handlers?.fault?.(reason ?? null);
  }
}

function sameFile(a: FileId, b: FileId): boolean {
  return a.dev === b.dev && a.ino === b.ino && a.size === b.size && a.mtimeMs === b.mtimeMs;
}

function megapixels(px: number): string {
  return String(Math.round(px / 1e5) / 10);
}

/** `EACCES: permission denied` out of `EACCES: permission denied, rename 'a' -> 'b'`: the same for every file. */
function fsErrorSummary(err: unknown): string {
  const msg = errorMessage(err);
  return (err as NodeJS.ErrnoException).code ? msg.split(', ')[0] : msg;
}

async function exists(file: string): Promise<boolean> {
  return lstat(file).then(
    () => true,
    () => false,
  );
}

/** Moves file into dir under name, adding -1, -2, ... before the extension when the name is taken. */
async function moveUnique(file: string, dir: string, name: string): Promise<string> {
  await mkdir(dir, { recursive: true });
  const ext = path.extname(name);
  const stem = name.slice(0, name.length - ext.length);
  for (let i = 0; ; i++) {
    const dest = path.join(dir, i === 0 ? name : `${stem}-${i}${ext}`);
    if (await exists(dest)) continue; // taken
    try {
      await rename(file, dest);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EXDEV') throw err;
      await copyFile(file, dest, fsc.COPYFILE_EXCL);
      // The original must go, or the file would be both judged and waiting: undo the copy when it cannot.
      await unlink(file).catch(async (unlinkErr) => {
        await unlink(dest).catch(() => undefined);
        throw unlinkErr;
      });
    }
    return dest;
  }
}
