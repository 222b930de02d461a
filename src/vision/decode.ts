/**
 * Decoders for the three output layouts. They write candidates that pass their class's confidence
 * threshold into a reusable CandidateBuffer (typed arrays; nothing is allocated per candidate).
 * Boxes come out as x1,y1,x2,y2 in model-input pixels.
 */

export class CandidateBuffer {
  boxes: Float32Array;
  scores: Float32Array;
  classes: Int32Array;
  count = 0;

  constructor(capacity = 1024) {
    this.boxes = new Float32Array(capacity * 4);
    this.scores = new Float32Array(capacity);
    this.classes = new Int32Array(capacity);
  }

  reset(): void {
    this.count = 0;
  }

  push(x1: number, y1: number, x2: number, y2: number, score: number, cls: number): void {
    if (this.count === this.scores.length) this.grow();
    const n = this.count++;
    const o = n * 4;
    this.boxes[o] = x1;
    this.boxes[o + 1] = y1;
    this.boxes[o + 2] = x2;
    this.boxes[o + 3] = y2;
    this.scores[n] = score;
    this.classes[n] = cls;
  }

  private grow(): void {
    const cap = this.scores.length * 2;
    const boxes = new Float32Array(cap * 4);
    boxes.set(this.boxes);
    const scores = new Float32Array(cap);
    scores.set(this.scores);
    const classes = new Int32Array(cap);
    classes.set(this.classes);
    this.boxes = boxes;
    this.scores = scores;
    this.classes = classes;
  }
}

/** Per-class thresholds; classes past the array use `fallback`. */
export interface Thresholds {
  perClass: Float32Array;
  fallback: number;
  /** Smallest threshold of all: a candidate below it cannot pass for any class. */
  min: number;
}

function thr(t: Thresholds, c: number): number {
  return c < t.perClass.length ? t.perClass[c] : t.fallback;
}

/**
 * YOLOv8/11: [1, 4+nc, N], row-major, so each class is a contiguous row of N scores. The class argmax is
 * computed row by row (contiguous reads) into scratch arrays, then anchors that pass are emitted.
 */
export function decodeYolov8(
  data: Float32Array,
  numClasses: number,
  numAnchors: number,
  t: Thresholds,
  out: CandidateBuffer,
  scratch?: { best: Float32Array; arg: Int32Array },
): void {
  const n = numAnchors;
  const best = scratch && scratch.best.length >= n ? scratch.best : new Float32Array(n);
  const arg = scratch && scratch.arg.length >= n ? scratch.arg : new Int32Array(n);
  best.set(data.subarray(4 * n, 5 * n));
  arg.fill(0, 0, n);
  for (let c = 1; c < numClasses; c++) {
    const base = (4 + c) * n;
    for (let i = 0; i < n; i++) {
      const s = data[base + i];
      // A NaN best is replaced by any real score, so a NaN never hides one.
      if (s > best[i] || (Number.isNaN(best[i]) && !Number.isNaN(s))) {
        best[i] = s;
        arg[i] = c;
      }
    }
  }
  const min = t.min;
  for (let i = 0; i < n; i++) {
    const s = best[i];
    if (!(s >= min)) continue; // NaN never passes
    const c = arg[i];
    if (s < thr(t, c)) continue;
    const cx = data[i];
    const cy = data[n + i];
    const hw = data[2 * n + i] / 2;
    const hh = data[3 * n + i] / 2;
    out.push(cx - hw, cy - hh, cx + hw, cy + hh, s, c);
  }
}

/** YOLOv5: [1, N, 5+nc]; score = objectness × class score, so a row whose objectness is below every threshold is skipped. */
export function decodeYolov5(data: Float32Array, numClasses: number, numAnchors: number, t: Thresholds, out: CandidateBuffer): void {
  const row = 5 + numClasses;
  const min = t.min;
  for (let i = 0, o = 0; i < numAnchors; i++, o += row) {
    const obj = data[o + 4];
    if (!(obj >= min)) continue; // NaN never passes
    let bestC = 0;
    let best = data[o + 5];
    for (let c = 1; c < numClasses; c++) {
      const s = data[o + 5 + c];
      if (s > best || (Number.isNaN(best) && !Number.isNaN(s))) {
        best = s;
        bestC = c;
      }
    }
    const score = best * obj;
    if (!(score >= thr(t, bestC))) continue;
    const cx = data[o];
    const cy = data[o + 1];
    const hw = data[o + 2] / 2;
    const hh = data[o + 3] / 2;
    out.push(cx - hw, cy - hh, cx + hw, cy + hh, score, bestC);
  }
}

/** End-to-end (YOLOv10, YOLO26): [1, K, 6] rows of x1,y1,x2,y2,score,class; the model already did NMS. */
export function decodeEnd2End(data: Float32Array, numRows: number, t: Thresholds, out: CandidateBuffer): void {
  for (let i = 0, o = 0; i < numRows; i++, o += 6) {
    const s = data[o + 4];
    if (!(s >= t.min)) continue;
    const c = Math.round(data[o + 5]);
    if (c < 0 || s < thr(t, c)) continue;
    out.push(data[o], data[o + 1], data[o + 2], data[o + 3], s, c);
  }
}
