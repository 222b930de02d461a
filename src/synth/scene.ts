/**
 * Synthetic production line: metal plates with mounting holes on a conveyor belt, some carrying
 * a defect. Deterministic from (seed, index): the same pair always renders the same pixels and labels.
 * Rendered as SVG by sharp (librsvg), then blurred and noised, so a frame costs a few milliseconds.
 */
import sharp, { type Sharp } from 'sharp';

/** The defects a plate can carry, by class id (0..3). */
export const DEFECT_CLASSES: readonly string[] = ['scratch', 'dent', 'stain', 'missing_hole'];
/** The part itself: every visible plate is labelled with it, so a model can give a verdict per part. */
export const PLATE_CLASS = 'plate';
/** Class names of the demo model, by class id: the defects, then the plate (id 4). */
export const DEMO_CLASSES: readonly string[] = [...DEFECT_CLASSES, PLATE_CLASS];
export const PLATE_CLASS_ID = DEMO_CLASSES.indexOf(PLATE_CLASS);

export interface SceneLabel {
  classId: number;
  /** Box centre and size, normalised to [0, 1] by image width/height (YOLO format). */
  cx: number;
  cy: number;
  w: number;
  h: number;
}

export interface SceneOptions {
  width: number;
  height: number;
  /** Fraction of plates that carry a defect, 0..1. */
  defectRate: number;
}

export interface Scene {
  /** Tightly packed RGB, width * height * 3 bytes. */
  rgb: Buffer;
  width: number;
  height: number;
  labels: SceneLabel[];
}

/** mulberry32: small, fast, good enough for rendering; the whole line's determinism rests on it. */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Mixes seed and frame index into one 32-bit PRNG seed (so frame i does not depend on frames before it). */
export function frameSeed(seed: number, index: number): number {
  let h = (seed ^ 0x9e3779b9) >>> 0;
  h = Math.imul(h ^ (index >>> 0), 0x85ebca6b) >>> 0;
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35) >>> 0;
  h ^= h >>> 16;
  return h >>> 0;
}

export type Rng = () => number;
export const uni = (r: Rng, lo: number, hi: number): number => lo + (hi - lo) * r();
const pick = <T>(r: Rng, xs: readonly T[]): T => xs[Math.floor(r() * xs.length) % xs.length];

export interface Pt {
  x: number;
  y: number;
}

/** A rigid placement of plate-local coordinates (origin at plate centre) into the image. */
export class Placement {
  private readonly c: number;
  private readonly s: number;
  constructor(
    readonly cx: number,
    readonly cy: number,
    readonly angleDeg: number,
  ) {
    this.c = Math.cos((angleDeg * Math.PI) / 180);
    this.s = Math.sin((angleDeg * Math.PI) / 180);
  }
  map(p: Pt): Pt {
    return { x: this.cx + p.x * this.c - p.y * this.s, y: this.cy + p.x * this.s + p.y * this.c };
  }
}

export function fmt(n: number): string {
  return n.toFixed(2);
}

/**
 * Axis-aligned box (image pixels) around plate-local points, as a YOLO label clipped to the image; null when
 * less than `minVisible` of the box's area (or under 2 px a side) is inside the frame: a sliver at the edge
 * is not something a labeller would mark.
 */
export function labelFor(classId: number, pts: Pt[], place: Placement, width: number, height: number, minVisible = 0): SceneLabel | null {
  let x1 = Infinity;
  let y1 = Infinity;
  let x2 = -Infinity;
  let y2 = -Infinity;
  for (const p of pts) {
    const q = place.map(p);
    x1 = Math.min(x1, q.x);
    y1 = Math.min(y1, q.y);
    x2 = Math.max(x2, q.x);
    y2 = Math.max(y2, q.y);
  }
  const full = Math.max(0, x2 - x1) * Math.max(0, y2 - y1);
  x1 = Math.max(0, x1);
  y1 = Math.max(0, y1);
  x2 = Math.min(width, x2);
  y2 = Math.min(height, y2);
  if (x2 - x1 < 2 || y2 - y1 < 2) return null;
  if (minVisible > 0 && (x2 - x1) * (y2 - y1) < minVisible * full) return null;
  return { classId, cx: (x1 + x2) / 2 / width, cy: (y1 + y2) / 2 / height, w: (x2 - x1) / width, h: (y2 - y1) / height };
}

