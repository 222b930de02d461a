/**
 * The synthetic conveyor: a continuous belt carrying plates through the camera's view. Plates enter at the
 * left edge, cross the frame at belt speed (`beltPxPerFrame` per frame, left to right) and leave at the right,
 * so each is seen in several consecutive frames, partly visible as it enters and leaves.
 *
 * Pure and deterministic: the belt is a sequence of slots k = 0, 1, 2, ... along the belt, each with one
 * plate (sometimes two side by side across the belt) whose look and defect come from (seed, k) alone; frame n
 * shows the belt moved by n * beltPxPerFrame. So frame n of a seed is a pure function of (seed, n), and the
 * ground truth of every part (id, defective, classes, frames in view) is known without rendering a pixel.
 */
import { DEFECT_CLASSES, checkSize, drawPlate, fmt, frameSeed, mulberry32, Placement, rasterize, uni, type Rng, type SceneLabel } from './scene.js';

export interface ConveyorOptions {
  width: number;
  height: number;
  /** Fraction of plates that carry a defect, 0..1. */
  defectRate: number;
  /** How far the belt moves between two frames, px (left to right). */
  beltPxPerFrame: number;
}

/** One physical part on the belt, as ground truth. */
export interface ConveyorPart {
  /** slot * 2 + lane: unique per seed, increasing along the belt. */
  id: number;
  slot: number;
  /** 0, or 1 for the second of two plates side by side across the belt. */
  lane: number;
  defective: boolean;
  /** The defect classes the part carries (at most one on this line). */
  classes: string[];
  /** First and last frame in which any of the plate is inside the image. */
  firstFrame: number;
  lastFrame: number;
}

/** A part as it appears in one frame. */
export interface ConveyorView {
  id: number;
  /** The plate's visible box in image pixels (clipped to the frame). */
  box: { x1: number; y1: number; x2: number; y2: number };
  /** Centre of the whole plate (unclipped), image pixels. */
  cx: number;
  cy: number;
}

export interface ConveyorFrame {
  svg: string;
  /** YOLO labels: plates (class `plate`) and their defects; partly visible plates when ≥ 30 % is in view, defects ≥ 60 %. */
  labels: SceneLabel[];
  /** Every part with some of it in view. */
  parts: ConveyorView[];
}

const LINE_SALT = 0x2c1b3c6d;
const SLOT_SALT = 0x297a2d39;
/**
 * Labels need this fraction of their box in view: a sliver at the edge is not something a labeller marks,
 * and a defect must be mostly in view to be told apart (a third of a scratch is a line).
 */
const MIN_VISIBLE_PLATE = 0.3;
const MIN_VISIBLE_DEFECT = 0.6;

interface Geometry {
  W: number;
  H: number;
  u: number;
  railH: number;
  /** Distance between slot centres along the belt. */
  pitch: number;
  /** Image x of slot 0's centre at frame 0: off-screen left, so the first plate enters. */
  x0: number;
  /** Most a plate (plus jitter) reaches either side of its slot centre: bounds the slots worth visiting. */
  reach: number;
}

function geometry(opts: ConveyorOptions): Geometry {
  const W = opts.width;
  const H = opts.height;
  const u = Math.min(W, H);
  return { W, H, u, railH: H * 0.06, pitch: u * 0.82, x0: -u * 0.4, reach: u * 0.42 };
}

/** A slot's plates before placement: fixed for (seed, slot), drawn from the slot's own stream. */
interface SlotPlate {
  lane: number;
  pw: number;
  ph: number;
  angle: number;
  /** Offset of the plate centre from the slot centre along the belt (px). */
  dx: number;
  cy: number;
  /** Half extent of the rotated plate along x. */
  hx: number;
  /** The stream positioned where drawPlate starts reading: restored for every frame drawn. */
  drawSeed: number;
}

