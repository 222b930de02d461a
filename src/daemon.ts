/**
 * The composition root of `inspectd run`: starts every part in order, stops them in reverse (every part,
 * even when one fails; the first failure is kept), applies config reloads, routes MQTT commands, and talks
 * to systemd. The parts themselves live in their modules; this file only wires them.
 *
 * Start order: metrics, outbox, embedded broker (only when mqtt.url is unset), MQTT sink, config watcher,
 * watchdog, detector (loaded and warmed on one frame; while none loads, start-up waits, reporting why),
 * snapshots, http, pipeline + camera supervisors, console summary; then READY=1. A signal during start-up aborts it (start(signal)); the caller then calls
 * stop(), which undoes whatever had started.
 *
 * Parts are created through `DaemonParts` factories so tests can inject fakes through the constructor;
 * the defaults import the real modules lazily (onnxruntime is loaded only when a detector is).
 */
import { readFile, stat } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import type { CameraConfig, Config, ModelConfig, MqttConfig, OutboxConfig, SnapshotConfig, HttpConfig } from './config/types.js';
import type { LoadedConfig } from './config/load.js';
import { diffConfig, type ConfigDiff } from './config/diff.js';
import { ErrorCodes, InspectdError, errorMessage } from './errors.js';
import type { Logger } from './ops/log.js';
import type { Metrics } from './ops/metrics.js';
import { InferenceWatchdog } from './ops/watchdog.js';
import { ConsoleSummary, summaryEnabled, type SummarySnapshot } from './ops/console-summary.js';
import { Pipeline } from './pipeline/pipeline.js';
import type { PipelineObserver, PipelineSink } from './pipeline/types.js';
import type { FrameDetector } from './contracts/detector.js';
import type { Frame } from './contracts/frame.js';
import type { FrameSource } from './source/source.js';
import type { Detection, PostprocessOptions } from './contracts/vision.js';

// ---- what the daemon needs from each part (structural: real modules and test fakes both fit) ----

export interface DaemonOutbox {
  readonly depth: number;
  start(): Promise<void>;
  stop(): Promise<void>;
}

export interface DaemonSink {
  readonly connected: boolean;
  start(signal: AbortSignal): Promise<void>;
  stop(): Promise<void>;
  publishDetections(cameraId: string, payload: unknown): void;
  publishReject(cameraId: string, payload: Record<string, unknown> & { key: string; captureWall: number }): Promise<void>;
  publishState(cameraId: string, state: { state: 'ok' | 'fault'; reason?: string }): Promise<void>;
  publishStatus(info: Record<string, unknown>): void;
  onCommand(handler: (command: string, payload: Buffer) => void): void;
}

export interface DaemonBroker {
  readonly url: string;
  start(signal?: AbortSignal): Promise<void>;
  stop(): Promise<void>;
}

export interface DaemonSupervisor {
  start(signal?: AbortSignal): Promise<void> | void;
  stop(): Promise<void>;
}

export interface CameraStateEvent {
  state: 'ok' | 'fault';
  reason?: string;
}

export interface DaemonSnapshots {
  saveReject(frame: Frame, detections: Detection[], info: { cameraId: string; seq: number; key: string }): Promise<unknown> | unknown;
}

export interface DaemonHttp {
  start(signal?: AbortSignal): Promise<void>;
  stop(): Promise<void>;
}

/** systemd notification (src/ops/sd-notify.ts); every method is a no-op outside systemd. */
export interface Notifier {
  readonly enabled: boolean;
  ready(status?: string): void;
  watchdog(): void;
  status(text: string): void;
  reloading(): void;
  stopping(): void;
}

export interface DaemonParts {
  createMetrics(): Promise<Metrics>;
  createOutbox(config: OutboxConfig, logger: Logger, metrics: Metrics): Promise<DaemonOutbox>;
  createBroker(host: string, port: number, logger: Logger): Promise<DaemonBroker>;
  createSink(opts: { mqtt: MqttConfig; outbox: DaemonOutbox; deviceId: string; logger: Logger; metrics: Metrics; version: string; rejectTtlMs: number }): Promise<DaemonSink>;
  /** onEngineChange: a background engine swap (e.g. to a freshly built TensorRT engine) after the load. */
  loadDetector(model: ModelConfig, logger: Logger, onEngineChange?: (kind: string, reason: string) => void): Promise<FrameDetector>;
  createSupervisor(opts: {
    camera: CameraConfig;
    logger: Logger;
    onFrame: (frame: Frame) => void;
    onState: (state: CameraStateEvent) => void;
    onRestart: (reason: string) => void;
  }): Promise<DaemonSupervisor>;
  createSnapshots(config: SnapshotConfig, logger: Logger, metrics: Metrics): Promise<DaemonSnapshots | null>;
  createHttp(opts: { config: HttpConfig; metrics: Metrics; health: () => HealthInfo; logger: Logger }): Promise<DaemonHttp | null>;
  /** Half of WATCHDOG_USEC in ms, or null outside a systemd watchdog. */
  watchdogIntervalMs(): Promise<number | null>;
  createNotifier(): Promise<Notifier>;
}

export interface HealthInfo {
  ok: boolean;
  ready: boolean;
  mqttConnected: boolean;
  cameras: { id: string; state: string; reason?: string }[];
  engine: string | null;
}

