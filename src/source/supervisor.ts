/**
 * Keeps one camera's source alive: renumbers Frame.seq per camera (monotonic across restarts), restarts an
 * ended or failed source with exponential backoff and jitter, detects stalls (no frame for stallTimeoutMs)
 * and frozen images (frozenFrames identical frames in a row, by a sampled hash), and reports the camera
 * state: 'ok' at the first good frame (after start and after every fault), 'fault' with a reason, 'ended'
 * when a finite source (a file played once) reached its end: that one is not restarted. A fault the source
 * reports while it keeps running (SourceHandlers.fault) holds the camera in fault until the source clears it.
 */
import { performance } from 'node:perf_hooks';
import { ErrorCodes, InspectdError, errorMessage } from '../errors.js';
import type { Logger } from '../ops/log.js';
import type { CameraConfig } from '../config/types.js';
import type { Frame } from '../contracts/frame.js';
import type { FrameSource } from './source.js';
import type { CameraStateName, SourceState } from '../contracts/camera.js';
import { backoffDelay } from '../util/backoff.js';

export interface SupervisorStats {
  frames: number;
  restarts: number;
  faults: number;
}

export interface BackoffOptions {
  /** First restart delay, ms (default 250). */
  baseMs?: number;
  /** Delay cap, ms (default 30000). */
  maxMs?: number;
  /** ± fraction of random jitter (default 0.2). */
  jitter?: number;
  /** Frames flowing this long reset the backoff, ms (default 10000). */
  healthyMs?: number;
}

export interface SourceSupervisorOptions {
  camera: CameraConfig;
  createSource: () => FrameSource;
  /** Bound to the camera (logger.child({ camera })); the supervisor and its sources add no camera field. */
  logger: Logger;
  onFrame: (frame: Frame) => void;
  onState: (s: SourceState) => void;
  /** Called at each restart with its reason (for a restarts counter). */
  onRestart?: (reason: string) => void;
  backoff?: BackoffOptions;
  /** Monotonic clock, ms (default performance.now). */
  now?: () => number;
  random?: () => number;
  /** Stall detection; default: on, except for hot folders (no file is not a stall). */
  stallDetection?: boolean;
}

export class SourceSupervisor {
  private readonly o: SourceSupervisorOptions;
  private readonly now: () => number;
  private source: FrameSource | undefined;
  private gen = 0;
  private seq = 0;
  private attempt = 0;
  private started = false;
  private stopped = false;
  private state: CameraStateName = 'starting';
  /** A lasting fault the running source reported (SourceHandlers.fault); cleared by it or by a restart. */
  private sourceFault: string | undefined;
  private lastFrameAt = 0;
  private healthySince: number | undefined;
  private stallTimer: NodeJS.Timeout | undefined;
  private restartTimer: NodeJS.Timeout | undefined;
  private restarting = false;
  /** Ends the backoff wait early (stop()). */
  private wake: (() => void) | undefined;
  private lastHash: number | undefined;
  private sameCount = 0;
  private cycle: Promise<void> = Promise.resolve();
  readonly stats: SupervisorStats = { frames: 0, restarts: 0, faults: 0 };

  constructor(opts: SourceSupervisorOptions) {
    this.o = opts;
    this.now = opts.now ?? (() => performance.now());
  }

  get cameraId(): string {
    return this.o.camera.id;
  }

  get currentState(): CameraStateName {
    return this.state;
  }

  async start(): Promise<void> {
    if (this.stopped) throw new InspectdError(ErrorCodes.LIFECYCLE, `supervisor for camera ${this.cameraId} was stopped and cannot be restarted; create a new one`);
    if (this.started) return;
    this.started = true;
    await this.launch();
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    this.gen++;
    if (this.stallTimer) clearTimeout(this.stallTimer);
    if (this.restartTimer) clearTimeout(this.restartTimer);
    this.wake?.();
    await this.cycle.catch(() => undefined);
    const src = this.source;
    this.source = undefined;
    await src?.stop().catch((err) => this.o.logger.warn({ err: errorMessage(err) }, 'source stop failed'));
  }

  private async launch(): Promise<void> {
    if (this.stopped) return;
    const gen = ++this.gen;
    this.lastHash = undefined;
    this.sameCount = 0;
    this.healthySince = undefined;
    this.sourceFault = undefined;
    this.lastFrameAt = this.now();
    let src: FrameSource;
    try {
      src = this.o.createSource();
    } catch (err) {
      this.failed(gen, err);
      return;
    }
    this.source = src;
    this.armStall(gen);
    try {
      await src.start({
        frame: (f) => this.frame(gen, f),
        ended: (err) => this.ended(gen, err),
        fault: (reason) => this.sourceFaulted(gen, reason),
      });
    } catch (err) {
      this.failed(gen, err);
    }
  }

