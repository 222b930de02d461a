/**
 * The engine a model runs on, replaced without stopping the frames: each run pins the engine it starts on for
 * its whole run, a swap changes only which engine the next run gets, and a replaced engine is disposed once
 * its in-flight runs are done. Swaps come from the background TensorRT upgrade, from replacing an engine
 * whose worker died, and from adopt() itself.
 */
import { performance } from 'node:perf_hooks';
import { ErrorCodes, InspectdError, errorMessage } from '../errors.js';
import type { Logger } from '../ops/log.js';
import { tryLoadNativeAddon } from '../native/loader.js';
import type { Engine, EngineKind, OutputTensor, RunTiming } from '../contracts/engine.js';
import { backoffDelay, type BackoffPolicy } from '../util/backoff.js';
import { defaultEngineCacheDir } from './tensorrt.js';
import { trtUpgradeBlocker, upgradeToTensorRt, type TrtUpgradeSettings } from './trt-upgrade.js';

export interface EngineSlotOptions {
  /** The engine to serve on first. */
  engine: Engine;
  logger: Logger;
  /** Throws (ENGINE_UNAVAILABLE, saying why) when a candidate engine does not fit the model. */
  checkFits: (engine: Engine) => Promise<void>;
  /** Loads a fresh engine to replace one that failed (the same fallback chain as at load). */
  reload: () => Promise<Engine>;
  /** Called after each swap with the new kind and why. */
  onChange?: (kind: EngineKind, reason: string) => void;
  /**
   * Spacing between attempts to replace a failed engine, by consecutive failed attempts: a model that kills
   * every engine must not spin. Default a fixed 5 s.
   */
  recoveryBackoff?: BackoffPolicy;
  /** Monotonic clock in ms; default performance.now (tests pass their own). */
  now?: () => number;
}

export interface TensorRtUpgradeStart {
  /** The model's ONNX file (for the log line and the build). */
  onnxPath: string;
  /** Default defaultEngineCacheDir() of the build environment. */
  cacheDir?: string;
  /** NCHW dims of the model input, for the new engine's warm-up run. */
  warmupDims: number[];
  settings?: TrtUpgradeSettings;
}

const DEFAULT_RECOVERY_BACKOFF: BackoffPolicy = { baseMs: 5000, maxMs: 5000 };

export class EngineSlot {
  private engine: Engine;
  /** Runs in flight per engine; a retired engine is disposed when its count reaches 0. */
  private readonly inFlight = new Map<Engine, number>();
  private readonly retired = new Set<Engine>();
  /** Which engine produced each result still out with a caller, so recycle() returns buffers to it. */
  private readonly producedBy = new WeakMap<readonly OutputTensor[], Engine>();
  private closed = false;
  private upgradeAbort: AbortController | undefined;
  private upgradeRun: Promise<void> = Promise.resolve();
  private recoveryRun: Promise<void> | undefined;
  /** Replacement attempts that failed in a row; sets the spacing of the next one. */
  private failedRecoveries = 0;
  private nextRecoveryAt = -Infinity;
  private readonly logger: Logger;
  private readonly checkFits: (engine: Engine) => Promise<void>;
  private readonly reload: () => Promise<Engine>;
  private readonly onChange: ((kind: EngineKind, reason: string) => void) | undefined;
  private readonly recoveryBackoff: BackoffPolicy;
  private readonly now: () => number;

  constructor(opts: EngineSlotOptions) {
    this.engine = opts.engine;
    this.logger = opts.logger;
    this.checkFits = opts.checkFits;
    this.reload = opts.reload;
    this.onChange = opts.onChange;
    this.recoveryBackoff = opts.recoveryBackoff ?? DEFAULT_RECOVERY_BACKOFF;
    this.now = opts.now ?? (() => performance.now());
  }

  /** The engine the next run gets. */
  get current(): Engine {
    return this.engine;
  }

  get kind(): EngineKind {
    return this.engine.kind;
  }

  /** Runs in flight on the current engine (those on replaced engines finish on their own). */
  get busy(): number {
    return this.inFlight.get(this.engine) ?? 0;
  }

  /** Settles (never rejects) when no background engine upgrade is pending. */
  get upgrade(): Promise<void> {
    return this.upgradeRun;
  }

  /** Settles (never rejects) when no replacement of a failed engine is pending. */
  get recovery(): Promise<void> {
    return this.recoveryRun ?? Promise.resolve();
  }

  /**
   * Runs on the current engine, pinned for the whole run: a swap meanwhile changes only what the next run
   * gets. A run that finds its engine dead starts that engine's replacement.
   */
  async run(input: Float32Array, dims: number[], timing?: RunTiming): Promise<OutputTensor[]> {
    this.checkOpen();
    const engine = this.engine;
    this.inFlight.set(engine, (this.inFlight.get(engine) ?? 0) + 1);
    try {
      const outputs = await engine.run(input, dims, timing);
      if (engine.recycle) this.producedBy.set(outputs, engine);
      return outputs;
    } catch (err) {
      if (engine.failure !== undefined) this.recover(engine);
      throw err;
    } finally {
      const n = (this.inFlight.get(engine) ?? 1) - 1;
      if (n > 0) this.inFlight.set(engine, n);
      else {
        this.inFlight.delete(engine);
        if (this.retired.has(engine)) this.disposeRetired(engine);
      }
    }
  }

