/**
 * A camera that films the synthetic production line: rgb24 frames at config.fps, deterministic for
 * config.seed (frame seq n always shows frame n of the line). `scene: conveyor` (src/synth/conveyor.ts) is a
 * moving belt whose parts cross the view over several frames; `still` (src/synth/scene.ts) a new scene per
 * frame. For demos and tests without hardware.
 *
 * Lossless (`lossless: true`): frame n+1 is handed out only after frame n was judged (Frame.done), at most at
 * fps, so no frame is ever dropped and the belt runs as fast as the box can judge it; the ground truth of a
 * run is then exact (every part is seen in every frame it is in view).
 *
 * Pacing: ticks are scheduled against start time + n * period (no drift from timer jitter); the next
 * frame is rendered ahead, so a tick only hands out a finished buffer. If rendering falls behind, the
 * tick is skipped (like a camera dropping a frame) and counted in `skippedTicks`.
 */
import { performance } from 'node:perf_hooks';
import { ErrorCodes, InspectdError, errorMessage } from '../errors.js';
import { MAX_FPS, SEED_MAX, SYNTHETIC_MAX_SIZE, SYNTHETIC_MIN_SIZE } from '../config/schema.js';
import type { SyntheticSourceConfig } from '../config/types.js';
import { renderScene, type Scene } from '../synth/scene.js';
import { renderConveyor } from '../synth/conveyor.js';
import type { Frame } from '../contracts/frame.js';
import type { FrameSource, SourceHandlers } from './source.js';

export class SyntheticSource implements FrameSource {
  readonly kind = 'synthetic';
  private running = false;
  private timer: NodeJS.Timeout | null = null;
  private handlers: SourceHandlers | null = null;
  private nextSeq = 0;
  private tickNo = 0;
  private t0 = 0;
  private pending: Promise<Scene | Error> | null = null;
  private ready: Scene | null = null;
  private skipped = 0;
  /** Lossless: a frame handed out whose done() has not come back yet. */
  private awaitingDone = false;
  /** Lossless: the earliest time the next frame may go (fps bound). */
  private nextDue = 0;

  constructor(
    readonly cameraId: string,
    private readonly config: SyntheticSourceConfig,
  ) {}

  /** Ticks that found no rendered frame ready (rendering slower than fps). */
  get skippedTicks(): number {
    return this.skipped;
  }

  async start(handlers: SourceHandlers): Promise<void> {
    if (this.running) throw new InspectdError(ErrorCodes.LIFECYCLE, `synthetic source for camera ${this.cameraId} is already running; stop() it first`);
    const { fps, width, height, defectRate, seed } = this.config;
    if (!(fps > 0 && fps <= MAX_FPS)) throw new InspectdError(ErrorCodes.CONFIG_INVALID, `synthetic source ${this.cameraId}: fps must be in (0, ${MAX_FPS}], got ${fps}`);
    const inRange = (n: number): boolean => Number.isInteger(n) && n >= SYNTHETIC_MIN_SIZE && n <= SYNTHETIC_MAX_SIZE;
    if (!inRange(width) || !inRange(height)) {
      throw new InspectdError(
        ErrorCodes.CONFIG_INVALID,
        `synthetic source ${this.cameraId}: width/height must be integers in [${SYNTHETIC_MIN_SIZE}, ${SYNTHETIC_MAX_SIZE}], got ${width}x${height}`,
      );
    }
    if (!(defectRate >= 0 && defectRate <= 1))
      throw new InspectdError(ErrorCodes.CONFIG_INVALID, `synthetic source ${this.cameraId}: defectRate must be in [0, 1], got ${defectRate}`);
    if (!Number.isInteger(seed) || seed < 0 || seed > SEED_MAX) {
      throw new InspectdError(ErrorCodes.CONFIG_INVALID, `synthetic source ${this.cameraId}: seed must be an integer in [0, ${SEED_MAX}], got ${seed}`);
    }
    const step = this.config.beltPxPerFrame;
    if (this.config.scene === 'conveyor' && !(step >= 1 && step <= SYNTHETIC_MAX_SIZE)) {
      throw new InspectdError(ErrorCodes.CONFIG_INVALID, `synthetic source ${this.cameraId}: beltPxPerFrame must be in [1, ${SYNTHETIC_MAX_SIZE}], got ${step}`);
    }
    this.handlers = handlers;
    this.running = true;
    this.ready = null;
    this.renderAhead();
    this.t0 = performance.now();
    this.tickNo = 0;
    this.awaitingDone = false;
    this.nextDue = this.t0;
    if (!this.config.lossless) this.schedule();
  }

