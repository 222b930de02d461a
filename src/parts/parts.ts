/**
 * One camera's parts: the tracker's tracks become parts, each frame's detections are added to the part they
 * belong to, and every part is decided exactly once — when it crosses the decision line, leaves the view, or
 * reaches its maximum age, whichever comes first — into a verdict.
 *
 * What a part is (parts.partClass):
 * (a) set: the model detects the part itself (e.g. `plate`). Tracks follow part detections; every other
 *     detection belongs to the part whose box holds most of it (the part seen in this frame, else its
 *     predicted box while it coasts), so a defect may change class between frames and still count for the
 *     one part. A good part is seen too, so it gets a `pass` verdict.
 * (b) unset: the model detects only defects, and each tracked detection is the part (class-agnostic, so a
 *     defect read as `dent` in one frame and `stain` in the next is one part). Good parts are never seen:
 *     there are only reject verdicts.
 *
 * Verdict policy: reject when a reject class was seen in at least `minFrames` of the part's frames, or once
 * at `highConf` or above; otherwise pass when the part was judged: seen in at least `minFrames` frames (and
 * with a part class and `requireWhole`, seen once not cut by the image edge). A part that could not be
 * judged — seen too little because its frames were lost, or in view when the camera faulted — gets the
 * fail-safe verdict with reason `no-verdict` (parts.failSafe). Evidence for a reject always wins.
 *
 * Pure apart from the frames it keeps as evidence (references, not copies): no I/O, no clocks (the caller
 * passes the times).
 */
import type { PartsConfig } from '../config/types.js';
import type { Frame } from '../contracts/frame.js';
import type { VerdictDetection, VerdictPayload, VerdictTrigger } from '../contracts/messages.js';
import type { Box, Detection } from '../contracts/vision.js';
import { ejectAt, ejectorOf, lineAlong, beltPxPerFrame } from './ejector.js';
import type { EncoderClock } from './encoder.js';
import { along, area, beltAxis, clip, containment, iou } from './geometry.js';
import { Tracker, type Track, type TrackerOptions, type TrackerStep } from './tracker.js';

/** A defect belongs to a part when at least this fraction of its box lies inside the part's box. */
const MIN_CONTAINMENT = 0.5;
/** A part detection mostly inside a stronger one is a duplicate of it, whatever their IoU. */
const DUPLICATE_CONTAINMENT = 0.8;
/** Frame period smoothing (exponential moving average weight of a new sample). */
const PERIOD_ALPHA = 0.1;

export interface PartStageOptions {
  deviceId: string;
  cameraId: string;
  /** The daemon start (persisted counter): part ids `<boot>-<n>` never repeat across restarts. */
  bootId: number;
  /** The next part number of this boot (shared by every camera stage of one pipeline, so never reused). */
  nextNumber: () => number;
  config: PartsConfig;
  encoder?: EncoderClock;
}

/** A frame's results after rules, as the stage takes them. */
export interface StageInput {
  frame: Frame;
  /** The detections kept by the rules (what the detections topic carries). */
  kept: readonly Detection[];
  /** Those of `kept` whose class rejects a part. */
  rejectCauses: readonly Detection[];
}

export interface PartVerdict {
  payload: VerdictPayload;
  /** Whether it goes out (pass verdicts with publishPass false, and failSafe none, are only counted). */
  publish: boolean;
  /** The evidence frame and what to draw on it (reject evidence only; a pass has no picture). */
  frame?: Frame;
  causes: Detection[];
}

/** What one frame did, for metrics and the status counters. */
export interface StageStats {
  /** Parts confirmed (counted as parts) in this frame. */
  partsSeen: number;
  /** Reject-class detections on parts already seen rejecting in an earlier frame: rejects a per-frame decision would have repeated. */
  suppressed: number;
  /** Tracks first seen moving against the belt, and matches far from their prediction (suspected identity switches). */
  reversed: number;
  jumped: number;
  /** Detections that could not be given to any part (case a: outside every part's box). */
  orphans: number;
}

export interface StageResult {
  verdicts: PartVerdict[];
  stats: StageStats;
}

interface ClassStat {
  frames: number;
  lastSeq: number;
  best: Detection;
  bestSeq: number;
  reject: boolean;
}

