/**
 * A multi-object tracker for parts on a conveyor, after ByteTrack (Zhang et al., 2022): every frame, the
 * tracks' boxes are predicted forward with a constant-velocity model, then matched to detections on IoU in
 * two stages — high-confidence detections first, then low-confidence ones, which only continue tracks that
 * were tracked in the previous frame (a part half hidden or blurred scores low; it is still the same part).
 * A new track must be matched in `probationFrames` frames in a row before it counts; a confirmed track that
 * goes unmatched coasts on its prediction for up to `lostFrames` frames (a frame the model missed, an
 * occlusion) and is re-found by the first stage. Identity is class-agnostic: a detection's class plays no part.
 *
 * What is kept from ByteTrack and what differs, for a conveyor:
 * - Time is counted in camera frames (Frame.seq), not in calls: frames the pipeline dropped (latest-frame-
 *   wins, an inference error) are steps the prediction still takes.
 * - The motion model is per box edge (x1, y1, x2, y2 each with a velocity, an alpha-beta filter) rather than
 *   ByteTrack's Kalman filter on centre/aspect/height. Parts enter and leave cut by the image edge: an edge
 *   at the border is not measured (the part goes on beyond it), so it moves with the opposite edge, as a
 *   rigid part does, and the predicted box is clipped to the image before matching.
 * - A new track starts with the belt's velocity (the median of the confirmed tracks', else the configured
 *   belt speed), so a small part (case b: a defect tracked as the part) that moves more than its own size
 *   between frames is still found in the next frame.
 * - A track whose predicted box has left the image is removed at once (it cannot be seen any more): a part
 *   that comes back gets a new id.
 * - With a belt direction, a confirmed track that moves against it is reported (`againstBelt`), and a match
 *   far from the prediction is reported as a suspected identity switch (`jumped`).
 * Pure: no I/O, no clocks; the caller passes the frame's seq and size.
 */
import type { Box } from '../contracts/vision.js';
import { assign } from './assignment.js';
import { along, beltAxis, centre, clip, extentAlong, iou, type BeltDirection } from './geometry.js';

export interface TrackerOptions {
  /** Detections at or above this are matched in the first stage. */
  highConf: number;
  /** Detections below this are ignored; from lowConf up to highConf they only continue tracked parts. */
  lowConf: number;
  /** A new track starts only from an unmatched detection at or above this. */
  newTrackConf: number;
  /** Least IoU of a first-stage match (predicted box vs detection); new tracks in probation use it too. */
  matchIou: number;
  /** Least IoU of a second-stage (low-confidence) match. */
  lowMatchIou: number;
  /** Frames in a row a new track must be matched before it counts as a part (1: at once). */
  probationFrames: number;
  /** Frames a part is kept while unmatched before it is given up. */
  lostFrames: number;
  /** The belt's direction on the image: reports tracks that move against it. */
  direction: BeltDirection;
}

export interface TrackerDetection {
  box: Box;
  confidence: number;
}

export type TrackState = 'tentative' | 'tracked' | 'lost';

/** Filter gains: how far a measurement moves the estimate (alpha) and the velocity (beta). */
const ALPHA = 0.8;
const BETA = 0.3;
/** A match whose centre is further than this × the predicted box's larger side from the prediction "jumped". */
const JUMP_FRACTION = 0.6;
/** Against the belt: slower than this (px/frame, backwards) is noise. */
const REVERSE_MIN_SPEED = 0.5;
/** Edges within this of the image border are taken as cut by it. */
const BORDER_PX = 0.5;

type Edge = 'x1' | 'y1' | 'x2' | 'y2';
const EDGES: readonly Edge[] = ['x1', 'y1', 'x2', 'y2'];
const OPPOSITE: Record<Edge, Edge> = { x1: 'x2', x2: 'x1', y1: 'y2', y2: 'y1' };

