import { assertRulesMatchModel } from '../config/model-classes.js';
import type { Config } from '../config/types.js';
import { NOOP_NOTIFIER, type HealthInfo, type Notifier } from '../contracts/ops.js';
import type { EventSink } from '../contracts/sink.js';
import { ErrorCodes, InspectdError, errorMessage } from '../errors.js';
import type { Logger } from '../ops/log.js';
import type { Metrics } from '../ops/metrics.js';
import { InferenceWatchdog } from '../ops/watchdog.js';
import type { Pipeline } from '../pipeline/pipeline.js';
import type { Outbox } from '../sink/outbox.js';
import { EventBus } from '../util/event-bus.js';
import { packageVersion } from '../util/package.js';
import { CommandHandler } from './commands.js';
import { Delivery } from './delivery.js';
import type { DaemonBus, DaemonEvents } from './events.js';
import { HttpService } from './http-service.js';
import { daemonApi } from './inference-api.js';
import { Inspection } from './inspection.js';
import { startLineView } from './line-view.js';
import { ModelSupply } from './model-supply.js';
import { MetricsObserver, SnapshotService } from './observers.js';
import { defaultParts, type DaemonParts } from './parts.js';
import { ConfigReloader } from './reloader.js';
import { ServiceStack, checkAbort } from './services.js';
import { startSparkplug } from './sparkplug-service.js';
import { StatusReporter } from './status.js';
import type { DaemonOptions } from './daemon-options.js';

export type { DaemonOptions } from './daemon-options.js';

export class Daemon {
  private readonly parts: DaemonParts;
  private readonly logger: Logger;
  private readonly bus: DaemonBus;
  private readonly stack = new ServiceStack();
  private readonly model: ModelSupply;
  private readonly reloader: ConfigReloader;
  private readonly inspection: Inspection;
  private readonly status: StatusReporter;
  private notifier: Notifier;
  private metrics: Metrics | null = null;
  private outbox: Outbox | null = null;
  private delivery: Delivery | null = null;
  private http: HttpService | null = null;
  private watchdog: InferenceWatchdog | null = null;
  private commands: CommandHandler | null = null;
  private snapshots: SnapshotService | null = null;
  private readyFlag = false;
  private startPromise: Promise<void> | null = null;
  private stopPromise: Promise<void> | null = null;

  constructor(private readonly opts: DaemonOptions) {
    this.parts = { ...defaultParts, ...opts.parts };
    this.logger = opts.logger;
    this.notifier = opts.notifier ?? NOOP_NOTIFIER;
    this.bus = new EventBus<DaemonEvents>((event, err) => this.logger.warn({ event, err: errorMessage(err) }, 'event listener failed'));
    const notifier = () => this.notifier;
    this.model = new ModelSupply({ load: (...a) => this.parts.loadDetector(...a), logger: this.logger, bus: this.bus, notifier, model: () => this.config.model });
    this.reloader = new ConfigReloader({
      initial: opts.loaded,
      path: opts.configPath,
      logger: this.logger,
      bus: this.bus,
      notifier,
      statusLine: () => this.status.line(),
      model: this.model,
      started: async () => {
        if (!this.readyFlag && !this.stopPromise) await this.startPromise?.catch(() => undefined);
        return this.readyFlag && this.inspection.pipeline !== null;
      },
      stopping: () => this.stopPromise !== null,
    });
    this.inspection = new Inspection({
      bus: this.bus,
      logger: this.logger,
      model: this.model,
      createSupervisor: (o) => this.parts.createSupervisor(o),
      publishReject: (payload) => this.requireDelivery().publishReject(payload),
      publishVerdict: (payload) => this.requireDelivery().publishVerdict(payload),
      loadBootId: (dir) => this.parts.loadBootId(dir),
      snapshotFile: (meta) => this.snapshots?.snapshotFile(meta),
      drainMs: opts.drainMs ?? 5000,
      apiMaxQueue: () => this.config.http.api.maxQueue,
    });
    this.status = new StatusReporter(
      {
        config: () => this.config,
        configHash: () => this.reloader.current.hash,
        configSource: () => this.reloader.current.source,
        lastConfigError: () => this.reloader.error,
        ready: () => this.readyFlag,
        model: this.model,
        pipeline: () => this.inspection.pipeline,
        cameras: () => this.inspection.cameras,
        sink: () => this.delivery?.current ?? null,
        outboxDepth: () => this.outbox?.depth ?? 0,
        outbox: () => this.outbox?.health() ?? null,
        httpError: () => this.http?.error ?? null,
        snapshotError: () => this.snapshots?.error ?? null,
        commands: () => this.commands?.stats ?? null,
        notifier,
      },
      { bus: this.bus, logger: this.logger, version: packageVersion(), intervalMs: opts.statusIntervalMs ?? 10_000, isTTY: opts.isTTY ?? process.stderr.isTTY === true },
    );
  }

