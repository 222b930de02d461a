/**
 * Config loading: size cap -> YAML (with node ranges) -> JSON Schema validation with defaults (schema.ts) ->
 * cross-field checks -> relative path resolution -> hash -> machine-dependent defaults -> deep freeze. Every
 * problem is collected, then reported at once as one InspectdError CONFIG_INVALID whose lines read
 * `file:line:col key.path: message`.
 */
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { open } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';
import { isMap, isScalar, isSeq, LineCounter, parseDocument, type Document } from 'yaml';
import { ErrorCodes, InspectdError, errorMessage } from '../errors.js';
import { baseTopicProblem, CLIENT_ID_SAFE, ConfigSchema, DEVICE_ID_MAX_LENGTH, SOURCE_TYPES, TOPIC_SAFE } from './schema.js';
import type { CameraConfig, Config, SourceConfig, ValidatedCameraConfig, ValidatedConfig } from './types.js';

export interface LoadedConfig {
  config: Readonly<Config>;
  /**
   * sha256 hex of the canonical JSON (sorted keys) of what the file says: validated with the schema defaults,
   * relative paths resolved against the file's folder. Machine-dependent defaults (host name, state dirs from
   * the cwd or $STATE_DIRECTORY) are left out, so check-config and the running service agree on it.
   */
  hash: string;
  /** File path, or '<embedded defaults>'. */
  source: string;
  /** File positions of key paths, for problems found after loading (rule classes checked against the model). */
  locator: Locator;
  /** What is valid but unsafe (an inline password in a file others can read): logged at start and on reload. */
  warnings: string[];
}

export interface ConfigProblem {
  file: string;
  /** 1-based; absent when the problem has no place in the file (embedded defaults). */
  line?: number;
  col?: number;
  /** Key path, e.g. `cameras[0].source.fps`; '' for the whole document. */
  path: string;
  message: string;
}

export const EMBEDDED_SOURCE = '<embedded defaults>';

/** Larger files are refused before parsing: a real config is a few KB, and YAML parsing is not cheap. */
export const MAX_CONFIG_BYTES = 1024 * 1024;

function tooLarge(file: string, bytes: number): ConfigInvalidError {
  return new ConfigInvalidError(file, [
    { file, path: '', message: `the file is ${bytes} bytes; a config may be at most ${MAX_CONFIG_BYTES} bytes (1 MiB): is this the right file?` },
  ]);
}

/** CONFIG_INVALID carrying every problem found; message = one problem per line. */
export class ConfigInvalidError extends InspectdError {
  readonly problems: readonly ConfigProblem[];
  constructor(file: string, problems: ConfigProblem[]) {
    const n = problems.length;
    super(
      ErrorCodes.CONFIG_INVALID,
      `invalid config ${file}: ${n} problem${n === 1 ? '' : 's'} (fix them, then run \`inspectd check-config ${file}\`)\n` + formatProblems(problems).join('\n'),
    );
    this.problems = problems;
  }
}

/** Problems listed for people; the rest are counted (a wrong file can have hundreds of YAML errors). */
export const PROBLEMS_LISTED = 20;
/** Longest problem line shown; YAML errors quote whole lines of whatever the file holds. */
export const PROBLEM_LINE_MAX = 240;

/** The first PROBLEMS_LISTED problems, one line each of at most PROBLEM_LINE_MAX characters, then '… and N more'. */
export function formatProblems(problems: readonly ConfigProblem[]): string[] {
  const lines = problems.slice(0, PROBLEMS_LISTED).map((p) => {
    const line = formatProblem(p);
    return line.length > PROBLEM_LINE_MAX ? `${line.slice(0, PROBLEM_LINE_MAX - 1)}…` : line;
  });
  if (problems.length > PROBLEMS_LISTED) lines.push(`… and ${problems.length - PROBLEMS_LISTED} more`);
  return lines;
}

const NOT_A_MAPPING = 'does not look like an inspectd config: the top level is not a YAML mapping of keys (model:, cameras:, ...); is this the right file?';

export function formatProblem(p: ConfigProblem): string {
  const where = p.line !== undefined ? `${p.file}:${p.line}:${p.col ?? 1}` : p.file;
  return p.path ? `${where} ${p.path}: ${p.message}` : `${where} ${p.message}`;
}