function slotPlates(seed: number, slot: number, g: Geometry): SlotPlate[] {
  const r: Rng = mulberry32(frameSeed(seed ^ SLOT_SALT, slot));
  const two = r() < 0.15;
  const jitter = uni(r, -0.05, 0.05) * g.u;
  const lanes = two ? 2 : 1;
  const out: SlotPlate[] = [];
  for (let lane = 0; lane < lanes; lane++) {
    const pw = g.u * uni(r, 0.38, 0.5) * (two ? 0.62 : 1);
    const ph = pw * uni(r, 0.6, 0.82);
    const angle = uni(r, -20, 20);
    const a = (Math.abs(angle) * Math.PI) / 180;
    const hx = (Math.cos(a) * pw + Math.sin(a) * ph) / 2;
    const hy = (Math.sin(a) * pw + Math.cos(a) * ph) / 2;
    const top = g.railH + hy;
    const bottom = g.H - g.railH - hy;
    const mid = g.H / 2;
    const [lo, hi] = lanes === 1 ? [top, bottom] : lane === 0 ? [top, mid - hy] : [mid + hy, bottom];
    const cy = lo < hi ? uni(r, lo, hi) : (lo + hi) / 2;
    const dx = jitter + uni(r, -0.03, 0.03) * g.u;
    // Each plate draws its look from a stream of its own, seeded here, so all its frames agree.
    const drawSeed = Math.floor(r() * 4294967296) >>> 0;
    out.push({ lane, pw, ph, angle, dx, cy, hx, drawSeed });
  }
  return out;
}

/** Image x of a plate's centre at frame n. */
function centreX(slot: number, p: SlotPlate, n: number, g: Geometry, step: number): number {
  return g.x0 + n * step - slot * g.pitch - p.dx;
}

/** Slots with a plate possibly in view at belt offset `offset`. */
function slotRange(offset: number, g: Geometry): [number, number] {
  // centre = x0 + offset - slot * pitch - dx must lie in [-reach, W + reach].
  const lo = Math.max(0, Math.ceil((g.x0 + offset - g.W - 2 * g.reach) / g.pitch));
  const hi = Math.floor((g.x0 + offset + 2 * g.reach) / g.pitch);
  return [lo, hi];
}

/** The scene's SVG, labels and the parts in view at frame `index`; pure function of its arguments. */
export function buildConveyorSvg(seed: number, index: number, opts: ConveyorOptions): ConveyorFrame {
  const g = geometry(opts);
  const { W, H, u } = g;
  const step = opts.beltPxPerFrame;
  const offset = index * step;
  const line = mulberry32(frameSeed(seed ^ LINE_SALT, 0));
  const beltTone = Math.round(uni(line, 40, 75));
  const ribGap = u * uni(line, 0.07, 0.11);
  const lx = uni(line, 0, 1);
  const ly = uni(line, 0, 1);
  const strength = uni(line, 0.05, 0.3);

  const out: string[] = [];
  out.push(`<rect width="${W}" height="${H}" fill="rgb(${beltTone},${beltTone},${beltTone + 4})"/>`);
  // The ribs move with the belt, exactly as far as the plates do.
  const ribs: string[] = [];
  for (let x = -ribGap + (offset % ribGap); x < W + ribGap; x += ribGap) {
    ribs.push(`<rect x="${fmt(x)}" y="${fmt(g.railH)}" width="${fmt(ribGap * 0.18)}" height="${fmt(H - 2 * g.railH)}"/>`);
  }
  out.push(`<g fill="rgb(${beltTone - 14},${beltTone - 14},${beltTone - 12})">${ribs.join('')}</g>`);
  out.push(`<rect width="${W}" height="${fmt(g.railH)}" fill="#8a8f96"/>`);
  out.push(`<rect y="${fmt(H - g.railH)}" width="${W}" height="${fmt(g.railH)}" fill="#8a8f96"/>`);

  const labels: SceneLabel[] = [];
  const parts: ConveyorView[] = [];
  const [lo, hi] = slotRange(offset, g);
  for (let slot = lo; slot <= hi; slot++) {
    for (const p of slotPlates(seed, slot, g)) {
      const cx = centreX(slot, p, index, g, step);
      if (cx + p.hx <= 0 || cx - p.hx >= W) continue;
      const place = new Placement(cx, p.cy, p.angle);
      const drawn = drawPlate(mulberry32(p.drawSeed), `${slot}_${p.lane}`, p.pw, p.ph, place, {
        u,
        width: W,
        height: H,
        beltTone,
        defectRate: opts.defectRate,
        minVisible: MIN_VISIBLE_PLATE,
        minVisibleDefect: MIN_VISIBLE_DEFECT,
      });
      out.push(drawn.svg);
      labels.push(...drawn.labels);
      const a = (Math.abs(p.angle) * Math.PI) / 180;
      const hy = (Math.sin(a) * p.pw + Math.cos(a) * p.ph) / 2;
      parts.push({
        id: slot * 2 + p.lane,
        box: { x1: Math.max(0, cx - p.hx), y1: Math.max(0, p.cy - hy), x2: Math.min(W, cx + p.hx), y2: Math.min(H, p.cy + hy) },
        cx,
        cy: p.cy,
      });
    }
  }

  // Lighting fixed for the line (one camera, one lamp).
  out.push(
    `<defs><radialGradient id="light" cx="${fmt(lx)}" cy="${fmt(ly)}" r="0.9">` +
      `<stop offset="0" stop-color="white" stop-opacity="${fmt(strength * 0.6)}"/>` +
      `<stop offset="1" stop-color="black" stop-opacity="${fmt(strength)}"/></radialGradient></defs>`,
  );
  out.push(`<rect width="${W}" height="${H}" fill="url(#light)"/>`);
  const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}">${out.join('')}</svg>`;
  return { svg, labels, parts };
}