export function ellipsePts(cx: number, cy: number, rx: number, ry: number, rotDeg: number): Pt[] {
  const a = (rotDeg * Math.PI) / 180;
  const pts: Pt[] = [];
  for (let k = 0; k < 16; k++) {
    const t = (k / 16) * 2 * Math.PI;
    const x = rx * Math.cos(t);
    const y = ry * Math.sin(t);
    pts.push({ x: cx + x * Math.cos(a) - y * Math.sin(a), y: cy + x * Math.sin(a) + y * Math.cos(a) });
  }
  return pts;
}

interface Built {
  svg: string;
  labels: SceneLabel[];
}

export interface PlateContext {
  /** Scene unit (the shorter frame side): every size scales with it. */
  u: number;
  width: number;
  height: number;
  beltTone: number;
  defectRate: number;
  /** A plate label needs this fraction of its box inside the frame, a defect label minVisibleDefect (0: any). */
  minVisible?: number;
  minVisibleDefect?: number;
}

export interface DrawnPlate {
  svg: string;
  labels: SceneLabel[];
  /** -1 when the plate is good, else its defect's class id. */
  defectClass: number;
}

/**
 * One plate at `place` with its holes and at most one defect, drawn in plate-local coordinates; labels for
 * the plate (class `plate`) and its defect. Consumes `r` in a fixed order (finish, holes, defect), so a plate
 * drawn from the same stream looks the same in every frame it appears in.
 */