  get config(): Readonly<Config> {
    return this.reloader.current.config;
  }

  get ready(): boolean {
    return this.readyFlag;
  }

  /** The pipeline's own counters per camera (tests, status). */
  get pipelineStats(): Pipeline | null {
    return this.inspection.pipeline;
  }

  get mqttSink(): EventSink | null {
    return this.delivery?.current ?? null;
  }

  get metricsRegistry(): Metrics | null {
    return this.metrics;
  }

  health(): HealthInfo {
    return this.status.health();
  }

  statusInfo(): Record<string, unknown> {
    return this.status.info();
  }

  expectingFrames(): boolean {
    return this.inspection.expectingFrames();
  }

  /** SIGHUP and cmd/reload: re-reads the config file; an invalid file keeps the running config (reported). */
  reload(): Promise<void> {
    return this.reloader.reload();
  }

  /** Starts every part; rejects (after logging) when a part fails or `signal` aborts start-up: call stop() then. */
  start(signal: AbortSignal = new AbortController().signal): Promise<void> {
    if (this.stopPromise) return Promise.reject(new InspectdError(ErrorCodes.LIFECYCLE, 'daemon was stopped and cannot be restarted; create a new one'));
    this.startPromise ??= this.doStart(signal);
    return this.startPromise;
  }

