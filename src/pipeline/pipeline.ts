/**
 * The scheduler and per-camera pipeline for one detector (one model): frames go into a per-camera
 * one-slot mailbox (latest-frame-wins; lossless and trigger-tagged frames are queued, never dropped),
 * cameras take turns round-robin, and at most one inference is in flight at a time (the engine is the
 * bottleneck; a second run would only queue inside it and make every frame older). The next frame is
 * letterboxed while the engine still runs the current one, timed to be ready as the engine frees, so the
 * engine does not wait for preprocessing and the frame is at most one preprocess older for it. With a
 * detector that queues runs (submitAhead), that frame is handed to the engine as soon as it is letterboxed:
 * the engine starts it the moment it frees, and the previous frame is decoded and published meanwhile, so
 * the engine waits for neither; at most one frame waits inside the engine.
 * Nothing is copied or serialised before inference; payloads are built after it.
 */
import { performance } from 'node:perf_hooks';
import type { Logger } from '../ops/log.js';
import type { CameraConfig } from '../config/types.js';
import type { Frame } from '../contracts/frame.js';
import type { Detection, PostprocessOptions } from '../contracts/vision.js';
import { errorMessage } from '../errors.js';
import { evaluateRules } from '../rules/rules.js';
import { rejectClassesOf, rejectKey, rejectReason } from '../rules/reject.js';
import { FrameMailbox } from './mailbox.js';
import type { FrameDetector, PreparedFrame } from '../contracts/detector.js';
import type { CameraCounters, DropReason, PipelineObserver, PipelineSink } from './types.js';
import type { DetectionsPayload, PayloadDetection, RejectPayload } from '../contracts/messages.js';
import { PartStage, type PartVerdict, type StageResult } from '../parts/parts.js';
import { EncoderClock } from '../parts/encoder.js';
import type { SideQueue } from './side-queue.js';

export interface PipelineOptions {
  deviceId: string;
  detector: FrameDetector;
  /** Global conf/iou/maxDetections handed to the detector (per-class thresholds are applied by the rules). */
  post?: Partial<PostprocessOptions>;
  sink: PipelineSink;
  logger: Logger;
  observer?: PipelineObserver;
  /** Monotonic clock in ms (performance.now); injectable for tests. */
  now?: () => number;
  wallNow?: () => number;
  /** Pending PLC triggers kept per camera; older ones beyond this are dropped and counted. */
  maxPendingTriggers?: number;
  /**
   * This daemon start's number (src/app/boot-id.ts, persisted and incremented on every start): reject keys
   * are `<device>:<camera>:seq:<bootId>-<n>` and part ids `<bootId>-<n>`, so neither repeats across
   * restarts. 0 when omitted (tests).
   */
  bootId?: number;
  /**
   * Hand the next frame to the engine as soon as it is letterboxed when the detector allows it (default
   * true); false runs it only after the previous frame was decoded and published (the benchmark's before).
   */
  submitAhead?: boolean;
  /** Work besides the cameras' (HTTP API requests): run only while no camera frame waits and nothing is in flight. */
  side?: SideQueue;
}

interface Lane {
  config: CameraConfig;
  mailbox: FrameMailbox;
  paused: boolean;
  triggers: string[];
  counters: CameraCounters;
  /** The part tracker of a `decision: part` camera (free-running); null: every frame judged on its own. */
  parts: PartStage | null;
  /** The model's classes the part stage was last set up for (partClass falls back when the model lacks it). */
  partsFor: string;
  /** Belt encoder readings for this camera (cmd/encoder, cmd/trigger). */
  encoder: EncoderClock;
}

/** Whether a camera's frames feed the part tracker: `decision: part`, never in trigger mode. */
function tracksParts(c: CameraConfig): boolean {
  return c.decision === 'part' && !c.trigger;
}

function newCounters(): CameraCounters {
  return {
    captured: 0,
    dropped: { superseded: 0, paused: 0, error: 0, stopped: 0, 'trigger-overflow': 0 },
    inferred: 0,
    published: 0,
    late: 0,
    rejects: 0,
    rejectsByClass: {},
    parts: { seen: 0, reject: 0, pass: 0, failSafe: 0, unpublished: 0, suppressed: 0, switches: 0 },
  };
}

