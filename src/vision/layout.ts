/**
 * Which Ultralytics head a model has, from its output shapes and metadata (README.md "Bring your own model and camera").
 * Anything we cannot decode with certainty is refused with INSPECTD_ERR_MODEL_LAYOUT naming the shapes.
 */
import { InspectdError, ErrorCodes } from '../errors.js';
import type { OutputLayout } from '../contracts/vision.js';

export interface LayoutInfo {
  layout: OutputLayout;
  /** Number of classes the head scores (for end2end: unknown from the shape, so the metadata's count or 0). */
  numClasses: number;
  /** Candidate rows: anchors for v5/v8, detection slots for end2end. */
  numCandidates: number;
  /** Values per candidate row (v5: 5+nc, v8: 4+nc, end2end: 6). */
  rowLength: number;
}

export interface LayoutHints {
  /** Class count from metadata names or a labels file. */
  numClasses?: number;
  end2end?: boolean;
  /** [h, w] model input. */
  imgsz?: [number, number];
}

function fmt(shapes: readonly (readonly number[])[]): string {
  return shapes.map((s) => `[${s.join(', ')}]`).join(', ');
}

function refuse(shapes: readonly (readonly number[])[], why: string): InspectdError {
  return new InspectdError(
    ErrorCodes.MODEL_LAYOUT,
    `unsupported model output shape ${fmt(shapes)}: ${why}. inspectd decodes single-output Ultralytics detect heads: ` +
      'YOLOv5 [1, N, 5+nc], YOLOv8/11 [1, 4+nc, N], end-to-end [1, 300, 6]; re-export the model as a detect model (format=onnx)',
  );
}

/** Anchor points of a v8-style head for strides 8/16/32 (and 8..64 for P6 models). */
function anchorCounts(imgsz: [number, number]): number[] {
  const sum = (strides: number[]) => strides.reduce((a, s) => a + Math.ceil(imgsz[0] / s) * Math.ceil(imgsz[1] / s), 0);
  return [sum([8, 16, 32]), sum([8, 16, 32, 64])];
}

export function detectLayout(outputShapes: readonly (readonly number[])[], hints: LayoutHints = {}): LayoutInfo {
  if (outputShapes.length !== 1) {
    throw refuse(outputShapes, `expected exactly one output, found ${outputShapes.length} (segmentation/pose/multi-head exports are not supported)`);
  }
  const shape = outputShapes[0];
  if (shape.length !== 3) throw refuse(outputShapes, `expected a 3-D output, found ${shape.length}-D`);
  if (shape[0] !== 1) throw refuse(outputShapes, 'expected batch size 1');
  const [, a, b] = shape;
  if (!(a > 0 && b > 0)) throw refuse(outputShapes, 'output dimensions must be known (run the model once to resolve dynamic axes)');
  const nc = hints.numClasses && hints.numClasses > 0 ? hints.numClasses : undefined;

  const candidates: LayoutInfo[] = [];
  // End-to-end: [1, K, 6] rows of x1,y1,x2,y2,score,class.
  if (b === 6 && hints.end2end !== false) candidates.push({ layout: 'end2end', numClasses: nc ?? 0, numCandidates: a, rowLength: 6 });
  if (hints.end2end !== true) {
    // v8: [1, 4+nc, N] with N (anchors) the larger axis.
    if (b > a && a > 4 && (nc === undefined || a - 4 === nc)) candidates.push({ layout: 'yolov8', numClasses: a - 4, numCandidates: b, rowLength: a });
    // v5: [1, N, 5+nc] with N the larger axis.
    if (a > b && b > 5 && (nc === undefined || b - 5 === nc)) candidates.push({ layout: 'yolov5', numClasses: b - 5, numCandidates: a, rowLength: b });
  }
  if (candidates.length === 1) return candidates[0];
  if (candidates.length === 0) {
    const why =
      hints.end2end === true
        ? 'metadata says end2end but the output is not [1, K, 6]'
        : nc !== undefined
          ? `it matches no known head for ${nc} classes (v8 wants [1, ${4 + nc}, N], v5 wants [1, N, ${5 + nc}])`
          : 'it matches no known detect head';
    throw refuse(outputShapes, why);
  }
  // Only end2end vs a one-class v5 head ([1, K, 6]) can reach here: the anchor count for the input size decides.
  if (hints.imgsz) {
    const v8Anchors = anchorCounts(hints.imgsz);
    const v5 = candidates.find((c) => c.layout === 'yolov5');
    if (v5 && v8Anchors.some((n) => 3 * n === v5.numCandidates)) return v5;
    const e2e = candidates.find((c) => c.layout === 'end2end');
    if (e2e && !v8Anchors.some((n) => 3 * n === a || n === a)) return e2e;
  }
  throw refuse(outputShapes, `ambiguous between ${candidates.map((c) => c.layout).join(' and ')} without metadata (add end2end/names to the ONNX metadata or pass a labels file)`);
}
