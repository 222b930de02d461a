/** Zone geometry: a detection counts in a zone when its box centre lies inside the zone's polygon. */
import type { Box } from '../contracts/vision.js';
import type { Zone } from '../config/types.js';

/** Even-odd ray casting; points exactly on an edge may fall either way (sub-pixel, irrelevant for boxes). */
export function pointInPolygon(x: number, y: number, polygon: readonly (readonly [number, number])[]): boolean {
  let inside = false;
  const n = polygon.length;
  for (let i = 0, j = n - 1; i < n; j = i++) {
    const [xi, yi] = polygon[i];
    const [xj, yj] = polygon[j];
    if (yi > y !== yj > y && x < ((xj - xi) * (y - yi)) / (yj - yi) + xi) inside = !inside;
  }
  return inside;
}

export function boxCentre(box: Box): [number, number] {
  return [(box.x1 + box.x2) / 2, (box.y1 + box.y2) / 2];
}

/** The first zone holding the box centre, or undefined. */
export function zoneOf(box: Box, zones: readonly Zone[]): Zone | undefined {
  const [cx, cy] = boxCentre(box);
  for (const zone of zones) if (pointInPolygon(cx, cy, zone.polygon)) return zone;
  return undefined;
}
