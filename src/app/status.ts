/**
 * What the daemon says about itself: the retained JSON status topic, /healthz, systemd's STATUS= line
 * and the console summary, all from one set of readings (one fps meter). Re-published on a timer and
 * whenever the bus says something shown changed.
 */
import os from 'node:os';
import { performance } from 'node:perf_hooks';
import type { Config } from '../config/types.js';
import type { HealthInfo, Notifier, OutboxHealth } from '../contracts/ops.js';
import type { EventSink } from '../contracts/sink.js';
import { errorMessage } from '../errors.js';
import { ConsoleSummary, summaryEnabled, type SummarySnapshot } from '../ops/console-summary.js';
import type { Logger } from '../ops/log.js';
import type { Pipeline } from '../pipeline/pipeline.js';
import type { CameraRegistry } from './cameras.js';
import type { CommandStats } from './commands.js';
import type { DaemonBus } from './events.js';
import type { ModelSupply } from './model-supply.js';

/** Frames inferred per second, over the time since the previous reading at least `minWindowMs` ago. */
export class FpsMeter {
  private mark = { at: 0, total: 0 };
  private fps = 0;

  constructor(private readonly minWindowMs = 1000) {}

  reset(total: number, now = performance.now()): void {
    this.mark = { at: now, total };
    this.fps = 0;
  }

  read(total: number, now = performance.now()): number {
    const dt = now - this.mark.at;
    if (dt >= this.minWindowMs) {
      this.fps = ((total - this.mark.total) * 1000) / dt;
      this.mark = { at: now, total };
    }
    return this.fps;
  }
}

/** What the status reads; getters, since reloads replace the parts behind them. */
export interface StatusSources {
  config: () => Readonly<Config>;
  configHash: () => string;
  configSource: () => string;
  lastConfigError: () => { at: string; message: string } | null;
  ready: () => boolean;
  model: ModelSupply;
  pipeline: () => Pipeline | null;
  cameras: () => CameraRegistry | null;
  sink: () => EventSink | null;
  outboxDepth: () => number;
  outbox: () => OutboxHealth | null;
  httpError: () => string | null;
  /** Why reject snapshots are not written (their directory refuses them), or null. */
  snapshotError: () => string | null;
  commands: () => Readonly<CommandStats> | null;
  notifier: () => Notifier;
}

export class StatusReporter {
  private readonly meter = new FpsMeter();
  private readonly startedAt = Date.now();
  private timer: NodeJS.Timeout | undefined;
  private summary: ConsoleSummary | null = null;

  constructor(
    private readonly src: StatusSources,
    private readonly opts: { bus: DaemonBus; logger: Logger; version: string; intervalMs: number; isTTY: boolean },
  ) {}

  /** What it reads (the line view shows the same readings). */
  get sources(): StatusSources {
    return this.src;
  }

  get startedAtMs(): number {
    return this.startedAt;
  }

  /** Starts with MQTT, before the model: while start-up waits for one, the status topic says why. */
  start(): void {
    const bus = this.opts.bus;
    for (const event of ['status.changed', 'camera.state', 'config.applied', 'config.rejected', 'engine.changed'] as const) {
      bus.on(event, this, () => this.publish());
    }
    bus.on('engine.changed', this, () => this.src.notifier().status(this.line()));
    this.meter.reset(this.src.pipeline()?.inferredTotal ?? 0);
    this.timer = setInterval(() => this.tick(), this.opts.intervalMs);
    this.timer.unref();
  }

  stop(): void {
    this.opts.bus.removeListeners(this);
    clearInterval(this.timer);
    this.summary?.stop();
    this.summary = null;
  }

  /** The console line (npm start); again when console.* changes. */
  startSummary(cfg: Readonly<Config>): void {
    this.summary?.stop();
    this.summary = null;
    if (!summaryEnabled(cfg.console.summary, this.opts.isTTY)) return;
    const s = new ConsoleSummary({ intervalMs: cfg.console.intervalMs, snapshot: () => this.summarySnapshot() });
    s.start();
    this.summary = s;
  }

  private fps(): number {
    return this.meter.read(this.src.pipeline()?.inferredTotal ?? 0);
  }

  private tick(): void {
    if (this.src.ready()) this.src.notifier().status(this.line());
    this.publish();
  }

  /** systemd's STATUS= line. */
  line(): string {
    const engine = this.src.model.detector?.engineKind ?? 'none';
    const cams = this.src.cameras()?.list() ?? [];
    const faults = cams.filter((c) => c.state === 'fault').length;
    const err = this.src.lastConfigError() ? ', last config edit rejected' : '';
    const outbox = this.src.outbox();
    const disk = outbox && !outbox.ok ? `, outbox degraded: ${outbox.unwritten} event(s) held in memory, the disk refuses writes` : '';
    return `${this.fps().toFixed(1)} fps, engine ${engine}, ${cams.length} camera(s)${faults ? `, ${faults} in fault` : ''}${this.mqttLine()}${disk}${err}`;
  }

  private mqttLine(): string {
    const sink = this.src.sink();
    if (!sink) return '';
    if (sink.connected) return sink.deliveryError ? `, ${sink.deliveryError}` : '';
    return `, ${sink.connectionError ?? 'mqtt: not connected'}`;
  }