class Part {
  no: number | null = null;
  decided = false;
  framesSeen = 0;
  lastCountedSeq = -1;
  seenWhole = false;
  lastSeenSeq: number;
  readonly classes = new Map<string, ClassStat>();
  rejectFrames = 0;
  lastRejectSeq = -1;
  maxRejectConf = 0;
  rejectEvidence: { frame: Frame; det: Detection; causes: Detection[] } | null = null;
  viewEvidence: { seq: number; wall: number; area: number } | null = null;
  readonly firstAlong: number;

  constructor(
    readonly track: Track,
    readonly firstMono: number,
    readonly firstWall: number,
    public lastWall: number,
    firstAlong: number,
  ) {
    this.lastSeenSeq = track.firstSeq;
    this.firstAlong = firstAlong;
  }
}

const round2 = (v: number): number => Math.round(v * 100) / 100;
const roundBox = (b: Box): Box => ({ x1: round2(b.x1), y1: round2(b.y1), x2: round2(b.x2), y2: round2(b.y2) });

export class PartStage {
  private cfg: PartsConfig;
  private tracker: Tracker;
  private readonly parts = new Map<Track, Part>();
  private lastSeq = -1;
  private lastMono = NaN;
  private periodMs = NaN;
  private lastSize: { width: number; height: number } | null = null;
  /** Shared with the tracker, so configure() changes its thresholds in place. */
  private readonly trackerOptions: TrackerOptions;

  constructor(private readonly opts: PartStageOptions) {
    this.cfg = opts.config;
    this.trackerOptions = trackerOptionsOf(opts.config);
    this.tracker = new Tracker(this.trackerOptions);
  }

  /** Parts in view (confirmed and not yet gone), decided or not. */
  get live(): number {
    let n = 0;
    for (const [t, p] of this.parts) if (p.track === t && t.confirmed) n++;
    return n;
  }

  /** Tracks alive (tentative included): for benchmarks and tests. */
  get tracks(): number {
    return this.tracker.tracks.length;
  }

  /** Measured camera frame period, ms (NaN before two frames). */
  get framePeriodMs(): number {
    return this.periodMs;
  }

  /** New settings apply from the next frame; tracks and parts are kept (a reload does not lose parts). */
  configure(config: PartsConfig): void {
    const trackerChanged = JSON.stringify(config.tracker) !== JSON.stringify(this.cfg.tracker) || config.belt.direction !== this.cfg.belt.direction;
    this.cfg = config;
    if (trackerChanged) Object.assign(this.trackerOptions, trackerOptionsOf(config));
  }

