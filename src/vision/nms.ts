/**
 * Class-aware greedy NMS (as the numpy/torchvision reference: sort by score descending, a box is dropped
 * when its IoU with a kept box of the same class exceeds the threshold), thresholds, and mapping boxes
 * back to source pixels.
 */
import type { Detection, LetterboxInfo, PostprocessOptions } from '../contracts/vision.js';
import type { CandidateBuffer, Thresholds } from './decode.js';
import { className } from './model-metadata.js';

/** Ultralytics caps the boxes that enter NMS (max_nms); so do we, by score. */
export const MAX_NMS_INPUT = 30000;

/** Global threshold with per-class overrides (by id or by name); unknown keys are ignored. */
export function buildThresholds(post: Pick<PostprocessOptions, 'conf' | 'classConf'>, names: readonly string[], numClasses: number): Thresholds {
  const n = Math.max(numClasses, names.length);
  const perClass = new Float32Array(n).fill(post.conf);
  let min = post.conf;
  if (post.classConf) {
    const byName = new Map<string, number>();
    names.forEach((name, i) => byName.set(name, i));
    for (const [key, value] of Object.entries(post.classConf)) {
      const id = /^\d+$/.test(key) ? Number(key) : byName.get(key);
      if (id === undefined || id >= n) continue;
      perClass[id] = value;
    }
    for (let i = 0; i < n; i++) if (perClass[i] < min) min = perClass[i];
  }
  return { perClass, fallback: post.conf, min };
}

/** Candidate indices sorted by score descending; ties keep the lower index first. */
export function sortByScore(c: CandidateBuffer): Uint32Array {
  const order = new Uint32Array(c.count);
  for (let i = 0; i < c.count; i++) order[i] = i;
  const s = c.scores;
  order.sort((a, b) => s[b] - s[a] || a - b);
  return order;
}

/** Returns kept candidate indices in descending score order, at most maxDetections. */
export function nmsClassAware(c: CandidateBuffer, iouThreshold: number, maxDetections: number): number[] {
  let order = sortByScore(c);
  if (order.length > MAX_NMS_INPUT) order = order.subarray(0, MAX_NMS_INPUT);
  const b = c.boxes;
  const kept: number[] = [];
  const keptByClass = new Map<number, number[]>();
  for (let k = 0; k < order.length && kept.length < maxDetections; k++) {
    const i = order[k];
    const cls = c.classes[i];
    let same = keptByClass.get(cls);
    const ax1 = b[i * 4],
      ay1 = b[i * 4 + 1],
      ax2 = b[i * 4 + 2],
      ay2 = b[i * 4 + 3];
    const areaA = Math.max(0, ax2 - ax1) * Math.max(0, ay2 - ay1);
    let suppressed = false;
    if (same) {
      for (const j of same) {
        const bx1 = b[j * 4],
          by1 = b[j * 4 + 1],
          bx2 = b[j * 4 + 2],
          by2 = b[j * 4 + 3];
        const iw = Math.min(ax2, bx2) - Math.max(ax1, bx1);
        if (iw <= 0) continue;
        const ih = Math.min(ay2, by2) - Math.max(ay1, by1);
        if (ih <= 0) continue;
        const inter = iw * ih;
        const areaB = Math.max(0, bx2 - bx1) * Math.max(0, by2 - by1);
        const union = areaA + areaB - inter;
        if (union > 0 && inter / union > iouThreshold) {
          suppressed = true;
          break;
        }
      }
    } else {
      same = [];
      keptByClass.set(cls, same);
    }
    if (!suppressed) {
      same.push(i);
      kept.push(i);
    }
  }
  return kept;
}

/** Top candidates by score without suppression (end-to-end heads already did it). */
export function topK(c: CandidateBuffer, maxDetections: number): number[] {
  return Array.from(sortByScore(c).subarray(0, maxDetections));
}

function clip(v: number, hi: number): number {
  return Math.max(0, Math.min(v, hi));
}

/** Undo the letterbox (model-input pixels -> source pixels) and clip to the source image. */
export function toDetections(c: CandidateBuffer, indices: readonly number[], info: LetterboxInfo, names: readonly string[]): Detection[] {
  const out: Detection[] = [];
  const { scale, padX, padY, srcWidth: w, srcHeight: h } = info;
  for (const i of indices) {
    const o = i * 4;
    const cls = c.classes[i];
    out.push({
      classId: cls,
      class: className(names, cls),
      confidence: c.scores[i],
      box: {
        x1: clip((c.boxes[o] - padX) / scale, w),
        y1: clip((c.boxes[o + 1] - padY) / scale, h),
        x2: clip((c.boxes[o + 2] - padX) / scale, w),
        y2: clip((c.boxes[o + 3] - padY) / scale, h),
      },
    });
  }
  return out;
}
