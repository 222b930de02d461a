/** What changed between two validated configs, so a reload restarts only the parts it must. */
import { canonicalJson } from './load.js';
import type { CameraConfig, Config } from './types.js';

export interface ConfigDiff {
  /** Engine/model must reload (any model.* key). */
  model: boolean;
  cameras: {
    added: string[];
    removed: string[];
    /** Source (or stall/frozen supervision) changed: the camera's source restarts with the new config. */
    restarted: string[];
    /** Only rules/deadlineMs/trigger changed: apply hot, no restart. A camera in `restarted` is not listed here. */
    rulesChanged: string[];
  };
  /** mqtt.* or device.id changed (device id is part of every topic): reconnect the publisher. */
  mqtt: boolean;
  http: boolean;
  outbox: boolean;
  snapshots: boolean;
  log: boolean;
  console: boolean;
}

const same = (a: unknown, b: unknown): boolean => canonicalJson(a) === canonicalJson(b);

export function diffConfig(prev: Config, next: Config): ConfigDiff {
  const before = new Map(prev.cameras.map((c) => [c.id, c]));
  const after = new Map(next.cameras.map((c) => [c.id, c]));
  const added: string[] = [];
  const removed: string[] = [];
  const restarted: string[] = [];
  const rulesChanged: string[] = [];
  for (const [id, cam] of after) {
    const old = before.get(id);
    if (!old) added.push(id);
    else if (!same(supervised(old), supervised(cam))) restarted.push(id);
    else if (!same(hot(old), hot(cam))) rulesChanged.push(id);
  }
  for (const id of before.keys()) if (!after.has(id)) removed.push(id);
  return {
    model: !same(prev.model, next.model),
    cameras: { added, removed, restarted, rulesChanged },
    mqtt: !same(prev.mqtt, next.mqtt) || prev.device.id !== next.device.id,
    http: !same(prev.http, next.http),
    outbox: !same(prev.outbox, next.outbox),
    snapshots: !same(prev.snapshots, next.snapshots),
    log: !same(prev.log, next.log),
    console: !same(prev.console, next.console),
  };
}

/** True when nothing at all changed. */
export function isEmptyDiff(d: ConfigDiff): boolean {
  const c = d.cameras;
  return (
    !d.model && !d.mqtt && !d.http && !d.outbox && !d.snapshots && !d.log && !d.console && c.added.length + c.removed.length + c.restarted.length + c.rulesChanged.length === 0
  );
}

function supervised(c: CameraConfig): unknown {
  return { source: c.source, stallTimeoutMs: c.stallTimeoutMs, frozenFrames: c.frozenFrames };
}

function hot(c: CameraConfig): unknown {
  return { rules: c.rules, deadlineMs: c.deadlineMs, trigger: c.trigger };
}
