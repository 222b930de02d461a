/**
 * The model in service: loads and warms a detector (one frame through it, so READY=1 or a swap means a
 * working model), and at start-up waits for a usable one instead of exiting into a restart loop: it says
 * why (log, status topic, systemd STATUS=) and retries when the model file changes, when a config edit
 * arrives (wake()), else after a backoff of 2 s doubling to 30 s.
 */
import { stat } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { performance } from 'node:perf_hooks';
import type { ModelConfig } from '../config/types.js';
import type { FrameDetector } from '../contracts/detector.js';
import type { Notifier } from '../contracts/ops.js';
import type { PostprocessOptions } from '../contracts/vision.js';
import { ErrorCodes, InspectdError, errorMessage } from '../errors.js';
import type { Logger } from '../ops/log.js';
import { backoffDelay, type BackoffPolicy } from '../util/backoff.js';
import type { DaemonBus } from './events.js';
import type { DaemonParts } from './parts.js';
import { checkAbort } from './services.js';

const RETRY: BackoffPolicy = { baseMs: 2000, maxMs: 30_000 };
/** How often the model file is checked for a fix while waiting. */
const FILE_POLL_MS = 1000;

export interface ModelError {
  at: string;
  message: string;
  attempts: number;
}

export function postprocessOf(model: ModelConfig): Partial<PostprocessOptions> {
  return { conf: model.conf, iou: model.iou, maxDetections: model.maxDetections };
}

/** A model change that only touches thresholds needs no new engine. */
export function modelNeedsReload(prev: ModelConfig, next: ModelConfig): boolean {
  const strip = ({ conf: _c, iou: _i, maxDetections: _m, ...rest }: ModelConfig) => rest;
  return JSON.stringify(strip(prev)) !== JSON.stringify(strip(next));
}

export interface ModelSupplyOptions {
  load: DaemonParts['loadDetector'];
  logger: Logger;
  bus: DaemonBus;
  notifier: () => Notifier;
  /** The model the current config asks for (re-read at every attempt: an edit may fix it). */
  model: () => ModelConfig;
}

export class ModelSupply {
  private current: FrameDetector | null = null;
  private lastError: ModelError | null = null;
  private wakeWait: (() => void) | null = null;

  constructor(private readonly opts: ModelSupplyOptions) {}

  get detector(): FrameDetector | null {
    return this.current;
  }

  /** Why the configured model cannot be loaded, while start-up waits for a usable one. */
  get error(): ModelError | null {
    return this.lastError;
  }

  /** True while start-up waits for a usable model. */
  get waiting(): boolean {
    return this.wakeWait !== null;
  }

  /** Ends the current wait early (a config edit was adopted); false when nothing waits. */
  wake(): boolean {
    const wake = this.wakeWait;
    wake?.();
    return wake !== null;
  }

  /** The configured model, loaded and warm; retries until one loads. A signal ends the wait (throws). */
  async loadUsable(signal: AbortSignal): Promise<FrameDetector> {
    for (let attempt = 1; ; attempt++) {
      const model = this.opts.model();
      try {
        const detector = await this.loadWarm(model);
        if (this.lastError) this.opts.logger.info({ model: model.path, attempts: attempt }, 'model loaded; inspection starts');
        this.lastError = null;
        this.adopt(detector);
        return detector;
      } catch (err) {
        checkAbort(signal);
        const message = errorMessage(err);
        this.lastError = { at: new Date().toISOString(), message, attempts: attempt };
        this.opts.logger.error(
          { model: model.path, attempts: attempt, err: message },
          'the model cannot be loaded: inspection waits for a usable one (fix model.path or the file; it is retried on change)',
        );
        this.opts.bus.emit('status.changed', {});
        // Started, not inspecting: systemd must not time the start-up out, and says why in `systemctl status`.
        this.opts.notifier().ready(`no usable model: ${message}`);
      }
      await this.waitForChange(model.path, signal, backoffDelay(RETRY, attempt - 1));
    }
  }

  /** Puts a loaded detector in service (the pipeline is switched by its owner). */
  adopt(detector: FrameDetector): void {
    this.current = detector;
    this.opts.bus.emit('model.loaded', { engine: detector.engineKind, modelPath: this.opts.model().path, refusals: detector.refusals });
  }

  /** Loads a detector and runs one frame through it; engine changes after the load go on the bus. */
  async loadWarm(model: ModelConfig): Promise<FrameDetector> {
    let loaded: FrameDetector | null = null;
    const onEngineChange = (kind: string, reason: string): void => {
      // A detector already replaced by a model swap (or never put in service) changes nothing observable.
      if (loaded && loaded === this.current) this.opts.bus.emit('engine.changed', { kind, reason, modelPath: model.path });
    };
    const detector = (loaded = await this.opts.load(model, this.opts.logger, onEngineChange));
    try {
      const [h, w] = detector.metadata.imgsz;
      const t0 = performance.now();
      await detector.detectFrame(
        { cameraId: '_warmup', seq: 0, captureMono: t0, captureWall: Date.now(), width: w, height: h, format: 'rgb24', data: Buffer.alloc(w * h * 3, 114) },
        postprocessOf(model),
      );
      this.opts.logger.info({ engine: detector.engineKind, warmupMs: Math.round(performance.now() - t0), classes: detector.metadata.names.length }, 'model loaded and warm');
    } catch (err) {
      await detector.dispose().catch(() => undefined);
      throw new InspectdError(ErrorCodes.MODEL_INVALID, `model ${model.path} failed its warm-up frame: ${errorMessage(err)}`, { cause: err });
    }
    return detector;
  }

  async stop(): Promise<void> {
    const d = this.current;
    this.current = null;
    await d?.dispose();
  }

  /** Returns when the model file changes, wake() is called, or after maxMs; throws on abort. */
  private async waitForChange(modelPath: string, signal: AbortSignal, maxMs: number): Promise<void> {
    const stamp = async () =>
      stat(modelPath).then(
        (st) => `${st.mtimeMs}:${st.size}`,
        () => 'missing',
      );
    const before = await stamp();
    const woken = new Promise<boolean>((resolve) => (this.wakeWait = () => resolve(true)));
    const deadline = performance.now() + maxMs;
    try {
      while (performance.now() < deadline) {
        const wake = await Promise.race([woken, sleep(FILE_POLL_MS, false, { signal }).catch(() => false)]);
        checkAbort(signal);
        if (wake || (await stamp()) !== before) return;
      }
    } finally {
      this.wakeWait = null;
    }
  }
}
