/**
 * Shared bits of the daemon integration tests: an MQTT recorder, config files, a scripted detector,
 * `inspectd run` as a child process, and an sd_notify datagram receiver.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import mqtt, { type MqttClient } from 'mqtt';
import { stringify } from 'yaml';
import { FakeDetectorBase } from './fake-detector.js';
import { tryLoadNativeAddon } from '../../src/native/loader.js';
import { REPO_ROOT } from './fixtures.js';
import type { Frame } from '../../src/contracts/frame.js';
import type { Detection } from '../../src/contracts/vision.js';

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

  /** `session`: a client id whose subscription the broker keeps while the recorder is away (clean: false). */
  async start(url: string, filter = '#', opts: { session?: string } = {}): Promise<void> {
    const session = opts.session ? { clientId: opts.session, clean: false } : { clean: true };
    const client = mqtt.connect(url, { reconnectPeriod: 200, connectTimeout: 2000, ...session });
    this.client = client;
    client.on('message', (topic, payload, packet) => this.messages.push({ topic, text: payload.toString(), retain: packet.retain, at: Date.now() }));
    client.on('connect', () => client.subscribe(filter, { qos: 1 }));
    await this.until(() => client.connected, 5000, 'recorder connect');
  }

  publish(topic: string, payload: string, opts: { retain?: boolean } = {}): Promise<void> {
    return new Promise((resolve, reject) => this.client!.publish(topic, payload, { qos: 1, retain: opts.retain ?? false }, (err) => (err ? reject(err) : resolve())));
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
  replaceFile(file, stringify(obj));
}

/** Writes beside the file, then renames over it: how editors and config management replace a file (the watcher handles it). */
export function replaceFile(file: string, text: string): void {
  const tmp = file + '.tmp';
  writeFileSync(tmp, text);
  renameSync(tmp, file);
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** `inspectd run ARGS` as a child process (the installed bin's entry point), its output kept. */
export class InspectdProcess {
  readonly child: ChildProcess;
  readonly exited: Promise<number | null>;
  private out = '';

  constructor(args: string[], env: NodeJS.ProcessEnv) {
    this.child = spawn(process.execPath, [path.join(REPO_ROOT, 'dist', 'src', 'main.js'), 'run', ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    this.child.stdout!.on('data', (d: Buffer) => (this.out += d.toString()));
    this.child.stderr!.on('data', (d: Buffer) => (this.out += d.toString()));
    this.exited = new Promise((resolve) => this.child.once('exit', (code) => resolve(code)));
  }

  get output(): string {
    return this.out;
  }

  /** The last part of the output, for assertion messages. */
  tail(chars = 3000): string {
    return this.out.slice(-chars);
  }

  /** pino JSON log lines (other output skipped). */
  logs(): Record<string, any>[] {
    const lines: Record<string, any>[] = [];
    for (const line of this.out.split('\n')) {
      if (!line.startsWith('{')) continue;
      try {
        lines.push(JSON.parse(line) as Record<string, any>);
      } catch {
        // a line cut mid-write
      }
    }
    return lines;
  }

  /** Pids of this daemon's ffmpeg children. */
  ffmpegPids(): number[] {
    if (this.child.pid === undefined) return [];
    const r = spawnSync('pgrep', ['-P', String(this.child.pid), '-x', 'ffmpeg'], { encoding: 'utf8' });
    return (r.stdout ?? '').split('\n').filter(Boolean).map(Number);
  }

  signal(sig: NodeJS.Signals): void {
    this.child.kill(sig);
  }

  /** Exit code, or 'timeout' after timeoutMs. */
  async waitExit(timeoutMs: number): Promise<number | null | 'timeout'> {
    let timer: NodeJS.Timeout | undefined;
    try {
      return await Promise.race([this.exited, new Promise<'timeout'>((r) => (timer = setTimeout(() => r('timeout'), timeoutMs)))]);
    } finally {
      clearTimeout(timer);
    }
  }

  /** For t.after: kills the daemon and its ffmpeg children if a test failed half-way. */
  kill(): void {
    const pids = this.ffmpegPids();
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill('SIGKILL');
    for (const pid of pids) {
      try {
        process.kill(pid, 'SIGCONT');
        process.kill(pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
  }
}

export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Why sd_notify tests cannot run here (node:test skip value), or false. */
export function notifyReceiverSkip(): false | string {
  return tryLoadNativeAddon('inspectd_test_native') ? false : 'test addon inspectd_test_native not built (npm run build:native): it holds the datagram receiver';
}

/**
 * Receives sd_notify datagrams on an AF_UNIX socket (Node cannot bind one; the test-only addon
 * inspectd_test_native has a receiver). Polls without blocking the event loop.
 */
export class NotifyReceiver {
  readonly datagrams: { at: number; text: string }[] = [];
  private fd = -1;
  private timer: NodeJS.Timeout | undefined;

  constructor(readonly socketPath: string) {}

  start(): void {
    const addon = tryLoadNativeAddon('inspectd_test_native');
    if (!addon) throw new Error('test addon inspectd_test_native not built: no datagram receiver');
    this.fd = addon.dgramBind(this.socketPath);
    this.timer = setInterval(() => {
      for (let msg = addon.dgramRecv(this.fd, 0); msg !== null; msg = addon.dgramRecv(this.fd, 0)) this.datagrams.push({ at: Date.now(), text: msg });
    }, 10);
  }

  /** Datagrams whose first field is `field` (e.g. 'WATCHDOG=1'), optionally only those received at or after `from`. */
  count(field: string, from = 0): number {
    return this.datagrams.filter((d) => d.at >= from && d.text.split('\n')[0] === field).length;
  }

  stop(): void {
    clearInterval(this.timer);
    if (this.fd >= 0) tryLoadNativeAddon('inspectd_test_native')?.dgramClose(this.fd);
    this.fd = -1;
    rmSync(this.socketPath, { force: true });
  }
}

/** A detector that reports `scratch` (class 1) at 0.8 on every frame; no onnxruntime needed. */
export class ScriptedDetector extends FakeDetectorBase {
  readonly engineKind = 'scripted';
  runs = 0;
  constructor(private readonly detect: (f: Frame) => Detection[] = () => [{ class: 'scratch', classId: 1, confidence: 0.8, box: { x1: 4, y1: 4, x2: 20, y2: 20 } }]) {
    super(['ok', 'scratch', 'dent'], [32, 32]);
  }
  async detectFrame(frame: Frame) {
    this.runs++;
    await new Promise((r) => setTimeout(r, 2));
    return { detections: this.detect(frame), timings: { preprocessMs: 0.1, inferenceMs: 2, postprocessMs: 0.1 } };
  }
}
