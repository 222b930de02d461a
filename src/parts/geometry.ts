/** Box arithmetic for the part tracker (source pixels, x1 < x2, y1 < y2). */
import type { Box } from '../contracts/vision.js';

import type { BELT_DIRECTIONS } from '../config/schema.js';

export type BeltDirection = (typeof BELT_DIRECTIONS)[number];

export function area(b: Box): number {
  return Math.max(0, b.x2 - b.x1) * Math.max(0, b.y2 - b.y1);
}

export function iou(a: Box, b: Box): number {
  const iw = Math.min(a.x2, b.x2) - Math.max(a.x1, b.x1);
  const ih = Math.min(a.y2, b.y2) - Math.max(a.y1, b.y1);
  if (iw <= 0 || ih <= 0) return 0;
  const inter = iw * ih;
  return inter / (area(a) + area(b) - inter);
}

/** Fraction of `inner`'s area that lies inside `outer`. */
export function containment(inner: Box, outer: Box): number {
  const a = area(inner);
  if (a <= 0) {
    const cx = (inner.x1 + inner.x2) / 2;
    const cy = (inner.y1 + inner.y2) / 2;
    return cx >= outer.x1 && cx <= outer.x2 && cy >= outer.y1 && cy <= outer.y2 ? 1 : 0;
  }
  const iw = Math.min(inner.x2, outer.x2) - Math.max(inner.x1, outer.x1);
  const ih = Math.min(inner.y2, outer.y2) - Math.max(inner.y1, outer.y1);
  return iw <= 0 || ih <= 0 ? 0 : (iw * ih) / a;
}

export function clip(b: Box, width: number, height: number): Box {
  return { x1: Math.max(0, b.x1), y1: Math.max(0, b.y1), x2: Math.min(width, b.x2), y2: Math.min(height, b.y2) };
}

export function centre(b: Box): { x: number; y: number } {
  return { x: (b.x1 + b.x2) / 2, y: (b.y1 + b.y2) / 2 };
}

/** Unit vector of the belt's motion on the image, [0, 0] for `none`. */
export function beltAxis(direction: BeltDirection): [number, number] {
  switch (direction) {
    case 'left-to-right':
      return [1, 0];
    case 'right-to-left':
      return [-1, 0];
    case 'top-to-bottom':
      return [0, 1];
    case 'bottom-to-top':
      return [0, -1];
    default:
      return [0, 0];
  }
}

/** A box's position along the belt axis (its centre projected), px. */
export function along(b: Box, direction: BeltDirection): number {
  const [ax, ay] = beltAxis(direction);
  const c = centre(b);
  return c.x * ax + c.y * ay;
}

/** The box's extent along the belt axis, px. */
export function extentAlong(b: Box, direction: BeltDirection): number {
  const [ax, ay] = beltAxis(direction);
  return Math.abs(ax) * (b.x2 - b.x1) + Math.abs(ay) * (b.y2 - b.y1);
}