const LATENCY_RING = 512;
/** Start preparing the next frame this much before the engine is expected to free (timer slack). */
const PREPARE_LEAD_MS = 1;
const EMA_ALPHA = 0.2;
/** Recent engine and preprocess times kept for the submit-ahead timing's quantiles. */
const RECENT = 16;

/** The last RECENT samples of a duration, for a quantile: its tail is what makes a frame late. */
class Recent {
  private readonly ring = new Float64Array(RECENT);
  private count = 0;
  add(v: number): void {
    this.ring[this.count++ % RECENT] = v;
  }
  quantile(p: number): number {
    const n = Math.min(this.count, RECENT);
    if (n === 0) return NaN;
    const s = this.ring.slice(0, n).sort();
    return s[Math.min(n - 1, Math.floor(p * n))];
  }
}

/** A frame between its mailbox and its payloads; submittedAt is NaN until it was handed to the engine. */
interface Job {
  run: Promise<void>;
  submittedAt: number;
}

/** A frame taken from its mailbox, letterboxed (or being) while the engine finishes the previous one. */
interface Staged {
  lane: Lane;
  frame: Frame;
  /** The detector that prepared it: a swap meanwhile means it is run whole on the new one. */
  detector: FrameDetector;
  prepared: Promise<PreparedFrame> | null;
}
const r2 = (v: number): number => Math.round(v * 100) / 100;

function ema(avg: number, sample: number): number {
  return Number.isNaN(avg) ? sample : avg + EMA_ALPHA * (sample - avg);
}

function toPayload(d: Detection): PayloadDetection {
  return {
    class: d.class,
    classId: d.classId,
    confidence: Math.round(d.confidence * 10000) / 10000,
    box: { x1: r2(d.box.x1), y1: r2(d.box.y1), x2: r2(d.box.x2), y2: r2(d.box.y2) },
  };
}

export class Pipeline {
  private readonly lanes = new Map<string, Lane>();
  /** Round-robin order; the cursor points at the camera that gets the next turn. */
  private order: string[] = [];
  private cursor = 0;
  private detector: FrameDetector;
  private post: Partial<PostprocessOptions>;
  /** At most two: one on the engine, and with submit-ahead the next one, being letterboxed or queued behind it. */
  private readonly inFlight: Job[] = [];
  private staged: Staged | null = null;
  private stageTimer: NodeJS.Timeout | undefined;
  /** When the engine is expected to finish what it was handed; NaN when it was handed nothing unfinished. */
  private engineFreeAt = NaN;
  /**
   * Moving averages that time the staging: engine time (inference, plus postprocess without submit-ahead,
   * where the next run waits for it), preprocess time and its mean deviation.
   */
  private engineMsAvg = NaN;
  private prepareMsAvg = NaN;
  private readonly recentEngineMs = new Recent();
  private readonly recentPrepareMs = new Recent();
  private readonly submitAheadAllowed: boolean;
  private readonly publishing = new Set<Promise<void>>();
  private accepting = true;
  private stopped = false;
  private idleWaiters: (() => void)[] = [];
  private readonly now: () => number;
  private readonly wallNow: () => number;
  private readonly maxTriggers: number;
  private readonly latencies = new Float64Array(LATENCY_RING);
  private latencyCount = 0;
  private inferredTotalCount = 0;
  /** Rejects per camera id this start: kept when a camera is removed or re-added, so keys never repeat. */
  private readonly rejectNos = new Map<string, number>();
  /** Part numbers of this boot, shared by every camera: never reused, even when a camera is re-added. */
  private partNo = 0;

  constructor(private readonly opts: PipelineOptions) {
    this.detector = opts.detector;
    this.post = opts.post ?? {};
    this.now = opts.now ?? (() => performance.now());
    this.wallNow = opts.wallNow ?? Date.now;
    this.maxTriggers = opts.maxPendingTriggers ?? 16;
    this.submitAheadAllowed = opts.submitAhead ?? true;
    if (opts.side) opts.side.onTask = () => this.pump();
  }