export type Seg = string | number;

/** `cameras[0].source.fps` */
export function formatPath(segs: readonly Seg[]): string {
  let out = '';
  for (const s of segs) {
    if (typeof s === 'number') out += `[${s}]`;
    else if (/^[A-Za-z_$][\w$]*$/.test(s)) out += out ? `.${s}` : s;
    else out += `[${JSON.stringify(s)}]`;
  }
  return out;
}

// ---------------------------------------------------------------------------------------------------------
// Validator (compiled once per process)

let validator: ValidateFunction<ValidatedConfig> | undefined;

/** One validator for the whole file; a camera's source is checked against the one schema its `type` names. */
function getValidator(): ValidateFunction<ValidatedConfig> {
  validator ??= new Ajv({ allErrors: true, useDefaults: true, verbose: true, strict: false, discriminator: true, strictNumbers: true }).compile<ValidatedConfig>(ConfigSchema);
  return validator;
}

// ---------------------------------------------------------------------------------------------------------
// Locating key paths in the YAML document

export interface Locator {
  /** Position of the node at segs (or of its key when key=true); falls back to the deepest existing ancestor. */
  at(segs: readonly Seg[], key?: boolean): { line: number; col: number } | undefined;
}

function yamlLocator(doc: Document, lc: LineCounter): Locator {
  return {
    at(segs, key = false) {
      let node: unknown = doc.contents;
      let offset: number | undefined = rangeStart(node);
      for (let i = 0; i < segs.length; i++) {
        const seg = segs[i];
        let next: unknown;
        let keyNode: unknown;
        if (isMap(node)) {
          const pair = node.items.find((p) => (isScalar(p.key) ? String(p.key.value) : String(p.key)) === String(seg));
          if (pair) {
            keyNode = pair.key;
            next = pair.value;
          }
        } else if (isSeq(node) && typeof seg === 'number') {
          next = node.items[seg];
        }
        if (next === undefined && keyNode === undefined) break;
        const last = i === segs.length - 1;
        const start = last && key && keyNode ? rangeStart(keyNode) : (rangeStart(next) ?? rangeStart(keyNode));
        if (start !== undefined) offset = start;
        node = next;
      }
      const pos = lc.lineStarts.length > 0 ? lc.linePos(offset ?? 0) : undefined;
      return pos && pos.line > 0 ? pos : { line: 1, col: 1 };
    },
  };
}

function rangeStart(node: unknown): number | undefined {
  const r = (node as { range?: [number, number, number] } | null | undefined)?.range;
  return r ? r[0] : undefined;
}

const noLocator: Locator = { at: () => undefined };

// ---------------------------------------------------------------------------------------------------------
// Public API

/** Reads and validates a config file. Throws CONFIG_READ (cannot read) or CONFIG_INVALID (all problems). */
export async function loadConfigFile(file: string): Promise<LoadedConfig> {
  const abs = path.resolve(file);
  let text: string;
  let mode = 0;
  try {
    const handle = await open(abs, 'r');
    try {
      const { size, mode: m } = await handle.stat();
      mode = m;
      if (size > MAX_CONFIG_BYTES) throw tooLarge(abs, size);
      text = await handle.readFile('utf8');
    } finally {
      await handle.close();
    }
  } catch (err) {
    if (err instanceof ConfigInvalidError) throw err;
    throw new InspectdError(ErrorCodes.CONFIG_READ, `cannot read config file ${abs}: ${errorMessage(err)} (check the path given with --config and its permissions)`, {
      cause: err,
    });
  }
  const loaded = parseConfigText(text, abs, path.dirname(abs));
  const mqtt = loaded.config.mqtt;
  const inline = [mqtt.password !== undefined ? 'mqtt.password' : '', mqtt.tls?.passphrase !== undefined ? 'mqtt.tls.passphrase' : ''].filter(Boolean);
  // Group or others may read it (mode & 0o044): anyone with a shell on the box then has the broker password.
  if (inline.length > 0 && (mode & 0o044) !== 0) {
    loaded.warnings.push(
      `config file ${abs} holds ${inline.join(' and ')} and is readable by group or others (mode ${(mode & 0o777).toString(8).padStart(3, '0')}): ` +
        `run chmod 600 ${abs}, or move the secret to mqtt.passwordFile / mqtt.tls.passphraseFile (systemd LoadCredential=)`,
    );
  }
  return loaded;
}