// Module paths held in variables so a part that is not built yet fails at run time with a clear message,
// not at compile time for the whole daemon.
async function importPart<T>(rel: string): Promise<T> {
  try {
    return (await import(rel)) as T;
  } catch (err) {
    throw new InspectdError(ErrorCodes.LIFECYCLE, `inspectd part ${rel} could not be loaded: ${errorMessage(err)}; rebuild with \`npm run build:ts\``, { cause: err });
  }
}

const NOOP_NOTIFIER: Notifier = { enabled: false, ready() {}, watchdog() {}, status() {}, reloading() {}, stopping() {} };

/** The real modules. */
export const defaultParts: DaemonParts = {
  async createMetrics() {
    const m = await importPart<typeof import('./ops/metrics.js')>('./ops/metrics.js');
    return new m.Metrics({ defaultMetrics: true });
  },
  async createOutbox(config, logger, metrics) {
    const m = await importPart<typeof import('./sink/outbox.js')>('./sink/outbox.js');
    return new m.Outbox({ config, logger, metrics });
  },
  async createBroker(host, port, logger) {
    const m = await importPart<typeof import('./sink/embedded-broker.js')>('./sink/embedded-broker.js');
    return new m.EmbeddedBroker({ host, port, logger });
  },
  async createSink(opts) {
    const m = await importPart<typeof import('./sink/mqtt-sink.js')>('./sink/mqtt-sink.js');
    return new m.MqttSink({ ...opts, outbox: opts.outbox as never });
  },
  async loadDetector(model, logger, onEngineChange) {
    const m = await importPart<typeof import('./inference/detector.js')>('./inference/detector.js');
    return m.Detector.load({
      modelPath: model.path,
      labelsPath: model.labels,
      engine: model.engine,
      threads: model.threads,
      engineCacheDir: model.engineCacheDir,
      logger,
      onEngineChange,
    });
  },
  async createSupervisor({ camera, logger, onFrame, onState, onRestart }) {
    const f = await importPart<typeof import('./source/factory.js')>('./source/factory.js');
    const s = await importPart<typeof import('./source/supervisor.js')>('./source/supervisor.js');
    return new s.SourceSupervisor({ camera, logger, onFrame, onState, onRestart, createSource: () => f.createSource(camera, { logger }) });
  },
  async createSnapshots(config, logger, metrics) {
    if (!config.enabled) return null;
    const m = await importPart<typeof import('./sink/snapshots.js')>('./sink/snapshots.js');
    return new m.SnapshotWriter({ config, logger, metrics });
  },
  async createHttp(opts) {
    if (!opts.config.enabled) return null;
    const m = await importPart<typeof import('./ops/http.js')>('./ops/http.js');
    return new m.HttpServer({ ...opts, health: () => ({ ...opts.health() }) });
  },
  async watchdogIntervalMs() {
    const m = await importPart<typeof import('./ops/sd-notify.js')>('./ops/sd-notify.js');
    return m.SdNotifier.watchdogIntervalMs(process.env);
  },
  async createNotifier() {
    const m = await importPart<typeof import('./ops/sd-notify.js')>('./ops/sd-notify.js');
    const n = new m.SdNotifier();
    return n.enabled ? n : NOOP_NOTIFIER;
  },
};

export interface DaemonOptions {
  loaded: LoadedConfig;
  /** The file to watch for edits and re-read on SIGHUP; omitted with embedded defaults. */
  configPath?: string;
  logger: Logger;
  /** Where package.json lives (version for the status topic). */
  packageRoot: string;
  notifier?: Notifier;
  parts?: Partial<DaemonParts>;
  /** Status JSON re-publish and STATUS= period (default 10 s). */
  statusIntervalMs?: number;
  /** Longest wait for in-flight frames on stop (default 5 s). */
  drainMs?: number;
  /** For the console summary's 'auto' mode (default process.stderr.isTTY). */
  isTTY?: boolean;
}

interface CameraRuntime {
  config: CameraConfig;
  supervisor: DaemonSupervisor | null;
  state: 'starting' | 'ok' | 'fault';
  reason?: string;
}

interface Stoppable {
  name: string;
  stop: () => Promise<void> | void;
}

function postOf(model: ModelConfig): Partial<PostprocessOptions> {
  return { conf: model.conf, iou: model.iou, maxDetections: model.maxDetections };
}

/** A model change that only touches thresholds needs no new engine. */
function modelNeedsReload(prev: ModelConfig, next: ModelConfig): boolean {
  const strip = ({ conf: _c, iou: _i, maxDetections: _m, ...rest }: ModelConfig) => rest;
  return JSON.stringify(strip(prev)) !== JSON.stringify(strip(next));
}

