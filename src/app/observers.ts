/**
 * Observers that turn bus events into side effects: Prometheus metrics, and reject snapshots on disk.
 * Each subscribes in start() and drops its listeners in stop().
 */
import path from 'node:path';
import type { SnapshotConfig } from '../config/types.js';
import type { PipelineObserver } from '../pipeline/types.js';
import { ErrorCodes, errorMessage, isInspectdError } from '../errors.js';
import type { Logger } from '../ops/log.js';
import type { Metrics } from '../ops/metrics.js';
import type { SnapshotMeta, SnapshotReserve, SnapshotWriter } from '../sink/snapshots.js';
import type { DaemonBus } from './events.js';
import type { DaemonParts } from './parts.js';

/** The pipeline's per-frame hooks, as bus events. */
export function pipelineObserver(bus: DaemonBus): PipelineObserver {
  return {
    captured: (camera) => bus.emit('frame.captured', { camera }),
    dropped: (camera, reason) => bus.emit('frame.dropped', { camera, reason }),
    inferred: (camera, timings) => bus.emit('frame.inferred', { camera, timings }),
    published: (camera, totalMs) => bus.emit('frame.published', { camera, totalMs }),
    late: (camera) => bus.emit('frame.late', { camera }),
    parts: (camera, stats) => bus.emit('parts.frame', { camera, stats }),
    // Published verdicts go on the bus from the pipeline sink, with their evidence and snapshot name.
    verdict: (_camera, payload, published) => {
      if (!published) bus.emit('verdict.decided', { payload, published, causes: [] });
    },
  };
}

export class MetricsObserver {
  constructor(
    private readonly bus: DaemonBus,
    private readonly metrics: Metrics,
  ) {}

  start(): void {
    const { bus, metrics: m } = this;
    bus.on('frame.captured', this, ({ camera }) => m.framesCaptured.inc({ camera }));
    bus.on('frame.dropped', this, ({ camera, reason }) => m.framesDropped.inc({ camera, reason }));
    bus.on('frame.inferred', this, ({ camera, timings: t }) => {
      m.framesInferred.inc({ camera });
      m.observeStageMs(camera, 'preprocess', t.preprocessMs);
      m.observeStageMs(camera, 'inference', t.inferenceMs);
      m.observeStageMs(camera, 'postprocess', t.postprocessMs);
    });
    bus.on('frame.published', this, ({ camera, totalMs }) => {
      m.framesPublished.inc({ camera });
      m.observeStageMs(camera, 'total', totalMs);
    });
    bus.on('frame.late', this, ({ camera }) => m.framesLate.inc({ camera }));
    bus.on('reject.decided', this, ({ payload }) => {
      for (const cls of payload.classes) m.rejects.inc({ camera: payload.camera, class: cls });
    });
    bus.on('parts.frame', this, ({ camera, stats: s }) => {
      if (s.partsSeen) m.partsSeen.inc({ camera }, s.partsSeen);
      if (s.suppressed) m.duplicatesSuppressed.inc({ camera }, s.suppressed);
      if (s.jumped) m.trackSwitches.inc({ camera, kind: 'jump' }, s.jumped);
      if (s.reversed) m.trackSwitches.inc({ camera, kind: 'reverse' }, s.reversed);
      if (s.orphans) m.orphanDetections.inc({ camera }, s.orphans);
    });
    bus.on('verdict.decided', this, ({ payload: v, published }) => {
      const verdict = published ? v.verdict : v.failSafe ? 'none' : v.verdict;
      m.verdicts.inc({ camera: v.camera, verdict, failsafe: String(v.failSafe), published: String(published) });
      if (v.failSafe) m.partsFailSafe.inc({ camera: v.camera });
      m.decisionSeconds.observe({ camera: v.camera }, v.latencyMs / 1000);
    });
    bus.on('camera.state', this, ({ camera, state }) => m.cameraUp.set({ camera }, state === 'ok' ? 1 : 0));
    bus.on('camera.restart', this, ({ camera }) => m.sourceRestarts.inc({ camera }));
    bus.on('model.loaded', this, ({ engine, modelPath, refusals }) => m.setEngine(engine, path.basename(modelPath), refusals));
    bus.on('engine.changed', this, ({ kind, modelPath }) => m.setEngine(kind, path.basename(modelPath)));
    bus.on('config.applied', this, () => m.configReloads.inc({ result: 'applied' }));
    bus.on('config.rejected', this, () => m.configReloads.inc({ result: 'invalid' }));
  }

