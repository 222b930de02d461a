/**
 * The line view's live images: the latest judged frame per camera, with its boxes, labels, zones and the
 * decision drawn, as a JPEG. The owner offers frames only while a viewer watches; per camera at most one
 * frame per 1/fps is taken and at most one encode runs (sharp, on libuv's pool), so a frame that arrives
 * while the previous one is still encoding is simply not taken. Every viewer reads the same JPEG.
 */
import sharp from 'sharp';
import type { Zone } from '../config/types.js';
import { channelsOf, type Frame } from '../contracts/frame.js';
import type { DetectionsPayload, PayloadDetection } from '../contracts/messages.js';
import { errorMessage } from '../errors.js';
import type { Logger } from '../ops/log.js';

export interface LiveCameraView {
  zones: readonly Zone[];
  /** Only trigger-tagged frames are judged: an untagged frame shows as not judged, not as a pass. */
  trigger: boolean;
}

export interface LiveFramesOptions {
  /** Live images per camera per second, at most. */
  fps: number;
  /** Wider frames are scaled down to this width (bytes on the wire, encode time). */
  maxWidth: number;
  camera: (id: string) => LiveCameraView | undefined;
  /** A new JPEG of the camera is ready. */
  ready: (camera: string, seq: number) => void;
  logger: Logger;
  now?: () => number;
}

interface Capture {
  payload: DetectionsPayload;
  width: number;
  height: number;
  channels: 1 | 3;
  bgr: boolean;
  data: Buffer;
  /** Classes that rejected this frame (reject.decided follows its detections synchronously). */
  rejected: string[] | null;
}

interface Lane {
  takenAt: number;
  pending: Capture | null;
  busy: boolean;
  latest: { seq: number; jpeg: Buffer } | null;
}

const REJECT = '#ff3030';
const KEPT = '#ffb000';
const ZONE = '#00d0ff';
const PASS = '#18b050';

export class LiveFrames {
  private readonly lanes = new Map<string, Lane>();
  private readonly now: () => number;
  private generation = 0;
  private encodedCount = 0;

  constructor(private readonly opts: LiveFramesOptions) {
    this.now = opts.now ?? (() => performance.now());
  }

  /** JPEGs encoded so far (benchmarks, tests). */
  get encoded(): number {
    return this.encodedCount;
  }

  latest(camera: string): { seq: number; jpeg: Buffer } | null {
    return this.lanes.get(camera)?.latest ?? null;
  }

  /** Called with every judged frame while watched; copies the pixels only when the frame is taken. */
  offer(payload: DetectionsPayload, frame: Frame): void {
    let lane = this.lanes.get(frame.cameraId);
    if (!lane) this.lanes.set(frame.cameraId, (lane = { takenAt: -Infinity, pending: null, busy: false, latest: null }));
    const now = this.now();
    if (lane.busy || now - lane.takenAt < 1000 / this.opts.fps) return;
    lane.takenAt = now;
    lane.busy = true;
    const channels = channelsOf(frame.format) as 1 | 3;
    lane.pending = { payload, width: frame.width, height: frame.height, channels, bgr: frame.format === 'bgr24', data: packed(frame, channels), rejected: null };
    const generation = this.generation;
    setImmediate(() => void this.encode(frame.cameraId, lane, generation));
  }

  /** The frame just offered was rejected for these classes. */
  markRejected(camera: string, seq: number, classes: string[]): void {
    const p = this.lanes.get(camera)?.pending;
    if (p && p.payload.seq === seq) p.rejected = classes;
  }

  /** Nobody watches any more: forget the images (an encode in flight is discarded). */
  clear(): void {
    this.generation++;
    this.lanes.clear();
  }

  private async encode(camera: string, lane: Lane, generation: number): Promise<void> {
    const c = lane.pending;
    lane.pending = null;
    if (!c) return;
    try {
      const scale = Math.min(1, this.opts.maxWidth / c.width);
      const w = Math.max(1, Math.round(c.width * scale));
      const h = Math.max(1, Math.round(c.height * scale));
      let img = sharp(c.data, { raw: { width: c.width, height: c.height, channels: c.channels } });
      if (c.bgr)
        img = img.recomb([
          [0, 0, 1],
          [0, 1, 0],
          [1, 0, 0],
        ]);
      const jpeg = await img
        .toColourspace('srgb')
        .resize(w, h, { fit: 'fill' })
        .composite([{ input: Buffer.from(overlaySvg(c, w, h, scale, this.opts.camera(camera))), top: 0, left: 0 }])
        .jpeg({ quality: 75, chromaSubsampling: '4:4:4' })
        .toBuffer();
      if (generation !== this.generation) return;
      lane.latest = { seq: c.payload.seq, jpeg };
      this.encodedCount++;
      this.opts.ready(camera, c.payload.seq);
    } catch (err) {
      this.opts.logger.warn({ camera, err: errorMessage(err) }, 'live view frame not encoded');
    } finally {
      lane.busy = false;
    }
  }
}