export function drawPlate(r: Rng, key: string | number, pw: number, ph: number, place: Placement, ctx: PlateContext): DrawnPlate {
  const { u, width: W, height: H, beltTone } = ctx;
  const labels: SceneLabel[] = [];
  const plateLabel = labelFor(
    PLATE_CLASS_ID,
    [
      { x: -pw / 2, y: -ph / 2 },
      { x: pw / 2, y: -ph / 2 },
      { x: -pw / 2, y: ph / 2 },
      { x: pw / 2, y: ph / 2 },
    ],
    place,
    W,
    H,
    ctx.minVisible ?? 0,
  );
  if (plateLabel) labels.push(plateLabel);
  const minVisible = ctx.minVisibleDefect ?? 0;
  const metal = Math.round(uni(r, 150, 205));
  const tint = Math.round(uni(r, -6, 6));
  const g = `m${key}`;
  const el: string[] = [];
  el.push(
    `<defs><linearGradient id="${g}" x1="0" y1="0" x2="1" y2="1">` +
      `<stop offset="0" stop-color="rgb(${metal + 25},${metal + 25},${metal + 25 + tint})"/>` +
      `<stop offset="1" stop-color="rgb(${metal - 25},${metal - 25},${metal - 25 + tint})"/></linearGradient></defs>`,
  );
  // Drop shadow then the plate.
  el.push(`<rect x="${fmt(-pw / 2 + u * 0.012)}" y="${fmt(-ph / 2 + u * 0.015)}" width="${fmt(pw)}" height="${fmt(ph)}" rx="${fmt(u * 0.02)}" fill="rgba(0,0,0,0.45)"/>`);
  el.push(
    `<rect x="${fmt(-pw / 2)}" y="${fmt(-ph / 2)}" width="${fmt(pw)}" height="${fmt(ph)}" rx="${fmt(u * 0.02)}" fill="url(#${g})" stroke="rgb(${metal - 45},${metal - 45},${metal - 45})" stroke-width="${fmt(u * 0.004)}"/>`,
  );
  // Brushed finish: a few faint lines along the plate.
  for (let k = 0; k < 4; k++) {
    const y = uni(r, -ph / 2.3, ph / 2.3);
    el.push(`<line x1="${fmt(-pw / 2.2)}" y1="${fmt(y)}" x2="${fmt(pw / 2.2)}" y2="${fmt(y)}" stroke="rgba(255,255,255,0.07)" stroke-width="${fmt(u * 0.006)}"/>`);
  }
  // Four mounting holes near the corners.
  const hr = u * uni(r, 0.022, 0.03);
  const hx = pw / 2 - hr * 2.2;
  const hy = ph / 2 - hr * 2.2;
  const holes: Pt[] = [
    { x: -hx, y: -hy },
    { x: hx, y: -hy },
    { x: -hx, y: hy },
    { x: hx, y: hy },
  ];
  const defective = r() < ctx.defectRate;
  const defectClass = defective ? Math.floor(r() * DEFECT_CLASSES.length) % DEFECT_CLASSES.length : -1;
  const missing = defectClass === 3 ? Math.floor(r() * 4) % 4 : -1;
  holes.forEach((h, k) => {
    if (k === missing) {
      // A hole that was never drilled: only a faint centre-punch mark remains.
      el.push(`<circle cx="${fmt(h.x)}" cy="${fmt(h.y)}" r="${fmt(hr * 0.18)}" fill="rgba(0,0,0,0.25)"/>`);
      const lb = labelFor(3, ellipsePts(h.x, h.y, hr * 1.5, hr * 1.5, 0), place, W, H, minVisible);
      if (lb) labels.push(lb);
    } else {
      el.push(
        `<circle cx="${fmt(h.x)}" cy="${fmt(h.y)}" r="${fmt(hr)}" fill="rgb(${beltTone - 20},${beltTone - 20},${beltTone - 20})" stroke="rgb(${metal - 60},${metal - 60},${metal - 60})" stroke-width="${fmt(hr * 0.25)}"/>`,
      );
    }
  });
  // Surface defects live inside the hole pattern so they never overlap a hole.
  const ix = hx - hr * 2;
  const iy = hy - hr * 2;
  if (defectClass === 0) {
    const len = u * uni(r, 0.1, 0.2);
    const a = uni(r, 0, 180);
    const cx = uni(r, -ix + len / 3, ix - len / 3);
    const cy = uni(r, -iy + len / 4, iy - len / 4);
    const dx = (Math.cos((a * Math.PI) / 180) * len) / 2;
    const dy = (Math.sin((a * Math.PI) / 180) * len) / 2;
    const bend = uni(r, -0.15, 0.15) * len;
    const mid = { x: cx - (dy / len) * bend * 2, y: cy + (dx / len) * bend * 2 };
    const sw = u * uni(r, 0.006, 0.011);
    el.push(
      `<path d="M${fmt(cx - dx)},${fmt(cy - dy)} Q${fmt(mid.x)},${fmt(mid.y)} ${fmt(cx + dx)},${fmt(cy + dy)}" fill="none" stroke="rgb(35,35,38)" stroke-width="${fmt(sw)}" stroke-linecap="round"/>`,
    );
    el.push(
      `<path d="M${fmt(cx - dx)},${fmt(cy - dy + sw)} Q${fmt(mid.x)},${fmt(mid.y + sw)} ${fmt(cx + dx)},${fmt(cy + dy + sw)}" fill="none" stroke="rgba(255,255,255,0.6)" stroke-width="${fmt(sw * 0.5)}" stroke-linecap="round"/>`,
    );
    // Box around the drawn curve: sample the quadratic Bezier, pad by the stroke width.
    const curve: Pt[] = [];
    for (let k = 0; k <= 10; k++) {
      const t = k / 10;
      const x = (1 - t) * (1 - t) * (cx - dx) + 2 * (1 - t) * t * mid.x + t * t * (cx + dx);
      const y = (1 - t) * (1 - t) * (cy - dy) + 2 * (1 - t) * t * mid.y + t * t * (cy + dy);
      curve.push({ x: x - sw, y: y - sw }, { x: x + sw, y: y + sw * 2 });
    }
    const lb = labelFor(0, curve, place, W, H, minVisible);
    if (lb) labels.push(lb);
  } else if (defectClass === 1) {
    const rr = u * uni(r, 0.03, 0.05);
    const cx = uni(r, -ix + rr, ix - rr);
    const cy = uni(r, -iy + rr, iy - rr);
    const id = `d${key}`;
    el.push(
      `<defs><radialGradient id="${id}" cx="0.38" cy="0.38" r="0.65">` +
        `<stop offset="0" stop-color="rgb(20,20,24)" stop-opacity="0.85"/>` +
        `<stop offset="0.55" stop-color="rgb(70,70,75)" stop-opacity="0.55"/>` +
        `<stop offset="1" stop-color="rgb(255,255,255)" stop-opacity="0.35"/></radialGradient></defs>`,
    );
    el.push(`<circle cx="${fmt(cx)}" cy="${fmt(cy)}" r="${fmt(rr)}" fill="url(#${id})"/>`);
    const lb = labelFor(1, ellipsePts(cx, cy, rr, rr, 0), place, W, H, minVisible);
    if (lb) labels.push(lb);
  } else if (defectClass === 2) {
    const rx = u * uni(r, 0.035, 0.065);
    const ry = rx * uni(r, 0.55, 1);
    const rot = uni(r, 0, 180);
    const cx = uni(r, -ix + rx, ix - rx);
    const cy = uni(r, -iy + rx, iy - rx);
    const col = pick(r, ['150,95,35', '120,70,30', '95,110,40', '60,45,30']);
    el.push(`<ellipse cx="${fmt(cx)}" cy="${fmt(cy)}" rx="${fmt(rx)}" ry="${fmt(ry)}" transform="rotate(${fmt(rot)} ${fmt(cx)} ${fmt(cy)})" fill="rgba(${col},0.8)"/>`);
    el.push(
      `<ellipse cx="${fmt(cx + rx * 0.3)}" cy="${fmt(cy)}" rx="${fmt(rx * 0.5)}" ry="${fmt(ry * 0.6)}" transform="rotate(${fmt(rot)} ${fmt(cx)} ${fmt(cy)})" fill="rgba(${col},0.6)"/>`,
    );
    const lb = labelFor(2, ellipsePts(cx, cy, rx, ry, rot), place, W, H, minVisible);
    if (lb) labels.push(lb);
  }
  const svg = `<g transform="translate(${fmt(place.cx)} ${fmt(place.cy)}) rotate(${fmt(place.angleDeg)})">${el.join('')}</g>`;
  return { svg, labels, defectClass };
}