export class Track {
  state: TrackState = 'tentative';
  /** Estimated box at lastSeq; an edge may lie beyond the image where the part is cut by it. */
  box: Box;
  /** Velocity of each edge, px per frame. */
  readonly vel: Box;
  /** The last matched detection's box, as the model saw it (clipped to the image). */
  lastBox: Box;
  lastConfidence: number;
  /** Which edges of the last detection lay on the image border. */
  readonly cut: Record<Edge, boolean> = { x1: false, y1: false, x2: false, y2: false };
  hits = 1;
  /** Frames unmatched in a row, and over the track's life. */
  misses = 0;
  missedTotal = 0;
  readonly firstSeq: number;
  lastSeq: number;
  againstBelt = false;
  jumps = 0;
  private readonly startAlong: number;

  constructor(
    readonly id: number,
    det: TrackerDetection,
    seq: number,
    width: number,
    height: number,
    prior: { x: number; y: number },
    private readonly direction: BeltDirection,
  ) {
    this.box = { ...det.box };
    this.lastBox = { ...det.box };
    this.lastConfidence = det.confidence;
    this.firstSeq = seq;
    this.lastSeq = seq;
    this.markCut(det.box, width, height);
    // Edges cut by the border do not move on the image until the part is all in: they start still.
    this.vel = {
      x1: this.cut.x1 ? 0 : prior.x,
      x2: this.cut.x2 ? 0 : prior.x,
      y1: this.cut.y1 ? 0 : prior.y,
      y2: this.cut.y2 ? 0 : prior.y,
    };
    this.startAlong = along(det.box, direction);
  }

  get confirmed(): boolean {
    return this.state !== 'tentative';
  }

  /** The estimated box `seq` frames on (not clipped). */
  predict(seq: number): Box {
    const dt = seq - this.lastSeq;
    return { x1: this.box.x1 + this.vel.x1 * dt, y1: this.box.y1 + this.vel.y1 * dt, x2: this.box.x2 + this.vel.x2 * dt, y2: this.box.y2 + this.vel.y2 * dt };
  }

  /** The part's velocity, px per frame: from the edges the image does not cut (a cut edge stands still). */
  velocity(): { x: number; y: number } {
    const pick = (a: Edge, b: Edge): number => {
      if (!this.cut[a] && !this.cut[b]) return (this.vel[a] + this.vel[b]) / 2;
      if (!this.cut[a]) return this.vel[a];
      if (!this.cut[b]) return this.vel[b];
      return (this.vel[a] + this.vel[b]) / 2;
    };
    return { x: pick('x1', 'x2'), y: pick('y1', 'y2') };
  }

  /** Takes a matched detection; returns whether the match was far from the prediction (a suspected switch). */
  update(det: TrackerDetection, seq: number, width: number, height: number): boolean {
    const dt = Math.max(1, seq - this.lastSeq);
    const pred = this.predict(seq);
    const predSeen = clip(pred, width, height);
    const c0 = centre(predSeen);
    const c1 = centre(det.box);
    const size = Math.max(predSeen.x2 - predSeen.x1, predSeen.y2 - predSeen.y1, 1);
    const jumped = Math.hypot(c1.x - c0.x, c1.y - c0.y) > JUMP_FRACTION * size;
    const wasCut = { ...this.cut };
    this.markCut(det.box, width, height);
    const next: Box = { ...pred };
    // Like a Kalman filter started with an unknown velocity: the first updates trust the measurement most.
    const beta = Math.max(BETA, 1 / this.hits);
    for (const e of EDGES) {
      if (this.cut[e] || wasCut[e]) continue;
      const r = det.box[e] - pred[e];
      next[e] = pred[e] + ALPHA * r;
      this.vel[e] += (beta * r) / dt;
    }
    for (const e of EDGES) {
      if (this.cut[e]) {
        // Beyond the border the part goes on: keep the prediction when it lies out there too, else the border;
        // the edge moves with its opposite one (a rigid part) while that one is measured.
        const low = e === 'x1' || e === 'y1';
        next[e] = low ? Math.min(pred[e], det.box[e]) : Math.max(pred[e], det.box[e]);
        if (!this.cut[OPPOSITE[e]]) this.vel[e] = this.vel[OPPOSITE[e]];
      } else if (wasCut[e]) {
        // Just came out from behind the border: its first measurement, moving as the rest of the part does.
        next[e] = det.box[e];
        if (!this.cut[OPPOSITE[e]] && !wasCut[OPPOSITE[e]]) this.vel[e] = this.vel[OPPOSITE[e]];
      }
    }
    this.box = next;
    this.lastBox = { ...det.box };
    this.lastConfidence = det.confidence;
    this.lastSeq = seq;
    this.hits++;
    this.misses = 0;
    if (jumped) this.jumps++;
    return jumped;
  }

