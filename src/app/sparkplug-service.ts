/**
 * The optional Sparkplug B edge node (sparkplug.enabled): reads the daemon's state into the metrics the edge
 * node publishes (src/sink/sparkplug/edge-node.ts) and hands DCMD pause/resume to the command handler. It
 * connects to the mqtt section's broker (the embedded one when mqtt.url is unset) with its own client id.
 * Rejects and verdicts keep their JSON topics and durable outbox; Sparkplug adds a view of the same counters.
 * A reload that changes the sparkplug section, the mqtt section or device.id replaces the edge node (the old one
 * says NDEATH; the new one connects with the next bdSeq and births), and one with the config unchanged does so
 * only when a secret read from a file or variable changed.
 */
import type { ConfigDiff } from '../config/diff.js';
import { canonicalJson } from '../config/load.js';
import type { Config } from '../config/types.js';
import { ErrorCodes, InspectdError } from '../errors.js';
import type { Logger } from '../ops/log.js';
import type { EdgeNode, Metric, MetricSet } from '../sink/sparkplug/edge-node.js';
import { packageVersion } from '../util/package.js';
import type { CommandHandler } from './commands.js';
import type { Delivery } from './delivery.js';
import type { DaemonBus } from './events.js';
import type { ConfigReloader, Reconfigurable } from './reloader.js';
import type { ServiceStack } from './services.js';
import { FpsMeter, type StatusReporter } from './status.js';

const LATENCY_RING = 256;

export interface SparkplugDeps {
  bus: DaemonBus;
  logger: Logger;
  stack: ServiceStack;
  config: () => Readonly<Config>;
  status: StatusReporter;
  delivery: Delivery;
  commands: () => CommandHandler | null;
}

/**
 * Starts the edge node when enabled, pushes its stop on the stack and follows reloads; nothing is imported
 * while it stays off.
 */
export async function startSparkplug(deps: SparkplugDeps & { reloader: ConfigReloader }): Promise<void> {
  const control = new SparkplugControl(deps);
  await control.start(deps.config());
  deps.stack.push('sparkplug', () => control.stop());
  deps.reloader.participate(control);
}

/** The edge node across reloads: at most one service at a time. */
class SparkplugControl implements Reconfigurable {
  readonly name = 'sparkplug';
  private service: SparkplugService | null = null;

  constructor(private readonly deps: SparkplugDeps) {}

  async start(cfg: Readonly<Config>): Promise<void> {
    if (!cfg.sparkplug.enabled) return;
    const service = new SparkplugService(this.deps);
    this.service = service;
    await service.start(cfg);
  }

  async apply(next: Config, prev: Config, diff: ConfigDiff): Promise<void> {
    if (!diff.mqtt && canonicalJson(prev.sparkplug) === canonicalJson(next.sparkplug)) return;
    await this.replace(
      next,
      next.sparkplug.enabled ? 'the sparkplug or mqtt settings changed: Sparkplug edge node restarting' : 'sparkplug.enabled is now false: edge node stopped',
    );
  }

  async refresh(current: Config): Promise<void> {
    const m = current.mqtt;
    const fromOutside = [m.passwordFile, m.passwordEnv, m.tls?.passphraseFile, m.tls?.passphraseEnv].some((v) => v !== undefined);
    if (!fromOutside || !this.service || this.service.sameSecrets(m)) return;
    await this.replace(current, 'MQTT secret changed: Sparkplug edge node reconnecting with it');
  }

  private async replace(cfg: Config, why: string): Promise<void> {
    this.deps.logger.info(why);
    await this.stop();
    await this.start(cfg);
  }

  async stop(): Promise<void> {
    const s = this.service;
    this.service = null;
    await s?.stop();
  }
}

/** Per camera: recent end-to-end latencies, the last reject key, an fps meter. */
class CameraReadings {
  readonly latencies: number[] = [];
  lastRejectKey = '';
  readonly fps = new FpsMeter();

  percentile(p: number): number | null {
    if (this.latencies.length === 0) return null;
    const a = [...this.latencies].sort((x, y) => x - y);
    return round1(a[Math.min(a.length - 1, Math.floor((p / 100) * a.length))]);
  }
}

const round1 = (v: number): number => Math.round(v * 10) / 10;
const u64 = (value: number): Metric => ({ type: 'UInt64', value });
const text = (value: string): Metric => ({ type: 'String', value });
const double = (value: number | null): Metric => ({ type: 'Double', value });

export class SparkplugService {
  private edge: EdgeNode | null = null;
  private readonly cameras = new Map<string, CameraReadings>();

  constructor(private readonly deps: SparkplugDeps) {}

  private readings(camera: string): CameraReadings {
    let r = this.cameras.get(camera);
    if (!r) this.cameras.set(camera, (r = new CameraReadings()));
    return r;
  }