  addCamera(config: CameraConfig): void {
    if (this.lanes.has(config.id)) {
      this.updateCamera(config);
      return;
    }
    const encoder = new EncoderClock();
    const lane: Lane = { config, mailbox: new FrameMailbox(), paused: false, triggers: [], counters: newCounters(), parts: null, partsFor: '', encoder };
    if (tracksParts(config)) lane.parts = this.newPartStage(config, encoder);
    this.lanes.set(config.id, lane);
    this.order = [...this.lanes.keys()];
  }

  /**
   * Hot change of rules, deadline, trigger mode and part settings: the next frame judged uses it; nothing is
   * dropped. Parts being tracked keep their tracks; a camera that stops tracking parts decides them now.
   */
  updateCamera(config: CameraConfig): void {
    const lane = this.lanes.get(config.id);
    if (!lane) {
      this.addCamera(config);
      return;
    }
    lane.config = config;
    if (tracksParts(config)) {
      if (lane.parts) lane.parts.configure(config.parts);
      else lane.parts = this.newPartStage(config, lane.encoder);
      lane.partsFor = '';
    } else if (lane.parts) {
      this.flushParts(lane);
      lane.parts = null;
    }
  }

  /**
   * Frames still queued for this camera are given up (lossless ones are not acknowledged: their source
   * re-reads them); parts in view get their verdicts now (fail-safe unless already rejecting).
   */
  removeCamera(id: string): void {
    const lane = this.lanes.get(id);
    if (!lane) return;
    for (const _ of lane.mailbox.drainAll()) this.drop(lane, 'stopped');
    this.flushParts(lane);
    this.lanes.delete(id);
    this.order = [...this.lanes.keys()];
    this.cursor = 0;
  }

  /**
   * The camera's source faulted (stalled, exited, frozen): the parts it had in view cannot be judged and
   * are decided now (fail-safe unless already rejecting); tracking starts afresh with the next frame.
   */
  cameraFault(id: string): void {
    const lane = this.lanes.get(id);
    if (lane) this.flushParts(lane);
  }

  /**
   * A belt encoder reading for one camera, or for every camera when `cameraId` is undefined; `wall` is the
   * reading's wall-clock time. False when the camera is unknown.
   */
  encoder(cameraId: string | undefined, count: number, wall: number): boolean {
    const lanes = cameraId === undefined ? [...this.lanes.values()] : [this.lanes.get(cameraId)].filter((l): l is Lane => l !== undefined);
    for (const lane of lanes) lane.encoder.add({ count, wall });
    return lanes.length > 0;
  }

  /** Parts in view per camera (decision: part cameras only). */
  partsInView(cameraId: string): number | undefined {
    return this.lanes.get(cameraId)?.parts?.live;
  }

  cameraIds(): string[] {
    return [...this.order];
  }

  cameraConfig(id: string): CameraConfig | undefined {
    return this.lanes.get(id)?.config;
  }

  get currentDetector(): FrameDetector {
    return this.detector;
  }

  setPostprocess(post: Partial<PostprocessOptions>): void {
    this.post = post;
  }

  /**
   * Switches to another detector for every later frame; resolves with the previous one once the
   * inference in flight (which may still use it) has finished, so the caller can dispose it safely.
   */
  async setDetector(detector: FrameDetector, post?: Partial<PostprocessOptions>): Promise<FrameDetector> {
    const old = this.detector;
    this.detector = detector;
    if (post) this.post = post;
    await Promise.allSettled(this.inFlight.map((j) => j.run));
    return old;
  }

  /** From the source supervisor. Never throws; never blocks. */
  offer(frame: Frame): void {
    const lane = this.lanes.get(frame.cameraId);
    if (!lane) return;
    // Counted first, so that once drained every captured frame is either inferred or dropped with a reason.
    lane.counters.captured++;
    this.opts.observer?.captured?.(frame.cameraId);
    if (!this.accepting) {
      this.drop(lane, 'stopped');
      return;
    }
    if (frame.triggerId === undefined && lane.triggers.length > 0) frame.triggerId = lane.triggers.shift();
    const mustKeep = frame.done !== undefined || frame.triggerId !== undefined;
    if (lane.paused && !mustKeep) {
      this.drop(lane, 'paused');
      return;
    }
    const displaced = lane.mailbox.put(frame, mustKeep);
    if (displaced) this.drop(lane, 'superseded');
    this.pump();
  }