export class Daemon {
  private readonly opts: DaemonOptions;
  private readonly parts: DaemonParts;
  private readonly logger: Logger;
  private loaded: LoadedConfig;
  private notifier: Notifier;
  private readonly stack: Stoppable[] = [];
  private readonly cameras = new Map<string, CameraRuntime>();
  private metrics: Metrics | null = null;
  private outbox: DaemonOutbox | null = null;
  private broker: DaemonBroker | null = null;
  private sink: DaemonSink | null = null;
  private detector: FrameDetector | null = null;
  private snapshots: DaemonSnapshots | null = null;
  private http: DaemonHttp | null = null;
  private pipeline: Pipeline | null = null;
  private watcher: { reload(): Promise<void>; stop(): Promise<void> } | null = null;
  private watchdog: InferenceWatchdog | null = null;
  private summary: ConsoleSummary | null = null;
  private statusTimer: NodeJS.Timeout | undefined;
  private version = '0.0.0';
  private startedAt = 0;
  private readyFlag = false;
  private startPromise: Promise<void> | null = null;
  private stopPromise: Promise<void> | null = null;
  private lastConfigError: { at: string; message: string } | null = null;
  /** Why the configured model cannot be loaded, while start-up waits for a usable one. */
  private modelError: { at: string; message: string; attempts: number } | null = null;
  /** Set while start-up waits for a usable model: a config edit is adopted and wakes the wait. */
  private wakeModelWait: (() => void) | null = null;
  private httpError: string | null = null;
  private reloadChain: Promise<void> = Promise.resolve();
  private fps = 0;
  private fpsMark = { at: 0, inferred: 0 };
  private summaryMark = { at: 0, inferred: 0 };
  private readonly rejectsByClass: Record<string, number> = {};

  constructor(opts: DaemonOptions) {
    this.opts = opts;
    this.parts = { ...defaultParts, ...opts.parts };
    this.logger = opts.logger;
    this.loaded = opts.loaded;
    this.notifier = opts.notifier ?? NOOP_NOTIFIER;
  }

  get config(): Readonly<Config> {
    return this.loaded.config;
  }

  get ready(): boolean {
    return this.readyFlag;
  }

  /** The pipeline's own counters per camera (tests, status). */
  get pipelineStats(): Pipeline | null {
    return this.pipeline;
  }

  get mqttSink(): DaemonSink | null {
    return this.sink;
  }

  get metricsRegistry(): Metrics | null {
    return this.metrics;
  }

  /** Starts every part; rejects (after logging) when a part fails or `signal` aborts start-up: call stop() then. */
  start(signal: AbortSignal = new AbortController().signal): Promise<void> {
    if (this.stopPromise) return Promise.reject(new InspectdError(ErrorCodes.LIFECYCLE, 'daemon was stopped and cannot be restarted; create a new one'));
    if (!this.startPromise) this.startPromise = this.doStart(signal);
    return this.startPromise;
  }

  private checkAbort(signal: AbortSignal): void {
    if (signal.aborted) throw new InspectdError(ErrorCodes.LIFECYCLE, 'start-up aborted by a signal');
  }

  private async doStart(signal: AbortSignal): Promise<void> {
    const cfg = this.loaded.config;
    this.startedAt = Date.now();
    this.version = await this.readVersion();
    if (!this.opts.notifier) this.notifier = await this.parts.createNotifier();
    this.logger.info({ version: this.version, config: this.loaded.source, hash: this.loaded.hash, device: cfg.device.id }, 'inspectd starting');

    const metrics = (this.metrics = await this.parts.createMetrics());
    this.checkAbort(signal);

    const outbox = (this.outbox = await this.parts.createOutbox(cfg.outbox, this.logger, metrics));
    await outbox.start();
    this.stack.push({ name: 'outbox', stop: () => outbox.stop() });
    this.checkAbort(signal);

    await this.startSink(cfg, signal);
    this.checkAbort(signal);

    // Watching the config file and feeding the watchdog start before the model: while no usable model
    // loads, an edit is how it gets fixed, and waiting for one is not a hang.
    if (this.opts.configPath) {
      const w = await importPart<typeof import('./config/watch.js')>('./config/watch.js');
      const watcher = new w.ConfigWatcher({
        path: this.opts.configPath,
        logger: this.logger,
        current: this.loaded,
        onChange: (next) => this.applyConfig(next),
        onError: (err) => this.recordConfigError(err),
      });
      await watcher.start();
      this.watcher = watcher;
      this.stack.push({ name: 'config-watcher', stop: () => watcher.stop() });
    }

    const wdInterval = await this.parts.watchdogIntervalMs();
    if (wdInterval !== null) {
      const wd = (this.watchdog = new InferenceWatchdog({
        intervalMs: wdInterval,
        progress: () => this.pipeline?.inferredTotal ?? 0,
        idle: () => !this.expectingFrames(),
        ping: () => this.notifier.watchdog(),
        withheld: (reason) => this.logger.warn({ reason }, 'systemd watchdog ping withheld: the pipeline made no progress'),
      }));
      wd.start();
      this.stack.push({ name: 'watchdog', stop: () => wd.stop() });
    }

    const detector = await this.loadStartupDetector(signal);
    this.detector = detector;
    this.stack.push({ name: 'detector', stop: () => this.detector?.dispose() });
    this.checkAbort(signal);
    // The config may have been edited while waiting for a usable model: what had started takes it up too.
    const cfgNow = this.loaded.config;
    if (cfgNow !== cfg) {
      const early = diffConfig(cfg, cfgNow);
      if (early.log) this.logger.level = cfgNow.log.level;
      if (early.mqtt) await this.swapSink(cfgNow);
      if (early.outbox) this.logger.warn('outbox settings change takes effect at the next start');
    }
    metrics.setEngine(detector.engineKind, path.basename(cfgNow.model.path));

    this.snapshots = await this.parts.createSnapshots(cfgNow.snapshots, this.logger, metrics);
    try {
      await this.startHttp(cfgNow, signal);
    } catch (err) {
      // Health/metrics are for observers; inspection and rejects must not depend on a free port.
      this.httpError = errorMessage(err);
      this.logger.error({ err: this.httpError }, 'http health/metrics server could not start; running without it (fix http.host/http.port)');
    }
    this.checkAbort(signal);

    const pipeline = (this.pipeline = new Pipeline({
      deviceId: cfgNow.device.id,
      detector,
      post: postOf(cfgNow.model),
      sink: this.pipelineSink(),
      logger: this.logger,
      observer: this.observer(),
    }));
    this.stack.push({
      name: 'pipeline',
      stop: async () => {
        const drained = await pipeline.drain(this.opts.drainMs ?? 5000);
        if (!drained) this.logger.warn('in-flight frames did not finish in time; they are dropped');
        pipeline.stop();
      },
    });
    this.stack.push({ name: 'cameras', stop: () => this.stopAllCameras() });
    for (const camera of cfgNow.cameras) {
      pipeline.addCamera(camera);
      await this.startCamera(camera, signal);
      this.checkAbort(signal);
    }
    this.sink!.onCommand((command, payload) => this.onCommand(command, payload));

    this.startSummary(cfgNow);
    this.fpsMark = { at: performance.now(), inferred: 0 };
    this.summaryMark = { ...this.fpsMark };
    this.statusTimer = setInterval(() => this.statusTick(), this.opts.statusIntervalMs ?? 10_000);
    this.statusTimer.unref();
    this.stack.push({ name: 'status-timer', stop: () => clearInterval(this.statusTimer) });

    this.readyFlag = true;
    this.publishStatus();
    const line = this.statusLine();
    this.notifier.ready(line);
    this.logger.info({ engine: detector.engineKind, cameras: cfgNow.cameras.map((c) => c.id), mqtt: this.sinkUrl() }, 'inspectd ready');
  }