  /** One inferred frame; `nowMono`/`nowWall` are the decision's clocks. */
  observe(input: StageInput, nowMono: number, nowWall: number): StageResult {
    const { frame } = input;
    const out: StageResult = { verdicts: [], stats: { partsSeen: 0, suppressed: 0, reversed: 0, jumped: 0, orphans: 0 } };
    if (frame.seq <= this.lastSeq) {
      // The frame numbering went back: a new source behind this camera. Parts in view are not judged.
      out.verdicts.push(...this.flush(nowMono, nowWall).verdicts);
    }
    this.timeStep(frame);
    this.lastSize = { width: frame.width, height: frame.height };
    const cfg = this.cfg;
    const partClass = cfg.partClass;
    const partIdx: number[] = [];
    const otherIdx: number[] = [];
    input.kept.forEach((d, i) => (partClass === undefined || d.class === partClass ? partIdx : otherIdx).push(i));
    // One part, one detection: overlapping part detections (the model's NMS is per class and looser) are
    // duplicates of the strongest; they still count for the part below, as any detection inside it does.
    partIdx.sort((a, b) => input.kept[b].confidence - input.kept[a].confidence);
    const unique: number[] = [];
    for (const i of partIdx) {
      const b = input.kept[i].box;
      const dup = unique.some((j) => {
        const o = input.kept[j].box;
        return iou(b, o) >= cfg.tracker.duplicateIou || containment(b, o) >= DUPLICATE_CONTAINMENT || containment(o, b) >= DUPLICATE_CONTAINMENT;
      });
      (dup ? otherIdx : unique).push(i);
    }
    partIdx.length = 0;
    partIdx.push(...unique);
    const rejectSet = new Set(input.rejectCauses);
    const step = this.tracker.update(
      partIdx.map((i) => ({ box: input.kept[i].box, confidence: input.kept[i].confidence })),
      { seq: frame.seq, width: frame.width, height: frame.height },
    );
    out.stats.reversed = step.reversed.length;
    out.stats.jumped = step.jumped.length;

    const rejectsOnPart = new Map<Part, Detection[]>();
    const seenThisFrame = new Set<Part>();
    for (const [k, track] of step.assigned) {
      const det = input.kept[partIdx[k]];
      let part = this.parts.get(track);
      if (!part) {
        part = new Part(track, frame.captureMono, frame.captureWall, frame.captureWall, along(det.box, cfg.belt.direction));
        this.parts.set(track, part);
      }
      this.see(part, det, frame, rejectSet, rejectsOnPart);
      seenThisFrame.add(part);
      if (part.lastCountedSeq !== frame.seq) part.framesSeen++;
      part.lastCountedSeq = frame.seq;
      part.lastSeenSeq = frame.seq;
      part.lastWall = frame.captureWall;
      if (!touchesBorder(det.box, frame.width, frame.height)) part.seenWhole = true;
      const a = area(det.box);
      if (!part.viewEvidence || a >= part.viewEvidence.area) part.viewEvidence = { seq: frame.seq, wall: frame.captureWall, area: a };
    }
    // Every other detection (case a: defects; both cases: duplicates) joins the part whose box holds most of it.
    if (otherIdx.length > 0) {
      const boxes: Array<{ part: Part; box: Box }> = [];
      for (const t of this.tracker.tracks) {
        const part = this.parts.get(t);
        if (!part || part.track !== t) continue;
        boxes.push({ part, box: seenThisFrame.has(part) ? t.lastBox : clip(t.predict(frame.seq), frame.width, frame.height) });
      }
      for (const i of otherIdx) {
        const det = input.kept[i];
        let best: Part | null = null;
        let bestC = MIN_CONTAINMENT;
        for (const { part, box } of boxes) {
          const c = containment(det.box, box);
          if (c > bestC || (c === bestC && best === null && c >= MIN_CONTAINMENT)) {
            best = part;
            bestC = c;
          }
        }
        if (best) this.see(best, det, frame, rejectSet, rejectsOnPart);
        else out.stats.orphans++;
      }
    }
    for (const [part, causes] of rejectsOnPart) {
      if (part.rejectFrames > 0 && part.lastRejectSeq !== frame.seq) out.stats.suppressed += causes.length;
      if (part.lastRejectSeq !== frame.seq) {
        part.rejectFrames++;
        part.lastRejectSeq = frame.seq;
      }
      const top = causes.reduce((a, b) => (b.confidence > a.confidence ? b : a));
      if (!part.rejectEvidence || top.confidence > part.rejectEvidence.det.confidence) part.rejectEvidence = { frame, det: top, causes: [...causes] };
    }

    for (const t of step.confirmed) {
      const part = this.parts.get(t);
      if (part && part.no === null) {
        part.no = this.opts.nextNumber();
        out.stats.partsSeen++;
      }
    }
    out.verdicts.push(...this.decide(step, frame, seenThisFrame, nowMono, nowWall));
    return out;
  }

  /**
   * A frame of this camera that will not be inferred (inference failed): time moves on without detections,
   * so parts it hid coast, and are given up after the lost buffer like any part not seen.
   */
  skip(frame: Frame, nowMono: number, nowWall: number): StageResult {
    return this.observe({ frame: { ...frame }, kept: [], rejectCauses: [] }, nowMono, nowWall);
  }

  /**
   * Every part still in view is decided now (camera fault, restart, removal, daemon stop): reject on its
   * evidence if it has it, else the fail-safe verdict. Tracks are cleared.
   */
  flush(nowMono: number, nowWall: number): StageResult {
    const verdicts: PartVerdict[] = [];
    for (const [track, part] of this.parts) {
      if (part.decided || part.no === null || part.track !== track) continue;
      verdicts.push(this.verdict(part, 'fault', null, nowMono, nowWall));
    }
    this.parts.clear();
    this.tracker.clear();
    this.lastSeq = -1;
    this.lastMono = NaN;
    return { verdicts, stats: { partsSeen: 0, suppressed: 0, reversed: 0, jumped: 0, orphans: 0 } };
  }