  stop(): void {
    this.bus.removeListeners(this);
  }
}

/**
 * Annotated JPEGs of rejected frames. Writes in flight are drained on stop and when a reload replaces
 * the writer, so no snapshot is cut off half-written. A snapshots directory locked by another inspectd
 * refuses the start (two daemons would delete each other's files); one that cannot be written only turns
 * snapshots off (logged): rejects do not depend on them.
 */
export class SnapshotService {
  private writer: SnapshotWriter | null = null;
  /** Why the directory could not be used at (re)start: snapshots are off until a reload. */
  private startError: string | null = null;

  constructor(private readonly opts: { bus: DaemonBus; create: DaemonParts['createSnapshots']; metrics: Metrics; logger: Logger; reserve?: SnapshotReserve }) {}

  async start(config: SnapshotConfig): Promise<void> {
    this.writer = await this.startWriter(config, true);
    this.opts.bus.on('reject.decided', this, ({ payload, frame, causes }) => {
      this.writer
        ?.saveReject(frame, causes, { cameraId: payload.camera, seq: payload.seq, key: payload.key })
        .then((file) => {
          if (file) this.opts.bus.emit('snapshot.saved', { key: payload.key, camera: payload.camera, file: path.basename(file) });
        })
        .catch((err: unknown) => this.opts.logger.warn({ key: payload.key, err: errorMessage(err) }, 'reject snapshot not saved'));
    });
    // A verdict's evidence: written under the name the verdict already carries (snapshotFile()).
    this.opts.bus.on('verdict.decided', this, ({ payload, frame, causes }) => {
      const file = payload.evidence.snapshot;
      if (!frame || file === undefined) return;
      this.writer
        ?.saveReject(frame, causes, { cameraId: payload.camera, seq: frame.seq, key: payload.key }, file)
        .then((saved) => {
          if (saved) this.opts.bus.emit('snapshot.saved', { key: payload.key, camera: payload.camera, file: path.basename(saved) });
        })
        .catch((err: unknown) => this.opts.logger.warn({ key: payload.key, err: errorMessage(err) }, 'verdict evidence snapshot not saved'));
    });
  }

  /** Why snapshots are not being written (the directory refuses them), naming the directory; null while they are. */
  get error(): string | null {
    return this.writer?.error ?? this.startError;
  }

  /** Where the evidence of a verdict will be written (undefined while snapshots are off). */
  snapshotFile(meta: SnapshotMeta): string | undefined {
    return this.writer?.plannedFile(meta);
  }

  /** The old writer is drained (and its directory released) first: the new one may lock the same directory. */
  async reconfigure(config: SnapshotConfig): Promise<void> {
    const old = this.writer;
    this.writer = null;
    await old?.stop();
    this.writer = await this.startWriter(config, false);
  }

  /** atStart: a locked directory refuses the start; on a reload it turns snapshots off like any other failure. */
  private async startWriter(config: SnapshotConfig, atStart: boolean): Promise<SnapshotWriter | null> {
    const writer = await this.opts.create(config, this.opts.logger, this.opts.metrics, this.opts.reserve);
    this.startError = null;
    try {
      await writer?.start();
      return writer;
    } catch (err) {
      await writer?.stop().catch(() => undefined);
      if (atStart && isInspectdError(err, ErrorCodes.LOCKED)) throw err;
      this.startError = `snapshots directory ${config.dir} cannot be used (${errorMessage(err)}); running without snapshots until a reload (fix snapshots.dir)`;
      this.opts.logger.error({ dir: config.dir, err: errorMessage(err) }, 'snapshots directory cannot be used; running without snapshots (fix snapshots.dir)');
      return null;
    }
  }

  async stop(): Promise<void> {
    this.opts.bus.removeListeners(this);
    const w = this.writer;
    this.writer = null;
    await w?.stop();
  }
}
