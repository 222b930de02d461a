/**
 * A Sparkplug B 3.0 edge node on its own MQTT connection: the box is the edge node, each camera a device.
 * What it publishes comes from an EdgeNodeSource (current metric values); this module owns the protocol state:
 *
 * - bdSeq: a new (persisted) one for every connection; the connection's Will is NDEATH with it (QoS 1), and the
 *   NBIRTH on that connection carries the same one. mqtt.js's own reconnect would reuse the Will, so every
 *   connection is a fresh client.
 * - seq: NBIRTH is 0, then every NBIRTH/DBIRTH/NDATA/DDATA/DDEATH takes the next, 0..255 wrapping. NDEATH has none.
 * - Births: NCMD/DCMD (and STATE) are subscribed before NBIRTH; NBIRTH holds every node metric plus bdSeq and
 *   Node Control/Rebirth; then one DBIRTH per online device. A metric name not in the last birth means a rebirth.
 * - Data by exception: every minIntervalMs, only the metrics whose value changed since they were last sent.
 * - Devices: online -> DBIRTH, offline (camera fault, removed) -> DDEATH, checked on every tick and on poke().
 * - Commands: NCMD Node Control/Rebirth (new NBIRTH + DBIRTHs, seq from 0, same bdSeq); DCMD Device Control/Pause
 *   and /Resume handed to onDeviceCommand. A command turned off in config, or unknown, is ignored and counted.
 * - Primary host: with primaryHostId, births wait until spBv1.0/STATE/<id> says {"online":true}; an offline
 *   STATE is NDEATH and a disconnect, then a new connection (next bdSeq) whose births wait for online again.
 *   STATE older than the last one seen is ignored.
 * - stop(): NDEATH published (same bdSeq) before the clean disconnect, which makes the broker drop the Will.
 *
 * Births and data are QoS 0, not retained (the spec's rule): inspectd's JSON topics and outbox stay the
 * durable record of rejects and verdicts.
 */
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';
import sparkplugPayload from 'sparkplug-payload';
import type { MqttConfig } from '../../config/types.js';
import { errorMessage } from '../../errors.js';
import type { Logger } from '../../ops/log.js';
import { redactUrl } from '../../util/redact.js';
import { type ClientOptions, credentialOptions } from '../mqtt-options.js';

const NAMESPACE = 'spBv1.0';
const codec = sparkplugPayload.get(NAMESPACE)!;

export type MetricType = 'Boolean' | 'String' | 'Double' | 'UInt64' | 'Int64';
export interface Metric {
  type: MetricType;
  /** null: no reading yet (sent with is_null). */
  value: boolean | string | number | null;
}
export type MetricSet = Record<string, Metric>;

/** The values to publish, read at every birth and tick. */
export interface EdgeNodeSource {
  node(): MetricSet;
  /** Every device (camera) and whether it is online (DBIRTH) or not (DDEATH). */
  devices(): Array<{ id: string; online: boolean }>;
  device(id: string): MetricSet;
}

export type DeviceCommand = 'pause' | 'resume';

export interface EdgeNodeOptions {
  /** Broker URL; credentials, TLS, keepalive and reconnectMs come from `mqtt`. */
  url: string;
  mqtt: MqttConfig;
  clientId: string;
  groupId: string;
  edgeNodeId: string;
  primaryHostId?: string;
  minIntervalMs: number;
  commands: { rebirth: boolean; pause: boolean; resume: boolean };
  /** The next bdSeq, persisted (bdseq.ts); called once per connection. */
  nextBdSeq: () => Promise<number>;
  source: EdgeNodeSource;
  onDeviceCommand: (device: string, command: DeviceCommand) => void;
  logger: Logger;
}

export interface EdgeNodeStats {
  connected: boolean;
  /** The current connection's bdSeq (null before the first). */
  bdSeq: number | null;
  connects: number;
  births: number;
  messages: number;
  ignoredCommands: number;
  hostOnline: boolean;
}

export const REBIRTH = 'Node Control/Rebirth';
export const IGNORED_COMMANDS = 'Node Control/Ignored Commands';
export const DEVICE_COMMANDS: Readonly<Record<DeviceCommand, string>> = { pause: 'Device Control/Pause', resume: 'Device Control/Resume' };

type Sent = Map<string, Metric['value']>;