  /**
   * Stops every part in reverse start order: STOPPING=1, console/watchdog/watcher, camera sources,
   * drain in-flight frames, http, detector, MQTT (flushes the outbox, publishes offline), broker, outbox.
   * Every part is stopped even when one fails; the first failure is rethrown at the end. Idempotent.
   */
  stop(): Promise<void> {
    if (!this.stopPromise) this.stopPromise = this.doStop();
    return this.stopPromise;
  }

  private async doStop(): Promise<void> {
    this.readyFlag = false;
    this.notifier.stopping();
    // No WATCHDOG=1 after STOPPING=1: the drain is bounded by drainMs and systemd's TimeoutStopSec.
    this.watchdog?.stop();
    this.logger.info('inspectd stopping');
    // A start in progress is aborted by its caller's signal; wait for it to settle so no part starts behind our back.
    if (this.startPromise) await this.startPromise.catch(() => undefined);
    await this.reloadChain.catch(() => undefined);
    this.summary?.stop();
    let failure: unknown = null;
    while (this.stack.length > 0) {
      const part = this.stack.pop()!;
      try {
        await part.stop();
      } catch (err) {
        failure ??= err;
        this.logger.error({ part: part.name, err: errorMessage(err) }, 'part failed to stop');
      }
    }
    // Final per-camera counters: once drained, captured = inferred + dropped (by reason), rejects all durable.
    const p = this.pipeline;
    const cameras = p ? Object.fromEntries(p.cameraIds().map((id) => [id, p.counters(id)])) : {};
    this.logger.info({ failed: failure !== null, cameras, outboxDepth: this.outbox?.depth ?? 0 }, 'inspectd stopped');
    if (failure !== null) throw failure;
  }

  /** SIGHUP and cmd/reload: re-reads the config file; an invalid file keeps the running config (reported). */
  async reload(): Promise<void> {
    if (!this.watcher) {
      this.logger.info('reload requested but no config file is in use (embedded defaults): nothing to reload');
      return;
    }
    await this.watcher.reload();
  }

  // ---------------- config reload ----------------

  private recordConfigError(err: Error): void {
    this.lastConfigError = { at: new Date().toISOString(), message: err.message };
    this.metrics?.configReloads.inc({ result: 'invalid' });
    this.publishStatus();
    if (!this.stopPromise) this.notifier.ready(this.statusLine()); // never READY=1 after STOPPING=1
  }

  /**
   * Applies a validated config: prepares what can fail first (a new model is loaded and warmed while the
   * old one keeps serving), then switches everything in one synchronous step where possible. Throws, and
   * changes nothing, when preparation fails; the watcher then reports it as the last config error.
   */
  applyConfig(next: LoadedConfig): Promise<void> {
    const run = this.reloadChain.then(() => this.doApply(next));
    this.reloadChain = run.catch(() => undefined);
    return run;
  }

