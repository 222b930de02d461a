/**
 * MQTT commands (<base>/<device>/cmd/<name>), each off unless config `commands` enables it: validated into a
 * typed command, then carried out. A payload that does not validate is refused (logged at warn, counted,
 * shown on the status topic), never widened.
 *   cmd/reload   any payload
 *   cmd/pause, cmd/resume   empty, {} or {"camera": "*"}: every camera; {"camera": "<id>"}: that camera
 *   cmd/trigger  {"camera": "<id>", "partId": "<id>", "encoder": count?} (camera optional with one camera), or a plain-text part id
 *   cmd/encoder  {"camera": "<id>"?, "count": n, "at": ms or ISO time?}, or a plain number: a belt encoder
 *                reading, for every camera when camera is absent, taken now when `at` is absent
 */
import type { CommandsConfig } from '../config/types.js';
import type { Logger } from '../ops/log.js';
import type { Metrics } from '../ops/metrics.js';
import type { Pipeline } from '../pipeline/pipeline.js';
import type { CameraRegistry } from './cameras.js';
import type { DaemonBus } from './events.js';

export type Command =
  | { kind: 'reload' }
  | { kind: 'pause' | 'resume'; camera: string | '*' }
  | { kind: 'trigger'; camera?: string; partId: string; encoder?: number }
  | { kind: 'encoder'; camera?: string; count: number; at?: number };

export type ParsedCommand = { ok: true; command: Command } | { ok: false; reason: string };

const MAX_PART_ID = 200;
const ALL = '*';

function parseJsonObject(text: string): Record<string, unknown> | string {
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    return 'payload is not valid JSON';
  }
  if (body === null || typeof body !== 'object' || Array.isArray(body)) return 'payload must be a JSON object';
  return body as Record<string, unknown>;
}

function unknownKeys(body: Record<string, unknown>, allowed: readonly string[]): string | undefined {
  const extra = Object.keys(body).filter((k) => !allowed.includes(k));
  return extra.length > 0 ? `unknown field${extra.length > 1 ? 's' : ''} ${extra.map((k) => JSON.stringify(k)).join(', ')} (allowed: ${allowed.join(', ')})` : undefined;
}

export function parseCommand(name: string, payload: Buffer): ParsedCommand {
  const text = payload.toString('utf8').trim();
  const refuse = (reason: string): ParsedCommand => ({ ok: false, reason });
  switch (name) {
    case 'reload':
      return { ok: true, command: { kind: 'reload' } };
    case 'pause':
    case 'resume': {
      const usage = `expected no payload, {} or {"camera": "*"} for every camera, or {"camera": "<id>"}`;
      if (text === '') return { ok: true, command: { kind: name, camera: ALL } };
      const body = parseJsonObject(text);
      if (typeof body === 'string') return refuse(`${body}; ${usage}`);
      const extra = unknownKeys(body, ['camera']);
      if (extra) return refuse(`${extra}; ${usage}`);
      if (body.camera === undefined) return { ok: true, command: { kind: name, camera: ALL } };
      if (typeof body.camera !== 'string' || body.camera === '') return refuse(`"camera" must be a non-empty string; ${usage}`);
      return { ok: true, command: { kind: name, camera: body.camera } };
    }
    case 'trigger': {
      const usage = 'expected {"camera": "<id>", "partId": "<id>"} (camera optional with one camera) or a plain-text part id';
      let camera: string | undefined;
      let raw: unknown = text;
      let encoder: unknown;
      if (text.startsWith('{') || text.startsWith('[') || text === 'null') {
        const body = parseJsonObject(text);
        if (typeof body === 'string') return refuse(`${body}; ${usage}`);
        const extra = unknownKeys(body, ['camera', 'partId', 'triggerId', 'id', 'encoder']);
        if (extra) return refuse(`${extra}; ${usage}`);
        if (body.camera !== undefined && (typeof body.camera !== 'string' || body.camera === '')) return refuse(`"camera" must be a non-empty string; ${usage}`);
        camera = body.camera as string | undefined;
        raw = body.partId ?? body.triggerId ?? body.id;
        encoder = body.encoder;
      }
      const partId = typeof raw === 'number' && Number.isFinite(raw) ? String(raw) : raw;
      if (typeof partId !== 'string' || partId === '' || partId.length > MAX_PART_ID) return refuse(`a part id of 1-${MAX_PART_ID} characters is needed; ${usage}`);
      if (encoder !== undefined && !(typeof encoder === 'number' && Number.isFinite(encoder)))
        return refuse(`"encoder" must be a number (the belt encoder count at the trigger); ${usage}`);
      return {
        ok: true,
        command: { kind: 'trigger', partId, ...(camera !== undefined ? { camera } : {}), ...(encoder !== undefined ? { encoder: encoder as number } : {}) },
      };
    }
    case 'encoder': {
      const usage = 'expected {"count": n, "camera": "<id>"?, "at": epoch ms or ISO time?} or a plain number';
      let body: Record<string, unknown> = {};
      let raw: unknown = text === '' ? undefined : Number(text);
      if (text.startsWith('{') || text.startsWith('[') || text === 'null') {
        const parsed = parseJsonObject(text);
        if (typeof parsed === 'string') return refuse(`${parsed}; ${usage}`);
        const extra = unknownKeys(parsed, ['camera', 'count', 'at']);
        if (extra) return refuse(`${extra}; ${usage}`);
        body = parsed;
        raw = body.count;
      }
      if (typeof raw !== 'number' || !Number.isFinite(raw)) return refuse(`"count" must be a number; ${usage}`);
      if (body.camera !== undefined && (typeof body.camera !== 'string' || body.camera === '')) return refuse(`"camera" must be a non-empty string; ${usage}`);
      const camera = body.camera as string | undefined;
      const at = typeof body.at === 'number' ? body.at : typeof body.at === 'string' ? Date.parse(body.at) : undefined;
      if (body.at !== undefined && !(at !== undefined && Number.isFinite(at))) return refuse(`"at" must be epoch milliseconds or an ISO time; ${usage}`);
      return { ok: true, command: { kind: 'encoder', count: raw, ...(camera !== undefined ? { camera } : {}), ...(at !== undefined ? { at } : {}) } };
    }
    default:
      return refuse('unknown command');
  }
}