/** Builds the scene's SVG and labels; pure function of its arguments. */
export function buildSceneSvg(seed: number, index: number, opts: SceneOptions): Built {
  const { width: W, height: H } = opts;
  const r = mulberry32(frameSeed(seed, index));
  const u = Math.min(W, H); // scene unit: everything scales with the frame
  const labels: SceneLabel[] = [];
  const parts: string[] = [];

  // Belt: dark rubber with transverse ribs that move with the frame index (the belt runs).
  const beltTone = Math.round(uni(r, 40, 75));
  const ribGap = u * uni(r, 0.07, 0.11);
  const offset = (index * u * 0.013) % ribGap;
  parts.push(`<rect width="${W}" height="${H}" fill="rgb(${beltTone},${beltTone},${beltTone + 4})"/>`);
  const railH = H * 0.06;
  const ribs: string[] = [];
  for (let x = -ribGap + offset; x < W + ribGap; x += ribGap) {
    ribs.push(`<rect x="${fmt(x)}" y="${fmt(railH)}" width="${fmt(ribGap * 0.18)}" height="${fmt(H - 2 * railH)}"/>`);
  }
  parts.push(`<g fill="rgb(${beltTone - 14},${beltTone - 14},${beltTone - 12})">${ribs.join('')}</g>`);
  parts.push(`<rect width="${W}" height="${fmt(railH)}" fill="#8a8f96"/>`);
  parts.push(`<rect y="${fmt(H - railH)}" width="${W}" height="${fmt(railH)}" fill="#8a8f96"/>`);

  // One plate most of the time, sometimes two side by side.
  const nPlates = r() < 0.25 && W >= H ? 2 : 1;
  for (let p = 0; p < nPlates; p++) {
    const slotW = W / nPlates;
    const pw = u * uni(r, 0.42, 0.56) * (nPlates === 2 ? 0.8 : 1);
    const ph = pw * uni(r, 0.6, 0.85);
    const angle = uni(r, -25, 25);
    const half = Math.hypot(pw, ph) / 2;
    const cxLo = slotW * p + Math.min(half, slotW / 2);
    const cxHi = slotW * (p + 1) - Math.min(half, slotW / 2);
    const cyLo = Math.min(half, H / 2);
    const cyHi = H - Math.min(half, H / 2);
    const place = new Placement(uni(r, cxLo, cxHi), uni(r, cyLo, cyHi), angle);
    const { svg: plateSvg, labels: plateLabels } = drawPlate(r, p, pw, ph, place, { u, width: W, height: H, beltTone, defectRate: opts.defectRate });
    parts.push(plateSvg);
    labels.push(...plateLabels);
  }

  // Lighting: a soft directional gradient across the frame, brighter or dimmer per frame.
  const lx = uni(r, 0, 1);
  const ly = uni(r, 0, 1);
  const strength = uni(r, 0.05, 0.3);
  parts.push(
    `<defs><radialGradient id="light" cx="${fmt(lx)}" cy="${fmt(ly)}" r="0.9">` +
      `<stop offset="0" stop-color="white" stop-opacity="${fmt(strength * 0.6)}"/>` +
      `<stop offset="1" stop-color="black" stop-opacity="${fmt(strength)}"/></radialGradient></defs>`,
  );
  parts.push(`<rect width="${W}" height="${H}" fill="url(#light)"/>`);

  const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}">${parts.join('')}</svg>`;
  return { svg, labels };
}