  private async doApply(next: LoadedConfig): Promise<void> {
    const wake = this.wakeModelWait;
    if (wake) {
      // Nothing inspects yet: the edit (perhaps the fix) is taken whole; start-up goes on with it.
      this.logger.info({ hash: next.hash }, 'config changed while waiting for a usable model');
      this.loaded = next;
      this.lastConfigError = null;
      wake();
      return;
    }
    // An edit that arrives while start-up is still going on applies once it is done.
    if (!this.readyFlag && !this.stopPromise) await this.startPromise?.catch(() => undefined);
    if (!this.readyFlag || !this.pipeline) throw new InspectdError(ErrorCodes.LIFECYCLE, 'daemon is not running; config not applied');
    const prev = this.loaded.config;
    const cfg = next.config;
    const diff: ConfigDiff = diffConfig(prev, cfg);
    this.notifier.reloading();
    try {
      // 1. prepare (may fail: nothing changed yet)
      let newDetector: FrameDetector | null = null;
      if (diff.model && modelNeedsReload(prev.model, cfg.model)) {
        this.logger.info({ model: cfg.model.path }, 'loading the new model; the current one keeps serving');
        newDetector = await this.loadWarmDetector(cfg.model);
      }
      // 2. switch
      this.loaded = next;
      const pipeline = this.pipeline;
      if (newDetector) {
        const old = await pipeline.setDetector(newDetector, postOf(cfg.model));
        this.detector = newDetector;
        this.metrics?.setEngine(newDetector.engineKind, path.basename(cfg.model.path));
        await (old as FrameDetector).dispose().catch((err) => this.logger.warn({ err: errorMessage(err) }, 'old model did not dispose cleanly'));
      } else if (diff.model) pipeline.setPostprocess(postOf(cfg.model));
      for (const id of diff.cameras.rulesChanged) pipeline.updateCamera(cfg.cameras.find((c) => c.id === id)!);
      for (const id of diff.cameras.removed) {
        await this.stopCamera(id);
        pipeline.removeCamera(id);
      }
      for (const id of diff.cameras.restarted) {
        await this.stopCamera(id);
        const cam = cfg.cameras.find((c) => c.id === id)!;
        pipeline.updateCamera(cam);
        await this.startCamera(cam, new AbortController().signal);
      }
      for (const id of diff.cameras.added) {
        const cam = cfg.cameras.find((c) => c.id === id)!;
        pipeline.addCamera(cam);
        await this.startCamera(cam, new AbortController().signal);
      }
      if (diff.log) this.logger.level = cfg.log.level;
      if (diff.mqtt) await this.swapSink(cfg);
      if (diff.http) await this.restartHttp(cfg);
      if (diff.snapshots && this.metrics) this.snapshots = await this.parts.createSnapshots(cfg.snapshots, this.logger, this.metrics);
      if (diff.console) {
        this.summary?.stop();
        this.startSummary(cfg);
      }
      if (diff.outbox) this.logger.warn('outbox settings change takes effect at the next start');
      this.lastConfigError = null;
      this.metrics?.configReloads.inc({ result: 'applied' });
      this.logger.info({ hash: next.hash, diff }, 'config reloaded');
    } finally {
      this.publishStatus();
      this.notifier.ready(this.statusLine());
    }
  }

  // ---------------- parts ----------------

  private async readVersion(): Promise<string> {
    try {
      const pkg = JSON.parse(await readFile(path.join(this.opts.packageRoot, 'package.json'), 'utf8')) as { version?: string };
      return pkg.version ?? '0.0.0';
    } catch {
      return '0.0.0';
    }
  }

  private async startSink(cfg: Readonly<Config>, signal: AbortSignal): Promise<void> {
    const sink = await this.createSinkFor(cfg, signal);
    await sink.start(signal);
    this.sink = sink;
    // Looks the sink up at stop time: a reload may have replaced it.
    this.stack.push({ name: 'mqtt', stop: () => this.sink?.stop() });
  }

  /** Starts the embedded broker first when mqtt.url is unset; the sink is created, not started. */
  private async createSinkFor(cfg: Readonly<Config>, signal: AbortSignal): Promise<DaemonSink> {
    let mqtt = cfg.mqtt;
    if (!mqtt.url) {
      if (!this.broker) {
        const broker = await this.parts.createBroker(mqtt.embedded.host, mqtt.embedded.port, this.logger);
        await broker.start(signal);
        this.broker = broker;
        this.stack.push({ name: 'embedded-broker', stop: () => broker.stop() });
      }
      mqtt = { ...mqtt, url: this.broker.url };
    }
    return this.parts.createSink({
      mqtt,
      outbox: this.outbox!,
      deviceId: cfg.device.id,
      logger: this.logger,
      metrics: this.metrics!,
      version: this.version,
      rejectTtlMs: cfg.outbox.rejectTtlMs,
    });
  }

  /**
   * mqtt.* or device id changed: a new sink on the same outbox. It takes rejects at once (they only need
   * the outbox), so none is refused while the old connection flushes what it can and says offline.
   */
  private async swapSink(cfg: Readonly<Config>): Promise<void> {
    const old = this.sink;
    const next = await this.createSinkFor(cfg, new AbortController().signal);
    this.sink = next;
    if (cfg.mqtt.url && this.broker) this.logger.info('mqtt.url is now set: the embedded broker keeps running until the next start');
    try {
      await old?.stop();
    } catch (err) {
      this.logger.warn({ err: errorMessage(err) }, 'previous MQTT connection did not close cleanly');
    }
    await next.start(new AbortController().signal);
    next.onCommand((command, payload) => this.onCommand(command, payload));
    for (const [id, cam] of this.cameras) if (cam.state !== 'starting') void this.sendState(id, cam.state, cam.reason);
  }

  private async startHttp(cfg: Readonly<Config>, signal: AbortSignal): Promise<void> {
    const http = await this.parts.createHttp({ config: cfg.http, metrics: this.metrics!, health: () => this.health(), logger: this.logger });
    if (!http) return;
    await http.start(signal);
    this.http = http;
    if (!this.stack.some((p) => p.name === 'http')) this.stack.push({ name: 'http', stop: () => this.http?.stop() });
  }

