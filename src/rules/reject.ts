/** The reject decision's identity and wording: an idempotency key a PLC can dedupe on, and a reason a person can read. */
import type { Detection } from '../contracts/vision.js';

/**
 * `${device}:${camera}:trigger:${triggerId}` when the frame was tagged by a PLC trigger (the part id is
 * the natural key), else `${device}:${camera}:seq:${seq}`, where seq is `<boot>-<n>`: the boot counter
 * (persisted, incremented on every start) and the camera's reject number in that start, so a key never
 * repeats across restarts or camera re-creations.
 */
export function rejectKey(device: string, camera: string, seq: string, triggerId?: string): string {
  return triggerId !== undefined && triggerId !== '' ? `${device}:${camera}:trigger:${triggerId}` : `${device}:${camera}:seq:${seq}`;
}

/** Distinct cause classes in first-seen order. */
export function rejectClassesOf(causes: readonly Detection[]): string[] {
  const out: string[] = [];
  for (const c of causes) if (!out.includes(c.class)) out.push(c.class);
  return out;
}

/** e.g. "reject: scratch (0.91), dent ×2 (best 0.62)" — highest confidence per class. */
export function rejectReason(causes: readonly Detection[]): string {
  if (causes.length === 0) return 'no reject';
  const by = new Map<string, { n: number; best: number }>();
  for (const c of causes) {
    const e = by.get(c.class);
    if (e) {
      e.n++;
      e.best = Math.max(e.best, c.confidence);
    } else by.set(c.class, { n: 1, best: c.confidence });
  }
  const parts = [...by].map(([cls, { n, best }]) => (n === 1 ? `${cls} (${best.toFixed(2)})` : `${cls} ×${n} (best ${best.toFixed(2)})`));
  return `reject: ${parts.join(', ')}`;
}
