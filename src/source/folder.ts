/**
 * Hot folder: image files dropped into a folder are judged one at a time, in name order, losslessly:
 * the next file is emitted only after the pipeline calls Frame.done(). A file is read only once its size
 * and mtime have held still for settleMs (a camera or copy may still be writing it). Judged files move to
 * doneDir; undecodable ones (or done(err)) move to quarantineDir with `<name>.reason.txt`.
 */
import { copyFile, mkdir, readdir, rename, stat, unlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import sharp from 'sharp';
import { errorMessage } from '../errors.js';
import type { Logger } from '../ops/log.js';
import type { FolderSourceConfig } from '../config/types.js';
import type { Frame } from '../contracts/frame.js';
import type { FrameSource, SourceHandlers } from './source.js';

export const IMAGE_EXTENSIONS = new Set(['.jpg', '.jpeg', '.png', '.bmp', '.tif', '.tiff', '.webp']);

interface Seen {
  size: number;
  mtimeMs: number;
  /** When size/mtime were first seen with these values. */
  since: number;
}

export class FolderSource implements FrameSource {
  readonly kind = 'folder';
  private readonly dir: string;
  private readonly doneDir: string;
  private readonly quarantineDir: string;
  private handlers: SourceHandlers | undefined;
  private timer: NodeJS.Timeout | undefined;
  private seen = new Map<string, Seen>();
  /** The file whose frame is out (waiting for done()), or being decoded. */
  private busy: string | undefined;
  private polling: Promise<void> = Promise.resolve();
  private pendingMoves = new Set<Promise<void>>();
  private stopped = false;
  private seq = 0;
  private warnedMissing = false;

  constructor(
    readonly cameraId: string,
    private readonly cfg: FolderSourceConfig,
    private readonly deps: { logger?: Logger } = {},
  ) {
    this.dir = path.resolve(cfg.path);
    this.doneDir = path.resolve(cfg.doneDir);
    this.quarantineDir = path.resolve(cfg.quarantineDir);
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
      this.polling = this.poll().catch((err) => {
        this.deps.logger?.warn({ camera: this.cameraId, err: errorMessage(err) }, 'hot folder poll failed');
      }).finally(() => this.schedule(this.cfg.pollMs));
    }, ms);
  }

  private async poll(): Promise<void> {
    if (this.stopped || this.busy) return;
    let names: string[];
    try {
      names = await readdir(this.dir);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      // Survive a folder that does not exist yet: create it (or wait until someone else does).
      await mkdir(this.dir, { recursive: true }).catch((mkErr) => {
        if (!this.warnedMissing) this.deps.logger?.warn({ camera: this.cameraId, dir: this.dir, err: errorMessage(mkErr) }, 'hot folder missing; waiting for it');
        this.warnedMissing = true;
      });
      return;
    }
    const now = performance.now();
    const candidates = names.filter((n) => IMAGE_EXTENSIONS.has(path.extname(n).toLowerCase())).sort();
    const present = new Set(candidates);
    for (const k of this.seen.keys()) if (!present.has(k)) this.seen.delete(k);
    for (const name of candidates) {
      const file = path.join(this.dir, name);
      let st;
      try {
        st = await stat(file);
      } catch {
        continue; // vanished between readdir and stat
      }
      if (!st.isFile()) continue;
      const prev = this.seen.get(name);
      if (!prev || prev.size !== st.size || prev.mtimeMs !== st.mtimeMs) {
        this.seen.set(name, { size: st.size, mtimeMs: st.mtimeMs, since: now });
        if (this.cfg.settleMs > 0) continue;
      } else if (now - prev.since < this.cfg.settleMs) {
        continue;
      }
      await this.emit(name);
      return; // one file at a time: the next poll continues after done()
    }
  }

  private async emit(name: string): Promise<void> {
    const file = path.join(this.dir, name);
    this.busy = name;
    this.seen.delete(name);
    let decoded: { data: Buffer; info: { width: number; height: number; channels: number } };
    try {
      decoded = await sharp(file, { failOn: 'error' })
        .rotate()
        .flatten({ background: { r: 0, g: 0, b: 0 } })
        .toColourspace('srgb')
        .raw()
        .toBuffer({ resolveWithObject: true });
      if (decoded.info.channels !== 3) throw new Error(`decoded to ${decoded.info.channels} channels, expected 3`);
    } catch (err) {
      this.deps.logger?.warn({ camera: this.cameraId, file, err: errorMessage(err) }, 'unreadable image quarantined');
      await this.finish(name, new Error(`cannot decode image: ${errorMessage(err)}`));
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
        const p = this.finish(name, err ?? null);
        this.pendingMoves.add(p);
        void p.finally(() => this.pendingMoves.delete(p));
      },
    };
    this.handlers!.frame(frame);
  }

  /** Moves the file out of the hot folder, then lets the next one through. */
  private async finish(name: string, err: Error | null): Promise<void> {
    const file = path.join(this.dir, name);
    try {
      if (err) {
        const dest = await moveUnique(file, this.quarantineDir, name);
        await writeFile(dest + '.reason.txt', `${new Date().toISOString()} ${err.message}\n`);
      } else {
        await moveUnique(file, this.doneDir, name);
      }
    } catch (moveErr) {
      this.deps.logger?.error(
        { camera: this.cameraId, file, err: errorMessage(moveErr) },
        'cannot move processed file out of the hot folder; fix permissions (it would be judged again)',
      );
    } finally {
      this.busy = undefined;
      if (!this.stopped) this.schedule(0);
    }
  }
}

/** Moves file into dir under name, adding -1, -2, ... before the extension when the name is taken. */
async function moveUnique(file: string, dir: string, name: string): Promise<string> {
  await mkdir(dir, { recursive: true });
  const ext = path.extname(name);
  const stem = name.slice(0, name.length - ext.length);
  for (let i = 0; ; i++) {
    const dest = path.join(dir, i === 0 ? name : `${stem}-${i}${ext}`);
    try {
      await stat(dest);
      continue; // taken
    } catch {
      /* free */
    }
    try {
      await rename(file, dest);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EXDEV') throw err;
      await copyFile(file, dest);
      await unlink(file);
    }
    return dest;
  }
}