export class EdgeNode {
  private readonly log: Logger;
  private readonly topicBase: string;
  private client: MqttClient | null = null;
  private baseOptions: IClientOptions | null = null;
  private bdSeq: number | null = null;
  /** The bdSeq the next connection uses; null once a connection has used it. */
  private pendingBdSeq: number | null = null;
  private seq = 0;
  private isConnected = false;
  private hostOnline = false;
  private hostTimestamp = -Infinity;
  private born = false;
  private nodeSent: Sent = new Map();
  private readonly deviceSent = new Map<string, Sent>();
  private lastDataAt = 0;
  private timer: NodeJS.Timeout | undefined;
  private reconnectTimer: NodeJS.Timeout | undefined;
  private stopping = false;
  private readonly counts = { connects: 0, births: 0, messages: 0, ignoredCommands: 0 };

  constructor(private readonly opts: EdgeNodeOptions) {
    this.log = opts.logger.child({ component: 'sparkplug' });
    this.topicBase = `${NAMESPACE}/${opts.groupId}`;
  }

  get stats(): EdgeNodeStats {
    return { connected: this.isConnected, bdSeq: this.bdSeq, ...this.counts, hostOnline: this.hostOnline };
  }

  topic(kind: 'NBIRTH' | 'NDEATH' | 'NDATA' | 'NCMD' | 'DBIRTH' | 'DDEATH' | 'DDATA' | 'DCMD', device?: string): string {
    return `${this.topicBase}/${kind}/${this.opts.edgeNodeId}${device !== undefined ? `/${device}` : ''}`;
  }

  /** Connects in the background (start() does not wait for the broker); throws when the TLS files cannot be read. */
  async start(): Promise<void> {
    this.baseOptions = {
      ...credentialOptions(this.opts.mqtt),
      clientId: this.opts.clientId,
      clean: true,
      protocolVersion: 4,
      keepalive: this.opts.mqtt.keepaliveSec,
      reconnectPeriod: 0,
      connectTimeout: Math.max(2000, this.opts.mqtt.keepaliveSec * 1000),
      resubscribe: false,
      queueQoSZero: false,
    };
    this.timer = setInterval(() => this.tick(), Math.max(10, this.opts.minIntervalMs));
    this.timer.unref();
    await this.connect();
  }

  /** Whether `mqtt`'s secrets, read again now (a rotated passwordFile), are the ones this node connects with. */
  sameSecrets(mqtt: MqttConfig): boolean {
    const fresh = credentialOptions(mqtt);
    const now = this.baseOptions as ClientOptions | null;
    return now !== null && now.password === fresh.password && now.passphrase === fresh.passphrase;
  }

  /** Device states may have changed (camera.state): DBIRTH/DDEATH now rather than at the next tick. */
  poke(): void {
    if (this.ready()) this.deviceLifecycle();
  }

  /** Publishes what changed now, ignoring minIntervalMs (tests, and the last values before a stop). */
  flush(): void {
    this.tick(true);
  }

