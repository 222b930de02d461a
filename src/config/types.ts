/**
 * The validated config, as every part receives it (frozen). The YAML file uses exactly these keys
 * (camelCase, no mapping layer); src/config/schema.ts is the JSON Schema with the defaults.
 */
import type { EnginePreference } from '../contracts/engine.js';

export interface Config {
  device: { id: string };
  log: { level: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' };
  model: ModelConfig;
  cameras: CameraConfig[];
  mqtt: MqttConfig;
  outbox: OutboxConfig;
  snapshots: SnapshotConfig;
  http: HttpConfig;
  /** Where the status line goes when run from a terminal (npm start): 'auto' prints it only on a TTY. */
  console: { summary: 'auto' | 'on' | 'off'; intervalMs: number };
}

export interface ModelConfig {
  /** ONNX file; relative paths resolve against the config file's folder (the package root for embedded defaults). */
  path: string;
  /** Optional labels file (one class name per line) for models whose metadata has no `names`. */
  labels?: string;
  engine: EnginePreference;
  /** onnxruntime intra-op threads; 0 = number of cores. */
  threads: number;
  conf: number;
  iou: number;
  maxDetections: number;
  /** TensorRT engine cache. */
  engineCacheDir: string;
}

export type SourceConfig = SyntheticSourceConfig | FfmpegSourceConfig | GstreamerSourceConfig | FolderSourceConfig;

export interface SyntheticSourceConfig {
  type: 'synthetic';
  fps: number;
  width: number;
  height: number;
  seed: number;
  /** Fraction of parts that carry a defect. */
  defectRate: number;
}

export interface FfmpegSourceConfig {
  type: 'ffmpeg';
  /** Device path (/dev/video0), URL (rtsp://, http://) or file path. */
  input: string;
  /** ffmpeg -f for the input, e.g. v4l2; omitted = probe. */
  inputFormat?: string;
  /** Output frame size (ffmpeg scales to it); needed to cut the raw pipe into frames exactly. */
  width: number;
  height: number;
  /** Output rate; omitted = the input's. */
  fps?: number;
  /** Files: pace at the native rate (-re). */
  realtime: boolean;
  /** Files: loop forever. */
  loop: boolean;
  rtspTransport: 'tcp' | 'udp';
  /** Extra input-side arguments, inserted before -i. */
  inputArgs: string[];
}

export interface GstreamerSourceConfig {
  type: 'gstreamer';
  /** A gst-launch-1.0 pipeline description that ends in raw video; inspectd appends the RGB caps and fdsink. */
  pipeline: string;
  width: number;
  height: number;
}

export interface FolderSourceConfig {
  type: 'folder';
  path: string;
  /** Processed files are moved here (default <path>/done). */
  doneDir?: string;
  /** Unreadable files are moved here with a .reason.txt beside them (default <path>/quarantine). */
  quarantineDir?: string;
  pollMs: number;
  /** A file must keep the same size and mtime this long before it is read (still being written otherwise). */
  settleMs: number;
}

export interface Zone {
  name: string;
  /** Polygon in source pixels, at least 3 points. */
  polygon: [number, number][];
}

export interface RulesConfig {
  /** Class names (or numeric ids as strings) whose detection means "reject this part". */
  rejectClasses: string[];
  /** Per-class confidence thresholds by class name, above the model's global conf. */
  classConf: Record<string, number>;
  /** Minimum box area in source pixels². */
  minBoxArea: number;
  /** When non-empty, only detections whose box centre lies in a zone count. */
  zones: Zone[];
}

export interface CameraConfig {
  id: string;
  source: SourceConfig;
  /** A frame not published within this many ms of capture counts as late; late rejects say so. */
  deadlineMs: number;
  /** No frame for this long = stalled: fault state, source restarted. */
  stallTimeoutMs: number;
  /** This many identical consecutive frames = frozen: fault state, source restarted; 0 = off. */
  frozenFrames: number;
  rules: RulesConfig;
  /** Trigger mode: only frames tagged by a cmd/trigger message are judged for rejects. */
  trigger: boolean;
}

export interface MqttConfig {
  /** Broker URL (mqtt://, mqtts://). Omitted = start an embedded broker on loopback. */
  url?: string;
  baseTopic: string;
  clientId?: string;
  username?: string;
  password?: string;
  tls?: { ca?: string; cert?: string; key?: string; rejectUnauthorized: boolean };
  detectionsQos: 0 | 1;
  publishDetections: boolean;
  keepaliveSec: number;
  reconnectMs: number;
  embedded: { host: string; port: number };
}

export interface OutboxConfig {
  dir: string;
  maxBytes: number;
  /** Events older than this are no longer kept; a reject dropped for age is logged and counted, never silently. */
  maxAgeMs: number;
  /** A reject delivered later than this after its capture is published with expired: true. */
  rejectTtlMs: number;
}

export interface SnapshotConfig {
  enabled: boolean;
  dir: string;
  maxFiles: number;
}

export interface HttpConfig {
  enabled: boolean;
  host: string;
  port: number;
}