  private async restartHttp(cfg: Readonly<Config>): Promise<void> {
    const old = this.http;
    this.http = null;
    await old?.stop().catch((err) => this.logger.warn({ err: errorMessage(err) }, 'http server did not stop cleanly'));
    try {
      await this.startHttp(cfg, new AbortController().signal);
      this.httpError = null;
    } catch (err) {
      // The rest of the config is applied; http stays down until the next valid edit.
      this.httpError = errorMessage(err);
      this.logger.error({ err: this.httpError }, 'http server could not start with the new settings');
    }
  }

  /**
   * The configured model, loaded and warm. When it cannot be loaded (missing, corrupt, unsupported layout)
   * the daemon does not exit into a restart loop: it says why (log, status topic, systemd STATUS=), stays
   * up with MQTT connected, and tries again as soon as the config file or the model file changes, else
   * after a backoff of 2 s doubling to 30 s. A signal ends the wait (start-up aborted).
   */
  private async loadStartupDetector(signal: AbortSignal): Promise<FrameDetector> {
    for (let attempt = 1; ; attempt++) {
      const model = this.loaded.config.model;
      try {
        const detector = await this.loadWarmDetector(model);
        if (this.modelError) this.logger.info({ model: model.path, attempts: attempt }, 'model loaded; inspection starts');
        this.modelError = null;
        return detector;
      } catch (err) {
        this.checkAbort(signal);
        const message = errorMessage(err);
        this.modelError = { at: new Date().toISOString(), message, attempts: attempt };
        this.logger.error(
          { model: model.path, attempts: attempt, err: message },
          'the model cannot be loaded: inspection waits for a usable one (fix model.path or the file; it is retried on change)',
        );
        this.publishStatus();
        // Started, not inspecting: systemd must not time the start-up out, and says why in `systemctl status`.
        this.notifier.ready(`no usable model: ${message}`);
      }
      await this.waitForModelChange(signal, Math.min(30_000, 2000 * 2 ** (attempt - 1)));
    }
  }

  /**
   * Returns when the model file changes, a config edit is adopted (applyConfig wakes it), or after maxMs;
   * throws on abort.
   */
  private async waitForModelChange(signal: AbortSignal, maxMs: number): Promise<void> {
    const modelPath = this.loaded.config.model.path;
    const stamp = async () => stat(modelPath).then((st) => `${st.mtimeMs}:${st.size}`, () => 'missing');
    const before = await stamp();
    const edited = new Promise<void>((resolve) => (this.wakeModelWait = resolve));
    const deadline = performance.now() + maxMs;
    try {
      while (performance.now() < deadline) {
        const woken = await Promise.race([edited.then(() => true), sleep(1000, false, { signal }).catch(() => false)]);
        this.checkAbort(signal);
        if (woken || (await stamp()) !== before) return;
      }
    } finally {
      this.wakeModelWait = null;
    }
  }

  /** Loads a detector and runs one frame through it, so READY=1 / a model swap means a warm, working model. */
  private async loadWarmDetector(model: ModelConfig): Promise<FrameDetector> {
    let loaded: FrameDetector | null = null;
    const onEngineChange = (kind: string, reason: string): void => {
      // A detector already replaced by a model swap (or never put in service) changes nothing observable.
      if (!loaded || loaded !== this.detector) return;
      this.logger.info({ engine: kind, reason, model: model.path }, 'inference engine changed');
      this.metrics?.setEngine(kind, path.basename(model.path));
      this.publishStatus();
      this.notifier.status(this.statusLine());
    };
    const detector = (loaded = await this.parts.loadDetector(model, this.logger, onEngineChange));
    try {
      const [h, w] = detector.metadata.imgsz;
      const t0 = performance.now();
      await detector.detectFrame(
        { cameraId: '_warmup', seq: 0, captureMono: t0, captureWall: Date.now(), width: w, height: h, format: 'rgb24', data: Buffer.alloc(w * h * 3, 114) },
        postOf(model),
      );
      this.logger.info({ engine: detector.engineKind, warmupMs: Math.round(performance.now() - t0), classes: detector.metadata.names.length }, 'model loaded and warm');
    } catch (err) {
      await detector.dispose().catch(() => undefined);
      throw new InspectdError(ErrorCodes.MODEL_INVALID, `model ${model.path} failed its warm-up frame: ${errorMessage(err)}`, { cause: err });
    }
    return detector;
  }

  private async startCamera(camera: CameraConfig, signal: AbortSignal): Promise<void> {
    const rt: CameraRuntime = { config: camera, supervisor: null, state: 'starting' };
    this.cameras.set(camera.id, rt);
    const logger = this.logger.child({ camera: camera.id });
    const pipeline = this.pipeline!;
    const supervisor = await this.parts.createSupervisor({
      camera,
      logger,
      onFrame: (frame) => pipeline.offer(frame),
      onState: (s) => {
        if (this.cameras.get(camera.id) !== rt) return; // a replaced supervisor's late report
        if (rt.state === s.state && rt.reason === s.reason) return;
        rt.state = s.state;
        rt.reason = s.reason;
        this.metrics?.cameraUp.set({ camera: camera.id }, s.state === 'ok' ? 1 : 0);
        logger[s.state === 'ok' ? 'info' : 'warn']({ state: s.state, reason: s.reason }, 'camera state');
        void this.sendState(camera.id, s.state, s.reason);
        this.publishStatus();
      },
      onRestart: (reason) => {
        this.metrics?.sourceRestarts.inc({ camera: camera.id });
        logger.info({ reason }, 'camera source restarting');
      },
    });
    rt.supervisor = supervisor;
    await supervisor.start(signal);
  }