export interface ConveyorScene {
  rgb: Buffer;
  width: number;
  height: number;
  labels: SceneLabel[];
  parts: ConveyorView[];
}

/** Renders frame `index` of the conveyor: RGB pixels, YOLO labels and the parts in view. */
export async function renderConveyor(seed: number, index: number, opts: ConveyorOptions): Promise<ConveyorScene> {
  const { width, height } = opts;
  checkSize(width, height);
  if (!(opts.beltPxPerFrame >= 0 && Number.isFinite(opts.beltPxPerFrame))) throw new RangeError(`beltPxPerFrame must be a finite number >= 0, got ${opts.beltPxPerFrame}`);
  const frame = buildConveyorSvg(seed, index, opts);
  const rgb = await rasterize(frame.svg, width, height, seed, index);
  return { rgb, width, height, labels: frame.labels, parts: frame.parts };
}

/**
 * Ground truth of every part that is in view in some frame of [0, frames): id, defective, classes and the
 * frames it is in view, in belt order (the order they enter). Costs no rendering.
 */
export function conveyorParts(seed: number, opts: ConveyorOptions, frames: number): ConveyorPart[] {
  const g = geometry(opts);
  const step = opts.beltPxPerFrame;
  if (!(step > 0)) return [];
  const out: ConveyorPart[] = [];
  const [, hi] = slotRange((frames - 1) * step, g);
  for (let slot = 0; slot <= hi; slot++) {
    for (const p of slotPlates(seed, slot, g)) {
      // In view while -hx < centre < W + hx, centre = x0 + n*step - slot*pitch - dx.
      const base = g.x0 - slot * g.pitch - p.dx;
      const firstFrame = Math.max(0, Math.floor((-p.hx - base) / step) + 1);
      const lastFrame = Math.ceil((g.W + p.hx - base) / step) - 1;
      if (firstFrame > frames - 1 || lastFrame < firstFrame) continue;
      const drawn = drawPlate(mulberry32(p.drawSeed), 0, p.pw, p.ph, new Placement(0, 0, 0), {
        u: g.u,
        width: g.W,
        height: g.H,
        beltTone: 0,
        defectRate: opts.defectRate,
      });
      out.push({
        id: slot * 2 + p.lane,
        slot,
        lane: p.lane,
        defective: drawn.defectClass >= 0,
        classes: drawn.defectClass >= 0 ? [DEFECT_CLASSES[drawn.defectClass]] : [],
        firstFrame,
        lastFrame: Math.min(lastFrame, frames - 1),
      });
    }
  }
  return out;
}

/** Frames a belt of `parts` parts needs (about): enough for slot parts/1.15 to cross the whole view. */
export function framesForParts(parts: number, opts: ConveyorOptions): number {
  const g = geometry(opts);
  const slots = Math.ceil(parts / 1.1) + 2;
  return Math.ceil((slots * g.pitch + g.W + 2 * g.reach - g.x0) / opts.beltPxPerFrame);
}