const MAX_VECTOR_AREA = 640 * 480;

/** Renders one frame of the synthetic line: RGB pixels plus YOLO labels. */
export async function renderScene(seed: number, index: number, opts: SceneOptions): Promise<Scene> {
  const { width, height } = opts;
  checkSize(width, height);
  const { svg, labels } = buildSceneSvg(seed, index, opts);
  const rgb = await rasterize(svg, width, height, seed, index);
  return { rgb, width, height, labels };
}

export function checkSize(width: number, height: number): void {
  if (!Number.isInteger(width) || !Number.isInteger(height) || width < 32 || height < 32) {
    throw new RangeError(`scene size must be integers >= 32, got ${width}x${height}`);
  }
}

/**
 * The camera: draws a scene's SVG, then blur (half the frames) and sensor noise from a stream of its own
 * for (seed, index), so post-processing choices don't shift the layout stream.
 */
export async function rasterize(svg: string, width: number, height: number, seed: number, index: number): Promise<Buffer> {
  const r = mulberry32(frameSeed(seed ^ 0x5bd1e995, index));
  const sigma = r() < 0.5 ? 0 : uni(r, 0.35, 1.1) * Math.max(1, Math.min(width, height) / 320);
  const noiseAmp = uni(r, 2, 12);
  // librsvg's cost grows with area (full-frame gradients dominate): above VGA, draw the vector scene at
  // VGA-sized resolution and upscale; the scene is smooth, and noise is still added at full resolution.
  const area = width * height;
  let img: Sharp;
  if (area > MAX_VECTOR_AREA) {
    const k = Math.sqrt(MAX_VECTOR_AREA / area);
    const rw = Math.max(32, Math.round(width * k));
    const rh = Math.max(32, Math.round(height * k));
    const small = svg.replace(`width="${width}" height="${height}" viewBox`, `width="${rw}" height="${rh}" viewBox`);
    const low = await sharp(Buffer.from(small), { density: 72 }).removeAlpha().raw().toBuffer();
    img = sharp(low, { raw: { width: rw, height: rh, channels: 3 } }).resize(width, height, { fit: 'fill', kernel: 'linear' });
  } else {
    img = sharp(Buffer.from(svg), { density: 72 }).removeAlpha();
  }
  if (sigma >= 0.3) img = img.blur(sigma);
  const rgb = await img.raw().toBuffer();
  addNoise(rgb, noiseAmp, r);
  return rgb;
}

/** Sensor noise: uniform-sum approximation of Gaussian, clamped; in place. */
function addNoise(buf: Buffer, amp: number, r: Rng): void {
  // A small table of noise values reused with a random stride keeps this cheap at 1080p.
  const table = new Int16Array(4096);
  for (let i = 0; i < table.length; i++) table[i] = Math.round((r() + r() + r() - 1.5) * amp);
  let j = Math.floor(r() * 4096);
  const step = 1 + 2 * Math.floor(r() * 500);
  for (let i = 0; i < buf.length; i++) {
    const v = buf[i] + table[j];
    buf[i] = Math.max(0, Math.min(v, 255));
    j = (j + step) & 4095;
  }
}
