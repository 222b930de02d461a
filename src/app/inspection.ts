/**
 * Inspection: the pipeline (frames -> detections -> rules -> results) fed by the cameras, on the model in
 * service. Results go on the bus; a reject is durable (delivery) before the pipeline counts it done.
 * On reload it swaps the model between frames (the new one prepared while the old one serves) and
 * applies camera changes.
 */
import type { ConfigDiff } from '../config/diff.js';
import type { LoadedConfig } from '../config/load.js';
import { assertRulesMatchModel } from '../config/model-classes.js';
import type { Config } from '../config/types.js';
import type { FrameDetector } from '../contracts/detector.js';
import type { RejectPayload, VerdictPayload } from '../contracts/messages.js';
import type { SnapshotMeta } from '../sink/snapshots.js';
import { errorMessage } from '../errors.js';
import type { Logger } from '../ops/log.js';
import { Pipeline } from '../pipeline/pipeline.js';
import { SideQueue } from '../pipeline/side-queue.js';
import { CameraRegistry } from './cameras.js';
import type { DaemonBus } from './events.js';
import { modelNeedsReload, postprocessOf, type ModelSupply } from './model-supply.js';
import { pipelineObserver } from './observers.js';
import type { DaemonParts } from './parts.js';
import type { Reconfigurable } from './reloader.js';
import type { ServiceStack } from './services.js';

export interface InspectionOptions {
  bus: DaemonBus;
  logger: Logger;
  model: ModelSupply;
  createSupervisor: DaemonParts['createSupervisor'];
  publishReject: (payload: RejectPayload) => Promise<void>;
  publishVerdict: (payload: VerdictPayload) => Promise<void>;
  /** This start's boot number (persisted in the state folder): part ids never repeat across restarts. */
  loadBootId: DaemonParts['loadBootId'];
  /** The file a verdict's evidence snapshot will be written to; undefined when snapshots are off. */
  snapshotFile: (meta: SnapshotMeta) => string | undefined;
  /** Longest wait for in-flight frames on stop. */
  drainMs: number;
  /** HTTP API requests that may wait for the engine (http.api.maxQueue), read at each request. */
  apiMaxQueue: () => number;
}

export class Inspection implements Reconfigurable {
  readonly name = 'inspection';
  private pipelineRef: Pipeline | null = null;
  private registry: CameraRegistry | null = null;
  private pending: FrameDetector | null = null;
  private sideQueue: SideQueue | null = null;

  constructor(private readonly opts: InspectionOptions) {}

  get pipeline(): Pipeline | null {
    return this.pipelineRef;
  }

  get cameras(): CameraRegistry | null {
    return this.registry;
  }

  /** The HTTP API's queue into the pipeline (src/pipeline/side-queue.ts); null before start. */
  get side(): SideQueue | null {
    return this.sideQueue;
  }

  /** Starts the pipeline and every camera; both join `stack` (cameras stop first, then the drain). */
  async start(cfg: Readonly<Config>, detector: FrameDetector, stack: ServiceStack, signal: AbortSignal): Promise<void> {
    const { bus, logger } = this.opts;
    const bootId = await this.opts.loadBootId(cfg.outbox.dir);
    logger.info({ bootId }, 'boot counter: reject keys are <device>:<camera>:seq:<bootId>-<n>, part ids <bootId>-<n>');
    const side = (this.sideQueue = new SideQueue({ maxQueue: this.opts.apiMaxQueue }));
    const pipeline = (this.pipelineRef = new Pipeline({
      side,
      deviceId: cfg.device.id,
      bootId,
      detector,
      post: postprocessOf(cfg.model),
      logger,
      observer: pipelineObserver(bus),
      sink: {
        detections: (payload, frame) => {
          bus.emit('detections', payload);
          if (bus.listenerCount('frame.judged') > 0) bus.emit('frame.judged', { payload, frame });
        },
        reject: async (payload, frame, causes) => {
          bus.emit('reject.decided', { payload, frame, causes });
          await this.opts.publishReject(payload);
        },
        verdict: async (payload, { frame, causes }) => {
          const snapshot = frame ? this.opts.snapshotFile({ cameraId: payload.camera, seq: frame.seq, key: payload.key }) : undefined;
          const full = snapshot ? { ...payload, evidence: { ...payload.evidence, snapshot } } : payload;
          bus.emit('verdict.decided', { payload: full, published: true, ...(frame ? { frame } : {}), causes });
          await this.opts.publishVerdict(full);
        },
      },
    }));
    stack.push('pipeline', async () => {
      const drained = await pipeline.drain(this.opts.drainMs);
      if (!drained) logger.warn('in-flight frames did not finish in time; they are dropped');
      pipeline.stop();
    });
    const cameras = (this.registry = new CameraRegistry({ pipeline, createSupervisor: this.opts.createSupervisor, bus, logger }));
    stack.push('cameras', () => cameras.stopAll());
    for (const camera of cfg.cameras) {
      await cameras.add(camera, signal);
      if (signal.aborted) return;
    }
  }

  /** Loads a changed model (the current one keeps serving), and checks the rules' classes against the model that will serve. */
  async prepare(next: LoadedConfig, prev: Config, diff: ConfigDiff): Promise<void> {
    const model = next.config.model;
    if (diff.model && modelNeedsReload(prev.model, model)) {
      this.opts.logger.info({ model: model.path }, 'loading the new model; the current one keeps serving');
      this.pending = await this.opts.model.loadWarm(model);
    }
    const serving = this.pending ?? this.opts.model.detector;
    try {
      if (serving) assertRulesMatchModel(next, serving.metadata.names);
    } catch (err) {
      await this.discard();
      throw err;
    }
  }

  async discard(): Promise<void> {
    const d = this.pending;
    this.pending = null;
    await d?.dispose().catch(() => undefined);
  }

  async apply(next: Config, _prev: Config, diff: ConfigDiff): Promise<void> {
    const pipeline = this.pipelineRef;
    if (!pipeline) return;
    const fresh = this.pending;
    this.pending = null;
    if (fresh) {
      const old = await pipeline.setDetector(fresh, postprocessOf(next.model));
      this.opts.model.adopt(fresh);
      await old.dispose().catch((err) => this.opts.logger.warn({ err: errorMessage(err) }, 'old model did not dispose cleanly'));
    } else if (diff.model) pipeline.setPostprocess(postprocessOf(next.model));
    await this.registry?.reconfigure(next, diff);
  }

  /** Whether a frame is expected now (the systemd watchdog's rule): see CameraRegistry.expectingFrames. */
  expectingFrames(): boolean {
    return this.registry?.expectingFrames() ?? false;
  }
}