  private async sendState(cameraId: string, state: 'ok' | 'fault', reason?: string): Promise<void> {
    try {
      await this.sink?.publishState(cameraId, reason ? { state, reason } : { state });
    } catch (err) {
      this.logger.warn({ camera: cameraId, err: errorMessage(err) }, 'camera state not published');
    }
  }

  private async stopCamera(id: string): Promise<void> {
    const rt = this.cameras.get(id);
    if (!rt) return;
    this.cameras.delete(id);
    await rt.supervisor?.stop();
  }

  private async stopAllCameras(): Promise<void> {
    const all = [...this.cameras.keys()];
    const results = await Promise.allSettled(all.map((id) => this.stopCamera(id)));
    const failed = results.find((r) => r.status === 'rejected') as PromiseRejectedResult | undefined;
    if (failed) throw failed.reason;
  }

  /**
   * Whether some frame is expected to reach inference now (the watchdog pings without progress only when
   * none is): a frame waiting in a mailbox or in flight always is; otherwise a live source (ffmpeg,
   * gstreamer, synthetic) that is not paused and not in fault is expected to stream — trigger mode included,
   * since its camera still streams and a trigger only tags a frame. A hot folder is expected to deliver only
   * while a file is queued (an empty folder is idle, not stalled). A camera in fault is left to its
   * supervisor (it restarts the source with backoff and publishes the fault): restarting the whole daemon
   * would not bring a camera back and would take the healthy cameras down with it. So a stalled source
   * withholds the pings from the moment frames stop until its supervisor declares the stall
   * (camera.stallTimeoutMs), and an engine that stops making progress on queued frames withholds them for good.
   */
  expectingFrames(): boolean {
    const p = this.pipeline;
    if (!p) return false;
    if (p.busy) return true;
    for (const [id, cam] of this.cameras) {
      if (p.isPaused(id) || cam.state === 'fault') continue;
      if (cam.config.source.type !== 'folder') return true;
    }
    return false;
  }

  private pipelineSink(): PipelineSink {
    return {
      detections: (payload) => {
        if (this.loaded.config.mqtt.publishDetections) this.sink?.publishDetections(payload.camera, payload);
      },
      reject: async (payload, frame, causes) => {
        for (const c of payload.classes) this.rejectsByClass[c] = (this.rejectsByClass[c] ?? 0) + 1;
        if (this.snapshots) {
          try {
            void Promise.resolve(this.snapshots.saveReject(frame, causes, { cameraId: payload.camera, seq: payload.seq, key: payload.key })).catch((err) =>
              this.logger.warn({ key: payload.key, err: errorMessage(err) }, 'reject snapshot not saved'),
            );
          } catch (err) {
            this.logger.warn({ key: payload.key, err: errorMessage(err) }, 'reject snapshot not saved');
          }
        }
        const sink = this.sink;
        if (!sink) throw new InspectdError(ErrorCodes.MQTT, 'no MQTT sink: reject cannot be stored');
        await sink.publishReject(payload.camera, payload as unknown as Record<string, unknown> & { key: string; captureWall: number });
      },
    };
  }

  private observer(): PipelineObserver {
    const m = (): Metrics | null => this.metrics;
    return {
      captured: (camera) => m()?.framesCaptured.inc({ camera }),
      dropped: (camera, reason) => m()?.framesDropped.inc({ camera, reason }),
      inferred: (camera, t, queueMs) => {
        const mm = m();
        if (!mm) return;
        mm.framesInferred.inc({ camera });
        mm.observeStageMs(camera, 'preprocess', t.preprocessMs);
        mm.observeStageMs(camera, 'inference', t.inferenceMs);
        mm.observeStageMs(camera, 'postprocess', t.postprocessMs);
        void queueMs;
      },
      published: (camera, totalMs) => {
        const mm = m();
        mm?.framesPublished.inc({ camera });
        mm?.observeStageMs(camera, 'total', totalMs);
      },
      late: (camera) => m()?.framesLate.inc({ camera }),
      rejected: (camera, classes) => {
        for (const cls of classes) m()?.rejects.inc({ camera, class: cls });
      },
    };
  }

  // ---------------- commands ----------------

