/**
 * MQTT publisher for the contract in README.md "MQTT contract".
 *
 * - Live stream (detections): QoS mqtt.detectionsQos, dropped and counted while disconnected.
 * - Events (reject, state): written to the durable Outbox first, then sent IN ORDER one at a time
 *   (QoS 1) and removed on PUBACK; what remains is replayed after a reconnect or a daemon restart.
 * - Retained topics: last will `<base>/<device>/status` = offline (QoS 1). On every connect (a broker
 *   restarted without persistence has forgotten them) `online`, the JSON status (`.../status/json`) and the
 *   last state of every camera are published again; a camera state still queued in the outbox goes from
 *   there instead. A clean stop's last words: status/json with `"state":"offline"`, every camera's state
 *   `{"state":"offline","reason":"inspectd stopped"}`, then `offline`.
 *
 * Session: clean session with a stable client id (`inspectd-<device>` unless mqtt.clientId).
 * Durability lives in our outbox, not in broker state: a persistent session would make delivery
 * depend on the broker's own persistence and queue stale commands for us while we are down.
 * A message in flight when the link drops is re-sent by mqtt.js from its in-memory store once it
 * reconnects; its outbox entry is only removed on that PUBACK.
 *
 * Reject payload = the pipeline's RejectPayload (device and camera first, captureWall left out: it is the
 * outbox entry's own field) plus, at send time: publishedAt (ISO), deliveryDelayMs (publish wall -
 * captureWall), expired (true when deliveryDelayMs > rejectTtlMs). The outbox keeps the body as an
 * object; sending spreads it with those three fields.
 * Verdict payload (`<camera>/verdict`, decision: part) = the VerdictPayload likewise without captureWall, plus
 * publishedAt, deliveryDelayMs (publish wall - the deciding frame's captureWall) and late (delivered after
 * ejectAt, or without an ejector model later than rejectTtlMs after that capture): queued like rejects.
 * Delivery is at-least-once: if a PUBACK is lost (link or daemon dies after the broker got the
 * message) the same reject is sent again; subscribers dedupe on `key`. A reject acked is never
 * sent again (its outbox file is gone before the next one is sent).
 */
import mqtt, { type IClientPublishOptions, type MqttClient } from 'mqtt';
import { ErrorCodes, InspectdError, errorMessage } from '../errors.js';
import { baseTopicProblem } from '../config/schema.js';
import type { MqttConfig } from '../config/types.js';
import type { Logger } from '../ops/log.js';
import type { Metrics } from '../ops/metrics.js';
import type { Outbox, OutboxEntry } from './outbox.js';
import { type ClientOptions, credentialOptions } from './mqtt-options.js';
import { redactUrl } from '../util/redact.js';
import { backoffDelay } from '../util/backoff.js';
import type { DetectionsPayload, RejectPayload, VerdictPayload } from '../contracts/messages.js';
import type { SourceState } from '../contracts/camera.js';
import { COMMANDS, type CommandHandler, type EventSink, type StatusInfo } from '../contracts/sink.js';

const MAX_COMMAND_BYTES = 64 * 1024;

/** CONNACK return codes of MQTT 3.1.1, and the reason codes of MQTT 5, in words (what the status and /healthz say after `mqtt: refused`). */
const CONNACK_REFUSALS: Readonly<Record<number, string>> = {
  1: 'protocol version not accepted',
  2: 'client id rejected',
  3: 'server unavailable',
  4: 'bad credentials',
  5: 'not authorised',
  128: 'unspecified error',
  129: 'malformed packet',
  130: 'protocol error',
  131: 'implementation specific error',
  132: 'protocol version not accepted',
  133: 'client id rejected',
  134: 'bad credentials',
  135: 'not authorised',
  136: 'server unavailable',
  137: 'server busy',
  138: 'banned',
  140: 'bad authentication method',
};

