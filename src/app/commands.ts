/**
 * MQTT commands (<base>/<device>/cmd/<name>): parsed into a typed command, then carried out.
 * cmd/reload (no payload); cmd/pause and cmd/resume (optional JSON {"camera": id}; all cameras when
 * absent); cmd/trigger (JSON {"camera": id, "partId": "...", "encoder": count?} or a plain-text part id with
 * one camera); cmd/encoder (JSON {"camera": id?, "count": n, "at": ms or ISO time?}, or a plain number): a belt
 * encoder reading, for every camera when camera is absent, taken now when `at` is absent.
 */
import type { Logger } from '../ops/log.js';
import type { Pipeline } from '../pipeline/pipeline.js';
import type { DaemonBus } from './events.js';

export type Command =
  | { kind: 'reload' }
  | { kind: 'pause' | 'resume'; camera?: string }
  | { kind: 'trigger'; camera?: string; partId: string; encoder?: number }
  | { kind: 'encoder'; camera?: string; count: number; at?: number };

export type ParsedCommand = { ok: true; command: Command } | { ok: false; reason: string };

const MAX_PART_ID = 200;

export function parseCommand(name: string, payload: Buffer): ParsedCommand {
  const text = payload.toString('utf8').trim();
  let body: Record<string, unknown> = {};
  if (text.startsWith('{')) {
    try {
      body = JSON.parse(text) as Record<string, unknown>;
    } catch {
      return { ok: false, reason: 'command payload is not valid JSON; ignored' };
    }
  }
  const camera = typeof body.camera === 'string' ? body.camera : undefined;
  switch (name) {
    case 'reload':
      return { ok: true, command: { kind: 'reload' } };
    case 'pause':
    case 'resume':
      return { ok: true, command: camera === undefined ? { kind: name } : { kind: name, camera } };
    case 'trigger': {
      const raw = body.partId ?? body.triggerId ?? body.id ?? (text.startsWith('{') ? undefined : text);
      const partId = typeof raw === 'number' ? String(raw) : raw;
      if (typeof partId !== 'string' || partId === '' || partId.length > MAX_PART_ID) {
        return { ok: false, reason: 'trigger needs {"camera": id, "partId": "..."} (camera optional with one camera); ignored' };
      }
      const encoder = body.encoder;
      if (encoder !== undefined && !(typeof encoder === 'number' && Number.isFinite(encoder))) {
        return { ok: false, reason: 'trigger: encoder must be a number (the belt encoder count at the trigger); ignored' };
      }
      return {
        ok: true,
        command: { kind: 'trigger', partId, ...(camera !== undefined ? { camera } : {}), ...(encoder !== undefined ? { encoder } : {}) },
      };
    }
    case 'encoder': {
      const raw = text.startsWith('{') ? body.count : text === '' ? undefined : Number(text);
      if (typeof raw !== 'number' || !Number.isFinite(raw)) {
        return { ok: false, reason: 'encoder needs {"count": n, "camera": id?, "at": ms?} or a plain number; ignored' };
      }
      const at = typeof body.at === 'number' ? body.at : typeof body.at === 'string' ? Date.parse(body.at) : undefined;
      if (body.at !== undefined && !(at !== undefined && Number.isFinite(at))) {
        return { ok: false, reason: 'encoder: at must be epoch milliseconds or an ISO time; ignored' };
      }
      return { ok: true, command: { kind: 'encoder', count: raw, ...(camera !== undefined ? { camera } : {}), ...(at !== undefined ? { at } : {}) } };
    }
    default:
      return { ok: false, reason: 'unknown command; ignored' };
  }
}

/** Carries out commands from the bus; subscribes in start(), unsubscribes in stop(). */
export class CommandHandler {
  constructor(private readonly opts: { bus: DaemonBus; pipeline: Pipeline; reload: () => Promise<void>; logger: Logger }) {}

  start(): void {
    this.opts.bus.on('command', this, ({ name, payload }) => this.handle(name, payload));
  }

  stop(): void {
    this.opts.bus.removeListeners(this);
  }

  handle(name: string, payload: Buffer): void {
    const { pipeline, logger, bus } = this.opts;
    const parsed = parseCommand(name, payload);
    if (!parsed.ok) {
      logger.warn({ command: name }, parsed.reason);
      return;
    }
    const cmd = parsed.command;
    switch (cmd.kind) {
      case 'reload':
        void this.opts.reload();
        return;
      case 'pause':
      case 'resume': {
        const ids = cmd.kind === 'pause' ? pipeline.pause(cmd.camera) : pipeline.resume(cmd.camera);
        logger.info({ command: cmd.kind, cameras: ids }, ids.length ? `cameras ${cmd.kind}d` : 'unknown camera; ignored');
        bus.emit('status.changed', {});
        return;
      }
      case 'trigger': {
        const ids = pipeline.cameraIds();
        const cam = cmd.camera ?? (ids.length === 1 ? ids[0] : undefined);
        if (!cam) {
          logger.warn({ command: name, camera: cam }, 'trigger needs {"camera": id, "partId": "..."} (camera optional with one camera); ignored');
          return;
        }
        if (!pipeline.trigger(cam, cmd.partId)) logger.warn({ camera: cam }, 'trigger for an unknown camera; ignored');
        else if (cmd.encoder !== undefined) pipeline.encoder(cam, cmd.encoder, Date.now());
        return;
      }
      case 'encoder':
        if (!pipeline.encoder(cmd.camera, cmd.count, cmd.at ?? Date.now())) logger.warn({ camera: cmd.camera }, 'encoder reading for an unknown camera; ignored');
        return;
    }
  }
}
