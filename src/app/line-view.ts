/**
 * The line view's data (LineViewProvider, served by src/ops/http.ts at /view): the daemon panel and the
 * cameras from the status readings, the recent rejects from the bus, and the live images (live-frames.ts).
 * With nobody watching it keeps only the strip (one entry per reject): it takes no frames, times nothing
 * and encodes nothing; the first viewer subscribes to frames, the last one's leaving unsubscribes.
 */
import path from 'node:path';
import type { LineViewProvider, ViewCamera, ViewEvent, ViewItem, ViewState } from '../contracts/line-view.js';
import { errorMessage } from '../errors.js';
import type { Logger } from '../ops/log.js';
import { packageVersion } from '../util/package.js';
import { redactUrl } from '../util/redact.js';
import type { DaemonBus } from './events.js';
import { LiveFrames } from './live-frames.js';
import type { ServiceStack } from './services.js';
import { FpsMeter, type StatusReporter } from './status.js';

export interface LineViewOptions {
  bus: DaemonBus;
  status: StatusReporter;
  logger: Logger;
  /** Live images per camera per second (default 4). */
  fps?: number;
  /** Entries kept in the strip (default 24). */
  maxItems?: number;
  /** State push period while watched, ms (default 1000). */
  stateIntervalMs?: number;
}

const LATENCY_RING = 256;

export class LineView implements LineViewProvider {
  private readonly items: ViewItem[] = [];
  private readonly viewers = new Set<(event: ViewEvent) => void>();
  private readonly frames: LiveFrames;
  /** Owner of the listeners that exist only while watched. */
  private readonly live = {};
  private readonly latencies = new Map<string, number[]>();
  private readonly meters = new Map<string, FpsMeter>();
  private timer: NodeJS.Timeout | undefined;
  private readonly logger: Logger;

  constructor(private readonly opts: LineViewOptions) {
    this.logger = opts.logger.child({ component: 'line-view' });
    this.frames = new LiveFrames({
      fps: opts.fps ?? 4,
      maxWidth: 960,
      camera: (id) => {
        const c = opts.status.sources.config().cameras.find((cam) => cam.id === id);
        return c ? { zones: c.rules.zones, trigger: c.trigger } : undefined;
      },
      ready: (camera, seq) => this.send({ type: 'frame', camera, seq }),
      logger: this.logger,
    });
  }

  /** Live JPEGs encoded so far. */
  get encoded(): number {
    return this.frames.encoded;
  }

  get viewerCount(): number {
    return this.viewers.size;
  }

  start(): void {
    const bus = this.opts.bus;
    bus.on('reject.decided', this, ({ payload }) => {
      this.frames.markRejected(payload.camera, payload.seq, payload.classes);
      const confidences = payload.detections.map((d) => d.confidence);
      this.add({
        kind: 'reject',
        key: payload.key,
        camera: payload.camera,
        seq: payload.seq,
        time: payload.captureTime,
        decision: 'reject',
        classes: payload.classes,
        confidence: confidences.length ? Math.max(...confidences) : null,
        reason: payload.reason,
        ...(payload.triggerId !== undefined ? { partId: payload.triggerId } : {}),
      });
    });
    // Part verdicts (decision: part): every published one, pass verdicts too, with the ejector timing.
    bus.on('verdict.decided', this, ({ payload, published }) => {
      if (!published) return;
      if (payload.verdict === 'reject') this.frames.markRejected(payload.camera, payload.evidence.seq, payload.classes);
      const confidences = payload.detections.map((d) => d.confidence);
      this.add({
        kind: 'verdict',
        key: payload.key,
        camera: payload.camera,
        seq: payload.evidence.seq,
        time: payload.decidedAt,
        decision: payload.verdict,
        classes: payload.classes,
        confidence: confidences.length ? Math.max(...confidences) : null,
        reason: payload.reason,
        partId: payload.partId,
        ...(payload.ejectAt !== undefined ? { ejectAt: payload.ejectAt } : {}),
        ...(payload.ejectInMs !== undefined ? { ejectDelayMs: payload.ejectInMs } : {}),
      });
    });
    bus.on('snapshot.saved', this, ({ key, file }) => {
      const item = this.items.find((i) => i.key === key);
      if (!item) return;
      item.snapshot = file;
      this.send({ type: 'item', item });
    });
    for (const event of ['camera.state', 'config.applied', 'config.rejected', 'engine.changed', 'model.loaded', 'status.changed'] as const) {
      bus.on(event, this, () => this.pushState());
    }
  }

  stop(): void {
    this.opts.bus.removeListeners(this);
    this.unwatched();
    this.viewers.clear();
  }