/** An MQTT 5 PUBACK refusal (reason code 0x80 and up, which mqtt.js hands the publish callback) in words, else null. */
export function publishRefusal(err: unknown): string | null {
  const code = (err as { code?: unknown } | null)?.code;
  if (typeof code !== 'number' || code < 0x80) return null;
  return code === 135 ? 'not authorised' : errorMessage(err).replace(/^Publish error: /, '') || `reason code ${code}`;
}

/** The refusal in words when `err` is mqtt.js's error for a refused CONNACK (a numeric reason code), else null. */
export function connackRefusal(err: Error): string | null {
  const code = (err as Error & { code?: unknown }).code;
  if (typeof code !== 'number' || code <= 0) return null;
  return CONNACK_REFUSALS[code] ?? `reason code ${code}`;
}

export interface MqttSinkOptions {
  mqtt: MqttConfig;
  outbox: Outbox;
  deviceId: string;
  logger: Logger;
  metrics?: Metrics;
  version: string;
  /** start() resolves after this long when the broker is unreachable (default 2000 ms). */
  connectWaitMs?: number;
  /** stop() spends at most this long delivering the outbox (default 3000 ms). */
  flushMs?: number;
  /** A reject delivered later than this after capture is marked expired (default: the outbox's rejectTtlMs). */
  rejectTtlMs?: number;
  /** Called when deliveryError changes (the broker starts or stops refusing the events). */
  onDeliveryError?: (error: string | null) => void;
}