/** Parses and validates YAML text; fileName is used in messages, relative paths resolve against baseDir. */
export function parseConfigText(text: string, fileName: string, baseDir: string): LoadedConfig {
  const bytes = Buffer.byteLength(text);
  if (bytes > MAX_CONFIG_BYTES) throw tooLarge(fileName, bytes);
  const lc = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lc, prettyErrors: false, merge: true, uniqueKeys: true });
  if (doc.errors.length > 0) {
    const problems: ConfigProblem[] = doc.errors.map((e) => {
      const pos = e.linePos?.[0] ?? lc.linePos(e.pos[0]);
      return { file: fileName, line: pos.line, col: pos.col, path: '', message: `YAML: ${firstLine(e.message)}` };
    });
    // Prose, source code and the like: say so first, rather than only listing what YAML made of it.
    if (!isMap(doc.contents)) problems.unshift({ file: fileName, line: 1, col: 1, path: '', message: NOT_A_MAPPING });
    throw new ConfigInvalidError(fileName, problems);
  }
  let data: unknown;
  try {
    data = doc.toJS({ maxAliasCount: 1000 });
  } catch (err) {
    throw new ConfigInvalidError(fileName, [{ file: fileName, line: 1, col: 1, path: '', message: `YAML: ${errorMessage(err)}` }]);
  }
  if (data === null || data === undefined) data = {};
  return validateConfigObject(data, fileName, baseDir, yamlLocator(doc, lc));
}

/**
 * Validates a plain object (already parsed). Used by parseConfigText and embeddedDefaults; `locator` maps key
 * paths to file positions when there is a file.
 */
export function validateConfigObject(input: unknown, fileName: string, baseDir: string, locator: Locator = noLocator): LoadedConfig {
  const data = stripNulls(structuredClone(input));
  const problems: ConfigProblem[] = [];
  const add = (segs: readonly Seg[], message: string, key = false): void => {
    const pos = locator.at(segs, key);
    problems.push({ file: fileName, line: pos?.line, col: pos?.col, path: formatPath(segs), message });
  };

  const validate = getValidator();
  const validated = validate(data) ? data : undefined;
  if (!validated) for (const e of validate.errors ?? []) reportAjvError(e, [], add);

  const root = (isObject(data) ? data : {}) as Record<string, unknown>;
  const cameras = Array.isArray(root.cameras) ? root.cameras : [];
  const seenIds = new Map<string, number>();
  cameras.forEach((cam: unknown, i: number) => {
    if (!isObject(cam) || typeof cam.id !== 'string') return;
    const prev = seenIds.get(cam.id);
    if (prev !== undefined) add(['cameras', i, 'id'], `duplicate camera id '${cam.id}' (also cameras[${prev}].id); ids must be unique`);
    else seenIds.set(cam.id, i);
    if (cam.trigger === true && cam.decision === 'part') {
      add(
        ['cameras', i, 'decision'],
        "decision 'part' tracks parts on a free-running camera; in trigger mode each trigger judges one frame: use decision: frame (the default with trigger)",
      );
    }
  });

  const commands = isObject(root.commands) ? root.commands : {};
  cameras.forEach((cam: unknown, i: number) => {
    if (isObject(cam) && cam.trigger === true && commands.trigger !== true) {
      add(['cameras', i, 'trigger'], 'a trigger-mode camera needs cmd/trigger: set commands: { trigger: true } (MQTT commands are off unless enabled)');
    }
  });

  const mqtt = isObject(root.mqtt) ? root.mqtt : {};
  const urlProblem = typeof mqtt.url === 'string' ? brokerUrlProblem(mqtt.url) : undefined;
  if (urlProblem) add(['mqtt', 'url'], urlProblem);
  const topicProblem = typeof mqtt.baseTopic === 'string' ? baseTopicProblem(mqtt.baseTopic) : undefined;
  if (topicProblem) add(['mqtt', 'baseTopic'], topicProblem);
  checkOneSecretSource(mqtt, 'password', ['mqtt'], add);
  if (isObject(mqtt.tls)) checkOneSecretSource(mqtt.tls, 'passphrase', ['mqtt', 'tls'], add);

  resolvePaths(root, baseDir);

  // Files that must exist: checked after resolution so messages show the path actually tried.
  const httpCfg = isObject(root.http) ? root.http : {};
  if (typeof httpCfg.tokenFile === 'string' && !existsSync(httpCfg.tokenFile)) add(['http', 'tokenFile'], `file not found: ${httpCfg.tokenFile}`);
  if (isObject(mqtt.tls)) {
    for (const k of ['ca', 'cert', 'key'] as const) {
      const f = mqtt.tls[k];
      if (typeof f === 'string' && !existsSync(f)) add(['mqtt', 'tls', k], `file not found: ${f}`);
    }
  }
  if (problems.length > 0 || !validated) {
    problems.sort((a, b) => (a.line ?? 0) - (b.line ?? 0) || (a.col ?? 0) - (b.col ?? 0));
    throw new ConfigInvalidError(fileName, problems);
  }

  const hash = configHash(validated);
  return { config: deepFreeze(resolveMachineDefaults(validated, baseDir)), hash, source: fileName, locator, warnings: deviceIdWarnings(validated.device.id) };
}