  private async doStart(signal: AbortSignal): Promise<void> {
    const cfg = this.config;
    const { parts, logger, bus, stack } = this;
    if (!this.opts.notifier) this.notifier = await parts.createNotifier();
    logger.info({ version: packageVersion(), config: this.reloader.current.source, hash: this.reloader.current.hash, device: cfg.device.id }, 'inspectd starting');

    const metrics = (this.metrics = await parts.createMetrics());
    const metricsObserver = new MetricsObserver(bus, metrics);
    metricsObserver.start();
    stack.push('metrics', () => metricsObserver.stop());
    checkAbort(signal);

    const outbox = (this.outbox = await parts.createOutbox(cfg.outbox, logger, metrics));
    await outbox.start();
    stack.push('outbox', () => outbox.stop());
    checkAbort(signal);

    const cameraStates = () => (this.inspection.cameras?.list() ?? []).flatMap((c) => (c.state === 'starting' ? [] : [{ ...c, state: c.state }]));
    const delivery = (this.delivery = new Delivery({ parts, outbox, metrics, bus, logger, version: packageVersion(), stack, cameraStates }));
    await delivery.start(cfg, signal);
    stack.push('mqtt', () => delivery.stop());
    this.status.start();
    stack.push('status', () => this.status.stop());
    this.reloader.onSection('log', (next) => void (logger.level = next.log.level));
    this.reloader.participate({
      name: 'mqtt',
      prepare: (next, _prev, diff) => (diff.mqtt ? delivery.prepare(next.config) : Promise.resolve()),
      discard: async () => delivery.discard(),
      refresh: (current) => delivery.refreshSecrets(current),
      apply: (next, _prev, diff) => (diff.mqtt ? delivery.reconfigure(next) : undefined),
    });
    checkAbort(signal);

    // Health/metrics/API, the config watcher and the watchdog start before the model: while no usable model loads, /healthz
    // and the API say why (503), an edit is how it gets fixed, and waiting is not a hang.
    const view = startLineView({ bus, status: this.status, logger, stack });
    const api = daemonApi({ config: () => this.config, model: this.model, inspection: this.inspection, stopping: () => this.stopPromise !== null });
    const http = (this.http = new HttpService({ create: parts.createHttp, metrics, health: () => this.health(), logger, view, api }));
    await http.start(cfg.http);
    stack.push('http', () => http.stop());
    this.reloader.onSection('http', (next) => http.reconfigure(next.http));
    await this.reloader.start();
    stack.push('config-watcher', () => this.reloader.stop());
    await this.startWatchdog();

    const detector = await this.model.loadUsable(signal);
    stack.push('detector', () => this.model.stop());
    checkAbort(signal);
    assertRulesMatchModel(this.reloader.current, detector.metadata.names);
    // The config may have been edited while waiting for a usable model: what had started takes it up too.
    await this.reloader.catchUp(cfg);
    const now = this.config;

    const reserve = { dir: outbox.dir, bytes: () => outbox.reserveBytes }; // rejects win on a shared disk: the outbox keeps its room
    const snapshots = (this.snapshots = new SnapshotService({ bus, create: parts.createSnapshots, metrics, logger, reserve }));
    await snapshots.start(now.snapshots);
    stack.push('snapshots', () => snapshots.stop());
    this.reloader.onSection('snapshots', (next) => snapshots.reconfigure(next.snapshots));

    await this.inspection.start(now, detector, stack, signal);
    this.reloader.participate(this.inspection);
    checkAbort(signal);

    const { pipeline, cameras } = this.inspection;
    const enabled = () => this.config.commands;
    const commands = (this.commands = new CommandHandler({ bus, pipeline: pipeline!, cameras: cameras!, enabled, reload: () => this.reload(), metrics, logger }));
    commands.start();
    stack.push('commands', () => commands.stop());
    await startSparkplug({ bus, logger, stack, config: () => this.config, status: this.status, delivery, commands: () => this.commands, reloader: this.reloader });

    this.status.startSummary(now);
    this.reloader.onSection('console', (next) => this.status.startSummary(next));

    this.readyFlag = true;
    this.status.publish();
    this.notifier.ready(this.status.line());
    logger.info(
      { engine: detector.engineKind, intraOpThreads: detector.intraOpThreads, cameras: now.cameras.map((c) => c.id), mqtt: delivery.brokerDescription },
      'inspectd ready',
    );
  }

  private async startWatchdog(): Promise<void> {
    const intervalMs = await this.parts.watchdogIntervalMs();
    if (intervalMs === null) return;
    const wd = new InferenceWatchdog({
      intervalMs,
      progress: () => this.inspection.pipeline?.inferredTotal ?? 0,
      idle: () => !this.expectingFrames(),
      ping: () => this.notifier.watchdog(),
      withheld: (reason) => this.logger.warn({ reason }, 'systemd watchdog ping withheld: the pipeline made no progress'),
    });
    wd.start();
    this.watchdog = wd;
    this.stack.push('watchdog', () => wd.stop());
  }

  private requireDelivery(): Delivery {
    if (!this.delivery) throw new InspectdError(ErrorCodes.MQTT, 'no MQTT sink: reject cannot be stored');
    return this.delivery;
  }

  /**
   * Stops every part in reverse start order after STOPPING=1: status, commands, camera sources, the drain of in-flight frames
   * (API requests still waiting get 503), http, snapshots (drained), model, watcher, MQTT (flushes the outbox, publishes
   * offline), broker, outbox. Every part is stopped even when one fails; the first failure is rethrown. Idempotent.
   */
  stop(): Promise<void> {
    this.stopPromise ??= this.doStop();
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
    await this.reloader.idle();
    const failure = await this.stack.stopAll(this.logger);
    // Final per-camera counters: once drained, captured = inferred + dropped (by reason), rejects all durable.
    const p = this.inspection.pipeline;
    const cameras = p ? Object.fromEntries(p.cameraIds().map((id) => [id, p.counters(id)])) : {};
    this.logger.info({ failed: failure !== null, cameras, outboxDepth: this.outbox?.depth ?? 0 }, 'inspectd stopped');
    if (failure !== null) throw failure;
  }
}