  /** Moving against the belt: backwards faster than noise, and backwards overall by a tenth of its size. */
  checkAgainstBelt(): boolean {
    if (this.againstBelt || this.direction === 'none' || !this.confirmed) return false;
    const [ax, ay] = beltAxis(this.direction);
    const v = this.velocity();
    const speed = v.x * ax + v.y * ay;
    const moved = along(this.lastBox, this.direction) - this.startAlong;
    if (speed < -REVERSE_MIN_SPEED && moved < -0.1 * Math.max(1, extentAlong(this.lastBox, this.direction))) {
      this.againstBelt = true;
      return true;
    }
    return false;
  }

  private markCut(b: Box, width: number, height: number): void {
    this.cut.x1 = b.x1 <= BORDER_PX;
    this.cut.y1 = b.y1 <= BORDER_PX;
    this.cut.x2 = b.x2 >= width - BORDER_PX;
    this.cut.y2 = b.y2 >= height - BORDER_PX;
  }
}

export type RemovedWhy = 'out-of-view' | 'lost' | 'probation';

/** What one frame did to the tracks. */
export interface TrackerStep {
  /** Detection index (into the frame's list) → the track it was matched to or started. */
  readonly assigned: ReadonlyMap<number, Track>;
  /** Tracks that passed probation in this frame (they count as parts from now on). */
  readonly confirmed: Track[];
  /** Confirmed tracks not matched in this frame (coasting on their prediction). */
  readonly missed: Track[];
  /** Tracks given up in this frame. */
  readonly removed: Array<{ track: Track; why: RemovedWhy }>;
  /** Confirmed tracks first seen moving against the belt in this frame. */
  readonly reversed: Track[];
  /** Tracks whose match in this frame was far from their prediction (suspected identity switch). */
  readonly jumped: Track[];
}

export class Tracker {
  private live: Track[] = [];
  private nextId = 1;
  private prior: { x: number; y: number } = { x: 0, y: 0 };

  constructor(private readonly opts: TrackerOptions) {}

  /** Every live track (tentative, tracked and lost). */
  get tracks(): readonly Track[] {
    return this.live;
  }

  /** Tracks started since construction (ids are 1..n). */
  get started(): number {
    return this.nextId - 1;
  }

  /** Belt velocity (px/frame) given to a new track when no confirmed track is moving: from the belt config. */
  setPrior(v: { x: number; y: number }): void {
    this.prior = { ...v };
  }

  /** Removes every track (a camera fault, a restart): returns them. */
  clear(): Track[] {
    const all = this.live;
    this.live = [];
    return all;
  }

