/**
 * Boxes and labels drawn on an image: reject snapshots (src/sink/snapshots.ts), `inspectd batch
 * --save-annotated` and the HTTP API's `/v1/detect?annotated=1` share this one drawing.
 */
import sharp from 'sharp';
import type { Detection } from '../contracts/vision.js';

const BOX_COLOUR = '#ff0000';

/** An image to annotate: encoded bytes (EXIF-rotated as the detector saw them) or raw interleaved RGB/gray pixels. */
export type AnnotateSource = { bytes: Buffer } | { raw: { data: Buffer; width: number; height: number; channels: 1 | 3 } };

/** The image with its detections drawn, as JPEG (4:4:4: thin red lines lose their colour under 4:2:0). */
export async function annotatedJpeg(src: AnnotateSource, width: number, height: number, detections: Detection[], quality = 85): Promise<Buffer> {
  const base =
    'raw' in src ? sharp(src.raw.data, { raw: { width: src.raw.width, height: src.raw.height, channels: src.raw.channels } }).toColourspace('srgb') : sharp(src.bytes).rotate();
  return base
    .composite([{ input: Buffer.from(overlaySvg(width, height, detections)), top: 0, left: 0 }])
    .jpeg({ quality, chromaSubsampling: '4:4:4' })
    .toBuffer();
}

function escapeXml(s: string): string {
  return s.replace(/[<>&'"]/g, (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', "'": '&apos;', '"': '&quot;' })[c]!);
}

/** The boxes and labels as an SVG the size of the image, for sharp's composite (snapshots, `inspectd batch --save-annotated`, the HTTP API). */
export function overlaySvg(width: number, height: number, detections: Detection[]): string {
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
