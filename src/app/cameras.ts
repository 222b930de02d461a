/**
 * The one owner of camera state: each configured camera's pipeline lane, its source supervisor and what
 * the supervisor last reported. State changes go on the bus (state topic, metrics, status subscribe).
 */
import type { CameraConfig, Config } from '../config/types.js';
import type { ConfigDiff } from '../config/diff.js';
import type { CameraStateName, SourceState } from '../contracts/camera.js';
import type { Service } from '../contracts/service.js';
import type { Logger } from '../ops/log.js';
import type { Pipeline } from '../pipeline/pipeline.js';
import type { DaemonBus } from './events.js';
import type { DaemonParts } from './parts.js';

export interface CameraStatus {
  id: string;
  state: CameraStateName;
  reason?: string;
}

interface CameraRuntime {
  config: CameraConfig;
  supervisor: Service | null;
  state: CameraStateName;
  reason?: string;
}

export class CameraRegistry {
  private readonly cameras = new Map<string, CameraRuntime>();

  constructor(private readonly opts: { pipeline: Pipeline; createSupervisor: DaemonParts['createSupervisor']; bus: DaemonBus; logger: Logger }) {}

  get size(): number {
    return this.cameras.size;
  }

  list(): CameraStatus[] {
    return [...this.cameras.entries()].map(([id, c]) => ({ id, state: c.state, ...(c.reason ? { reason: c.reason } : {}) }));
  }

  config(id: string): CameraConfig | undefined {
    return this.cameras.get(id)?.config;
  }

  /** Adds the camera's lane and starts its source. */
  async add(camera: CameraConfig, signal: AbortSignal): Promise<void> {
    this.opts.pipeline.addCamera(camera);
    await this.startSource(camera, signal);
  }

  /** Stops every camera's source (lanes stay until the pipeline stops: drained frames still publish). */
  async stopAll(): Promise<void> {
    const results = await Promise.allSettled([...this.cameras.keys()].map((id) => this.stopSource(id)));
    const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed) throw failed.reason;
  }

  /** A reload's camera changes: hot rule updates, removals, source restarts, additions. */
  async reconfigure(next: Config, diff: ConfigDiff): Promise<void> {
    const byId = (id: string) => next.cameras.find((c) => c.id === id)!;
    const pipeline = this.opts.pipeline;
    for (const id of diff.cameras.rulesChanged) {
      pipeline.updateCamera(byId(id));
      const rt = this.cameras.get(id);
      if (rt) rt.config = byId(id);
    }
    for (const id of diff.cameras.removed) {
      await this.stopSource(id);
      pipeline.removeCamera(id);
    }
    for (const id of diff.cameras.restarted) {
      await this.stopSource(id);
      pipeline.updateCamera(byId(id));
      await this.startSource(byId(id), new AbortController().signal);
    }
    for (const id of diff.cameras.added) await this.add(byId(id), new AbortController().signal);
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
   * A camera whose finite input has ended is idle for good (until a config edit restarts it).
   */
  expectingFrames(): boolean {
    const p = this.opts.pipeline;
    if (p.busy) return true;
    for (const [id, cam] of this.cameras) {
      if (p.isPaused(id) || cam.state === 'fault' || cam.state === 'ended') continue;
      if (cam.config.source.type !== 'folder') return true;
    }
    return false;
  }

  private async startSource(camera: CameraConfig, signal: AbortSignal): Promise<void> {
    const rt: CameraRuntime = { config: camera, supervisor: null, state: 'starting' };
    this.cameras.set(camera.id, rt);
    const logger = this.opts.logger.child({ camera: camera.id });
    const { pipeline, bus } = this.opts;
    const supervisor = await this.opts.createSupervisor({
      camera,
      logger,
      onFrame: (frame) => pipeline.offer(frame),
      onState: (s: SourceState) => {
        if (this.cameras.get(camera.id) !== rt) return; // a replaced supervisor's late report
        if (rt.state === s.state && rt.reason === s.reason) return;
        rt.state = s.state;
        rt.reason = s.reason;
        logger[s.state === 'fault' ? 'warn' : 'info']({ state: s.state, reason: s.reason }, 'camera state');
        if (s.state === 'fault') pipeline.cameraFault(camera.id);
        bus.emit('camera.state', { camera: camera.id, ...s });
      },
      onRestart: (reason) => {
        logger.info({ reason }, 'camera source restarting');
        bus.emit('camera.restart', { camera: camera.id, reason });
      },
    });
    rt.supervisor = supervisor;
    await supervisor.start(signal);
  }

  private async stopSource(id: string): Promise<void> {
    const rt = this.cameras.get(id);
    if (!rt) return;
    this.cameras.delete(id);
    await rt.supervisor?.stop();
  }
}
