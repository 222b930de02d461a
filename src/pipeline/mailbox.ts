/**
 * Per-camera frame slot: latest-frame-wins for live frames (a new frame replaces an unprocessed one),
 * FIFO for frames that must not be dropped (lossless hot-folder frames with done(), trigger-tagged frames).
 * The FIFO is bounded by its producers: a lossless source emits its next frame only after done(), and
 * tagged frames are bounded by the pending-trigger cap.
 */
import type { Frame } from '../contracts/frame.js';

export class FrameMailbox {
  private latest: Frame | null = null;
  private readonly keep: Frame[] = [];

  /** Returns the frame displaced by this one (to be counted as superseded), if any. */
  put(frame: Frame, mustKeep: boolean): Frame | null {
    if (mustKeep) {
      this.keep.push(frame);
      return null;
    }
    const old = this.latest;
    this.latest = frame;
    return old;
  }

  /** Kept frames first (they are older and owed), then the latest live frame. */
  take(): Frame | null {
    const k = this.keep.shift();
    if (k) return k;
    const f = this.latest;
    this.latest = null;
    return f;
  }

  /** Drops the live frame (pause/stop); kept frames stay. */
  clearLatest(): Frame | null {
    const f = this.latest;
    this.latest = null;
    return f;
  }

  drainAll(): Frame[] {
    const out = this.keep.splice(0);
    if (this.latest) out.push(this.latest);
    this.latest = null;
    return out;
  }

  get size(): number {
    return this.keep.length + (this.latest ? 1 : 0);
  }

  get keptSize(): number {
    return this.keep.length;
  }
}