  /** NDEATH (the connection's bdSeq), then a clean disconnect, which the broker answers by dropping the Will. */
  async stop(): Promise<void> {
    this.stopping = true;
    clearInterval(this.timer);
    clearTimeout(this.reconnectTimer);
    const client = this.client;
    this.client = null;
    if (!client) return;
    client.removeAllListeners('close');
    if (this.isConnected && this.bdSeq !== null) {
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, 2000);
        client.publish(this.topic('NDEATH'), this.deathPayload(this.bdSeq!), { qos: 1, retain: false }, () => {
          clearTimeout(t);
          resolve();
        });
      });
    }
    this.isConnected = false;
    await client.endAsync().catch(() => undefined);
  }

  private async connect(): Promise<void> {
    if (this.stopping) return;
    try {
      this.pendingBdSeq ??= await this.opts.nextBdSeq();
    } catch (err) {
      this.log.error({ err: errorMessage(err) }, 'Sparkplug edge node not connected');
      this.scheduleReconnect();
      return;
    }
    if (this.stopping) return;
    const bdSeq = this.pendingBdSeq;
    const client = mqtt.connect(this.opts.url, {
      ...this.baseOptions,
      will: { topic: this.topic('NDEATH'), payload: this.deathPayload(bdSeq), qos: 1, retain: false },
    });
    this.client = client;
    client.on('connect', () => {
      this.pendingBdSeq = null;
      this.bdSeq = bdSeq;
      this.onConnect(client);
    });
    client.on('close', () => this.onClose(client));
    client.on('error', (err) => this.log.debug({ url: redactUrl(this.opts.url), err: errorMessage(err) }, 'Sparkplug connection error'));
    client.on('message', (topic, payload) => this.onMessage(topic, payload));
  }

  private onConnect(client: MqttClient): void {
    this.counts.connects++;
    this.isConnected = true;
    this.born = false;
    this.hostOnline = this.opts.primaryHostId === undefined;
    this.hostTimestamp = -Infinity;
    this.log.info({ bdSeq: this.bdSeq, group: this.opts.groupId, node: this.opts.edgeNodeId }, 'Sparkplug edge node connected');
    const filters = [this.topic('NCMD'), `${this.topic('DCMD')}/+`];
    if (this.opts.primaryHostId !== undefined) filters.push(`${NAMESPACE}/STATE/${this.opts.primaryHostId}`);
    client.subscribe(filters, { qos: 1 }, (err) => {
      if (err) {
        this.log.warn({ err: errorMessage(err) }, 'Sparkplug command topics not subscribed; reconnecting');
        client.end(true);
        return;
      }
      if (this.client === client) this.tick(true);
    });
  }

  private onClose(client: MqttClient): void {
    if (this.client !== client) return;
    client.removeAllListeners();
    client.on('error', () => undefined);
    client.end(true);
    this.client = null;
    if (this.isConnected) this.log.warn({ bdSeq: this.bdSeq }, 'Sparkplug edge node disconnected; reconnecting');
    this.isConnected = false;
    this.born = false;
    this.scheduleReconnect();
  }

  private scheduleReconnect(): void {
    if (this.stopping) return;
    clearTimeout(this.reconnectTimer);
    this.reconnectTimer = setTimeout(() => void this.connect(), this.opts.mqtt.reconnectMs);
    this.reconnectTimer.unref();
  }

  private ready(): boolean {
    return this.client !== null && this.isConnected && this.hostOnline;
  }

  private tick(force = false): void {
    if (!this.ready()) return;
    if (!this.born) {
      this.birth();
      return;
    }
    this.deviceLifecycle();
    const now = Date.now();
    if (!force && now - this.lastDataAt < this.opts.minIntervalMs) return;
    this.lastDataAt = now;
    const node = this.nodeMetrics();
    const changed = this.changes(node, this.nodeSent);
    if (changed === 'rebirth') {
      this.birth();
      return;
    }
    if (changed.length > 0) this.publish(this.topic('NDATA'), changed);
    for (const [id, sent] of this.deviceSent) {
      const delta = this.changes(this.opts.source.device(id), sent);
      if (delta === 'rebirth') {
        this.birth();
        return;
      }
      if (delta.length > 0) this.publish(this.topic('DDATA', id), delta);
    }
  }

  /** NBIRTH (seq 0) and a DBIRTH per online device; the values sent become the baseline for data. */
  private birth(): void {
    this.seq = 0;
    this.born = true;
    this.counts.births++;
    this.deviceSent.clear();
    const node = this.nodeMetrics();
    // bdSeq is INT64 (tck-id-message-flow-edge-node-birth-publish-nbirth-payload-bdSeq), in the Will too
    const birth: MetricSet = { bdSeq: { type: 'Int64', value: this.bdSeq ?? 0 }, [REBIRTH]: { type: 'Boolean', value: false }, ...node };
    this.nodeSent = new Map(Object.entries(node).map(([k, m]) => [k, m.value]));
    this.publish(this.topic('NBIRTH'), Object.entries(birth));
    this.lastDataAt = Date.now();
    this.deviceLifecycle();
  }

  private deviceLifecycle(): void {
    const seen = new Set<string>();
    for (const { id, online } of this.opts.source.devices()) {
      seen.add(id);
      if (online && !this.deviceSent.has(id)) this.deviceBirth(id);
      else if (!online && this.deviceSent.has(id)) this.deviceDeath(id);
    }
    for (const id of [...this.deviceSent.keys()]) if (!seen.has(id)) this.deviceDeath(id);
  }

  private deviceBirth(id: string): void {
    const metrics = this.opts.source.device(id);
    this.deviceSent.set(id, new Map(Object.entries(metrics).map(([k, m]) => [k, m.value])));
    const controls: MetricSet = {};
    for (const cmd of ['pause', 'resume'] as const) if (this.opts.commands[cmd]) controls[DEVICE_COMMANDS[cmd]] = { type: 'Boolean', value: false };
    this.publish(this.topic('DBIRTH', id), Object.entries({ ...metrics, ...controls }));
  }

  private deviceDeath(id: string): void {
    this.deviceSent.delete(id);
    this.publish(this.topic('DDEATH', id), []);
  }

  private nodeMetrics(): MetricSet {
    return { ...this.opts.source.node(), [IGNORED_COMMANDS]: { type: 'UInt64', value: this.counts.ignoredCommands } };
  }

  /** The metrics whose value differs from what was sent (and records them as sent), or 'rebirth' for a name the birth did not have. */
  private changes(now: MetricSet, sent: Sent): Array<[string, Metric]> | 'rebirth' {
    const out: Array<[string, Metric]> = [];
    for (const [name, m] of Object.entries(now)) {
      if (!sent.has(name)) return 'rebirth';
      if (sent.get(name) !== m.value) out.push([name, m]);
    }
    for (const [name, m] of out) sent.set(name, m.value);
    return out;
  }

  private publish(topic: string, metrics: Array<[string, Metric]>): void {
    const seq = this.seq;
    this.seq = (this.seq + 1) % 256;
    const timestamp = Date.now();
    const body = codec.encodePayload({
      timestamp,
      seq,
      metrics: metrics.map(([name, m]) => ({ name, type: m.type, value: m.value, timestamp, ...(m.value === null ? { isNull: true } : {}) })),
    });
    this.counts.messages++;
    this.client?.publish(topic, Buffer.from(body), { qos: 0, retain: false });
  }

  private deathPayload(bdSeq: number): Buffer {
    return Buffer.from(codec.encodePayload({ timestamp: Date.now(), metrics: [{ name: 'bdSeq', type: 'Int64', value: bdSeq }] }));
  }

  private onMessage(topic: string, payload: Buffer): void {
    try {
      if (topic.startsWith(`${NAMESPACE}/STATE/`)) {
        this.onHostState(payload);
        return;
      }
      const decoded = codec.decodePayload(payload);
      const metrics = decoded.metrics ?? [];
      if (topic === this.topic('NCMD')) {
        for (const m of metrics) {
          if (m.name === REBIRTH && m.value === true && this.opts.commands.rebirth) {
            this.log.info('Sparkplug rebirth requested (NCMD)');
            // While the primary host is offline the birth waits for it to come back.
            if (this.ready()) this.birth();
          } else this.ignore(topic, m.name);
        }
        return;
      }
      const device = topic.slice(this.topic('DCMD').length + 1);
      for (const m of metrics) {
        const cmd = (Object.keys(DEVICE_COMMANDS) as DeviceCommand[]).find((c) => DEVICE_COMMANDS[c] === m.name);
        if (cmd && m.value === true && this.opts.commands[cmd] && this.deviceSent.has(device)) this.opts.onDeviceCommand(device, cmd);
        else this.ignore(topic, m.name);
      }
    } catch (err) {
      this.counts.ignoredCommands++;
      this.log.warn({ topic, err: errorMessage(err) }, 'Sparkplug command not decoded; ignored');
    }
  }

  private ignore(topic: string, name: string | null | undefined): void {
    this.counts.ignoredCommands++;
    this.log.warn({ topic, metric: name }, 'Sparkplug command ignored: unknown, not true, or disabled in sparkplug.commands');
  }

  /** Sparkplug 3.0 STATE: {"online": bool, "timestamp": ms}; an older timestamp than the last seen is stale. */
  private onHostState(payload: Buffer): void {
    const body = JSON.parse(payload.toString('utf8')) as { online?: unknown; timestamp?: unknown };
    if (typeof body.online !== 'boolean' || typeof body.timestamp !== 'number') throw new Error('STATE payload must be {"online": boolean, "timestamp": number}');
    if (body.timestamp < this.hostTimestamp) return;
    this.hostTimestamp = body.timestamp;
    const was = this.hostOnline;
    this.hostOnline = body.online;
    if (body.online && !was) {
      this.log.info({ host: this.opts.primaryHostId }, 'Sparkplug primary host online: birth');
      this.born = false;
      this.tick(true);
    } else if (!body.online && was) {
      // Sparkplug 3.0 (tck-id-message-flow-edge-node-birth-publish-phid-offline): NDEATH, disconnect, start over.
      this.log.warn({ host: this.opts.primaryHostId }, 'Sparkplug primary host offline: NDEATH and reconnect; births wait until it is back');
      this.born = false;
      this.endSession();
    }
  }

  /** NDEATH with this connection's bdSeq, then a clean disconnect; the close handler reconnects (next bdSeq). */
  private endSession(): void {
    const client = this.client;
    if (!client || this.bdSeq === null) return;
    client.publish(this.topic('NDEATH'), this.deathPayload(this.bdSeq), { qos: 1, retain: false }, () => client.end());
  }
}