  private timeStep(frame: Frame): void {
    if (this.lastSeq >= 0 && frame.seq > this.lastSeq && Number.isFinite(this.lastMono)) {
      const sample = (frame.captureMono - this.lastMono) / (frame.seq - this.lastSeq);
      if (sample > 0) this.periodMs = Number.isNaN(this.periodMs) ? sample : this.periodMs + PERIOD_ALPHA * (sample - this.periodMs);
    }
    this.lastSeq = frame.seq;
    this.lastMono = frame.captureMono;
    const prior = beltPxPerFrame(this.cfg.belt, this.periodMs);
    if (prior) this.tracker.setPrior(prior);
  }

  /** Adds a detection to a part: class statistics, once per frame per class; reject causes collected. */
  private see(part: Part, det: Detection, frame: Frame, rejectSet: ReadonlySet<Detection>, rejects: Map<Part, Detection[]>): void {
    const isReject = rejectSet.has(det);
    const st = part.classes.get(det.class);
    if (!st) part.classes.set(det.class, { frames: 1, lastSeq: frame.seq, best: det, bestSeq: frame.seq, reject: isReject });
    else {
      if (st.lastSeq !== frame.seq) {
        st.frames++;
        st.lastSeq = frame.seq;
      }
      if (det.confidence > st.best.confidence) {
        st.best = det;
        st.bestSeq = frame.seq;
      }
      st.reject ||= isReject;
    }
    if (isReject) {
      part.maxRejectConf = Math.max(part.maxRejectConf, det.confidence);
      const list = rejects.get(part);
      if (list) list.push(det);
      else rejects.set(part, [det]);
    }
  }

  private decide(step: TrackerStep, frame: Frame, seenNow: ReadonlySet<Part>, nowMono: number, nowWall: number): PartVerdict[] {
    const cfg = this.cfg;
    const dir = cfg.belt.direction;
    const out: PartVerdict[] = [];
    const removed = new Map(step.removed.map((r) => [r.track, r.why]));
    const line = lineAlong(dir, cfg.decisionLine.position, frame.width, frame.height);
    this.mergeDuplicates(frame, seenNow);
    for (const [track, part] of this.parts) {
      const why = removed.get(track);
      if (why !== undefined) this.parts.delete(track);
      // A track merged into an older one's part only feeds it; the part is decided on its own track.
      if (part.decided || part.no === null || part.track !== track) continue;
      let trigger: VerdictTrigger | null = null;
      if (why === 'out-of-view') trigger = 'left';
      else if (why === 'lost') trigger = atExit(track.lastBox, frame.width, frame.height, dir, track.velocity()) ? 'left' : 'lost';
      else {
        const box = seenNow.has(part) ? track.lastBox : clip(track.predict(frame.seq), frame.width, frame.height);
        const pos = along(box, dir);
        if (dir !== 'none' && part.firstAlong < line && pos >= line) trigger = 'line';
        else if (!seenNow.has(part) && atExit(track.lastBox, frame.width, frame.height, dir, track.velocity())) trigger = 'left';
        else if (nowMono - part.firstMono >= cfg.maxAgeMs) trigger = 'max-age';
      }
      if (trigger) out.push(this.verdict(part, trigger, frame, nowMono, nowWall));
    }
    return out;
  }

  /**
   * Two undecided parts whose boxes overlap by duplicateIou are one part tracked twice (the model gave it two
   * boxes for a while): the younger is merged into the older, whose verdict then covers both.
   */
  private mergeDuplicates(frame: Frame, seenNow: ReadonlySet<Part>): void {
    const live: Array<{ part: Part; box: Box }> = [];
    for (const [track, part] of this.parts) {
      if (part.track !== track || part.decided || !track.confirmed) continue;
      live.push({ part, box: seenNow.has(part) ? track.lastBox : clip(track.predict(frame.seq), frame.width, frame.height) });
    }
    live.sort((a, b) => a.part.track.id - b.part.track.id);
    const merged = new Set<Part>();
    for (let i = 0; i < live.length; i++) {
      if (merged.has(live[i].part)) continue;
      for (let j = i + 1; j < live.length; j++) {
        const young = live[j].part;
        if (merged.has(young) || iou(live[i].box, live[j].box) < this.cfg.tracker.duplicateIou) continue;
        absorb(live[i].part, young);
        merged.add(young);
        this.parts.set(young.track, live[i].part);
      }
    }
  }