  private nextRejectNo(cameraId: string): number {
    const n = (this.rejectNos.get(cameraId) ?? 0) + 1;
    this.rejectNos.set(cameraId, n);
    return n;
  }

  /** Tags the next frame of the camera with this part id; false when the camera is unknown. */
  trigger(cameraId: string, triggerId: string): boolean {
    const lane = this.lanes.get(cameraId);
    if (!lane) return false;
    lane.triggers.push(triggerId);
    while (lane.triggers.length > this.maxTriggers) {
      const lost = lane.triggers.shift();
      this.drop(lane, 'trigger-overflow');
      this.opts.logger.warn({ camera: cameraId, triggerId: lost }, 'too many pending triggers: the oldest was dropped (no frame arrived for it)');
    }
    return true;
  }

  /**
   * Paused cameras drop live frames (counted 'paused'); lossless frames wait for resume. Pending triggers are
   * discarded: a part that passed while the camera was paused must not be judged on a later frame.
   */
  pause(cameraId?: string): string[] {
    return this.setPaused(cameraId, true);
  }

  resume(cameraId?: string): string[] {
    const ids = this.setPaused(cameraId, false);
    this.pump();
    return ids;
  }

  private setPaused(cameraId: string | undefined, paused: boolean): string[] {
    const ids = cameraId === undefined ? [...this.order] : this.lanes.has(cameraId) ? [cameraId] : [];
    for (const id of ids) {
      const lane = this.lanes.get(id)!;
      lane.paused = paused;
      if (!paused) continue;
      if (lane.mailbox.clearLatest()) this.drop(lane, 'paused');
      if (lane.triggers.length > 0) {
        this.opts.logger.warn({ camera: id, triggerIds: lane.triggers }, 'camera paused: pending triggers discarded; those parts get no reject decision');
        lane.triggers = [];
      }
    }
    return ids;
  }

  isPaused(cameraId: string): boolean {
    return this.lanes.get(cameraId)?.paused ?? false;
  }

  counters(cameraId: string): Readonly<CameraCounters> | undefined {
    return this.lanes.get(cameraId)?.counters;
  }

  /** Frames inferred since start, all cameras: the watchdog's progress counter. */
  get inferredTotal(): number {
    return this.inferredTotalCount;
  }

  /** True while a frame waits in a mailbox (of a camera not paused), is staged, or is being inferred. */
  get busy(): boolean {
    if (this.inFlight.length > 0 || this.staged) return true;
    for (const lane of this.lanes.values()) if (!lane.paused && lane.mailbox.size > 0) return true;
    return false;
  }

  /** Capture-to-publish latency percentile over the last frames (ms), NaN before the first. */
  latencyPercentile(p: number): number {
    const n = Math.min(this.latencyCount, LATENCY_RING);
    if (n === 0) return NaN;
    const a = Array.from(this.latencies.subarray(0, n)).sort((x, y) => x - y);
    return a[Math.min(n - 1, Math.floor((p / 100) * n))];
  }