  /**
   * cmd/reload (no payload), cmd/pause and cmd/resume (optional JSON {"camera": id}; all cameras when absent),
   * cmd/trigger (JSON {"camera": id, "partId": "..."} or a plain-text part id when there is one camera).
   */
  private onCommand(command: string, payload: Buffer): void {
    const text = payload.toString('utf8').trim();
    let body: Record<string, unknown> = {};
    if (text.startsWith('{')) {
      try {
        body = JSON.parse(text) as Record<string, unknown>;
      } catch {
        this.logger.warn({ command }, 'command payload is not valid JSON; ignored');
        return;
      }
    }
    const pipeline = this.pipeline;
    if (!pipeline) return;
    const camera = typeof body.camera === 'string' ? body.camera : undefined;
    switch (command) {
      case 'reload':
        void this.reload();
        return;
      case 'pause':
      case 'resume': {
        const ids = command === 'pause' ? pipeline.pause(camera) : pipeline.resume(camera);
        this.logger.info({ command, cameras: ids }, ids.length ? `cameras ${command}d` : 'unknown camera; ignored');
        this.publishStatus();
        return;
      }
      case 'trigger': {
        const ids = pipeline.cameraIds();
        const cam = camera ?? (ids.length === 1 ? ids[0] : undefined);
        const raw = body.partId ?? body.triggerId ?? body.id ?? (text.startsWith('{') ? undefined : text);
        const partId = typeof raw === 'number' ? String(raw) : raw;
        if (!cam || typeof partId !== 'string' || partId === '' || partId.length > 200) {
          this.logger.warn({ command, camera: cam }, 'trigger needs {"camera": id, "partId": "..."} (camera optional with one camera); ignored');
          return;
        }
        if (!pipeline.trigger(cam, partId)) this.logger.warn({ camera: cam }, 'trigger for an unknown camera; ignored');
        return;
      }
      default:
        this.logger.warn({ command }, 'unknown command; ignored');
    }
  }

  // ---------------- status ----------------

  private sinkUrl(): string | undefined {
    return this.loaded.config.mqtt.url ? '(configured)' : this.broker?.url;
  }

  private statusTick(): void {
    const p = this.pipeline;
    if (p) {
      const now = performance.now();
      const dt = (now - this.fpsMark.at) / 1000;
      if (dt > 0) this.fps = (p.inferredTotal - this.fpsMark.inferred) / dt;
      this.fpsMark = { at: now, inferred: p.inferredTotal };
    }
    this.notifier.status(this.statusLine());
    this.publishStatus();
  }

  private statusLine(): string {
    const engine = this.detector?.engineKind ?? 'none';
    const faults = [...this.cameras.values()].filter((c) => c.state === 'fault').length;
    const err = this.lastConfigError ? ', last config edit rejected' : '';
    return `${this.fps.toFixed(1)} fps, engine ${engine}, ${this.cameras.size} camera(s)${faults ? `, ${faults} in fault` : ''}${err}`;
  }

  /** The retained JSON status (`<base>/<device>/status/json`). */
  statusInfo(): Record<string, unknown> {
    const d = this.detector;
    const p = this.pipeline;
    return {
      state: this.readyFlag ? 'online' : 'starting',
      device: this.loaded.config.device.id,
      version: this.version,
      engine: d?.engineKind ?? null,
      refusals: d?.refusals ?? [],
      model: { path: this.loaded.config.model.path, sha256: d?.modelSha256 ?? null, layout: d?.layout ?? null, classes: d?.metadata.names.length ?? 0 },
      configHash: this.loaded.hash,
      configSource: this.loaded.source,
      startedAt: new Date(this.startedAt).toISOString(),
      uptimeSec: Math.round((Date.now() - this.startedAt) / 1000),
      fps: Math.round(this.fps * 10) / 10,
      cameras: [...this.cameras.entries()].map(([id, c]) => ({
        id,
        state: c.state,
        ...(c.reason ? { reason: c.reason } : {}),
        paused: p?.isPaused(id) ?? false,
        trigger: c.config.trigger,
        counters: p?.counters(id) ?? null,
      })),
      outboxDepth: this.outbox?.depth ?? 0,
      lastConfigError: this.lastConfigError,
      modelError: this.modelError,
      httpError: this.httpError,
    };
  }

  private publishStatus(): void {
    try {
      this.sink?.publishStatus(this.statusInfo());
    } catch (err) {
      this.logger.debug({ err: errorMessage(err) }, 'status not published');
    }
  }

  health(): HealthInfo {
    const cameras = [...this.cameras.entries()].map(([id, c]) => ({ id, state: c.state, ...(c.reason ? { reason: c.reason } : {}) }));
    const mqttConnected = this.sink?.connected ?? false;
    return {
      ok: this.readyFlag && cameras.every((c) => c.state !== 'fault'),
      ready: this.readyFlag,
      mqttConnected,
      cameras,
      engine: this.detector?.engineKind ?? null,
    };
  }

  private startSummary(cfg: Readonly<Config>): void {
    this.summary = null;
    if (!summaryEnabled(cfg.console.summary, this.opts.isTTY ?? process.stderr.isTTY === true)) return;
    const s = new ConsoleSummary({ intervalMs: cfg.console.intervalMs, snapshot: () => this.summarySnapshot() });
    s.start();
    this.summary = s;
  }

  summarySnapshot(): SummarySnapshot {
    const p = this.pipeline;
    let fps = this.fps;
    if (p) {
      // fps over the summary's own interval (shorter than the status one)
      const now = performance.now();
      const dt = (now - this.summaryMark.at) / 1000;
      if (dt > 0.2) {
        fps = (p.inferredTotal - this.summaryMark.inferred) / dt;
        this.summaryMark = { at: now, inferred: p.inferredTotal };
      }
    }
    return {
      fps,
      p50Ms: p ? p.latencyPercentile(50) : NaN,
      rejectsByClass: { ...this.rejectsByClass },
      broker: this.sink?.connected ? 'connected' : 'disconnected',
      outboxDepth: this.outbox?.depth ?? 0,
      engine: this.detector?.engineKind,
      cameras: [...this.cameras.entries()].map(([id, c]) => ({ id, state: p?.isPaused(id) ? 'paused' : c.state })),
    };
  }
}