  private frame(gen: number, f: Frame): void {
    if (gen !== this.gen || this.stopped) return;
    const now = this.now();
    this.lastFrameAt = now;
    const frozenAfter = this.o.camera.frozenFrames;
    if (frozenAfter > 0) {
      const h = sampleHash(f.data);
      this.sameCount = h === this.lastHash ? this.sameCount + 1 : 1;
      this.lastHash = h;
      if (this.sameCount >= frozenAfter) {
        f.done?.(new Error('frozen frames'));
        this.fault(gen, `frozen frames: ${this.sameCount} identical consecutive frames`);
        return;
      }
    }
    if (this.healthySince === undefined) this.healthySince = now;
    else if (this.attempt > 0 && now - this.healthySince >= (this.o.backoff?.healthyMs ?? 10_000)) this.attempt = 0;
    if (this.state !== 'ok' && this.sourceFault === undefined) {
      if (this.state === 'fault') this.o.logger.info('camera recovered');
      this.state = 'ok';
      this.o.onState({ state: 'ok' });
    }
    this.stats.frames++;
    f.cameraId = this.cameraId;
    f.seq = this.seq++;
    this.o.onFrame(f);
  }

  private ended(gen: number, err: Error | null): void {
    if (gen !== this.gen || this.stopped) return;
    if (err === null && this.source?.finite) {
      this.finished();
    } else if (err === null) {
      // A live stream that ends cleanly (a server closing it, a test pattern with a duration) is not a fault.
      this.o.logger.info({ kind: this.source?.kind }, 'source ended; restarting it');
      this.restart(gen, 'source ended');
    } else {
      this.fault(gen, errorMessage(err));
    }
  }

  /** A finite input played to its end: the camera is 'ended' and stays so (no restart, no stall checks). */
  private finished(): void {
    this.gen++; // nothing from this source counts any more
    if (this.stallTimer) clearTimeout(this.stallTimer);
    this.stallTimer = undefined;
    const reason = `end of input after ${this.stats.frames} frames`;
    this.o.logger.info({ kind: this.source?.kind, frames: this.stats.frames }, 'finite input ended; not restarting it');
    this.state = 'ended';
    this.o.onState({ state: 'ended', reason });
  }

  private sourceFaulted(gen: number, reason: string | null): void {
    if (gen !== this.gen || this.stopped) return;
    if (reason !== null) {
      if (this.sourceFault === reason && this.state === 'fault') return;
      this.sourceFault = reason;
      this.stats.faults++;
      this.o.logger.warn({ reason }, 'camera fault reported by its source (not restarted: a new source would meet the same problem)');
      this.state = 'fault';
      this.o.onState({ state: 'fault', reason });
      return;
    }
    if (this.sourceFault === undefined) return;
    this.sourceFault = undefined;
    if (this.state === 'fault') {
      this.o.logger.info('camera recovered');
      this.state = 'ok';
      this.o.onState({ state: 'ok' });
    }
  }

  private failed(gen: number, err: unknown): void {
    if (gen !== this.gen || this.stopped) return;
    this.fault(gen, errorMessage(err));
  }

  private fault(gen: number, reason: string): void {
    if (gen !== this.gen || this.stopped) return;
    this.stats.faults++;
    this.o.logger.warn({ reason }, 'camera fault; restarting source');
    if (this.state !== 'fault') {
      this.state = 'fault';
      this.o.onState({ state: 'fault', reason });
    }
    this.restart(gen, reason);
  }

  private restart(gen: number, reason: string): void {
    if (gen !== this.gen || this.stopped || this.restarting) return;
    this.restarting = true;
    this.gen++; // frames and ends from the old source are ignored from here on
    if (this.stallTimer) clearTimeout(this.stallTimer);
    const b = this.o.backoff ?? {};
    const delay = backoffDelay({ baseMs: b.baseMs ?? 250, maxMs: b.maxMs ?? 30_000, jitter: b.jitter ?? 0.2 }, this.attempt, this.o.random);
    this.attempt++;
    this.stats.restarts++;
    this.o.onRestart?.(reason);
    const old = this.source;
    this.source = undefined;
    this.cycle = (async () => {
      await old?.stop().catch((err) => this.o.logger.warn({ err: errorMessage(err) }, 'source stop failed'));
      if (this.stopped) return;
      await new Promise<void>((resolve) => {
        this.wake = resolve;
        this.restartTimer = setTimeout(resolve, delay);
      });
      this.wake = undefined;
      this.restarting = false;
      if (this.stopped) return;
      this.o.logger.info({ delayMs: delay, attempt: this.attempt }, 'restarting source');
      await this.launch();
    })();
  }

  private armStall(gen: number): void {
    const enabled = this.o.stallDetection ?? this.o.camera.source.type !== 'folder';
    if (!enabled) return;
    const timeout = this.o.camera.stallTimeoutMs;
    const check = (): void => {
      if (gen !== this.gen || this.stopped) return;
      const idle = this.now() - this.lastFrameAt;
      if (idle >= timeout) this.fault(gen, `camera stalled: no frame for ${Math.round(idle)} ms`);
      else this.stallTimer = setTimeout(check, timeout - idle);
    };
    if (this.stallTimer) clearTimeout(this.stallTimer);
    this.stallTimer = setTimeout(check, timeout);
  }
}

/** FNV-1a over ~4096 evenly spaced bytes plus the length: cheap, and any real camera's sensor noise changes it. */
export function sampleHash(data: Buffer): number {
  let h = 0x811c9dc5 ^ data.length;
  const step = Math.max(1, Math.floor(data.length / 4096));
  for (let i = 0; i < data.length; i += step) {
    h ^= data[i];
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}
