/**
 * Where and when: the decision line in image coordinates, and the ejector model — from where a part was at a
 * frame's capture, the distance still to go to the ejector and the belt speed give the wall-clock moment it
 * passes the ejector (`ejectAt`).
 */
import type { BeltConfig } from '../config/types.js';
import { beltAxis, type BeltDirection } from './geometry.js';

/**
 * The decision line's position along the belt axis (the coordinate `along()` gives a box): `position` is the
 * fraction of the way from where parts enter (0) to where they leave (1).
 */
export function lineAlong(direction: BeltDirection, position: number, width: number, height: number): number {
  const [ax, ay] = beltAxis(direction);
  if (ax > 0) return position * width;
  if (ax < 0) return -(1 - position) * width;
  if (ay > 0) return position * height;
  if (ay < 0) return -(1 - position) * height;
  return NaN;
}

export interface EjectorModel {
  direction: BeltDirection;
  mmPerPixel: number;
  ejectorDistanceMm: number;
  /** Configured belt speed; undefined: measured from the tracked part. */
  speedMmPerS?: number;
}

/** The ejector model of a belt config, or null when it lacks a direction, a scale or the ejector distance. */
export function ejectorOf(belt: BeltConfig): EjectorModel | null {
  if (belt.direction === 'none' || belt.mmPerPixel === undefined || belt.ejectorDistanceMm === undefined) return null;
  return {
    direction: belt.direction,
    mmPerPixel: belt.mmPerPixel,
    ejectorDistanceMm: belt.ejectorDistanceMm,
    ...(belt.speedMmPerS !== undefined ? { speedMmPerS: belt.speedMmPerS } : {}),
  };
}

/**
 * Wall-clock ms at which a part reaches the ejector: it was `partAlong` (px along the belt axis) at
 * `captureWall`, the line is at `lineAt`, and it moves `measuredPxPerMs` along the belt (used when the
 * model has no configured speed). Undefined when the speed is unknown or not forward.
 */
export function ejectAt(m: EjectorModel, partAlong: number, lineAt: number, captureWall: number, measuredPxPerMs?: number): number | undefined {
  const mmPerMs = m.speedMmPerS !== undefined ? m.speedMmPerS / 1000 : measuredPxPerMs !== undefined ? measuredPxPerMs * m.mmPerPixel : undefined;
  if (mmPerMs === undefined || !(mmPerMs > 0) || !Number.isFinite(partAlong) || !Number.isFinite(lineAt)) return undefined;
  const pastLineMm = (partAlong - lineAt) * m.mmPerPixel;
  return captureWall + (m.ejectorDistanceMm - pastLineMm) / mmPerMs;
}

/** The belt speed as the tracker's prior, px per frame along the axis, when speed and scale are configured. */
export function beltPxPerFrame(belt: BeltConfig, framePeriodMs: number): { x: number; y: number } | undefined {
  if (belt.direction === 'none' || belt.speedMmPerS === undefined || belt.mmPerPixel === undefined || !(framePeriodMs > 0)) return undefined;
  const px = (belt.speedMmPerS / belt.mmPerPixel) * (framePeriodMs / 1000);
  const [ax, ay] = beltAxis(belt.direction);
  return { x: ax * px, y: ay * px };
}