  /** Gives a run's outputs back to the engine that produced them (Engine.recycle), unless it was replaced since. */
  recycle(outputs: readonly OutputTensor[]): void {
    const engine = this.producedBy.get(outputs);
    this.producedBy.delete(outputs);
    if (engine && engine === this.engine && !this.closed) engine.recycle?.(outputs);
  }

  /**
   * Swaps to `next` for every run that starts from now on, after checkFits; runs already going finish on
   * their engine, which is disposed after its last run. A refused or late (slot disposed) engine is disposed
   * here; refusal throws what checkFits threw.
   */
  async adopt(next: Engine, reason: string): Promise<void> {
    try {
      this.checkOpen();
      await this.checkFits(next);
      this.checkOpen();
    } catch (err) {
      await next.dispose().catch(() => undefined);
      throw err;
    }
    const old = this.engine;
    this.engine = next;
    this.retire(old);
    this.logger.info({ from: old.kind, to: next.kind, reason }, `engine swapped to ${next.kind}`);
    try {
      this.onChange?.(next.kind, reason);
    } catch (err) {
      this.logger.warn({ err: errorMessage(err) }, 'onEngineChange callback threw');
    }
  }

  /**
   * Serve on the current engine while a TensorRT engine is built in the background, then swap (dispose()
   * stops the build). Not possible here (no TensorRT, no GPU, no trtexec): one log line saying why, and
   * nothing else. Call once.
   */
  startTensorRtUpgrade(opts: TensorRtUpgradeStart): void {
    const settings = opts.settings ?? {};
    const env = settings.env ?? process.env;
    const blocker = trtUpgradeBlocker(settings.addon ?? tryLoadNativeAddon('inspectd_native'), env);
    if (blocker) {
      this.logger.info({ engine: this.engine.kind, reason: blocker }, `no TensorRT engine build in the background; serving on ${this.engine.kind}`);
      return;
    }
    const ac = new AbortController();
    this.upgradeAbort = ac;
    const from = this.engine.kind;
    this.logger.info({ engine: from, model: opts.onnxPath }, `no usable TensorRT engine: serving on ${from} while one is built in the background`);
    const t0 = performance.now();
    this.upgradeRun = (async () => {
      try {
        const next = await upgradeToTensorRt({
          ...settings,
          env,
          onnxPath: opts.onnxPath,
          cacheDir: opts.cacheDir ?? defaultEngineCacheDir(env),
          logger: this.logger,
          warmupDims: opts.warmupDims,
          signal: ac.signal,
        });
        await this.adopt(next, `TensorRT engine built in the background in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
      } catch (err) {
        if (ac.signal.aborted || this.closed) {
          this.logger.info({ reason: errorMessage(err) }, 'background TensorRT build stopped: the model was unloaded');
        } else {
          this.logger.warn({ err: errorMessage(err), engine: this.engine.kind }, `background TensorRT build failed; staying on ${this.engine.kind}`);
        }
      } finally {
        if (this.upgradeAbort === ac) this.upgradeAbort = undefined;
      }
    })();
  }

  /**
   * Refuses (INSPECTD_ERR_ENGINE_BUSY) while a run is in flight on the current engine; idempotent otherwise.
   * Stops a background TensorRT build (its child process) and waits for it and any replacement to wind down.
   */
  async dispose(): Promise<void> {
    const busy = this.busy;
    if (busy > 0) {
      throw new InspectdError(ErrorCodes.ENGINE_BUSY, `engine has ${busy} run(s) in flight; wait for them before disposing`);
    }
    this.closed = true;
    this.upgradeAbort?.abort();
    await this.recoveryRun;
    await this.engine.dispose();
    await this.upgradeRun;
  }

  /**
   * Replaces an engine that can never run again (its worker died) with a fresh one, in the background: the
   * runs meanwhile fail (the pipeline counts them), and attempts are spaced by recoveryBackoff.
   */
  private recover(failed: Engine): void {
    if (this.closed || failed !== this.engine || this.recoveryRun) return;
    const now = this.now();
    if (now < this.nextRecoveryAt) return;
    const spacing = backoffDelay(this.recoveryBackoff, this.failedRecoveries);
    this.nextRecoveryAt = now + spacing;
    this.logger.error({ engine: failed.kind, reason: failed.failure }, 'inference engine failed; loading a fresh one');
    this.recoveryRun = (async () => {
      try {
        const next = await this.reload();
        await this.adopt(next, `replaces the ${failed.kind} engine that failed: ${failed.failure}`);
        this.failedRecoveries = 0;
      } catch (err) {
        this.failedRecoveries++;
        this.logger.error({ err: errorMessage(err) }, `could not replace the failed engine; retrying on a later frame, ${spacing / 1000} s after this attempt at the earliest`);
      } finally {
        this.recoveryRun = undefined;
      }
    })();
  }

  /** Disposes a replaced engine now, or after its last in-flight run. */
  private retire(engine: Engine): void {
    if ((this.inFlight.get(engine) ?? 0) > 0) {
      this.retired.add(engine);
      return;
    }
    this.disposeRetired(engine);
  }

  private disposeRetired(engine: Engine): void {
    this.retired.delete(engine);
    engine.dispose().catch((err) => this.logger.warn({ err: errorMessage(err), engine: engine.kind }, 'replaced engine did not dispose cleanly'));
  }

  private checkOpen(): void {
    if (this.closed) throw new InspectdError(ErrorCodes.ENGINE_DISPOSED, 'the engine slot was disposed (the model was unloaded); load the model again');
  }
}