  /** The retained JSON status (`<base>/<device>/status/json`). */
  info(): Record<string, unknown> {
    const d = this.src.model.detector;
    const p = this.src.pipeline();
    const cfg = this.src.config();
    const registry = this.src.cameras();
    return {
      state: this.src.ready() ? 'online' : 'starting',
      device: cfg.device.id,
      // which box this is when device ids are misassigned (two boxes on one id kick each other off the broker)
      host: os.hostname(),
      version: this.opts.version,
      engine: d?.engineKind ?? null,
      refusals: d?.refusals ?? [],
      model: { path: cfg.model.path, sha256: d?.modelSha256 ?? null, layout: d?.layout ?? null, classes: d?.metadata.names.length ?? 0, intraOpThreads: d?.intraOpThreads ?? null },
      configHash: this.src.configHash(),
      configSource: this.src.configSource(),
      startedAt: new Date(this.startedAt).toISOString(),
      uptimeSec: Math.round((Date.now() - this.startedAt) / 1000),
      fps: Math.round(this.fps() * 10) / 10,
      cameras: (registry?.list() ?? []).map((c) => ({
        ...c,
        paused: p?.isPaused(c.id) ?? false,
        trigger: registry?.config(c.id)?.trigger ?? false,
        decision: registry?.config(c.id)?.decision ?? null,
        partsInView: p?.partsInView(c.id) ?? null,
        counters: p?.counters(c.id) ?? null,
      })),
      outboxDepth: this.src.outboxDepth(),
      mqttError: this.mqttError() ?? null,
      outboxError: this.src.outbox()?.error ?? null,
      lastConfigError: this.src.lastConfigError(),
      modelError: this.src.model.error,
      httpError: this.src.httpError(),
      snapshotError: this.src.snapshotError(),
      commands: this.src.commands(),
    };
  }

  publish(): void {
    try {
      this.src.sink()?.publishStatus(this.info());
    } catch (err) {
      this.opts.logger.debug({ err: errorMessage(err) }, 'status not published');
    }
  }

  /** Healthy: ready, connected to the broker (rejects flow out, not only into the outbox), the outbox on disk, no camera in fault. */
  health(): HealthInfo {
    const cameras = this.src.cameras()?.list() ?? [];
    const ready = this.src.ready();
    const mqttConnected = this.src.sink()?.connected ?? false;
    const mqttError = this.mqttError();
    const outbox = this.src.outbox();
    const modelError = this.src.model.error;
    const faults = cameras.filter((c) => c.state === 'fault');
    const reason = !ready
      ? modelError
        ? `no usable model: ${modelError.message}`
        : 'starting'
      : !mqttConnected
        ? (mqttError ?? 'MQTT broker not connected')
        : mqttError
          ? mqttError
          : outbox && !outbox.ok
            ? `outbox degraded${outbox.error ? `: ${outbox.error}` : ''}`
            : faults.length > 0
              ? `camera${faults.length > 1 ? 's' : ''} in fault: ${faults.map((c) => `${c.id}${c.reason ? ` (${c.reason})` : ''}`).join(', ')}`
              : undefined;
    return {
      ok: reason === undefined,
      ...(reason !== undefined ? { reason } : {}),
      ready,
      mqttConnected,
      ...(mqttError ? { mqttError } : {}),
      ...(outbox ? { outbox } : {}),
      cameras,
      engine: this.src.model.detector?.engineKind ?? null,
    };
  }

  /** Not connected: why the connection fails; connected: why the broker refuses the events (an ACL), if it does. */
  private mqttError(): string | undefined {
    const sink = this.src.sink();
    if (!sink) return undefined;
    return (sink.connected ? sink.deliveryError : sink.connectionError) ?? undefined;
  }

  summarySnapshot(): SummarySnapshot {
    const p = this.src.pipeline();
    const rejectsByClass: Record<string, number> = {};
    let parts: SummarySnapshot['parts'];
    for (const id of p?.cameraIds() ?? []) {
      const c = p!.counters(id);
      for (const [cls, n] of Object.entries(c?.rejectsByClass ?? {})) rejectsByClass[cls] = (rejectsByClass[cls] ?? 0) + n;
      if (c && p!.partsInView(id) !== undefined) {
        parts ??= { seen: 0, reject: 0, pass: 0, failSafe: 0 };
        parts.seen += c.parts.seen;
        parts.reject += c.parts.reject;
        parts.pass += c.parts.pass;
        parts.failSafe += c.parts.failSafe;
      }
    }
    return {
      fps: this.fps(),
      p50Ms: p ? p.latencyPercentile(50) : NaN,
      rejectsByClass,
      ...(parts ? { parts } : {}),
      broker: this.src.sink()?.connected ? 'connected' : (this.mqttError() ?? 'disconnected'),
      outboxDepth: this.src.outboxDepth(),
      engine: this.src.model.detector?.engineKind,
      cameras: (this.src.cameras()?.list() ?? []).map((c) => ({ id: c.id, state: p?.isPaused(c.id) ? 'paused' : c.state })),
    };
  }
}