  /** Builds the part's verdict; `frame` is the deciding frame (null on a flush). */
  private verdict(part: Part, trigger: VerdictTrigger, frame: Frame | null, nowMono: number, nowWall: number): PartVerdict {
    part.decided = true;
    const cfg = this.cfg;
    const o = this.opts;
    const partId = `${o.bootId}-${part.no}`;
    // Class-agnostic: frames with any reject class count together (a defect read as dent, then as stain, is one defect).
    const rejects = part.rejectFrames >= cfg.minFrames || part.maxRejectConf >= cfg.highConf;
    const rejecting = rejects
      ? [...part.classes.entries()].filter(([, s]) => s.reject).sort((a, b) => b[1].frames - a[1].frames || b[1].best.confidence - a[1].best.confidence)
      : [];
    const seenEnough = part.framesSeen >= cfg.minFrames;
    const whole = cfg.partClass === undefined || !cfg.requireWhole || part.seenWhole;
    let verdict: 'reject' | 'pass' | null;
    let reason: string;
    let failSafe = false;
    if (rejects) {
      verdict = 'reject';
      reason = `reject: ${rejecting.map(([cls, s]) => `${cls} in ${s.frames} of ${part.framesSeen} frames (best ${s.best.confidence.toFixed(2)})`).join(', ')}`;
    } else if (trigger !== 'fault' && seenEnough && whole) {
      verdict = 'pass';
      reason = `pass: seen in ${part.framesSeen} frames, nothing to reject`;
    } else {
      failSafe = true;
      verdict = cfg.failSafe === 'none' ? null : cfg.failSafe;
      const why =
        trigger === 'fault'
          ? `the camera faulted or stopped while the part was in view (seen in ${part.framesSeen} frames)`
          : !seenEnough
            ? `seen in ${part.framesSeen} frame${part.framesSeen === 1 ? '' : 's'}, ${cfg.minFrames} needed (frames lost or missed)`
            : `never seen whole (cut by the image edge in all ${part.framesSeen} frames)`;
      reason = `no-verdict: ${why}`;
    }
    const track = part.track;
    const width = frame?.width ?? this.lastSize?.width ?? 0;
    const height = frame?.height ?? this.lastSize?.height ?? 0;
    const seq = frame?.seq ?? part.lastSeenSeq;
    const box = width > 0 ? clip(track.predict(seq), width, height) : track.lastBox;
    const v = track.velocity();
    const perS = Number.isFinite(this.periodMs) && this.periodMs > 0 ? 1000 / this.periodMs : 0;
    const captureWall = frame?.captureWall ?? part.lastWall;
    const captureMono = frame?.captureMono ?? nowMono;
    const detections: VerdictDetection[] = [...part.classes.entries()]
      .sort((a, b) => b[1].frames - a[1].frames)
      .map(([, s]) => ({
        class: s.best.class,
        classId: s.best.classId,
        confidence: Math.round(s.best.confidence * 10000) / 10000,
        box: roundBox(s.best.box),
        frames: s.frames,
        seq: s.bestSeq,
      }));
    const ev = verdict === 'reject' && part.rejectEvidence ? part.rejectEvidence : null;
    const evidence = ev
      ? { seq: ev.frame.seq, captureTime: new Date(ev.frame.captureWall).toISOString() }
      : part.viewEvidence
        ? { seq: part.viewEvidence.seq, captureTime: new Date(part.viewEvidence.wall).toISOString() }
        : { seq, captureTime: new Date(captureWall).toISOString() };
    const payload: VerdictPayload = {
      key: `${o.deviceId}:${o.cameraId}:part:${partId}`,
      device: o.deviceId,
      camera: o.cameraId,
      partId,
      verdict: verdict ?? 'pass',
      reason,
      failSafe,
      decidedBy: trigger,
      framesSeen: part.framesSeen,
      framesMissed: track.missedTotal,
      firstSeen: new Date(part.firstWall).toISOString(),
      lastSeen: new Date(part.lastWall).toISOString(),
      classes: rejecting.map(([cls]) => cls),
      detections,
      evidence,
      box: roundBox(box),
      velocity: { xPxPerS: round2(v.x * perS), yPxPerS: round2(v.y * perS), pxPerFrame: round2(Math.hypot(v.x, v.y)) },
      ...(track.againstBelt ? { againstBelt: true } : {}),
      seq,
      captureTime: new Date(captureWall).toISOString(),
      captureWall,
      decidedAt: new Date(nowWall).toISOString(),
      latencyMs: round2(Math.max(0, nowMono - captureMono)),
    };
    const ej = ejectorOf(cfg.belt);
    if (ej && width > 0) {
      const [ax, ay] = beltAxis(cfg.belt.direction);
      const pxPerMs = perS > 0 ? ((v.x * ax + v.y * ay) * perS) / 1000 : undefined;
      const at = ejectAt(ej, along(box, cfg.belt.direction), lineAlong(cfg.belt.direction, cfg.decisionLine.position, width, height), captureWall, pxPerMs);
      if (at !== undefined) {
        payload.ejectAt = new Date(Math.round(at)).toISOString();
        payload.ejectInMs = Math.round(at - nowWall);
      }
    }
    const enc = o.encoder;
    if (enc) {
      const atCapture = enc.at(captureWall);
      const atDecision = enc.at(nowWall);
      if (atCapture !== undefined) payload.encoderAtCapture = round2(atCapture);
      if (atDecision !== undefined) payload.encoderAtDecision = round2(atDecision);
    }
    const publish = verdict !== null && (verdict === 'reject' || cfg.publishPass);
    return { payload, publish, ...(ev ? { frame: ev.frame } : {}), causes: ev ? ev.causes : [] };
  }
}

