/** Sparkplug test bits: a subscriber that decodes spBv1.0 payloads with sparkplug-payload, and an edge node on a fake source. */
import mqtt, { type MqttClient } from 'mqtt';
import sparkplugPayload from 'sparkplug-payload';
import type { MqttConfig } from '../../src/config/types.js';
import type { Logger } from '../../src/ops/log.js';
import { nextBdSeq } from '../../src/sink/sparkplug/bdseq.js';
import { EdgeNode, type DeviceCommand, type EdgeNodeOptions, type MetricSet } from '../../src/sink/sparkplug/edge-node.js';

const codec = sparkplugPayload.get('spBv1.0')!;

export interface SpMessage {
  topic: string;
  kind: string;
  device?: string;
  seq: number | null;
  metrics: Map<string, unknown>;
  types: Map<string, string>;
}

/** Long (64-bit ints) to number; everything else as decoded. */
function plain(v: unknown): unknown {
  return v !== null && typeof v === 'object' && 'low' in v && 'high' in v ? Number((v as { toString(): string }).toString()) : v;
}

export class SpRecorder {
  readonly messages: SpMessage[] = [];
  private client: MqttClient | null = null;

  async start(url: string): Promise<void> {
    const client = mqtt.connect(url, { reconnectPeriod: 200, connectTimeout: 2000, clean: true });
    this.client = client;
    client.on('message', (topic, payload) => {
      // STATE and commands are what the test itself sends.
      if (topic.startsWith('spBv1.0/STATE/') || /^spBv1\.0\/[^/]+\/[ND]CMD\//.test(topic)) return;
      const d = codec.decodePayload(payload);
      const parts = topic.split('/');
      const metrics = new Map<string, unknown>();
      const types = new Map<string, string>();
      for (const m of d.metrics ?? []) {
        metrics.set(m.name ?? '', plain(m.value));
        types.set(m.name ?? '', m.type);
      }
      this.messages.push({ topic, kind: parts[2], ...(parts[4] !== undefined ? { device: parts[4] } : {}), seq: d.seq == null ? null : (plain(d.seq) as number), metrics, types });
    });
    let subscribed = false;
    client.on('connect', () => client.subscribe('spBv1.0/#', { qos: 1 }, () => (subscribed = true)));
    await this.until(() => subscribed, 5000, 'recorder subscribe');
  }

  of(kind: string): SpMessage[] {
    return this.messages.filter((m) => m.kind === kind);
  }

  publish(topic: string, payload: Buffer | string, retain = false): Promise<void> {
    return new Promise((resolve, reject) => this.client!.publish(topic, payload, { qos: 1, retain }, (err) => (err ? reject(err) : resolve())));
  }

  command(topic: string, name: string, value: boolean): Promise<void> {
    return this.publish(topic, Buffer.from(codec.encodePayload({ timestamp: Date.now(), metrics: [{ name, type: 'Boolean', value }] })));
  }

  async until(pred: () => boolean, timeoutMs: number, what: string): Promise<void> {
    const end = Date.now() + timeoutMs;
    while (!pred()) {
      if (Date.now() > end) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  async stop(): Promise<void> {
    await this.client?.endAsync(true).catch(() => undefined);
    this.client = null;
  }
}

export function testMqttConfig(url: string): MqttConfig {
  return {
    url,
    baseTopic: 'inspectd',
    detectionsQos: 0,
    protocolVersion: 5,
    publishDetections: true,
    keepaliveSec: 5,
    reconnectMs: 200,
    reconnectMaxMs: 1000,
    embedded: { host: '127.0.0.1', port: 0 },
  };
}

/** A source whose values a test sets. */
export class FakeSource {
  node: MetricSet = { 'Node Info/Version': { type: 'String', value: '0.0.0' }, 'Outbox/Depth': { type: 'UInt64', value: 0 } };
  readonly cams = new Map<string, { online: boolean; metrics: MetricSet }>();
  readonly commands: Array<[string, DeviceCommand]> = [];

  camera(id: string, online = true): void {
    this.cams.set(id, { online, metrics: { 'Camera/State': { type: 'String', value: online ? 'ok' : 'fault' }, 'Rejects/Total': { type: 'UInt64', value: 0 } } });
  }
}

export function fakeEdgeNode(url: string, stateDir: string, source: FakeSource, logger: Logger, over: Partial<EdgeNodeOptions> = {}): EdgeNode {
  return new EdgeNode({
    url,
    mqtt: testMqttConfig(url),
    clientId: `sp-test-${process.pid}-${Math.random().toString(36).slice(2, 8)}`,
    groupId: 'g1',
    edgeNodeId: 'box1',
    minIntervalMs: 60_000,
    commands: { rebirth: true, pause: false, resume: true },
    nextBdSeq: () => nextBdSeq(stateDir),
    source: {
      node: () => source.node,
      devices: () => [...source.cams].map(([id, c]) => ({ id, online: c.online })),
      device: (id) => source.cams.get(id)?.metrics ?? {},
    },
    onDeviceCommand: (d, c) => void source.commands.push([d, c]),
    logger,
    ...over,
  });
}