/** Host names OS images ship with: many boxes share them, so a device id taken from one is not unique in a fleet. */
const IMAGE_HOSTNAMES = /^(localhost|raspberrypi|ubuntu|debian|linux|jetson|nano|orin|xavier|nvidia|tegra|inspectd|edge|box|default)(-localdomain)?$/i;

/** A device id from a host name that many boxes share (topics, keys and the client id would collide): say so. */
export function deviceIdWarnings(configured: string | undefined, hostnameId = topicSafeHostname()): string[] {
  if (configured !== undefined || !IMAGE_HOSTNAMES.test(hostnameId)) return [];
  return [
    `device.id is not set and the host name "${hostnameId}" is one that OS images ship with: boxes sharing it publish on the same topics and ` +
      'kick each other off the broker (same client id); set device.id (unique and stable, e.g. press-line-7) or give the box its own host name',
  ];
}

/** A secret comes from one place: `key` inline, `keyFile` or `keyEnv`; two would leave which one wins unclear. */
function checkOneSecretSource(section: Record<string, unknown>, key: string, at: Seg[], add: (segs: readonly Seg[], message: string, key?: boolean) => void): void {
  const set = [key, `${key}File`, `${key}Env`].filter((k) => section[k] !== undefined);
  if (set.length > 1) add([...at, set[1]], `set only one of ${set.join(', ')}: the ${key} comes from exactly one source`, true);
}

/** Schemes the MQTT client connects with. */
const BROKER_SCHEMES = ['mqtt', 'mqtts', 'tcp', 'ssl', 'tls', 'ws', 'wss'];

/** Why the client could not connect to `url` (undefined when it can); never quotes the URL (credentials). */
function brokerUrlProblem(url: string): string | undefined {
  const use = 'use mqtt://host:1883, mqtts://host:8883, ws:// or wss://';
  const scheme = /^([a-z][a-z0-9+.-]*):\/\//i.exec(url)?.[1].toLowerCase();
  if (!scheme || !BROKER_SCHEMES.includes(scheme)) return `unsupported broker URL scheme${scheme ? ` '${scheme}'` : ''}: ${use}`;
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return `is not a valid URL: ${use}`;
  }
  return parsed.hostname === '' ? `has no host: ${use}` : undefined;
}

/** sha256 hex of the canonical JSON (object keys sorted). */
export function configHash(config: unknown): string {
  return createHash('sha256').update(canonicalJson(config)).digest('hex');
}

export function canonicalJson(value: unknown): string {
  return JSON.stringify(value, (_k, v: unknown) =>
    isObject(v)
      ? Object.fromEntries(
          Object.keys(v)
            .sort()
            .map((k) => [k, v[k]]),
        )
      : v,
  );
}

/** Where machine state goes: systemd's StateDirectory= when set, else ./var under the working directory. */
export function stateDir(): string {
  return process.env.STATE_DIRECTORY ? process.env.STATE_DIRECTORY.split(':')[0] : path.resolve(process.cwd(), 'var');
}

// ---------------------------------------------------------------------------------------------------------