  state(): ViewState {
    const src = this.opts.status.sources;
    const cfg = src.config();
    const d = src.model.detector;
    const p = src.pipeline();
    const cameras: ViewCamera[] = (src.cameras()?.list() ?? []).map((c) => {
      const counters = p?.counters(c.id);
      let meter = this.meters.get(c.id);
      if (!meter) {
        this.meters.set(c.id, (meter = new FpsMeter(2000)));
        meter.reset(counters?.inferred ?? 0);
      }
      const lat = [...(this.latencies.get(c.id) ?? [])].sort((a, b) => a - b);
      return {
        id: c.id,
        state: c.state,
        ...(c.reason ? { reason: c.reason } : {}),
        paused: p?.isPaused(c.id) ?? false,
        fps: Math.round(meter.read(counters?.inferred ?? 0) * 10) / 10,
        p50Ms: percentile(lat, 50),
        p99Ms: percentile(lat, 99),
        rejects: counters?.rejects ?? 0,
        rejectsByClass: { ...(counters?.rejectsByClass ?? {}) },
      };
    });
    return {
      device: cfg.device.id,
      version: packageVersion(),
      state: src.ready() ? 'online' : 'starting',
      uptimeSec: Math.round((Date.now() - this.opts.status.startedAtMs) / 1000),
      engine: d?.engineKind ?? null,
      refusals: d?.refusals ?? [],
      model: { name: path.basename(cfg.model.path), sha256: d?.modelSha256 ?? null, classes: d?.metadata.names ?? [], error: src.model.error?.message ?? null },
      configHash: src.configHash(),
      configSource: src.configSource(),
      lastConfigError: src.lastConfigError(),
      broker: { connected: src.sink()?.connected ?? false, description: cfg.mqtt.url ? redactUrl(cfg.mqtt.url) : 'embedded broker' },
      outboxDepth: src.outboxDepth(),
      cameras,
    };
  }

  recent(): readonly ViewItem[] {
    return this.items;
  }

  watch(listener: (event: ViewEvent) => void): () => void {
    this.viewers.add(listener);
    if (this.viewers.size === 1) this.watched();
    return () => {
      if (this.viewers.delete(listener) && this.viewers.size === 0) this.unwatched();
    };
  }

  latestJpeg(camera: string): { seq: number; jpeg: Buffer } | null {
    return this.frames.latest(camera);
  }

  snapshotDir(): string | null {
    const s = this.opts.status.sources.config().snapshots;
    return s.enabled ? s.dir : null;
  }

  private watched(): void {
    const bus = this.opts.bus;
    bus.on('frame.judged', this.live, ({ payload, frame }) => this.frames.offer(payload, frame));
    bus.on('frame.published', this.live, ({ camera, totalMs }) => {
      let ring = this.latencies.get(camera);
      if (!ring) this.latencies.set(camera, (ring = []));
      ring.push(totalMs);
      if (ring.length > LATENCY_RING) ring.shift();
    });
    this.timer = setInterval(() => this.pushState(), this.opts.stateIntervalMs ?? 1000);
    this.timer.unref();
    this.logger.info('line view watched: live frames on');
  }

  private unwatched(): void {
    this.opts.bus.removeListeners(this.live);
    clearInterval(this.timer);
    this.timer = undefined;
    this.frames.clear();
    this.latencies.clear();
    if (this.viewers.size === 0) this.logger.info('line view not watched: live frames off');
  }

  private add(item: ViewItem): void {
    this.items.unshift(item);
    if (this.items.length > (this.opts.maxItems ?? 24)) this.items.pop();
    this.send({ type: 'item', item });
  }

  private pushState(): void {
    if (this.viewers.size === 0) return;
    let state: ViewState;
    try {
      state = this.state();
    } catch (err) {
      this.logger.warn({ err: errorMessage(err) }, 'line view state not read');
      return;
    }
    this.send({ type: 'state', state });
  }

  private send(event: ViewEvent): void {
    for (const v of this.viewers) {
      try {
        v(event);
      } catch (err) {
        this.logger.debug({ err: errorMessage(err) }, 'line view viewer failed');
      }
    }
  }
}

function percentile(sorted: readonly number[], p: number): number | null {
  if (sorted.length === 0) return null;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return Math.round(sorted[i]! * 10) / 10;
}

/** Creates and starts the line view; the stack stops it after http (which starts later and serves it). */
export function startLineView(opts: LineViewOptions & { stack: ServiceStack }): LineView {
  const view = new LineView(opts);
  view.start();
  opts.stack.push('line-view', () => view.stop());
  return view;
}