/** Throws when an id cannot be one MQTT topic level. */
export function assertTopicSegment(what: string, id: string): void {
  // biome-ignore lint/suspicious/noControlCharactersInRegex: NUL is exactly what must be refused in a topic.
  if (typeof id !== 'string' || id.length === 0 || /[+#/\u0000]/.test(id)) {
    throw new InspectdError(ErrorCodes.CONFIG_INVALID, `${what} "${id}" cannot be used in an MQTT topic: use a non-empty id without + # / characters`);
  }
}

export class MqttSink implements EventSink {
  private readonly cfg: MqttConfig;
  private readonly outbox: Outbox;
  private readonly deviceId: string;
  private readonly logger: Logger;
  private readonly metrics?: Metrics;
  private readonly version: string;
  private readonly connectWaitMs: number;
  private readonly flushMs: number;
  private readonly rejectTtlMs: number;
  private readonly onDeliveryError: ((error: string | null) => void) | undefined;
  private readonly prefix: string;
  private client: MqttClient | null = null;
  private clientOptions: ClientOptions | null = null;
  private isConnected = false;
  private closing = false;
  private stopPromise: Promise<void> | null = null;
  private clientListeners: Array<[event: 'connect' | 'close' | 'error' | 'message', fn: (...args: never[]) => void]> = [];
  /** Aborted by stop(): ends start()'s wait for the first connect. */
  private readonly stopAbort = new AbortController();
  private pumping = false;
  private pumpAgain = false;
  private statusInfo: StatusInfo | null = null;
  /** The last state body published per camera: re-published on every connect, replaced by `offline` on stop. */
  private readonly cameraStates = new Map<string, Readonly<Record<string, unknown>>>();
  private commandHandler: CommandHandler | null = null;
  private unsubscribeAppend: (() => void) | null = null;
  private disconnectLogged = false;
  private lastError: string | null = null;
  /** CONNACK refusals in a row: the retry delay doubles with each (util/backoff). */
  private refusals = 0;
  private connects = 0;
  private sentEvents = 0;
  private droppedDetections = 0;
  /** While the broker refuses publishes: why, the retry that ends the wait, and refusals so far (in a row / in all). */
  private publishRefused: string | null = null;
  private publishRetry: NodeJS.Timeout | undefined;
  private refusedInARow = 0;
  private refusedPublishes = 0;

  constructor(opts: MqttSinkOptions) {
    this.cfg = opts.mqtt;
    this.outbox = opts.outbox;
    this.deviceId = opts.deviceId;
    this.logger = opts.logger.child({ component: 'mqtt' });
    this.metrics = opts.metrics;
    this.version = opts.version;
    this.connectWaitMs = opts.connectWaitMs ?? 2000;
    this.flushMs = opts.flushMs ?? 3000;
    this.rejectTtlMs = opts.rejectTtlMs ?? opts.outbox.rejectTtlMs;
    this.onDeliveryError = opts.onDeliveryError;
    this.prefix = `${this.cfg.baseTopic}/${this.deviceId}`;
  }

  get connected(): boolean {
    return this.isConnected;
  }
  /** Connections made so far (1 after the first connect). */
  get connectCount(): number {
    return this.connects;
  }
  /** Outbox events acknowledged by the broker since start. */
  get eventsSent(): number {
    return this.sentEvents;
  }
  get detectionsDropped(): number {
    return this.droppedDetections;
  }
  /** Why the last connection attempt failed (`mqtt: refused (bad credentials)`); null while connected. */
  get connectionError(): string | null {
    return this.lastError;
  }
  /** Connected, but the broker refuses the events (an ACL): in words, with the topic; null once one is accepted. */
  get deliveryError(): string | null {
    return this.publishRefused;
  }
  /** Publishes the broker refused since start (each one attempt; retried with backoff, never per event). */
  get publishRefusals(): number {
    return this.refusedPublishes;
  }
  /** The wait before the next connection attempt: mqtt.reconnectMs, growing to reconnectMaxMs while the broker refuses. */
  get reconnectDelayMs(): number {
    return this.refusals === 0 ? this.cfg.reconnectMs : this.refusalDelay(this.refusals - 1);
  }

  topic(...levels: string[]): string {
    return [this.prefix, ...levels].join('/');
  }

  /**
   * Everything start() checks and reads before it connects (URL, topics, TLS files, password and passphrase
   * from their files or variables), without connecting:
   * a reload prepares a new sink with it while the old one keeps running. Idempotent.
   */
  preflight(): void {
    if (this.clientOptions) return;
    if (!this.cfg.url) throw new InspectdError(ErrorCodes.MQTT, 'mqtt.url is not set: start the embedded broker and pass its url');
    assertTopicSegment('device id', this.deviceId);
    const topicProblem = baseTopicProblem(this.cfg.baseTopic);
    if (topicProblem) throw new InspectdError(ErrorCodes.CONFIG_INVALID, `mqtt.baseTopic "${this.cfg.baseTopic}" is not a valid topic prefix: it ${topicProblem}`);
    const options: ClientOptions = {
      clientId: this.cfg.clientId ?? `inspectd-${this.deviceId}`,
      clean: true,
      // MQTT 5 (by default): a broker that refuses a publish (ACL) says so in the PUBACK; 3.1.1 acks and drops it.
      protocolVersion: this.cfg.protocolVersion,
      keepalive: this.cfg.keepaliveSec,
      reconnectPeriod: this.cfg.reconnectMs,
      // mqtt.js stops reconnecting after a refused CONNACK unless told: a broker fixed later must be picked up.
      reconnectOnConnackError: true,
      connectTimeout: Math.max(2000, this.cfg.keepaliveSec * 1000),
      resubscribe: false,
      queueQoSZero: false,
      will: { topic: this.topic('status'), payload: Buffer.from('offline'), qos: 1, retain: true },
      ...credentialOptions(this.cfg),
    };
    this.clientOptions = options;
  }

  sameSecrets(other: EventSink): boolean {
    const a = this.clientOptions;
    const b = other instanceof MqttSink ? other.clientOptions : null;
    return a !== null && b !== null && a.password === b.password && a.passphrase === b.passphrase;
  }

  async start(signal: AbortSignal): Promise<void> {
    if (this.stopPromise) throw new InspectdError(ErrorCodes.LIFECYCLE, 'MQTT sink was stopped and cannot be restarted; create a new one');
    if (this.client) return;
    this.preflight();
    const url = this.cfg.url!;
    const options = this.clientOptions!;
    const safeUrl = redactUrl(url);
    this.logger.info({ url: safeUrl, clientId: options.clientId }, 'connecting to MQTT broker');
    const client = mqtt.connect(url, options);
    this.client = client;
    const onError = (err: Error): void => this.onError(client, err, safeUrl);
    this.clientListeners = [
      ['connect', () => this.onConnect()],
      ['close', () => this.onClose()],
      ['error', onError],
      ['message', (topic: string, payload: Buffer, packet: { retain: boolean }) => this.onMessage(topic, payload, packet.retain)],
    ];
    for (const [event, fn] of this.clientListeners) client.on(event, fn);
    this.unsubscribeAppend = this.outbox.onAppend(() => void this.pump());

    const stopped = this.stopAbort.signal;
    await new Promise<void>((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        client.removeListener('connect', done);
        signal.removeEventListener('abort', done);
        stopped.removeEventListener('abort', done);
        resolve();
      };
      const timer = setTimeout(() => {
        if (!this.isConnected) this.logger.warn({ url: safeUrl, waitedMs: this.connectWaitMs }, 'MQTT broker not reachable yet; running and buffering events in the outbox');
        done();
      }, this.connectWaitMs);
      client.once('connect', done);
      signal.addEventListener('abort', done, { once: true });
      stopped.addEventListener('abort', done, { once: true });
      if (signal.aborted || stopped.aborted) done();
    });
  }

  /** Stops taking events, flushes the outbox for up to flushMs, publishes offline, disconnects. Idempotent. */
  stop(): Promise<void> {
    if (!this.stopPromise) this.stopPromise = this.doStop();
    return this.stopPromise;
  }

  /** Live stream: not retained, never throws; dropped and counted while disconnected. Off when mqtt.publishDetections is false. */
  publishDetections(payload: DetectionsPayload): void {
    if (!this.cfg.publishDetections) return;
    try {
      assertTopicSegment('camera id', payload.camera);
      if (!this.client || !this.isConnected || this.closing) {
        this.dropDetection();
        return;
      }
      const qos = this.cfg.detectionsQos;
      this.client.publish(this.topic(payload.camera, 'detections'), JSON.stringify(payload), { qos, retain: false }, (err) => {
        if (err) this.dropDetection();
      });
    } catch (err) {
      this.dropDetection();
      this.logger.debug({ camera: payload.camera, err: errorMessage(err) }, 'detections not published');
    }
  }

  /** Resolves once the reject is durably in the outbox (not when it is delivered). */
  async publishReject(payload: RejectPayload): Promise<void> {
    this.assertOpen();
    assertTopicSegment('camera id', payload.camera);
    // captureWall is the entry's clock, not part of the message; device and camera lead, as they always have.
    const { captureWall, device, camera, ...fields } = payload;
    await this.outbox.append({
      key: payload.key,
      kind: 'reject',
      topic: this.topic(camera, 'reject'),
      qos: 1,
      retain: false,
      payload: { device, camera, ...fields },
      captureWall,
      expiresWall: captureWall + this.rejectTtlMs,
    });
  }

  /** Resolves once the verdict is durably in the outbox; delivered in order with rejects and states. */
  async publishVerdict(payload: VerdictPayload): Promise<void> {
    this.assertOpen();
    assertTopicSegment('camera id', payload.camera);
    const { captureWall, device, camera, ...fields } = payload;
    const ejectAt = payload.ejectAt !== undefined ? Date.parse(payload.ejectAt) : NaN;
    await this.outbox.append({
      key: payload.key,
      kind: 'verdict',
      topic: this.topic(camera, 'verdict'),
      qos: 1,
      retain: false,
      payload: { device, camera, ...fields },
      captureWall,
      // Late means after the ejector: a verdict then can no longer act on the part.
      expiresWall: Number.isFinite(ejectAt) ? ejectAt : captureWall + this.rejectTtlMs,
    });
  }

  /** Retained camera state through the outbox; older unsent states of the same camera are collapsed. */
  async publishState(cameraId: string, state: SourceState): Promise<void> {
    this.assertOpen();
    assertTopicSegment('camera id', cameraId);
    const topic = this.topic(cameraId, 'state');
    const now = Date.now();
    const body = { device: this.deviceId, camera: cameraId, state: state.state, ...(state.reason ? { reason: state.reason } : {}), at: new Date(now).toISOString() };
    this.cameraStates.set(cameraId, body);
    const entry = await this.outbox.append({ kind: 'state', topic, qos: 1, retain: true, payload: body, captureWall: now });
    for (const e of this.outbox.list()) {
      if (e.kind === 'state' && e.topic === topic && e.seq < entry.seq) await this.outbox.ack(e.id);
    }
  }

  /** Retained JSON on `<base>/<device>/status/json`; kept and re-published on every reconnect. */
  publishStatus(info: StatusInfo): void {
    this.statusInfo = { ...info };
    if (this.isConnected) this.sendStatusJson();
  }

  onCommand(handler: CommandHandler): void {
    this.commandHandler = handler;
    if (this.isConnected) this.subscribeCommands();
  }

  private assertOpen(): void {
    if (this.closing) throw new InspectdError(ErrorCodes.LIFECYCLE, 'MQTT sink is stopping: no new events accepted');
  }

  private dropDetection(): void {
    this.droppedDetections++;
    this.metrics?.mqttDropped.inc({ kind: 'detections' });
  }

  private onError(client: MqttClient, err: Error, safeUrl: string): void {
    const refusal = connackRefusal(err);
    const tls = refusal === null ? tlsFailure(err) : null;
    if (tls) {
      this.lastError = `mqtt: TLS failed (${tls.reason})`;
      if (!this.disconnectLogged)
        this.logger.warn({ url: safeUrl, reason: tls.reason, code: tls.code }, `MQTT TLS handshake failed: ${tls.hint} (retrying, events kept in the outbox)`);
      this.disconnectLogged = true;
      return;
    }
    if (refusal === null) {
      if (!this.isConnected) this.lastError = `mqtt: unreachable (${err.message})`;
      if (!this.disconnectLogged) this.logger.warn({ url: safeUrl, err: err.message }, 'MQTT connection error; retrying every mqtt.reconnectMs, events kept in the outbox');
      this.disconnectLogged = true;
      return;
    }
    // Emitted before mqtt.js sets up the retry, which reads reconnectPeriod: the next wait is this one.
    const delayMs = this.refusalDelay(this.refusals++);
    client.options.reconnectPeriod = delayMs;
    this.lastError = `mqtt: refused (${refusal})`;
    this.metrics?.mqttRefused.inc({ reason: refusal });
    this.logger.error(
      { url: safeUrl, reason: refusal, refusals: this.refusals, retryInMs: delayMs },
      'MQTT broker refused the connection; check mqtt.username/password/clientId and the broker ACL (retrying with backoff, events kept in the outbox)',
    );
  }

  private refusalDelay(attempt: number): number {
    const baseMs = this.cfg.reconnectMs;
    return backoffDelay({ baseMs, maxMs: Math.max(baseMs, this.cfg.reconnectMaxMs) }, attempt);
  }

  private onConnect(): void {
    this.isConnected = true;
    this.connects++;
    this.disconnectLogged = false;
    this.lastError = null;
    if (this.refusals > 0 && this.client) this.client.options.reconnectPeriod = this.cfg.reconnectMs;
    this.refusals = 0;
    this.clearPublishRetry(); // a new connection is worth one attempt at once
    this.metrics?.mqttConnected.set(1);
    this.logger.info({ url: redactUrl(this.cfg.url ?? ''), connects: this.connects, outboxDepth: this.outbox.depth }, 'MQTT connected');
    const client = this.client;
    if (!client) return;
    // mqtt.js leaves Nagle on: a QoS 1 publish written in pieces then waits ~40 ms for a delayed ACK.
    const stream = client.stream as { setNoDelay?: (on: boolean) => void } | undefined;
    stream?.setNoDelay?.(true);
    client.publish(this.topic('status'), 'online', { qos: 1, retain: true }, (err) => {
      if (err) this.logger.warn({ err: err.message }, 'online status not published');
    });
    if (this.statusInfo) this.sendStatusJson();
    this.republishCameraStates(client);
    if (this.commandHandler) this.subscribeCommands();
    void this.pump();
  }

  /** Each camera's last state, unless a newer one still waits in the outbox (the pump sends that one). */
  private republishCameraStates(client: MqttClient): void {
    const queued = new Set(this.outbox.list().flatMap((e) => (e.kind === 'state' ? [e.topic] : [])));
    for (const [cameraId, body] of this.cameraStates) {
      const topic = this.topic(cameraId, 'state');
      if (queued.has(topic)) continue;
      client.publish(topic, JSON.stringify(body), { qos: 1, retain: true }, (err) => {
        if (err) this.logger.debug({ camera: cameraId, err: err.message }, 'camera state not re-published');
      });
    }
  }

  /** The retained topics' last words on a clean stop (sent while connected); resolves once acknowledged. */
  private async publishFinalStates(client: MqttClient): Promise<void> {
    const publish = (topic: string, body: unknown): Promise<void> =>
      new Promise((resolve) => client.publish(topic, JSON.stringify(body), { qos: 1, retain: true }, () => resolve()));
    const at = new Date().toISOString();
    const sent: Promise<void>[] = [];
    if (this.statusInfo) {
      sent.push(publish(this.topic('status', 'json'), { device: this.deviceId, version: this.version, ...this.statusInfo, state: 'offline', publishedAt: at }));
    }
    for (const cameraId of this.cameraStates.keys()) {
      sent.push(publish(this.topic(cameraId, 'state'), { device: this.deviceId, camera: cameraId, state: 'offline', reason: 'inspectd stopped', at }));
    }
    await Promise.all(sent);
  }

  private onClose(): void {
    // A close we asked for (stop) is not an outage.
    if (this.isConnected && !this.closing) {
      this.logger.warn({ outboxDepth: this.outbox.depth }, 'MQTT disconnected; events kept in the outbox until the broker is back');
    }
    this.isConnected = false;
    this.metrics?.mqttConnected.set(0);
  }

  private sendStatusJson(): void {
    const body = JSON.stringify({
      device: this.deviceId,
      version: this.version,
      ...this.statusInfo,
      publishedAt: new Date().toISOString(),
    });
    this.client?.publish(this.topic('status', 'json'), body, { qos: 1, retain: true }, (err) => {
      if (err) this.logger.warn({ err: err.message }, 'JSON status not published');
    });
  }

  private subscribeCommands(): void {
    this.client?.subscribe(this.topic('cmd', '#'), { qos: 1 }, (err) => {
      if (err) this.logger.error({ err: err.message }, 'cannot subscribe to commands; check the broker ACL');
    });
  }

  private onMessage(topic: string, payload: Buffer, retained: boolean): void {
    const prefix = this.topic('cmd') + '/';
    if (!topic.startsWith(prefix)) return;
    // A command left retained on the broker would be carried out again at every start and reconnect.
    if (retained) {
      this.logger.warn({ topic }, 'retained MQTT command ignored (commands act once; clear it with an empty retained message)');
      return;
    }
    const command = COMMANDS.find((c) => c === topic.slice(prefix.length));
    if (!command) {
      this.logger.warn({ topic, allowed: COMMANDS }, 'unknown MQTT command ignored');
      return;
    }
    if (payload.length > MAX_COMMAND_BYTES) {
      this.logger.warn({ topic, bytes: payload.length }, 'MQTT command payload too large; ignored');
      return;
    }
    const handler = this.commandHandler;
    if (!handler) return;
    try {
      handler(command, payload);
    } catch (err) {
      this.logger.error({ command, err: errorMessage(err) }, 'MQTT command handler failed');
    }
  }

  /** Delivers outbox entries in order, one at a time; at most one pump runs. */
  private async pump(): Promise<void> {
    if (this.pumping) {
      this.pumpAgain = true;
      return;
    }
    this.pumping = true;
    try {
      do {
        this.pumpAgain = false;
        let sent = 0;
        // A broker refusing the events is asked again when the backoff says so (or on a new connection), not per new event.
        while (this.client && this.isConnected && !this.publishRetry) {
          // Bounds are applied on append; re-check age now and then during a long replay.
          if (sent++ % 100 === 0) await this.outbox.prune();
          const entry = this.outbox.peek();
          if (!entry) break;
          try {
            await this.send(this.client, entry);
          } catch (err) {
            const refusal = publishRefusal(err);
            if (refusal) this.onPublishRefused(entry, refusal);
            // Client ended (stop) or refused: the entry stays for the next connect or start.
            else this.logger.debug({ id: entry.id, err: errorMessage(err) }, 'outbox entry not delivered yet');
            return;
          }
          if (this.publishRefused) this.onPublishAccepted();
          await this.outbox.ack(entry.id);
          this.sentEvents++;
        }
      } while (this.pumpAgain && this.isConnected);
    } finally {
      this.pumping = false;
    }
  }

  /** The head entry was refused: it stays (and with it the order of all behind it); one retry is set, with backoff. */
  private onPublishRefused(entry: OutboxEntry, refusal: string): void {
    this.refusedPublishes++;
    const delayMs = this.refusalDelay(this.refusedInARow++);
    const why = `mqtt: broker refused publishing to ${entry.topic} (${refusal}): check the broker ACL for this client; events are kept in the outbox`;
    const changed = why !== this.publishRefused;
    if (changed) this.logger.error({ topic: entry.topic, reason: refusal, outboxDepth: this.outbox.depth, retryInMs: delayMs }, `MQTT ${why}; retrying with backoff`);
    this.publishRefused = why;
    if (changed) this.onDeliveryError?.(why);
    this.metrics?.mqttRefused.inc({ reason: `publish: ${refusal}` });
    this.publishRetry = setTimeout(() => {
      this.publishRetry = undefined;
      void this.pump();
    }, delayMs);
    this.publishRetry.unref();
  }

  private onPublishAccepted(): void {
    this.logger.info({ refusedPublishes: this.refusedPublishes, outboxDepth: this.outbox.depth }, 'MQTT broker accepts the events again');
    this.publishRefused = null;
    this.refusedInARow = 0;
    this.onDeliveryError?.(null);
  }

  private clearPublishRetry(): void {
    clearTimeout(this.publishRetry);
    this.publishRetry = undefined;
  }

  private send(client: MqttClient, entry: OutboxEntry): Promise<void> {
    const payload = JSON.stringify(entry.kind === 'reject' ? this.stampReject(entry) : entry.kind === 'verdict' ? this.stampVerdict(entry) : entry.payload);
    const opts: IClientPublishOptions = { qos: entry.qos, retain: entry.retain };
    return new Promise((resolve, reject) => {
      client.publish(entry.topic, payload, opts, (err) => (err ? reject(err) : resolve()));
    });
  }

  /** The stored reject with its delivery fields (PublishedReject). */
  private stampReject(entry: OutboxEntry): Record<string, unknown> {
    const now = Date.now();
    const deliveryDelayMs = now - entry.captureWall;
    const expired = entry.expiresWall !== undefined && now > entry.expiresWall;
    if (expired) this.logger.warn({ key: entry.key, deliveryDelayMs, rejectTtlMs: this.rejectTtlMs }, 'publishing EXPIRED reject');
    return { ...entry.payload, publishedAt: new Date(now).toISOString(), deliveryDelayMs, expired };
  }

  /** The stored verdict with its delivery fields (PublishedVerdict). */
  private stampVerdict(entry: OutboxEntry): Record<string, unknown> {
    const now = Date.now();
    const deliveryDelayMs = now - entry.captureWall;
    const late = entry.expiresWall !== undefined && now > entry.expiresWall;
    if (late)
      this.logger.warn({ key: entry.key, deliveryDelayMs, ejectAt: entry.payload.ejectAt }, 'publishing LATE verdict (after the part passed the ejector, or past rejectTtlMs)');
    return { ...entry.payload, publishedAt: new Date(now).toISOString(), deliveryDelayMs, late };
  }

  private async doStop(): Promise<void> {
    this.closing = true;
    this.stopAbort.abort();
    this.clearPublishRetry();
    const client = this.client;
    if (!client) return;
    if (!this.isConnected) {
      // Not connected (a connect in progress, a broker that accepted TCP but never answers, a retry wait):
      // nothing can be flushed or said, so the connect is cut at once; a graceful end would wait for a CONNACK.
      await this.endClient(client, true);
      this.logger.info({ outboxDepth: this.outbox.depth }, 'MQTT sink stopped before a connection was made; undelivered events stay in the outbox');
      return;
    }
    const deadline = Date.now() + this.flushMs;
    while (this.isConnected && this.outbox.depth > 0 && Date.now() < deadline) {
      void this.pump();
      await sleep(20);
    }
    if (this.outbox.depth > 0) {
      this.logger.info({ outboxDepth: this.outbox.depth }, 'undelivered events stay in the outbox for the next start');
    }
    this.unsubscribeAppend?.();
    if (this.isConnected) {
      await withTimeout(this.publishFinalStates(client), 1000);
      await withTimeout(new Promise<void>((resolve) => client.publish(this.topic('status'), 'offline', { qos: 1, retain: true }, () => resolve())), 1000);
    }
    const ended = await withTimeout(
      client.endAsync(false).then(() => true),
      1000,
    );
    await this.endClient(client, !ended);
    this.clearPublishRetry();
    this.logger.info({ eventsSent: this.sentEvents }, 'MQTT sink stopped');
  }

  /** Ends the client (force: destroys the socket now) and leaves it with no listeners of ours. */
  private async endClient(client: MqttClient, force: boolean): Promise<void> {
    if (force)
      await withTimeout(
        client.endAsync(true).catch(() => undefined),
        1000,
      );
    // Only our listeners go: mqtt.js's own 'close' listener clears its connect timer once the socket closes.
    for (const [event, fn] of this.clientListeners) client.removeListener(event, fn);
    this.clientListeners = [];
    client.on('error', () => undefined);
    this.isConnected = false;
    this.metrics?.mqttConnected.set(0);
  }
}