/** The frame's pixels, tightly packed (a source may reuse its buffer once the call returns). */
function packed(frame: Frame, channels: number): Buffer {
  const row = frame.width * channels;
  const stride = frame.stride ?? row;
  if (stride === row) return Buffer.from(frame.data.subarray(0, row * frame.height));
  const out = Buffer.allocUnsafe(row * frame.height);
  for (let y = 0; y < frame.height; y++) frame.data.copy(out, y * row, y * stride, y * stride + row);
  return out;
}

function escapeXml(s: string): string {
  return s.replace(/[<>&'"]/g, (ch) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', "'": '&apos;', '"': '&quot;' })[ch]!);
}

function overlaySvg(c: Capture, w: number, h: number, scale: number, cam: LiveCameraView | undefined): string {
  const font = Math.max(12, Math.round(Math.min(w, h) / 28));
  const stroke = Math.max(2, Math.round(Math.min(w, h) / 200));
  const parts: string[] = [];
  for (const zone of cam?.zones ?? []) {
    const pts = zone.polygon.map(([x, y]) => `${(x * scale).toFixed(1)},${(y * scale).toFixed(1)}`).join(' ');
    const [zx, zy] = zone.polygon[0]!;
    parts.push(
      `<polygon points="${pts}" fill="${ZONE}" fill-opacity="0.08" stroke="${ZONE}" stroke-width="${stroke}" stroke-dasharray="${stroke * 4},${stroke * 3}"/>`,
      `<text x="${(zx * scale + 4).toFixed(1)}" y="${(zy * scale + font).toFixed(1)}" font-family="sans-serif" font-size="${font}" fill="${ZONE}">${escapeXml(zone.name)}</text>`,
    );
  }
  const rejected = new Set(c.rejected ?? []);
  for (const d of c.payload.detections) parts.push(...box(d, scale, font, stroke, rejected.has(d.class) ? REJECT : KEPT));
  const judged = !cam?.trigger || c.payload.triggerId !== undefined;
  const [text, colour] = c.rejected ? [`REJECT ${c.rejected.join(', ')}`, REJECT] : judged ? ['PASS', PASS] : ['not judged (no trigger)', '#606060'];
  const part = c.payload.triggerId !== undefined ? ` part ${c.payload.triggerId}` : '';
  const caption = escapeXml(`${text}  #${c.payload.seq}${part}`);
  parts.push(
    `<rect x="0" y="${h - font - 10}" width="${w}" height="${font + 10}" fill="${colour}" fill-opacity="0.85"/>`,
    `<text x="6" y="${h - 7}" font-family="sans-serif" font-weight="bold" font-size="${font}" fill="#ffffff">${caption}</text>`,
  );
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${w}" height="${h}">${parts.join('')}</svg>`;
}

function box(d: PayloadDetection, scale: number, font: number, stroke: number, colour: string): string[] {
  const x1 = d.box.x1 * scale;
  const y1 = d.box.y1 * scale;
  const bw = Math.max(0, (d.box.x2 - d.box.x1) * scale);
  const bh = Math.max(0, (d.box.y2 - d.box.y1) * scale);
  const label = escapeXml(`${d.class} ${(d.confidence * 100).toFixed(0)}%`);
  const ly = y1 - font - 4 >= 0 ? y1 - font - 4 : y1;
  return [
    `<rect x="${x1.toFixed(1)}" y="${y1.toFixed(1)}" width="${bw.toFixed(1)}" height="${bh.toFixed(1)}" fill="none" stroke="${colour}" stroke-width="${stroke}"/>`,
    `<rect x="${x1.toFixed(1)}" y="${ly.toFixed(1)}" width="${Math.round(label.length * font * 0.6) + 6}" height="${font + 4}" fill="${colour}"/>`,
    `<text x="${(x1 + 3).toFixed(1)}" y="${(ly + font).toFixed(1)}" font-family="sans-serif" font-size="${font}" fill="#000000">${label}</text>`,
  ];
}