function reportAjvError(e: ErrorObject, prefix: Seg[], add: (segs: readonly Seg[], message: string, key?: boolean) => void): void {
  const segs: Seg[] = [
    ...prefix,
    ...e.instancePath
      .split('/')
      .slice(1)
      .map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'))
      .map((s) => (/^\d+$/.test(s) ? Number(s) : s)),
  ];
  const p = e.params as Record<string, unknown>;
  switch (e.keyword) {
    case 'required':
      add([...segs, String(p.missingProperty)], 'is required');
      return;
    case 'additionalProperties': {
      const key = String(p.additionalProperty);
      const known = Object.keys(((e.parentSchema as Record<string, unknown>)?.properties as object) ?? {});
      const best = closest(key, known);
      add([...segs, key], `unknown key${best ? ` (did you mean '${best}'?)` : known.length ? `; known keys: ${known.join(', ')}` : ''}`, true);
      return;
    }
    case 'enum':
      add(segs, `must be one of ${(p.allowedValues as unknown[]).map((x) => JSON.stringify(x)).join(', ')}`);
      return;
    case 'discriminator':
      // A missing `type` is already reported by `required`; an unknown one names the source types.
      if (p.tagValue !== undefined) add([...segs, String(p.tag)], `must be one of ${SOURCE_TYPES.map((x) => JSON.stringify(x)).join(', ')}`);
      return;
    case 'pattern':
      add(
        segs,
        p.pattern === TOPIC_SAFE
          ? 'must contain only letters, digits, _ and - (it is used in MQTT topics)'
          : p.pattern === CLIENT_ID_SAFE
            ? 'must not contain control characters, # or + (the broker would refuse it)'
            : (e.message ?? 'invalid'),
      );
      return;
    case 'minItems':
      add(segs, `needs at least ${String(p.limit)} ${itemsName(segs)}`);
      return;
    case 'maxItems':
      add(segs, `must have at most ${String(p.limit)} ${itemsName(segs)}`);
      return;
    case 'type':
      // strictNumbers: .nan and .inf are numbers to YAML but never a valid setting
      if (typeof e.data === 'number') add(segs, 'must be a finite number');
      else add(segs, segs.length === 0 ? NOT_A_MAPPING : (e.message ?? 'wrong type'));
      return;
    case 'minLength':
      add(segs, p.limit === 1 ? 'must not be empty' : (e.message ?? 'too short'));
      return;
    default:
      add(segs, e.message ?? e.keyword);
  }
}

function itemsName(segs: readonly Seg[]): string {
  const last = segs[segs.length - 1];
  return last === 'polygon' ? 'points' : last === 'cameras' ? 'camera(s)' : 'item(s)';
}

/** Closest known key by edit distance, when close enough to be a typo. */
export function closest(key: string, known: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestD = Infinity;
  for (const k of known) {
    const d = editDistance(key.toLowerCase(), k.toLowerCase());
    if (d < bestD) {
      bestD = d;
      best = k;
    }
  }
  return best !== undefined && bestD <= Math.max(2, Math.floor(key.length / 3)) ? best : undefined;
}

function editDistance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    let prev = row[0];
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const tmp = row[j];
      row[j] = Math.min(row[j] + 1, row[j - 1] + 1, prev + (a[i - 1] === b[j - 1] ? 0 : 1));
      // transposition counts as one edit (treshold -> threshold is an insertion anyway)
      prev = tmp;
    }
  }
  return row[b.length];
}