  update(dets: readonly TrackerDetection[], frame: { seq: number; width: number; height: number }): TrackerStep {
    const { seq, width, height } = frame;
    const o = this.opts;
    const assigned = new Map<number, Track>();
    const confirmed: Track[] = [];
    const missed: Track[] = [];
    const removed: Array<{ track: Track; why: RemovedWhy }> = [];
    const reversed: Track[] = [];
    const jumped: Track[] = [];

    // Predict; a track whose box has left the image is gone.
    const seen = new Map<Track, Box>();
    for (const t of this.live) {
      const b = clip(t.predict(seq), width, height);
      if (b.x2 - b.x1 <= 0 || b.y2 - b.y1 <= 0) removed.push({ track: t, why: 'out-of-view' });
      else seen.set(t, b);
    }
    let tracks = this.live.filter((t) => seen.has(t));

    const high: number[] = [];
    const low: number[] = [];
    dets.forEach((d, i) => {
      if (d.confidence >= o.highConf) high.push(i);
      else if (d.confidence >= o.lowConf) low.push(i);
    });

    const matchSet = (ts: Track[], ds: number[], minIou: number): { tracks: Track[]; dets: number[] } => {
      const cost = ts.map((t) => ds.map((d) => 1 - iou(seen.get(t)!, dets[d].box)));
      const pairs = assign(cost, 1 - minIou);
      const usedT = new Set<number>();
      const usedD = new Set<number>();
      for (const [ti, di] of pairs) {
        const t = ts[ti];
        const d = ds[di];
        usedT.add(ti);
        usedD.add(di);
        if (t.update(dets[d], seq, width, height)) jumped.push(t);
        assigned.set(d, t);
      }
      return { tracks: ts.filter((_, i) => !usedT.has(i)), dets: ds.filter((_, i) => !usedD.has(i)) };
    };

    // Stage 1: confirmed tracks (tracked and lost) against high-confidence detections.
    const pool = tracks.filter((t) => t.confirmed);
    const s1 = matchSet(pool, high, o.matchIou);
    // Stage 2: what was tracked last frame against low-confidence detections.
    const s2 = matchSet(
      s1.tracks.filter((t) => t.state === 'tracked'),
      low,
      o.lowMatchIou,
    );
    const unmatchedPool = new Set([...s2.tracks, ...s1.tracks.filter((t) => t.state === 'lost')]);
    for (const t of pool) {
      if (unmatchedPool.has(t)) {
        t.state = 'lost';
        t.misses++;
        t.missedTotal++;
        if (t.misses > o.lostFrames) removed.push({ track: t, why: 'lost' });
        else missed.push(t);
      } else t.state = 'tracked';
    }
    // Stage 3: tracks in probation against the high detections left; unmatched ones were noise.
    const tentative = tracks.filter((t) => !t.confirmed);
    const s3 = matchSet(tentative, s1.dets, o.matchIou);
    const s3Unmatched = new Set(s3.tracks);
    for (const t of tentative) {
      if (s3Unmatched.has(t)) removed.push({ track: t, why: 'probation' });
      else if (t.hits >= o.probationFrames) {
        t.state = 'tracked';
        confirmed.push(t);
      }
    }

    // New tracks from the high detections nobody took, moving with the belt.
    const prior = this.beltVelocity(pool.filter((t) => t.state === 'tracked'));
    const gone = new Set(removed.map((r) => r.track));
    tracks = tracks.filter((t) => !gone.has(t));
    for (const d of s3.dets) {
      if (dets[d].confidence < o.newTrackConf) continue;
      const t = new Track(this.nextId++, dets[d], seq, width, height, prior, o.direction);
      if (o.probationFrames <= 1) {
        t.state = 'tracked';
        confirmed.push(t);
      }
      tracks.push(t);
      assigned.set(d, t);
    }
    for (const t of tracks) if (t.state === 'tracked' && t.checkAgainstBelt()) reversed.push(t);
    this.live = tracks;
    return { assigned, confirmed, missed, removed, reversed, jumped };
  }

  /** Median velocity of the tracked parts (they ride one belt), else the configured prior. */
  private beltVelocity(tracked: Track[]): { x: number; y: number } {
    if (tracked.length === 0) return this.prior;
    const vs = tracked.map((t) => t.velocity());
    const med = (xs: number[]): number => {
      const s = [...xs].sort((a, b) => a - b);
      const m = s.length >> 1;
      return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
    };
    return { x: med(vs.map((v) => v.x)), y: med(vs.map((v) => v.y)) };
  }
}
