/**
 * The parts the daemon is built from, as factories: the real modules by default, fakes in tests (passed
 * through the Daemon's constructor). Optional features are imported only when enabled.
 */
import type { CameraConfig, HttpConfig, ModelConfig, MqttConfig, OutboxConfig, SnapshotConfig } from '../config/types.js';
import type { SourceState } from '../contracts/camera.js';
import type { FrameDetector } from '../contracts/detector.js';
import type { Frame } from '../contracts/frame.js';
import { NOOP_NOTIFIER, type Notifier } from '../contracts/ops.js';
import type { Service } from '../contracts/service.js';
import type { EventSink } from '../contracts/sink.js';
import type { Logger } from '../ops/log.js';
import { Metrics } from '../ops/metrics.js';
import { SdNotifier } from '../ops/sd-notify.js';
import type { HttpServer, HttpServerOptions } from '../ops/http.js';
import type { EmbeddedBroker } from '../sink/embedded-broker.js';
import { MqttSink } from '../sink/mqtt-sink.js';
import { Outbox } from '../sink/outbox.js';
import type { SnapshotReserve, SnapshotWriter } from '../sink/snapshots.js';
import { createSource } from '../source/factory.js';
import { SourceSupervisor } from '../source/supervisor.js';
import { Detector } from '../inference/detector.js';
import { loadBootId } from './boot-id.js';

export interface SinkOptions {
  mqtt: MqttConfig;
  outbox: Outbox;
  deviceId: string;
  logger: Logger;
  metrics: Metrics;
  version: string;
  rejectTtlMs: number;
  /** The broker started or stopped refusing the events (EventSink.deliveryError changed). */
  onDeliveryError?: (error: string | null) => void;
}

export interface SupervisorOptions {
  camera: CameraConfig;
  logger: Logger;
  onFrame: (frame: Frame) => void;
  onState: (state: SourceState) => void;
  onRestart: (reason: string) => void;
}

export interface DaemonParts {
  createMetrics(): Promise<Metrics>;
  createOutbox(config: OutboxConfig, logger: Logger, metrics: Metrics): Promise<Outbox>;
  createBroker(host: string, port: number, logger: Logger): Promise<EmbeddedBroker>;
  createSink(opts: SinkOptions): Promise<EventSink>;
  /** onEngineChange: a background engine swap (e.g. to a freshly built TensorRT engine) after the load. */
  loadDetector(model: ModelConfig, logger: Logger, onEngineChange?: (kind: string, reason: string) => void): Promise<FrameDetector>;
  createSupervisor(opts: SupervisorOptions): Promise<Service>;
  /** reserve: disk space the writer leaves to the outbox when they share a filesystem. */
  createSnapshots(config: SnapshotConfig, logger: Logger, metrics: Metrics, reserve?: SnapshotReserve): Promise<SnapshotWriter | null>;
  createHttp(opts: HttpServerOptions & { config: HttpConfig }): Promise<HttpServer | null>;
  /** Half of WATCHDOG_USEC in ms, or null outside a systemd watchdog. */
  watchdogIntervalMs(): Promise<number | null>;
  createNotifier(): Promise<Notifier>;
  /** The next boot number, persisted in `dir` (boot-id.ts). */
  loadBootId(dir: string): Promise<number>;
}

export const defaultParts: DaemonParts = {
  async createMetrics() {
    return new Metrics({ defaultMetrics: true });
  },
  async createOutbox(config, logger, metrics) {
    return new Outbox({ config, logger, metrics });
  },
  async createBroker(host, port, logger) {
    const { EmbeddedBroker } = await import('../sink/embedded-broker.js');
    return new EmbeddedBroker({ host, port, logger });
  },
  async createSink(opts) {
    return new MqttSink(opts);
  },
  async loadDetector(model, logger, onEngineChange) {
    return Detector.load({
      modelPath: model.path,
      labelsPath: model.labels,
      engine: model.engine,
      threads: model.threads,
      interOpThreads: model.interOpThreads,
      spin: model.spin,
      engineCacheDir: model.engineCacheDir,
      logger,
      onEngineChange,
    });
  },
  async createSupervisor({ camera, logger, onFrame, onState, onRestart }) {
    return new SourceSupervisor({ camera, logger, onFrame, onState, onRestart, createSource: () => createSource(camera, { logger }) });
  },
  async createSnapshots(config, logger, metrics, reserve) {
    if (!config.enabled) return null;
    const { SnapshotWriter } = await import('../sink/snapshots.js');
    return new SnapshotWriter({ config, logger, metrics, reserve });
  },
  async createHttp(opts) {
    if (!opts.config.enabled) return null;
    const { HttpServer } = await import('../ops/http.js');
    return new HttpServer(opts);
  },
  async watchdogIntervalMs() {
    return SdNotifier.watchdogIntervalMs(process.env);
  },
  async createNotifier() {
    const n = new SdNotifier();
    return n.enabled ? n : NOOP_NOTIFIER;
  },
  loadBootId: (dir) => loadBootId(dir),
};