  /** Whether the running edge node connects with the secrets `mqtt` gives now. */
  sameSecrets(mqtt: Config['mqtt']): boolean {
    return this.edge?.sameSecrets(mqtt) ?? true;
  }

  async start(cfg: Readonly<Config>): Promise<void> {
    const { bus, logger, delivery } = this.deps;
    const sp = cfg.sparkplug;
    const url = cfg.mqtt.url ?? delivery.embeddedUrl;
    if (!url) throw new InspectdError(ErrorCodes.MQTT, 'sparkplug has no broker: set mqtt.url, or leave it unset for the embedded broker');
    const [{ EdgeNode }, { nextBdSeq }] = await Promise.all([import('../sink/sparkplug/edge-node.js'), import('../sink/sparkplug/bdseq.js')]);
    const edgeNodeId = sp.edgeNodeId ?? cfg.device.id;
    const stateDir = cfg.outbox.dir;
    const edge = new EdgeNode({
      url,
      mqtt: cfg.mqtt,
      clientId: `inspectd-${cfg.device.id}-sparkplug`,
      groupId: sp.groupId,
      edgeNodeId,
      ...(sp.primaryHostId !== undefined ? { primaryHostId: sp.primaryHostId } : {}),
      minIntervalMs: sp.minIntervalMs,
      commands: sp.commands,
      nextBdSeq: () => nextBdSeq(stateDir),
      source: { node: () => this.nodeMetrics(), devices: () => this.devices(), device: (id) => this.deviceMetrics(id) },
      onDeviceCommand: (camera, command) => void this.deps.commands()?.carryOut(command, Buffer.from(JSON.stringify({ camera }))),
      logger,
    });
    bus.on('frame.published', this, ({ camera, totalMs }) => {
      const l = this.readings(camera).latencies;
      l.push(totalMs);
      if (l.length > LATENCY_RING) l.shift();
    });
    bus.on('reject.decided', this, ({ payload }) => void (this.readings(payload.camera).lastRejectKey = payload.key));
    bus.on('verdict.decided', this, ({ payload }) => {
      if (payload.verdict === 'reject') this.readings(payload.camera).lastRejectKey = payload.key;
    });
    bus.on('camera.state', this, () => edge.poke());
    this.edge = edge;
    await edge.start();
    logger.info({ group: sp.groupId, node: edgeNodeId, primaryHost: sp.primaryHostId ?? null }, 'Sparkplug B edge node started');
  }

  async stop(): Promise<void> {
    this.deps.bus.removeListeners(this);
    await this.edge?.stop();
    this.edge = null;
  }

  private nodeMetrics(): MetricSet {
    const src = this.deps.status.sources;
    const d = src.model.detector;
    return {
      'Node Info/Version': text(packageVersion()),
      'Node Info/Engine': text(d?.engineKind ?? ''),
      'Node Info/Model SHA256': text(d?.modelSha256 ?? ''),
      'Node Info/Config Hash': text(src.configHash()),
      'Node Info/Uptime s': u64(Math.floor((Date.now() - this.deps.status.startedAtMs) / 1000)),
      'Outbox/Depth': u64(src.outboxDepth()),
    };
  }

  private devices(): Array<{ id: string; online: boolean }> {
    return (this.deps.status.sources.cameras()?.list() ?? []).map((c) => ({ id: c.id, online: c.state === 'ok' }));
  }

  private deviceMetrics(id: string): MetricSet {
    const src = this.deps.status.sources;
    const p = src.pipeline();
    const cam = src
      .cameras()
      ?.list()
      .find((c) => c.id === id);
    const c = p?.counters(id);
    const r = this.readings(id);
    const out: MetricSet = {
      'Camera/State': text(p?.isPaused(id) ? 'paused' : (cam?.state ?? 'starting')),
      'Camera/FPS': double(round1(r.fps.read(c?.inferred ?? 0))),
      'Latency/P50 ms': double(r.percentile(50)),
      'Latency/P99 ms': double(r.percentile(99)),
      'Rejects/Total': u64(c?.rejects ?? 0),
      'Rejects/Last Key': text(r.lastRejectKey),
      'Parts/Seen': u64(c?.parts.seen ?? 0),
      'Verdicts/Reject': u64(c?.parts.reject ?? 0),
      'Verdicts/Pass': u64(c?.parts.pass ?? 0),
      'Verdicts/Fail-safe': u64(c?.parts.failSafe ?? 0),
    };
    // Every model class is in the birth, so a first reject of a class is data, not a rebirth.
    for (const cls of src.model.detector?.metadata.names ?? []) out[`Rejects/By Class/${cls}`] = u64(0);
    for (const [cls, n] of Object.entries(c?.rejectsByClass ?? {})) out[`Rejects/By Class/${cls}`] = u64(n);
    return out;
  }
}
