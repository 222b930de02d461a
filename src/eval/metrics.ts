/**
 * Detection metrics on a labelled set: per-class AP at IoU 0.5 (all-point interpolation, the area under
 * the monotone precision envelope, as VOC2010+/COCO compute it), mAP50 over the classes that have ground
 * truth, and precision/recall at the confidence that maximises mean F1 (what Ultralytics reports as P and R).
 */
import type { Box } from '../contracts/vision.js';

export interface GroundTruth {
  classId: number;
  box: Box;
}

export interface Prediction {
  classId: number;
  confidence: number;
  box: Box;
}

/** One image's labels and predictions, boxes in the same pixel space. */
export interface ImageResult {
  groundTruth: GroundTruth[];
  predictions: Prediction[];
}

export interface ClassMetrics {
  classId: number;
  name: string;
  /** Ground-truth boxes of this class. */
  instances: number;
  /** Predictions of this class (at any confidence given). */
  predictions: number;
  precision: number;
  recall: number;
  ap50: number;
}

export interface EvalMetrics {
  images: number;
  instances: number;
  /** Mean over classes with ground truth, at the mean-F1-optimal confidence. */
  precision: number;
  recall: number;
  mAP50: number;
  /** Confidence at which precision/recall are reported. */
  f1Confidence: number;
  perClass: ClassMetrics[];
}

export function boxIou(a: Box, b: Box): number {
  const iw = Math.min(a.x2, b.x2) - Math.max(a.x1, b.x1);
  const ih = Math.min(a.y2, b.y2) - Math.max(a.y1, b.y1);
  if (iw <= 0 || ih <= 0) return 0;
  const inter = iw * ih;
  const ua = (a.x2 - a.x1) * (a.y2 - a.y1) + (b.x2 - b.x1) * (b.y2 - b.y1) - inter;
  return ua > 0 ? inter / ua : 0;
}

/**
 * All-point interpolated AP from a precision/recall curve ordered by decreasing confidence:
 * sum over recall steps of the maximum precision at any recall >= that step.
 */
export function averagePrecision(recall: readonly number[], precision: readonly number[]): number {
  const n = recall.length;
  if (n === 0) return 0;
  const mrec = [0, ...recall, 1];
  const mpre = [1, ...precision, 0];
  for (let i = mpre.length - 2; i >= 0; i--) mpre[i] = Math.max(mpre[i], mpre[i + 1]);
  let ap = 0;
  for (let i = 1; i < mrec.length; i++) {
    if (mrec[i] !== mrec[i - 1]) ap += (mrec[i] - mrec[i - 1]) * mpre[i];
  }
  return ap;
}

interface Scored {
  confidence: number;
  tp: boolean;
}

/**
 * Greedy matching per image and class: predictions by decreasing confidence each take the unmatched
 * ground-truth box of the same class with the highest IoU, if that IoU reaches the threshold.
 */
export function matchImage(img: ImageResult, iouThreshold: number): Map<number, Scored[]> {
  const out = new Map<number, Scored[]>();
  const preds = [...img.predictions].sort((a, b) => b.confidence - a.confidence);
  const used = new Array<boolean>(img.groundTruth.length).fill(false);
  for (const p of preds) {
    let best = -1;
    let bestIou = iouThreshold;
    img.groundTruth.forEach((g, j) => {
      if (used[j] || g.classId !== p.classId) return;
      const iou = boxIou(p.box, g.box);
      if (iou >= bestIou) {
        bestIou = iou;
        best = j;
      }
    });
    if (best >= 0) used[best] = true;
    let list = out.get(p.classId);
    if (!list) out.set(p.classId, (list = []));
    list.push({ confidence: p.confidence, tp: best >= 0 });
  }
  return out;
}

