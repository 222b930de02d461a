/**
 * Prometheus metrics on a registry of our own (not prom-client's global one), so several daemons
 * or tests in one process never collide.
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

export type Stage = 'preprocess' | 'inference' | 'postprocess' | 'publish' | 'total';

export class Metrics {
  readonly registry: Registry;
  readonly framesCaptured: Counter<'camera'>;
  readonly framesDropped: Counter<'camera' | 'reason'>;
  readonly framesInferred: Counter<'camera'>;
  readonly framesPublished: Counter<'camera'>;
  readonly framesLate: Counter<'camera'>;
  readonly rejects: Counter<'camera' | 'class'>;
  readonly stageSeconds: Histogram<'camera' | 'stage'>;
  readonly outboxDepth: Gauge;
  readonly outboxBytes: Gauge;
  /** Outbox entries dropped by the size/age bounds (kind: reject|state, reason: age|size). */
  readonly outboxDropped: Counter<'kind' | 'reason'>;
  /** Outbox events held only in memory because the disk refused them (full, read-only). */
  readonly outboxUnwritten: Gauge;
  readonly outboxWriteFailures: Counter;
  readonly mqttConnected: Gauge;
  /** Connections the broker refused in its CONNACK, by reason in words (bad credentials, not authorised, ...). */
  readonly mqttRefused: Counter<'reason'>;
  /** MQTT messages not sent: detections while disconnected, snapshots when busy, ... */
  readonly mqttDropped: Counter<'kind'>;
  readonly snapshotsDropped: Counter<'reason'>;
  readonly engineInfo: Gauge<'engine' | 'model'>;
  /** Why each engine earlier in the fallback chain was not used (value 1 per refusal). */
  readonly engineRefusals: Gauge<'engine' | 'reason'>;
  readonly sourceRestarts: Counter<'camera'>;
  readonly cameraUp: Gauge<'camera'>;
  readonly configReloads: Counter<'result'>;
  /** MQTT commands by name and result (accepted | refused). */
  readonly commands: Counter<'command' | 'result'>;
  /** decision: part cameras. */
  readonly partsSeen: Counter<'camera'>;
  /** verdict: reject|pass|none (failSafe none); failsafe: true|false; published: true|false. */
  readonly verdicts: Counter<'camera' | 'verdict' | 'failsafe' | 'published'>;
  readonly partsFailSafe: Counter<'camera'>;
  readonly duplicatesSuppressed: Counter<'camera'>;
  /** kind: jump (a match far from the prediction) | reverse (against the belt direction). */
  readonly trackSwitches: Counter<'camera' | 'kind'>;
  readonly orphanDetections: Counter<'camera'>;
  readonly decisionSeconds: Histogram<'camera'>;

  constructor(opts: { defaultMetrics?: boolean; prefix?: string } = {}) {
    const p = opts.prefix ?? 'inspectd_';
    const registers = [(this.registry = new Registry())];
    if (opts.defaultMetrics) collectDefaultMetrics({ register: this.registry, prefix: p });
    this.framesCaptured = new Counter({ name: `${p}frames_captured_total`, help: 'Frames read from a source', labelNames: ['camera'], registers });
    this.framesDropped = new Counter({
      name: `${p}frames_dropped_total`,
      help: 'Frames dropped before publishing, by reason',
      labelNames: ['camera', 'reason'],
      registers,
    });
    this.framesInferred = new Counter({ name: `${p}frames_inferred_total`, help: 'Frames run through the model', labelNames: ['camera'], registers });
    this.framesPublished = new Counter({ name: `${p}frames_published_total`, help: 'Frames whose result was published', labelNames: ['camera'], registers });
    this.framesLate = new Counter({ name: `${p}frames_late_total`, help: 'Frames published after their deadline', labelNames: ['camera'], registers });
    this.rejects = new Counter({ name: `${p}rejects_total`, help: 'Reject decisions, by class', labelNames: ['camera', 'class'], registers });
    this.stageSeconds = new Histogram({
      name: `${p}stage_seconds`,
      help: 'Time per pipeline stage',
      labelNames: ['camera', 'stage'],
      // 1 ms .. 2 s, denser where inference and publishing live.
      buckets: [0.001, 0.002, 0.003, 0.005, 0.008, 0.012, 0.02, 0.03, 0.05, 0.075, 0.1, 0.15, 0.25, 0.5, 1, 2],
      registers,
    });
    this.outboxDepth = new Gauge({ name: `${p}outbox_depth`, help: 'Events waiting in the durable outbox', registers });
    this.outboxBytes = new Gauge({ name: `${p}outbox_bytes`, help: 'Bytes held by the durable outbox', registers });
    this.outboxDropped = new Counter({
      name: `${p}outbox_dropped_total`,
      help: 'Outbox events dropped by the size or age bound (rejects are also logged at error level)',
      labelNames: ['kind', 'reason'],
      registers,
    });
    this.outboxUnwritten = new Gauge({ name: `${p}outbox_unwritten`, help: 'Outbox events held only in memory: the disk refused them (retried)', registers });
    this.outboxWriteFailures = new Counter({ name: `${p}outbox_write_failures_total`, help: 'Outbox entry writes that failed (disk full, read-only, ...)', registers });
    this.mqttConnected = new Gauge({ name: `${p}mqtt_connected`, help: '1 while connected to the MQTT broker', registers });
    this.mqttRefused = new Counter({
      name: `${p}mqtt_refused_total`,
      help: 'MQTT connections refused by the broker (CONNACK), by reason',
      labelNames: ['reason'],
      registers,
    });
    this.mqttDropped = new Counter({ name: `${p}mqtt_dropped_total`, help: 'Live MQTT messages not sent (disconnected or invalid)', labelNames: ['kind'], registers });
    this.snapshotsDropped = new Counter({ name: `${p}snapshots_dropped_total`, help: 'Reject snapshots not written', labelNames: ['reason'], registers });
    this.engineInfo = new Gauge({ name: `${p}engine_info`, help: 'Engine serving the model (value 1)', labelNames: ['engine', 'model'], registers });
    this.engineRefusals = new Gauge({
      name: `${p}engine_refusal_info`,
      help: 'An engine earlier in the fallback chain that was not used, with why (value 1)',
      labelNames: ['engine', 'reason'],
      registers,
    });
    this.sourceRestarts = new Counter({ name: `${p}source_restarts_total`, help: 'Camera source restarts', labelNames: ['camera'], registers });
    this.cameraUp = new Gauge({ name: `${p}camera_up`, help: '1 while the camera delivers frames', labelNames: ['camera'], registers });
    this.configReloads = new Counter({ name: `${p}config_reloads_total`, help: 'Config reloads, by result', labelNames: ['result'], registers });
    this.commands = new Counter({ name: `${p}commands_total`, help: 'MQTT commands, by command and result (accepted, refused)', labelNames: ['command', 'result'], registers });
    this.partsSeen = new Counter({ name: `${p}parts_seen_total`, help: 'Parts tracked (past probation); each gets one verdict', labelNames: ['camera'], registers });
    this.verdicts = new Counter({
      name: `${p}verdicts_total`,
      help: 'Part verdicts, by outcome; failsafe=true: could not be judged (reason no-verdict); published=false: pass with publishPass off or failSafe none',
      labelNames: ['camera', 'verdict', 'failsafe', 'published'],
      registers,
    });
    this.partsFailSafe = new Counter({ name: `${p}parts_failsafe_total`, help: 'Parts that could not be judged (fail-safe verdict)', labelNames: ['camera'], registers });
    this.duplicatesSuppressed = new Counter({
      name: `${p}duplicates_suppressed_total`,
      help: 'Reject detections on a part already rejecting: rejects a per-frame decision would have repeated',
      labelNames: ['camera'],
      registers,
    });
    this.trackSwitches = new Counter({
      name: `${p}track_switches_suspected_total`,
      help: 'Suspected identity switches: a jump from the prediction, or motion against the belt',
      labelNames: ['camera', 'kind'],
      registers,
    });
    this.orphanDetections = new Counter({ name: `${p}orphan_detections_total`, help: 'Detections outside every tracked part (partClass set)', labelNames: ['camera'], registers });
    this.decisionSeconds = new Histogram({
      name: `${p}decision_latency_seconds`,
      help: "Capture of the deciding frame to the part's verdict",
      labelNames: ['camera'],
      buckets: [0.002, 0.005, 0.01, 0.02, 0.03, 0.05, 0.075, 0.1, 0.15, 0.25, 0.5, 1, 2],
      registers,
    });
  }

  /** Records one stage duration given in milliseconds. */
  observeStageMs(camera: string, stage: Stage, ms: number): void {
    this.stageSeconds.observe({ camera, stage }, ms / 1000);
  }

  /** Marks the serving engine; clears the previous one so exactly one series reads 1. */
  setEngine(engine: string, model: string, refusals?: readonly { kind: string; reason: string }[]): void {
    this.engineInfo.reset();
    this.engineInfo.set({ engine, model }, 1);
    if (refusals === undefined) return;
    this.engineRefusals.reset();
    for (const r of refusals) this.engineRefusals.set({ engine: r.kind, reason: r.reason.slice(0, 200) }, 1);
  }

  contentType(): string {
    return this.registry.contentType;
  }

  text(): Promise<string> {
    return this.registry.metrics();
  }
}