/** Moves what `dup` saw into `into` (the same physical part): the frames overlap, so counts take the larger. */
function absorb(into: Part, dup: Part): void {
  into.framesSeen = Math.max(into.framesSeen, dup.framesSeen);
  into.seenWhole ||= dup.seenWhole;
  into.rejectFrames = Math.max(into.rejectFrames, dup.rejectFrames);
  into.maxRejectConf = Math.max(into.maxRejectConf, dup.maxRejectConf);
  if (dup.rejectEvidence && (!into.rejectEvidence || dup.rejectEvidence.det.confidence > into.rejectEvidence.det.confidence)) into.rejectEvidence = dup.rejectEvidence;
  for (const [cls, s] of dup.classes) {
    const mine = into.classes.get(cls);
    if (!mine) into.classes.set(cls, { ...s });
    else {
      mine.frames = Math.max(mine.frames, s.frames);
      mine.reject ||= s.reject;
      if (s.best.confidence > mine.best.confidence) {
        mine.best = s.best;
        mine.bestSeq = s.bestSeq;
      }
    }
  }
}

function trackerOptionsOf(config: PartsConfig): TrackerOptions {
  return { ...config.tracker, direction: config.belt.direction };
}

function touchesBorder(b: Box, width: number, height: number): boolean {
  return b.x1 <= 0.5 || b.y1 <= 0.5 || b.x2 >= width - 0.5 || b.y2 >= height - 0.5;
}

/**
 * Whether a part last seen with box `b` has left at the exit: its box touched the image edge it moves out
 * through (the belt direction's; with none, any edge its velocity points out of).
 */
function atExit(b: Box, width: number, height: number, dir: PartsConfig['belt']['direction'], v: { x: number; y: number }): boolean {
  const edge = { left: b.x1 <= 0.5, top: b.y1 <= 0.5, right: b.x2 >= width - 0.5, bottom: b.y2 >= height - 0.5 };
  switch (dir) {
    case 'left-to-right':
      return edge.right;
    case 'right-to-left':
      return edge.left;
    case 'top-to-bottom':
      return edge.bottom;
    case 'bottom-to-top':
      return edge.top;
    default:
      return (edge.right && v.x > 0) || (edge.left && v.x < 0) || (edge.bottom && v.y > 0) || (edge.top && v.y < 0);
  }
}
