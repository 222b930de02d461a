/**
 * The one JSON form of a detect result: `inspectd detect --json` prints it per image, `inspectd batch` per
 * image or frame, and the HTTP API's /v1/detect answers it (plus latency and engine).
 */
import type { Detection } from '../contracts/vision.js';

const round = (v: number, digits: number) => Number(v.toFixed(digits));

export function detectionJson(d: Detection) {
  return {
    classId: d.classId,
    class: d.class,
    confidence: round(d.confidence, 4),
    box: { x1: round(d.box.x1, 2), y1: round(d.box.y1, 2), x2: round(d.box.x2, 2), y2: round(d.box.y2, 2) },
  };
}

/** `{"image", "width", "height", "detections"}` with boxes in source-image pixels. */
export function detectResultJson(image: string, width: number, height: number, detections: readonly Detection[]) {
  return { image, width, height, detections: detections.map(detectionJson) };
}