export interface CommandStats {
  accepted: number;
  refused: number;
  /** Ignored because config `commands` has them off. */
  disabled: number;
  lastRefused: { at: string; command: string; reason: string } | null;
}

/** Carries out commands from the bus; subscribes in start(), unsubscribes in stop(). */
export class CommandHandler {
  private readonly counts: CommandStats = { accepted: 0, refused: 0, disabled: 0, lastRefused: null };
  private readonly warnedDisabled = new Set<string>();

  constructor(
    private readonly opts: {
      bus: DaemonBus;
      pipeline: Pipeline;
      cameras: CameraRegistry;
      /** The config's `commands` section now (a reload can change it). */
      enabled: () => Readonly<CommandsConfig>;
      reload: () => Promise<void>;
      metrics: Metrics;
      logger: Logger;
    },
  ) {}

  get stats(): Readonly<CommandStats> {
    return this.counts;
  }

  start(): void {
    this.opts.bus.on('command', this, ({ name, payload }) => this.handle(name, payload));
  }

  stop(): void {
    this.opts.bus.removeListeners(this);
  }

  /** Carries out one command; true when it was accepted. */
  handle(name: string, payload: Buffer): boolean {
    const enabled = this.opts.enabled();
    if (!(name in enabled) || !enabled[name as keyof CommandsConfig]) return this.ignoreDisabled(name);
    return this.carryOut(name, payload);
  }

  /** Carries out a command its caller has already allowed (Sparkplug DCMD, gated by sparkplug.commands); true when accepted. */
  carryOut(name: string, payload: Buffer): boolean {
    const parsed = parseCommand(name, payload);
    if (!parsed.ok) return this.refuse(name, parsed.reason);
    const { pipeline, cameras, logger, bus } = this.opts;
    const cmd = parsed.command;
    switch (cmd.kind) {
      case 'reload':
        this.accept(name);
        void this.opts.reload();
        return true;
      case 'pause':
      case 'resume': {
        const camera = cmd.camera === ALL ? undefined : cmd.camera;
        if (camera !== undefined && !cameras.config(camera)) return this.refuse(name, `unknown camera '${camera}' (cameras: ${pipeline.cameraIds().join(', ')})`);
        const ids = cmd.kind === 'pause' ? pipeline.pause(camera) : pipeline.resume(camera);
        this.accept(name);
        logger.info({ command: cmd.kind, cameras: ids }, `cameras ${cmd.kind}d`);
        bus.emit('status.changed', {});
        return true;
      }
      case 'trigger': {
        const ids = pipeline.cameraIds();
        const camera = cmd.camera ?? (ids.length === 1 ? ids[0] : undefined);
        if (camera === undefined) return this.refuse(name, `"camera" is needed with ${ids.length} cameras (${ids.join(', ')})`);
        const cfg = cameras.config(camera);
        if (!cfg) return this.refuse(name, `unknown camera '${camera}' (cameras: ${ids.join(', ')})`);
        if (!cfg.trigger) return this.refuse(name, `camera '${camera}' is not in trigger mode (set trigger: true in its config); part ${cmd.partId} not judged`);
        if (pipeline.isPaused(camera)) return this.refuse(name, `camera '${camera}' is paused; part ${cmd.partId} not judged (resume it first)`);
        pipeline.trigger(camera, cmd.partId);
        if (cmd.encoder !== undefined) pipeline.encoder(camera, cmd.encoder, Date.now());
        this.accept(name);
        return true;
      }
      case 'encoder':
        if (!pipeline.encoder(cmd.camera, cmd.count, cmd.at ?? Date.now())) return this.refuse(name, `unknown camera '${cmd.camera}'`);
        this.accept(name);
        return true;
    }
  }

  private accept(name: string): void {
    this.counts.accepted++;
    this.opts.metrics.commands.inc({ command: name, result: 'accepted' });
  }

  /** Off in config: ignored and counted; said once per command so a chatty publisher does not flood the log. */
  private ignoreDisabled(name: string): false {
    this.counts.disabled++;
    this.opts.metrics.commands.inc({ command: name, result: 'disabled' });
    if (this.warnedDisabled.has(name)) return false;
    this.warnedDisabled.add(name);
    this.opts.logger.warn({ command: name }, `MQTT command ignored: cmd/${name} is disabled (enable it with commands: { ${name}: true })`);
    return false;
  }

  private refuse(name: string, reason: string): false {
    this.counts.refused++;
    this.counts.lastRefused = { at: new Date().toISOString(), command: name, reason };
    this.opts.metrics.commands.inc({ command: name, result: 'refused' });
    this.opts.logger.warn({ command: name, reason }, 'MQTT command refused');
    this.opts.bus.emit('status.changed', {});
    return false;
  }
}