function firstLine(s: string): string {
  return s.split('\n')[0];
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** A key written with no value (`mqtt:` with every child commented out) means "use the defaults". */
function stripNulls(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(stripNulls);
  if (isObject(v)) {
    for (const k of Object.keys(v)) {
      if (v[k] === null) delete v[k];
      else v[k] = stripNulls(v[k]);
    }
  }
  return v;
}

function resolvePaths(root: Record<string, unknown>, baseDir: string): void {
  const abs = (p: string): string => path.resolve(baseDir, p.startsWith('~/') ? path.join(os.homedir(), p.slice(2)) : p);
  const fix = (obj: unknown, key: string): void => {
    if (isObject(obj) && typeof obj[key] === 'string') obj[key] = abs(obj[key] as string);
  };
  fix(root.model, 'path');
  fix(root.model, 'labels');
  fix(root.model, 'engineCacheDir');
  fix(root.outbox, 'dir');
  fix(root.snapshots, 'dir');
  fix(root.http, 'tokenFile');
  if (isObject(root.mqtt)) {
    fix(root.mqtt.tls, 'ca');
    fix(root.mqtt.tls, 'cert');
    fix(root.mqtt.tls, 'key');
  }
  for (const cam of Array.isArray(root.cameras) ? root.cameras : []) {
    const src = isObject(cam) ? cam.source : undefined;
    if (!isObject(src)) continue;
    if (src.type === 'folder') {
      fix(src, 'path');
      fix(src, 'doneDir');
      fix(src, 'quarantineDir');
    } else if (src.type === 'ffmpeg' && typeof src.input === 'string' && isRelativeFileInput(src)) {
      src.input = abs(src.input);
    }
  }
}

/** ffmpeg inputs that are files relative to the config: no URL scheme, no device, not a lavfi graph etc. */
function isRelativeFileInput(src: Record<string, unknown>): boolean {
  const input = src.input as string;
  if (src.inputFormat !== undefined && src.inputFormat !== 'concat') return false;
  return !/^[a-z][a-z0-9+.-]*:/i.test(input) && !path.isAbsolute(input) && input !== '-';
}

/** Fills in the defaults that depend on the machine (host name, state directory) and on other keys. */
function resolveMachineDefaults(v: ValidatedConfig, baseDir: string): Config {
  const state = stateDir();
  const secret = (p: string | undefined): { file?: string } => (p === undefined ? {} : { file: secretPath(p, baseDir) });
  const { passwordFile, tls } = v.mqtt;
  const { file: pwFile } = secret(passwordFile);
  const { file: ppFile } = secret(tls?.passphraseFile);
  return {
    ...v,
    mqtt: {
      ...v.mqtt,
      ...(pwFile !== undefined ? { passwordFile: pwFile } : {}),
      ...(tls && ppFile !== undefined ? { tls: { ...tls, passphraseFile: ppFile } } : {}),
    },
    device: { ...v.device, id: v.device.id ?? topicSafeHostname() },
    model: { ...v.model, engineCacheDir: v.model.engineCacheDir ?? path.join(state, 'engines') },
    cameras: v.cameras.map(resolveCamera),
    outbox: { ...v.outbox, dir: v.outbox.dir ?? path.join(state, 'outbox') },
    snapshots: { ...v.snapshots, dir: v.snapshots.dir ?? path.join(state, 'snapshots') },
  };
}

function resolveCamera(cam: ValidatedCameraConfig): CameraConfig {
  const src = cam.source;
  const source: SourceConfig =
    src.type === 'folder' ? { ...src, doneDir: src.doneDir ?? path.join(src.path, 'done'), quarantineDir: src.quarantineDir ?? path.join(src.path, 'quarantine') } : src;
  // A moving camera sees each part in several frames; a trigger or a hot-folder image shows one part once.
  const decision = cam.decision ?? (cam.trigger || src.type === 'folder' ? 'frame' : 'part');
  return { ...cam, source, decision };
}

/**
 * Where a secret file is: absolute as written; relative to $CREDENTIALS_DIRECTORY when systemd set it
 * (LoadCredential=name:/etc/... gives `passwordFile: name`), else to the config file's folder. Resolved
 * after hashing, as the credentials folder differs per run and check-config does not see it.
 */
export function secretPath(p: string, baseDir: string, env: NodeJS.ProcessEnv = process.env): string {
  if (path.isAbsolute(p)) return p;
  if (p.startsWith('~/')) return path.join(os.homedir(), p.slice(2));
  const creds = env.CREDENTIALS_DIRECTORY;
  return creds ? path.resolve(creds, p) : path.resolve(baseDir, p);
}

/** The host name, made topic-safe (dots of an FQDN become -) and at most DEVICE_ID_MAX_LENGTH long. */
export function topicSafeHostname(): string {
  const safe = os
    .hostname()
    .replace(/[^A-Za-z0-9_-]/g, '-')
    .slice(0, DEVICE_ID_MAX_LENGTH);
  return safe.length > 0 ? safe : 'inspectd';
}

function deepFreeze<T>(v: T): T {
  if (typeof v === 'object' && v !== null && !Object.isFrozen(v)) {
    Object.freeze(v);
    for (const x of Object.values(v as object)) deepFreeze(x);
  }
  return v;
}