  /**
   * Stops taking frames, finishes what is queued and in flight (lossless and tagged frames included)
   * and waits for reject publishes to be durable. Resolves true when all of it finished in time.
   */
  async drain(timeoutMs: number): Promise<boolean> {
    this.accepting = false;
    this.opts.side?.close('the daemon is stopping');
    for (const lane of this.lanes.values()) lane.paused = false;
    this.pump();
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<false>((resolve) => {
      timer = setTimeout(() => resolve(false), timeoutMs);
      timer.unref?.();
    });
    const done = (async () => {
      while (this.busy) await new Promise<void>((resolve) => this.idleWaiters.push(resolve));
      // Nothing more will be seen of the parts in view: they are decided (fail-safe unless rejecting).
      for (const lane of this.lanes.values()) this.flushParts(lane);
      while (this.publishing.size > 0) await Promise.allSettled([...this.publishing]);
      return true as const;
    })();
    try {
      return await Promise.race([done, timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  /** Drops whatever is still queued; idempotent. */
  stop(): void {
    if (this.stopped) return;
    this.stopped = true;
    this.accepting = false;
    this.opts.side?.close('the daemon is stopping');
    clearTimeout(this.stageTimer);
    const staged = this.staged;
    this.staged = null;
    if (staged) {
      this.drop(staged.lane, 'stopped');
      staged.prepared?.then(
        (p) => staged.detector.releasePrepared?.(p),
        () => undefined,
      );
    }
    for (const lane of this.lanes.values()) for (const _ of lane.mailbox.drainAll()) this.drop(lane, 'stopped');
    this.wakeIdle();
  }

  private drop(lane: Lane, reason: DropReason): void {
    lane.counters.dropped[reason]++;
    this.opts.observer?.dropped?.(lane.config.id, reason);
  }

  private wakeIdle(): void {
    const w = this.idleWaiters.splice(0);
    for (const resolve of w) resolve();
  }

  /** Whether the next frame goes to the engine as soon as it is letterboxed. */
  private get ahead(): boolean {
    return this.submitAheadAllowed && this.detector.submitAhead === true;
  }

  /** Starts the next inference when nothing is in flight (a staged frame first); with one in flight, considers staging the next. */
  private pump(): void {
    if (this.stopped) return;
    if (this.inFlight.length === 0) {
      const next = this.staged ?? this.takeNext();
      this.staged = null;
      if (!next) {
        if (!this.startSide()) this.wakeIdle();
        return;
      }
      this.start(next);
    }
    if (this.inFlight.length === 1) this.stageNext();
  }

  /** With no camera frame waiting and the engine free: the oldest side task (an API request), if any. */
  private startSide(): boolean {
    const task = this.opts.side?.take();
    if (!task) return false;
    const job: Job = { run: task(this.detector), submittedAt: NaN };
    this.inFlight.push(job);
    void job.run.finally(() => {
      this.inFlight.splice(this.inFlight.indexOf(job), 1);
      this.pump();
      if (this.inFlight.length === 0) this.wakeIdle();
    });
    return true;
  }

  private start(next: Staged): void {
    const job: Job = { run: Promise.resolve(), submittedAt: NaN };
    job.run = this.process(next, job);
    this.inFlight.push(job);
    void job.run.finally(() => {
      this.inFlight.splice(this.inFlight.indexOf(job), 1);
      this.pump();
      if (this.inFlight.length === 0) this.wakeIdle();
    });
  }

  /** The next camera in round-robin order with a frame: its frame, preparation started. */
  private takeNext(): Staged | null {
    const n = this.order.length;
    for (let i = 0; i < n; i++) {
      const idx = (this.cursor + i) % n;
      const lane = this.lanes.get(this.order[idx])!;
      if (lane.paused || lane.mailbox.size === 0) continue;
      const frame = lane.mailbox.take()!;
      this.cursor = (idx + 1) % n;
      const detector = this.detector;
      let prepared: Promise<PreparedFrame> | null = null;
      if (detector.prepareFrame && detector.inferPrepared) {
        prepared = detector.prepareFrame(frame);
        prepared.catch(() => undefined); // awaited, and its error handled, in process()
      }
      return { lane, frame, detector, prepared };
    }
    return null;
  }

  /**
   * While the engine runs, takes the next frame and letterboxes it so that it is ready when the engine is
   * expected to free (moving averages of both times); earlier would only make it older. With submit-ahead
   * the frame goes to the engine once prepared (a second job in flight); without, it waits here, staged.
   */
  private stageNext(): void {
    if (this.staged || this.stopped || this.inFlight.length !== 1 || Number.isNaN(this.engineFreeAt) || !this.detector.prepareFrame) return;
    let waiting = false;
    for (const lane of this.lanes.values()) if (!lane.paused && lane.mailbox.size > 0) waiting = true;
    if (!waiting) return;
    const dueIn = this.engineFreeAt - this.prepareLeadMs() - this.now();
    if (dueIn > 0) {
      if (this.stageTimer === undefined) {
        this.stageTimer = setTimeout(() => {
          this.stageTimer = undefined;
          if (this.inFlight.length === 1) this.stageNext();
        }, dueIn);
        this.stageTimer.unref?.();
      }
      return;
    }
    const next = this.takeNext();
    if (!next) return;
    if (this.ahead) this.start(next);
    else this.staged = next;
  }

  /**
   * How long before the engine is expected to free the next frame's preparation starts. Without submit-ahead:
   * the average preparation, as the frame waits here either way. With it, a frame ready early waits inside
   * the engine (it ages by that) but one ready late idles the engine, and on a machine whose cores also run
   * the inference a preparation now and then takes several times its median: so the slow end of recent
   * preparations (p90), and the engine's fast end (p10 below its average) in case the run ends early.
   */
  private prepareLeadMs(): number {
    const avg = Number.isNaN(this.prepareMsAvg) ? 0 : this.prepareMsAvg;
    if (!this.ahead) return avg + PREPARE_LEAD_MS;
    const slowPrepare = this.recentPrepareMs.quantile(0.9);
    const earlyEnd = Number.isNaN(this.engineMsAvg) ? 0 : Math.max(0, this.engineMsAvg - this.recentEngineMs.quantile(0.1));
    return (Number.isNaN(slowPrepare) ? avg : slowPrepare) + earlyEnd + PREPARE_LEAD_MS;
  }

  /** A job was handed to the engine: it runs after whatever the engine still has. */
  private submitted(job: Job): void {
    const now = this.now();
    job.submittedAt = now;
    const expected = Number.isNaN(this.engineMsAvg) ? 0 : this.engineMsAvg;
    this.engineFreeAt = (Number.isNaN(this.engineFreeAt) ? now : Math.max(now, this.engineFreeAt)) + expected;
  }

  /** A job's run is over (at doneAt): the engine frees now, or runs the job submitted behind it. */
  private engineDone(job: Job, doneAt: number): void {
    const later = this.inFlight.find((j) => j !== job && !Number.isNaN(j.submittedAt));
    const expected = Number.isNaN(this.engineMsAvg) ? 0 : this.engineMsAvg;
    this.engineFreeAt = later ? Math.max(doneAt, later.submittedAt) + expected : NaN;
  }

  private async process(next: Staged, job: Job): Promise<void> {
    const { lane, frame } = next;
    let result: Awaited<ReturnType<FrameDetector['detectFrame']>>;
    let detector = this.detector;
    let preparedMs = 0;
    try {
      const prepared = next.prepared ? await next.prepared : null;
      detector = this.detector;
      let pending: Promise<Awaited<ReturnType<FrameDetector['detectFrame']>>>;
      if (prepared && next.detector === detector) {
        preparedMs = prepared.preprocessMs;
        pending = detector.inferPrepared!(prepared, this.post);
      } else {
        if (prepared) next.detector.releasePrepared?.(prepared); // the detector was swapped meanwhile
        pending = detector.detectFrame(frame, this.post);
      }
      // The run is posted (inferPrepared hands it to the engine before its first await).
      this.submitted(job);
      this.stageNext();
      result = await pending;
    } catch (err) {
      this.engineDone(job, this.now());
      this.drop(lane, 'error');
      this.opts.logger.warn({ camera: frame.cameraId, seq: frame.seq, origin: frame.origin, err: errorMessage(err) }, 'frame could not be processed');
      // The parts in this frame were not seen: time moves on for them, and they may be given up.
      if (lane.parts) this.publishParts(lane, lane.parts.skip(frame, this.now(), this.wallNow()));
      frame.done?.(err instanceof Error ? err : new Error(String(err)));
      return;
    }
    const t = result.timings;
    const engineAt = job.submittedAt + (t.engineWaitMs ?? 0);
    const engineMs = this.ahead ? t.inferenceMs : t.inferenceMs + t.postprocessMs;
    this.engineMsAvg = ema(this.engineMsAvg, engineMs);
    this.recentEngineMs.add(engineMs);
    this.prepareMsAvg = ema(this.prepareMsAvg, t.preprocessMs);
    this.recentPrepareMs.add(t.preprocessMs);
    this.engineDone(job, engineAt + t.inferenceMs);
    // Capture until the engine took the frame, less preprocessing when it happened before that.
    const queueMs = Math.max(0, engineAt - frame.captureMono - preparedMs);
    lane.counters.inferred++;
    this.inferredTotalCount++;
    this.opts.observer?.inferred?.(frame.cameraId, t, queueMs);
    try {
      this.publish(lane, frame, result.detections, t, queueMs, detector);
    } catch (err) {
      // A bug in a sink adapter must not stall the scheduler; the frame is still acknowledged.
      this.opts.logger.error({ camera: frame.cameraId, seq: frame.seq, err: errorMessage(err) }, 'publishing results failed');
      frame.done?.(err instanceof Error ? err : new Error(String(err)));
    }
  }

  private publish(
    lane: Lane,
    frame: Frame,
    detections: Detection[],
    timings: { preprocessMs: number; inferenceMs: number; postprocessMs: number },
    queueMs: number,
    detector: FrameDetector,
  ): void {
    const cam = lane.config; // the config current now: a hot edit applies to the next frame judged
    const { kept, rejectCauses } = evaluateRules(detections, cam.rules, detector.metadata.names);
    const totalMs = this.now() - frame.captureMono;
    const deadlineMet = totalMs <= cam.deadlineMs;
    if (!deadlineMet) {
      lane.counters.late++;
      this.opts.observer?.late?.(cam.id);
      // A part id waits on this verdict (a PLC): say so, beside the payloads that carry deadlineMet false.
      if (frame.triggerId !== undefined) {
        this.opts.logger.warn(
          { camera: cam.id, seq: frame.seq, triggerId: frame.triggerId, latencyMs: r2(totalMs), deadlineMs: cam.deadlineMs },
          'triggered frame missed its deadline; published as late',
        );
      }
    }
    const captureTime = new Date(frame.captureWall).toISOString();
    const payload: DetectionsPayload = {
      frameId: `${cam.id}:${frame.seq}`,
      seq: frame.seq,
      camera: cam.id,
      device: this.opts.deviceId,
      captureTime,
      ...(frame.triggerId !== undefined ? { triggerId: frame.triggerId } : {}),
      width: frame.width,
      height: frame.height,
      latency: {
        preprocessMs: r2(timings.preprocessMs),
        inferenceMs: r2(timings.inferenceMs),
        postprocessMs: r2(timings.postprocessMs),
        queueMs: r2(queueMs),
        totalMs: r2(totalMs),
      },
      deadlineMs: cam.deadlineMs,
      deadlineMet,
      engine: detector.engineKind,
      detections: kept.map(toPayload),
    };
    this.opts.sink.detections(payload, frame);
    lane.counters.published++;
    this.latencies[this.latencyCount++ % LATENCY_RING] = totalMs;
    this.opts.observer?.published?.(cam.id, totalMs);

    if (lane.parts) {
      this.judgeParts(lane, frame, kept, rejectCauses, detector.metadata.names);
      return;
    }
    const judged = !cam.trigger || frame.triggerId !== undefined;
    if (rejectCauses.length === 0 || !judged) {
      frame.done?.();
      return;
    }
    const classes = rejectClassesOf(rejectCauses);
    const reject: RejectPayload = {
      key: rejectKey(this.opts.deviceId, cam.id, `${this.opts.bootId ?? 0}-${this.nextRejectNo(cam.id)}`, frame.triggerId),
      device: this.opts.deviceId,
      camera: cam.id,
      seq: frame.seq,
      ...(frame.triggerId !== undefined ? { triggerId: frame.triggerId } : {}),
      captureTime,
      captureWall: frame.captureWall,
      decidedAt: new Date(this.wallNow()).toISOString(),
      reason: rejectReason(rejectCauses),
      classes,
      detections: payload.detections.filter((_, i) => rejectCauses.includes(kept[i])),
      deadlineMs: cam.deadlineMs,
      latencyMs: r2(totalMs),
      deadlineMet,
    };
    lane.counters.rejects++;
    for (const c of classes) lane.counters.rejectsByClass[c] = (lane.counters.rejectsByClass[c] ?? 0) + 1;
    this.opts.observer?.rejected?.(cam.id, classes);
    let p: Promise<void>;
    try {
      p = Promise.resolve(this.opts.sink.reject(reject, frame, rejectCauses));
    } catch (err) {
      p = Promise.reject(err);
    }
    const tracked = p.then(
      () => frame.done?.(),
      (err) => {
        this.opts.logger.error({ key: reject.key, err: errorMessage(err) }, 'reject could not be stored: it is lost unless the outbox recovers');
        frame.done?.(err instanceof Error ? err : new Error(String(err)));
      },
    );
    this.publishing.add(tracked);
    void tracked.finally(() => this.publishing.delete(tracked));
  }

  private newPartStage(config: CameraConfig, encoder: EncoderClock): PartStage {
    return new PartStage({
      deviceId: this.opts.deviceId,
      cameraId: config.id,
      bootId: this.opts.bootId ?? 0,
      nextNumber: () => ++this.partNo,
      config: config.parts,
      encoder,
    });
  }

  /** A `decision: part` frame: the part stage takes its detections; verdicts are published; the frame is done once they are durable. */
  private judgeParts(lane: Lane, frame: Frame, kept: Detection[], rejectCauses: Detection[], names: readonly string[]): void {
    const stage = lane.parts!;
    const cam = lane.config;
    const partClass = cam.parts.partClass;
    const modelKey = names.join('\n');
    if (lane.partsFor !== modelKey) {
      lane.partsFor = modelKey;
      // A part class the model does not have would leave every detection without a part: track the defects instead.
      if (partClass !== undefined && !names.includes(partClass)) {
        this.opts.logger.error(
          { camera: cam.id, partClass, classes: names },
          `parts.partClass '${partClass}' is not a class of the model: tracking each defect as the part instead (no pass verdicts); fix parts.partClass or the model`,
        );
        const { partClass: _omit, ...rest } = cam.parts;
        stage.configure(rest);
      } else stage.configure(cam.parts);
    }
    const result = stage.observe({ frame, kept, rejectCauses }, this.now(), this.wallNow());
    const stored = this.publishParts(lane, result);
    if (!frame.done) return;
    if (!stored) {
      frame.done();
      return;
    }
    void stored.then(
      () => frame.done?.(),
      (err: unknown) => frame.done?.(err instanceof Error ? err : new Error(String(err))),
    );
  }

  private flushParts(lane: Lane): void {
    if (lane.parts) this.publishParts(lane, lane.parts.flush(this.now(), this.wallNow()));
  }

  /** Counts a stage's results and publishes its verdicts in decision order; resolves once all are durable (null: none to wait for). */
  private publishParts(lane: Lane, result: StageResult): Promise<void> | null {
    const cam = lane.config.id;
    const pc = lane.counters.parts;
    const st = result.stats;
    pc.seen += st.partsSeen;
    pc.suppressed += st.suppressed;
    pc.switches += st.jumped + st.reversed;
    if (st.partsSeen || st.suppressed || st.jumped || st.reversed || st.orphans) this.opts.observer?.parts?.(cam, st);
    const waits: Promise<void>[] = [];
    for (const v of result.verdicts) {
      const p = this.publishVerdict(lane, v);
      if (p) waits.push(p);
    }
    return waits.length ? Promise.all(waits).then(() => undefined) : null;
  }

  private publishVerdict(lane: Lane, v: PartVerdict): Promise<void> | null {
    const pc = lane.counters.parts;
    const payload = v.payload;
    if (payload.failSafe) pc.failSafe++;
    if (!v.publish) pc.unpublished++;
    else if (payload.verdict === 'reject') pc.reject++;
    else pc.pass++;
    this.opts.observer?.verdict?.(lane.config.id, payload, v.publish);
    const log = this.opts.logger;
    if (payload.failSafe)
      log.warn({ camera: payload.camera, key: payload.key, verdict: v.publish ? payload.verdict : 'none', reason: payload.reason }, 'part could not be judged: fail-safe verdict');
    if (payload.againstBelt) log.warn({ camera: payload.camera, key: payload.key }, 'part moved against the belt direction (a mis-tracked part or the belt ran backwards)');
    if (!v.publish) return null;
    let p: Promise<void>;
    try {
      p = Promise.resolve(this.opts.sink.verdict(payload, { ...(v.frame ? { frame: v.frame } : {}), causes: v.causes }));
    } catch (err) {
      p = Promise.reject(err);
    }
    const tracked = p.catch((err: unknown) => {
      log.error({ key: payload.key, err: errorMessage(err) }, 'verdict could not be stored: it is lost unless the outbox recovers');
      throw err;
    });
    const settled = tracked.catch(() => undefined);
    this.publishing.add(settled);
    void settled.finally(() => this.publishing.delete(settled));
    return tracked;
  }
}