/** Node's codes for a server certificate that does not verify against the CA (tls.ca or the system's). */
const SERVER_CERT_CODES = new Set([
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'CERT_HAS_EXPIRED',
  'CERT_NOT_YET_VALID',
  'CERT_UNTRUSTED',
  'CERT_REJECTED',
  'CERT_SIGNATURE_FAILURE',
  'ERR_TLS_CERT_ALTNAME_INVALID',
]);

/** A TLS handshake failure in words with what to check, or null for any other connection error. */
export function tlsFailure(err: Error): { reason: string; code: string; hint: string } | null {
  const code = String((err as Error & { code?: unknown }).code ?? '');
  // OpenSSL's text is `<id>:error:<n>:SSL routines:<function>:<reason>:<file>:<line>:...`: the reason is what matters.
  const reason = /SSL routines:[^:]*:([^:]+)/.exec(err.message)?.[1] ?? err.message.trim();
  if (SERVER_CERT_CODES.has(code) || err.message === 'TLS not authorized') {
    return { reason, code, hint: "the broker's certificate is not signed by mqtt.tls.ca or does not name the host in mqtt.url" };
  }
  if (code.startsWith('ERR_SSL_') || code.startsWith('ERR_TLS_')) {
    const alert = /alert/i.test(reason);
    return {
      reason,
      code,
      hint: alert
        ? 'the broker refused the handshake: it wants a client certificate it trusts; check mqtt.tls.cert and mqtt.tls.key'
        : 'check mqtt.tls (ca, cert, key) and that the broker speaks TLS on this port',
    };
  }
  return null;
}

/** An encrypted key with a wrong or missing passphrase fails here, in words, rather than at every TLS handshake. */

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function withTimeout<T>(p: Promise<T>, ms: number): Promise<T | undefined> {
  let timer: NodeJS.Timeout | undefined;
  const t = new Promise<undefined>((r) => {
    timer = setTimeout(() => r(undefined), ms);
  });
  try {
    return await Promise.race([p, t]);
  } finally {
    clearTimeout(timer);
  }
}
