/** Shared bits of the daemon integration tests: an MQTT recorder, config files, a scripted detector. */
import { mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import mqtt, { type MqttClient } from 'mqtt';
import { stringify } from 'yaml';
import type { DaemonDetector } from '../../src/daemon.js';
import type { Frame } from '../../src/source/frame.js';
import type { Detection } from '../../src/vision/types.js';

export interface Received {
  topic: string;
  text: string;
  retain: boolean;
  at: number;
}

/** Subscribes to everything under a prefix and keeps every message, in arrival order. */
export class MqttRecorder {
  readonly messages: Received[] = [];
  private client: MqttClient | null = null;

  async start(url: string, filter = '#'): Promise<void> {
    const client = mqtt.connect(url, { reconnectPeriod: 200, connectTimeout: 2000, clean: true });
    this.client = client;
    client.on('message', (topic, payload, packet) => this.messages.push({ topic, text: payload.toString(), retain: packet.retain, at: Date.now() }));
    client.on('connect', () => client.subscribe(filter, { qos: 1 }));
    await this.until(() => client.connected, 5000, 'recorder connect');
  }

  publish(topic: string, payload: string): Promise<void> {
    return new Promise((resolve, reject) => this.client!.publish(topic, payload, { qos: 1 }, (err) => (err ? reject(err) : resolve())));
  }

  on(suffix: string): Received[] {
    return this.messages.filter((m) => m.topic.endsWith(suffix));
  }

  json<T = Record<string, unknown>>(suffix: string): T[] {
    return this.on(suffix).map((m) => JSON.parse(m.text) as T);
  }

  async until(pred: () => boolean, timeoutMs: number, what: string | (() => string)): Promise<void> {
    const end = Date.now() + timeoutMs;
    while (!pred()) {
      if (Date.now() > end) throw new Error(`timed out after ${timeoutMs} ms waiting for ${typeof what === 'function' ? what() : what}`);
      await new Promise((r) => setTimeout(r, 25));
    }
  }

  async stop(): Promise<void> {
    await this.client?.endAsync(true).catch(() => undefined);
    this.client = null;
  }
}

export function tempDir(prefix: string): { dir: string; cleanup: () => void } {
  const dir = mkdtempSync(path.join(os.tmpdir(), prefix));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

export function writeYaml(file: string, obj: unknown): void {
  const tmp = file + '.tmp';
  writeFileSync(tmp, stringify(obj));
  // rename: how editors and config management replace a file (the watcher handles it)
  renameSync(tmp, file);
}

/** A detector that reports `scratch` (class 1) at 0.8 on every frame; no onnxruntime needed. */
export class ScriptedDetector implements DaemonDetector {
  readonly metadata = { names: ['ok', 'scratch', 'dent'], imgsz: [32, 32] as [number, number] };
  readonly engineKind = 'scripted';
  readonly refusals = [];
  readonly modelSha256 = 'f'.repeat(64);
  readonly layout = 'yolov8';
  runs = 0;
  disposed = false;
  constructor(private readonly detect: (f: Frame) => Detection[] = () => [{ class: 'scratch', classId: 1, confidence: 0.8, box: { x1: 4, y1: 4, x2: 20, y2: 20 } }]) {}
  async detectFrame(frame: Frame) {
    this.runs++;
    await new Promise((r) => setTimeout(r, 2));
    return { detections: this.detect(frame), timings: { preprocessMs: 0.1, inferenceMs: 2, postprocessMs: 0.1 } };
  }
  async dispose(): Promise<void> {
    this.disposed = true;
  }
}
