/**
 * Where events leave the box: the MQTT sink on the durable outbox, and the embedded broker when no
 * mqtt.url is configured. Publishes detections and camera states from the bus, puts commands on it, and
 * replaces the sink when mqtt.* or the device id changes.
 */
import type { Config } from '../config/types.js';
import type { SourceState } from '../contracts/camera.js';
import type { RejectPayload, VerdictPayload } from '../contracts/messages.js';
import type { EventSink } from '../contracts/sink.js';
import { ErrorCodes, InspectdError, errorMessage } from '../errors.js';
import type { Logger } from '../ops/log.js';
import type { Metrics } from '../ops/metrics.js';
import type { EmbeddedBroker } from '../sink/embedded-broker.js';
import type { Outbox } from '../sink/outbox.js';
import type { DaemonBus } from './events.js';
import type { DaemonParts } from './parts.js';
import type { ServiceStack } from './services.js';

export interface DeliveryOptions {
  parts: Pick<DaemonParts, 'createBroker' | 'createSink'>;
  outbox: Outbox;
  metrics: Metrics;
  bus: DaemonBus;
  logger: Logger;
  version: string;
  /** The embedded broker joins the daemon's stack when it starts, so it stops after the sink. */
  stack: ServiceStack;
  /** Camera states to re-send on a new connection. */
  cameraStates: () => ({ id: string } & SourceState)[];
}

export class Delivery {
  private sink: EventSink | null = null;
  private broker: EmbeddedBroker | null = null;
  /** The sink a reload prepared, until it applies. */
  private pending: EventSink | null = null;
  private publishDetections = true;

  constructor(private readonly opts: DeliveryOptions) {}

  get current(): EventSink | null {
    return this.sink;
  }

  get connected(): boolean {
    return this.sink?.connected ?? false;
  }

  /** The embedded broker's URL, when it runs (the Sparkplug edge node connects there too). */
  get embeddedUrl(): string | undefined {
    return this.broker?.url;
  }

  /** What the logs say about the broker: never the configured URL (it may hold credentials). */
  get brokerDescription(): string | undefined {
    return this.sink && !this.broker ? '(configured)' : this.broker?.url;
  }

  async start(cfg: Readonly<Config>, signal: AbortSignal): Promise<void> {
    const sink = await this.createSinkFor(cfg);
    await sink.start(signal);
    this.adopt(sink, cfg);
    const bus = this.opts.bus;
    bus.on('detections', this, (payload) => {
      if (this.publishDetections) this.sink?.publishDetections(payload);
    });
    bus.on('camera.state', this, ({ camera, state, reason }) => void this.sendState(camera, reason ? { state, reason } : { state }));
  }

  async stop(): Promise<void> {
    this.opts.bus.removeListeners(this);
    await this.sink?.stop();
  }

  /** Resolves once the reject is durable (or held in memory while the disk refuses it: EventSink.publishReject). */
  async publishReject(payload: RejectPayload): Promise<void> {
    const sink = this.sink;
    if (!sink) throw new InspectdError(ErrorCodes.MQTT, 'no MQTT sink: reject cannot be stored');
    await sink.publishReject(payload);
  }

  /** Resolves once the verdict is durable. */
  async publishVerdict(payload: VerdictPayload): Promise<void> {
    const sink = this.sink;
    if (!sink) throw new InspectdError(ErrorCodes.MQTT, 'no MQTT sink: verdict cannot be stored');
    await sink.publishVerdict(payload);
  }

  /**
   * mqtt.* or device id changed, first half: the new sink is made and checked (URL, topics, TLS files) while
   * the old one keeps running, so an edit that cannot work is refused and changes nothing.
   */
  async prepare(cfg: Readonly<Config>): Promise<void> {
    const next = await this.createSinkFor(cfg);
    next.preflight?.();
    this.pending = next;
  }

  /**
   * SIGHUP with the config unchanged: secrets from files or variables are read again, and the sink is replaced
   * only when they differ (a rotated credential), so a plain reload keeps the connection.
   */
  async refreshSecrets(cfg: Readonly<Config>): Promise<void> {
    const m = cfg.mqtt;
    const fromOutside = [m.passwordFile, m.passwordEnv, m.tls?.passphraseFile, m.tls?.passphraseEnv].some((v) => v !== undefined);
    const current = this.sink;
    if (!fromOutside || !current?.sameSecrets) return;
    const next = await this.createSinkFor(cfg);
    next.preflight?.();
    if (current.sameSecrets(next)) return;
    this.opts.logger.info('MQTT secret changed (passwordFile/passwordEnv/passphrase*): reconnecting with it');
    this.pending = next;
    await this.reconfigure(cfg);
  }

  discard(): void {
    this.pending = null;
  }

  /**
   * Second half: a new sink on the same outbox. It takes rejects at once (they only need the outbox), so
   * none is refused while the old connection flushes what it can and says offline.
   */
  async reconfigure(cfg: Readonly<Config>): Promise<void> {
    const old = this.sink;
    const next = this.pending ?? (await this.createSinkFor(cfg));
    this.pending = null;
    this.sink = next;
    if (cfg.mqtt.url && this.broker) this.opts.logger.info('mqtt.url is now set: the embedded broker keeps running until the next start');
    try {
      await old?.stop();
    } catch (err) {
      this.opts.logger.warn({ err: errorMessage(err) }, 'previous MQTT connection did not close cleanly');
    }
    await next.start(new AbortController().signal);
    this.adopt(next, cfg);
    for (const cam of this.opts.cameraStates()) void this.sendState(cam.id, cam.reason ? { state: cam.state, reason: cam.reason } : { state: cam.state });
  }

  private adopt(sink: EventSink, cfg: Readonly<Config>): void {
    this.sink = sink;
    this.publishDetections = cfg.mqtt.publishDetections;
    sink.onCommand((name, payload) => this.opts.bus.emit('command', { name, payload }));
  }

  private async sendState(cameraId: string, state: SourceState): Promise<void> {
    try {
      await this.sink?.publishState(cameraId, state);
    } catch (err) {
      this.opts.logger.warn({ camera: cameraId, err: errorMessage(err) }, 'camera state not published');
    }
  }

  /** Starts the embedded broker first when mqtt.url is unset; the sink is created, not started. */
  private async createSinkFor(cfg: Readonly<Config>): Promise<EventSink> {
    let mqtt = cfg.mqtt;
    if (!mqtt.url) {
      if (!this.broker) {
        const broker = await this.opts.parts.createBroker(mqtt.embedded.host, mqtt.embedded.port, this.opts.logger);
        await broker.start();
        this.broker = broker;
        this.opts.stack.push('embedded-broker', () => broker.stop());
      }
      mqtt = { ...mqtt, url: this.broker.url, protocolVersion: 4 }; // aedes speaks MQTT 3.1.1 only
    }
    return this.opts.parts.createSink({
      mqtt,
      outbox: this.opts.outbox,
      deviceId: cfg.device.id,
      logger: this.opts.logger,
      metrics: this.opts.metrics,
      version: this.opts.version,
      rejectTtlMs: cfg.outbox.rejectTtlMs,
      onDeliveryError: () => this.opts.bus.emit('status.changed', {}),
    });
  }
}
