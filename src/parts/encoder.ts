/**
 * The belt encoder as the PLC reports it (cmd/encoder, or the encoder field of cmd/trigger): counts at known
 * wall-clock times, from which the count at any moment (a frame's capture, a decision) is interpolated, so a
 * verdict can tell the PLC's shift register where on the belt the part was.
 */

export interface EncoderSample {
  count: number;
  /** Wall-clock ms of the reading (the PLC's `at`, else when the message arrived). */
  wall: number;
}

/** Samples kept: enough to bracket a frame's capture a few hundred ms back at 100 Hz. */
const KEEP = 256;
/** A count is extrapolated past the last reading for at most this long, ms; later, it is unknown. */
export const ENCODER_EXTRAPOLATE_MS = 1000;

export class EncoderClock {
  private samples: EncoderSample[] = [];

  get size(): number {
    return this.samples.length;
  }

  /**
   * Adds a reading. A reading older than the newest is placed in order; a count lower than the one before it
   * in time means the counter was reset (or wrapped): the history is dropped and starts again from this one.
   */
  add(s: EncoderSample): void {
    if (!Number.isFinite(s.count) || !Number.isFinite(s.wall)) return;
    const xs = this.samples;
    let i = xs.length;
    while (i > 0 && xs[i - 1].wall > s.wall) i--;
    if (i > 0 && xs[i - 1].count > s.count) {
      this.samples = [{ ...s }];
      return;
    }
    xs.splice(i, 0, { ...s });
    if (xs.length > KEEP) xs.splice(0, xs.length - KEEP);
  }

  /**
   * The count at `wall`: linear between the readings around it; past the newest, extrapolated at the last
   * rate for up to ENCODER_EXTRAPOLATE_MS; undefined before the first reading, with none, or too far out.
   */
  at(wall: number): number | undefined {
    const xs = this.samples;
    const n = xs.length;
    if (n === 0 || wall < xs[0].wall) return undefined;
    if (wall >= xs[n - 1].wall) {
      const last = xs[n - 1];
      if (wall - last.wall > ENCODER_EXTRAPOLATE_MS) return undefined;
      if (n === 1 || wall === last.wall) return last.count;
      const prev = xs[n - 2];
      const rate = last.wall > prev.wall ? (last.count - prev.count) / (last.wall - prev.wall) : 0;
      return last.count + rate * (wall - last.wall);
    }
    // Binary search for the first reading after `wall`.
    let lo = 0;
    let hi = n - 1;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (xs[mid].wall > wall) hi = mid;
      else lo = mid + 1;
    }
    const b = xs[lo];
    const a = xs[lo - 1];
    if (b.wall === a.wall) return b.count;
    return a.count + ((b.count - a.count) * (wall - a.wall)) / (b.wall - a.wall);
  }

  clear(): void {
    this.samples = [];
  }
}
