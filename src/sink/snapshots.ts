/**
 * JPEG snapshots of rejected frames with their boxes drawn, for the operator to look at later.
 * Off the hot path: saveReject() returns at once with a promise the pipeline need not await;
 * at most `maxConcurrent` encodes run, further requests are dropped and counted (a snapshot is
 * a convenience, the reject event itself is what matters). Keeps at most maxFiles (oldest go).
 */
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import sharp from 'sharp';
import { errorMessage } from '../errors.js';
import type { SnapshotConfig } from '../config/types.js';
import type { Logger } from '../ops/log.js';
import type { Metrics } from '../ops/metrics.js';
import type { Detection } from '../contracts/vision.js';

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

const BOX_COLOUR = '#ff0000';

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

  constructor(opts: { config: SnapshotConfig; logger: Logger; metrics?: Metrics; maxConcurrent?: number; quality?: number }) {
    this.config = opts.config;
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

  /**
   * Resolves to the JPEG path, or null when disabled, busy, stopped or failed (logged, counted). `file`: the
   * path to write (from plannedFile()); default: a fresh name in the snapshot folder.
   * The frame bytes are copied before this returns, so the caller may reuse its buffer at once.
   */
  saveReject(frame: SnapshotFrame, detections: Detection[], meta: SnapshotMeta, file?: string): Promise<string | null> {
    if (!this.config.enabled || this.stopped) return Promise.resolve(null);
    if (this.inflight.size >= this.maxConcurrent) {
      this.drop('busy');
      return Promise.resolve(null);
    }
    const copy = Buffer.from(frame.data);
    const job = this.write({ ...frame, data: copy }, detections.map((d) => ({ ...d, box: { ...d.box } })), meta, file).catch((err: unknown) => {
      this.drop('error');
      this.logger.warn({ camera: meta.cameraId, seq: meta.seq, key: meta.key, err: errorMessage(err) }, 'reject snapshot not written');
      return null;
    });
    this.inflight.add(job);
    void job.finally(() => this.inflight.delete(job));
    return job;
  }

  /**
   * Refuses new snapshots, then resolves once every one being written is complete on disk (renamed from
   * its .tmp, or failed and cleaned up). Idempotent.
   */
  async stop(): Promise<void> {
    this.stopped = true;
    await Promise.allSettled([...this.inflight]);
  }

  private drop(reason: 'busy' | 'error'): void {
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

  private async write(frame: SnapshotFrame, detections: Detection[], meta: SnapshotMeta, planned?: string): Promise<string> {
    this.dirReady ??= fsp.mkdir(this.config.dir, { recursive: true }).then(() => undefined);
    await this.dirReady;
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
    const file = planned ?? path.join(this.config.dir, snapshotName(meta, Date.now()));
    const tmp = `${file}.tmp`;
    try {
      await fsp.writeFile(tmp, jpeg);
      await fsp.rename(tmp, file);
    } catch (err) {
      await fsp.rm(tmp, { force: true }).catch(() => undefined);
      throw err;
    }
    this.writtenCount++;
    await this.enforceMaxFiles();
    return file;
  }

  private async enforceMaxFiles(): Promise<void> {
    if (this.config.maxFiles <= 0) return;
    const names = (await fsp.readdir(this.config.dir)).filter((n) => n.endsWith('.jpg')).sort();
    const excess = names.length - this.config.maxFiles;
    for (let i = 0; i < excess; i++) {
      await fsp.rm(path.join(this.config.dir, names[i]!), { force: true });
    }
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

function escapeXml(s: string): string {
  return s.replace(/[<>&'"]/g, (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', "'": '&apos;', '"': '&quot;' })[c]!);
}

function overlaySvg(width: number, height: number, detections: Detection[]): string {
  const stroke = Math.max(3, Math.round(Math.min(width, height) / 250));
  const font = Math.max(10, Math.round(Math.min(width, height) / 40));
  const parts: string[] = [];
  for (const d of detections) {
    const x1 = clamp(d.box.x1, 0, width);
    const y1 = clamp(d.box.y1, 0, height);
    const x2 = clamp(d.box.x2, 0, width);
    const y2 = clamp(d.box.y2, 0, height);
    const label = escapeXml(`${d.class} ${(d.confidence * 100).toFixed(0)}%`);
    const ly = y1 - font - 4 >= 0 ? y1 - font - 4 : y1;
    parts.push(
      `<rect x="${x1}" y="${y1}" width="${Math.max(0, x2 - x1)}" height="${Math.max(0, y2 - y1)}" fill="none" stroke="${BOX_COLOUR}" stroke-width="${stroke}"/>`,
      `<rect x="${x1}" y="${ly}" width="${Math.round(label.length * font * 0.6) + 6}" height="${font + 4}" fill="${BOX_COLOUR}"/>`,
      `<text x="${x1 + 3}" y="${ly + font}" font-family="sans-serif" font-size="${font}" fill="#ffffff">${label}</text>`,
    );
  }
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}">${parts.join('')}</svg>`;
}

function clamp(v: number, lo: number, hi: number): number {
  return Math.min(hi, Math.max(lo, v));
}