  async stop(): Promise<void> {
    if (!this.running) {
      if (this.pending) await this.pending;
      return;
    }
    this.running = false;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    // Let an in-flight render finish so no sharp work outlives the source.
    if (this.pending) await this.pending;
    this.pending = null;
    this.ready = null;
  }

  private renderAhead(): void {
    const seq = this.nextSeq;
    const { width, height, defectRate, seed, scene, beltPxPerFrame } = this.config;
    const render: Promise<Scene> =
      scene === 'conveyor' ? renderConveyor(seed, seq, { width, height, defectRate, beltPxPerFrame }) : renderScene(seed, seq, { width, height, defectRate });
    const p: Promise<Scene | Error> = render.then(
      (s) => s,
      (err: unknown) => (err instanceof Error ? err : new Error(errorMessage(err))),
    );
    this.pending = p;
    void p.then((res) => {
      if (this.pending === p) this.pending = null;
      if (!this.running) return;
      if (res instanceof Error) {
        this.fail(new InspectdError(ErrorCodes.SOURCE_FAILED, `synthetic source ${this.cameraId}: rendering frame ${seq} failed: ${res.message}`, { cause: res }));
        return;
      }
      this.ready = res;
      if (this.config.lossless) this.emitLossless();
    });
  }

  /** Lossless pacing: the next frame goes once it is rendered, the previous one is judged, and its time (fps) has come. */
  private emitLossless(): void {
    if (!this.running || !this.handlers || this.awaitingDone || !this.ready || this.timer) return;
    const wait = this.nextDue - performance.now();
    if (wait > 0) {
      this.timer = setTimeout(() => {
        this.timer = null;
        this.emitLossless();
      }, wait);
      return;
    }
    const scene = this.ready;
    this.ready = null;
    this.awaitingDone = true;
    this.nextDue = Math.max(this.nextDue + 1000 / this.config.fps, performance.now());
    let settled = false;
    const frame = this.frameOf(scene, () => {
      if (settled) return;
      settled = true;
      this.awaitingDone = false;
      this.emitLossless();
    });
    this.renderAhead();
    try {
      this.handlers.frame(frame);
    } catch (err) {
      this.fail(new InspectdError(ErrorCodes.SOURCE_FAILED, `synthetic source ${this.cameraId}: frame handler threw: ${errorMessage(err)}`, { cause: err }));
    }
  }

  private frameOf(scene: Scene, done?: () => void): Frame {
    return {
      cameraId: this.cameraId,
      seq: this.nextSeq++,
      captureMono: performance.now(),
      captureWall: Date.now(),
      width: scene.width,
      height: scene.height,
      format: 'rgb24',
      data: scene.rgb,
      origin: `synthetic:seed=${this.config.seed}`,
      ...(done ? { done } : {}),
    };
  }

  private schedule(): void {
    if (!this.running) return;
    this.tickNo++;
    const due = this.t0 + (this.tickNo * 1000) / this.config.fps;
    this.timer = setTimeout(() => this.tick(), Math.max(0, due - performance.now()));
  }

  private tick(): void {
    this.timer = null;
    if (!this.running || !this.handlers) return;
    const scene = this.ready;
    if (scene) {
      this.ready = null;
      const frame = this.frameOf(scene);
      this.renderAhead();
      try {
        this.handlers.frame(frame);
      } catch (err) {
        this.fail(new InspectdError(ErrorCodes.SOURCE_FAILED, `synthetic source ${this.cameraId}: frame handler threw: ${errorMessage(err)}`, { cause: err }));
        return;
      }
    } else {
      this.skipped++;
    }
    // Catch up without bursts: if we fell more than one period behind, skip the missed ticks.
    const period = 1000 / this.config.fps;
    const now = performance.now();
    const behind = Math.floor((now - (this.t0 + this.tickNo * period)) / period);
    if (behind > 0) {
      this.tickNo += behind;
      this.skipped += behind;
    }
    this.schedule();
  }

  private fail(err: Error): void {
    if (!this.running) return;
    this.running = false;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.handlers?.ended(err);
  }
}