/** Evaluates a set of images. names gives class names by id; ids beyond it are named "class<N>". */
export function evaluateDetections(images: readonly ImageResult[], names: readonly string[], iouThreshold = 0.5): EvalMetrics {
  const scored = new Map<number, Scored[]>();
  const instances = new Map<number, number>();
  for (const img of images) {
    for (const g of img.groundTruth) instances.set(g.classId, (instances.get(g.classId) ?? 0) + 1);
    for (const [c, list] of matchImage(img, iouThreshold)) {
      const acc = scored.get(c);
      if (acc) acc.push(...list);
      else scored.set(c, [...list]);
    }
  }
  const classIds = [...instances.keys()].sort((a, b) => a - b);
  const curves = classIds.map((c) => {
    const list = (scored.get(c) ?? []).sort((a, b) => b.confidence - a.confidence);
    const npos = instances.get(c) ?? 0;
    const conf: number[] = [];
    const recall: number[] = [];
    const precision: number[] = [];
    let tp = 0;
    let fp = 0;
    for (const s of list) {
      if (s.tp) tp++;
      else fp++;
      conf.push(s.confidence);
      recall.push(tp / npos);
      precision.push(tp / (tp + fp));
    }
    return { c, npos, npred: list.length, conf, recall, precision, ap: averagePrecision(recall, precision) };
  });

  // P and R at one confidence for all classes: the grid point with the best mean F1.
  const prAt = (cv: (typeof curves)[number], t: number): [number, number] => {
    // conf is descending: count predictions with confidence >= t (binary search).
    let lo = 0;
    let hi = cv.conf.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (cv.conf[mid] >= t) lo = mid + 1;
      else hi = mid;
    }
    if (lo === 0) return [0, 0];
    return [cv.precision[lo - 1], cv.recall[lo - 1]];
  };
  let bestT = 0;
  let bestF1 = -1;
  if (curves.length) {
    for (let k = 0; k <= 1000; k++) {
      const t = k / 1000;
      let f1 = 0;
      for (const cv of curves) {
        const [p, r] = prAt(cv, t);
        f1 += p + r > 0 ? (2 * p * r) / (p + r) : 0;
      }
      f1 /= curves.length;
      if (f1 > bestF1 + 1e-12) {
        bestF1 = f1;
        bestT = t;
      }
    }
  }
  const perClass: ClassMetrics[] = curves.map((cv) => {
    const [p, r] = prAt(cv, bestT);
    return {
      classId: cv.c,
      name: names[cv.c] ?? `class${cv.c}`,
      instances: cv.npos,
      predictions: cv.npred,
      precision: p,
      recall: r,
      ap50: cv.ap,
    };
  });
  const mean = (xs: number[]): number => (xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : 0);
  return {
    images: images.length,
    instances: perClass.reduce((a, c) => a + c.instances, 0),
    precision: mean(perClass.map((c) => c.precision)),
    recall: mean(perClass.map((c) => c.recall)),
    mAP50: mean(perClass.map((c) => c.ap50)),
    f1Confidence: bestT,
    perClass,
  };
}

/**
 * Parses a YOLO label file body ("class cx cy w h" normalised per line) into pixel boxes. With numClasses,
 * a class id outside the model's range is an error, as is any coordinate outside 0..1 (pixels, not
 * normalised) or a box with no area: such a file is reported, not counted.
 */
export function parseYoloLabels(text: string, width: number, height: number, numClasses?: number): GroundTruth[] {
  const out: GroundTruth[] = [];
  const lines = text.split(/\r?\n/);
  lines.forEach((line, i) => {
    const t = line.trim();
    if (!t || t.startsWith('#')) return;
    const p = t.split(/\s+/).map(Number);
    if (p.length < 5 || p.slice(0, 5).some((v) => !Number.isFinite(v)) || !Number.isInteger(p[0]) || p[0] < 0) {
      throw new Error(`line ${i + 1}: expected "class cx cy w h", got "${t}"`);
    }
    const [c, cx, cy, w, h] = p;
    if (numClasses !== undefined && c >= numClasses) throw new Error(`line ${i + 1}: class ${c} is out of range: the model has ${numClasses} classes (0-${numClasses - 1})`);
    if ([cx, cy, w, h].some((v) => v < 0 || v > 1)) throw new Error(`line ${i + 1}: coordinates must be normalised to 0..1, got "${t}"`);
    if (w === 0 || h === 0) throw new Error(`line ${i + 1}: box has no area, got "${t}"`);
    out.push({
      classId: c,
      box: { x1: (cx - w / 2) * width, y1: (cy - h / 2) * height, x2: (cx + w / 2) * width, y2: (cy + h / 2) * height },
    });
  });
  return out;
}
