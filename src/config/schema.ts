/**
 * The config file's schema (TypeBox: JSON Schema draft-07 values that carry their TypeScript type), with the
 * default of every optional key. types.ts derives the config types from these values, so the schema and the
 * types cannot drift; load.ts validates with ajv against ConfigSchema; write-schema.ts writes editorSchema()
 * to schema/inspectd.schema.json.
 *
 * Static<> of these schemas is the config AFTER validation: a key with a default (Default, Section) is
 * required in the type, because ajv has filled it in. Keys whose default depends on the machine
 * (device.id = host name, outbox/snapshots/engine cache dirs under $STATE_DIRECTORY or ./var, folder
 * done/quarantine dirs) are Type.Optional with no `default`; load.ts fills them in (types.ts: the resolved
 * Config) and their descriptions say what they become.
 *
 * The limits below are the runtime's limits too: code that checks a config value at run time imports them.
 */
import { OptionalKind, Type, type Static, type TObject, type TSchema } from '@sinclair/typebox';
import { DEFAULT_SPIN, SPIN_MODES } from '../contracts/engine.js';

// ---------------------------------------------------------------------------------------------------------
// Limits shared with the runtime

/** Most frames per second a source may be asked for. */
export const MAX_FPS = 1000;
/** Largest frame side ffmpeg/gstreamer sources may scale to, px. */
export const MAX_FRAME_SIZE = 16384;
/** Smallest and largest frame side the synthetic line renders, px (src/source/synthetic.ts). */
export const SYNTHETIC_MIN_SIZE = 32;
export const SYNTHETIC_MAX_SIZE = 8192;

/** Node's timers take at most 2^31-1 ms; a longer delay fires after 1 ms instead (TimeoutOverflowWarning). */
export const TIMER_MAX_MS = 2 ** 31 - 1;
/**
 * Most onnxruntime intra-op threads. A fixed cap, not a multiple of this machine's cores, so that the schema
 * (and schema/inspectd.schema.json) is the same everywhere and a config valid here is valid on the edge box.
 */
export const MAX_THREADS = 256;
/** Synthetic seeds are 32-bit (the scene PRNG takes seed >>> 0, so larger ones would repeat smaller ones). */
export const SEED_MAX = 0xffffffff;
/** MQTT's keepalive field is 16 bits. */
export const MQTT_KEEPALIVE_MAX_SEC = 65535;
/** Outbox events are never kept longer than a year. */
export const OUTBOX_MAX_AGE_MS = 365 * 24 * 3600 * 1000;
/** Outbox size bound: 1 TiB. */
export const OUTBOX_MAX_BYTES = 2 ** 40;
/** Zone vertices lie within this many px of the frame's origin on either side (points may lie outside). */
export const MAX_COORDINATE = 2 * MAX_FRAME_SIZE;
/** Counts that have no natural bound (detections per frame, frozen frames, snapshot files). */
export const MAX_COUNT = 1_000_000;
/** Collection caps: far above any real config, low enough that validating and using one stays cheap. */
export const MAX_POLYGON_POINTS = 1000;
export const MAX_ZONES = 100;
export const MAX_CAMERAS = 64;
/** Class names in rejectClasses or classConf (LVIS-size models have ~1200 classes). */
export const MAX_CLASSES = 10_000;
export const MAX_INPUT_ARGS = 256;
/** Largest image a hot folder may be allowed to decode: sharp's own default limit (0x3FFF squared), px. */
export const MAX_FOLDER_PIXELS = 0x3fff * 0x3fff;

export const SOURCE_TYPES = ['synthetic', 'ffmpeg', 'gstreamer', 'folder'] as const;
export type SourceType = (typeof SOURCE_TYPES)[number];

/** Camera ids and topic segments: safe in MQTT topics and file names. */
export const TOPIC_SAFE = '^[A-Za-z0-9_-]+$';
/** MQTT client ids: no control characters (NUL included) and no wildcards, which brokers refuse. */
export const CLIENT_ID_SAFE = '^[^\\u0000-\\u001f\\u007f#+]+$';

/**
 * Why `topic` cannot prefix MQTT topics (undefined when it can): no wildcards or NUL, no empty levels. The one
 * check, used by load.ts (with the file position) and by the MQTT sink (for configs built in code).
 */
export function baseTopicProblem(topic: string): string | undefined {
  if (topic.length === 0) return 'must not be empty';
  if (/[#+\u0000]/.test(topic) || /^\/|\/$|\/\//.test(topic)) return 'must not contain MQTT wildcards (+ #), NUL, empty levels or leading/trailing /';
  return undefined;
}

// ---------------------------------------------------------------------------------------------------------
// Helpers

/** An optional key with a default: left out of `required` (ajv fills it in), present in the Static type. */
function Default<T extends TSchema>(schema: T, value: Static<T>): T {
  return { ...schema, default: value, [OptionalKind]: 'Optional' };
}

/** An optional section whose every key has a default: an absent section becomes {} and then gets those. */
function Section<T extends TObject>(schema: T): T {
  return { ...schema, default: {}, [OptionalKind]: 'Optional' };
}

/** A JSON Schema `enum` (TypeBox's own Enum/Union emit anyOf, whose errors read worse). */
function Enum<const V extends readonly (string | number)[]>(values: V, options: { description?: string } = {}) {
  return Type.Unsafe<V[number]>({ ...options, enum: [...values] });
}

const closed = { additionalProperties: false } as const;

/** A delay or duration in ms that may end up in a Node timer. */
const ms = (minimum: number, description: string) => Type.Integer({ minimum, maximum: TIMER_MAX_MS, description });

const size = (description: string) => Type.Integer({ minimum: 1, maximum: MAX_FRAME_SIZE, description });
const fps = (description: string) => Type.Number({ exclusiveMinimum: 0, maximum: MAX_FPS, description });

// ---------------------------------------------------------------------------------------------------------
// Sources

export const SyntheticSourceSchema = Type.Object(
  {
    type: Type.Literal('synthetic'),
    fps: Default(fps('Frames per second.'), 5),
    width: Default(Type.Integer({ minimum: SYNTHETIC_MIN_SIZE, maximum: SYNTHETIC_MAX_SIZE, description: 'Frame width in pixels.' }), 640),
    height: Default(Type.Integer({ minimum: SYNTHETIC_MIN_SIZE, maximum: SYNTHETIC_MAX_SIZE, description: 'Frame height in pixels.' }), 480),
    seed: Default(Type.Integer({ minimum: 0, maximum: SEED_MAX, description: 'Same seed, same frames.' }), 1),
    defectRate: Default(Type.Number({ minimum: 0, maximum: 1, description: 'Fraction of parts that carry a defect.' }), 0.3),
  },
  { ...closed, description: 'Built-in synthetic production line (demo and tests).' },
);

export const FfmpegSourceSchema = Type.Object(
  {
    type: Type.Literal('ffmpeg'),
    input: Type.String({
      minLength: 1,
      description:
        'Device path (/dev/video0), URL (rtsp://...) or file path (relative to the config file). Credentials in a URL (rtsp://user:pass@...) ' +
        "are redacted from inspectd's logs and status, but ffmpeg accepts them only in the URL, so they are visible in ffmpeg's command line " +
        '(ps) to local users unless /proc is mounted with hidepid.',
    }),
    inputFormat: Type.Optional(Type.String({ minLength: 1, description: 'ffmpeg -f for the input (v4l2, lavfi, ...); omitted = probe.' })),
    width: size('Output frame width; ffmpeg scales to it.'),
    height: size('Output frame height; ffmpeg scales to it.'),
    fps: Type.Optional(fps("Output frame rate; omitted = the input's.")),
    realtime: Default(Type.Boolean({ description: 'Files: read at the native rate (-re).' }), false),
    loop: Default(
      Type.Boolean({ description: "Files: loop forever (-stream_loop -1). false: the file is played once and the camera's state becomes 'ended'." }),
      false,
    ),
    rtspTransport: Default(Enum(['tcp', 'udp'], { description: 'RTSP transport (rtsp:// inputs only).' }), 'tcp'),
    inputArgs: Default(Type.Array(Type.String(), { maxItems: MAX_INPUT_ARGS, description: 'Extra ffmpeg arguments inserted before -i.' }), []),
  },
  { ...closed, description: 'Any input ffmpeg can read: V4L2 device, RTSP/HTTP URL, file, lavfi test pattern.' },
);

export const GstreamerSourceSchema = Type.Object(
  {
    type: Type.Literal('gstreamer'),
    pipeline: Type.String({
      minLength: 1,
      description:
        'Pipeline description ending in raw video, e.g. "v4l2src device=/dev/video0". Credentials (rtspsrc location=rtsp://user:pass@..., ' +
        "user-id, user-pw) are redacted from inspectd's logs and status, but gst-launch-1.0 takes the pipeline only as arguments, so they are " +
        'visible in its command line (ps) to local users unless /proc is mounted with hidepid.',
    }),
    width: size('Output frame width.'),
    height: size('Output frame height.'),
  },
  { ...closed, description: 'A gst-launch-1.0 pipeline; inspectd appends videoconvert, videoscale, RGB caps and fdsink.' },
);

export const FolderSourceSchema = Type.Object(
  {
    type: Type.Literal('folder'),
    path: Type.String({ minLength: 1, description: 'Folder to watch (relative to the config file); created if missing.' }),
    doneDir: Type.Optional(Type.String({ minLength: 1, description: 'Processed files go here. Default: <path>/done.' })),
    quarantineDir: Type.Optional(Type.String({ minLength: 1, description: 'Unreadable files go here with a .reason.txt. Default: <path>/quarantine.' })),
    pollMs: Default(ms(10, 'How often the folder is listed, ms.'), 500),
    settleMs: Default(ms(0, 'A file is read only once its size and mtime stayed unchanged this long, ms.'), 1000),
    maxPixels: Default(
      Type.Integer({
        minimum: 1,
        maximum: MAX_FOLDER_PIXELS,
        description:
          'Largest image decoded, width x height px (a 50 MP image needs about 150 MB while it is judged); a larger one is quarantined unread. ' +
          'Images are judged at their own size (zones and boxes are in source pixels), so this bounds the memory a file can take.',
      }),
      50_000_000,
    ),
    followSymlinks: Default(
      Type.Boolean({ description: 'Judge symbolic links (to wherever they point). false: a link is quarantined with the reason, never read.' }),
      false,
    ),
  },
  { ...closed, description: 'Hot folder: image files dropped here are judged one by one, then moved to doneDir (or quarantineDir).' },
);

export const sourceSchemas = {
  synthetic: SyntheticSourceSchema,
  ffmpeg: FfmpegSourceSchema,
  gstreamer: GstreamerSourceSchema,
  folder: FolderSourceSchema,
} as const satisfies Record<SourceType, TObject>;

type SourceStatic = { [K in SourceType]: Static<(typeof sourceSchemas)[K]> }[SourceType];

/**
 * A camera's source: one of sourceSchemas chosen by `type` (ajv's discriminator, so defaults apply inside the
 * chosen schema and errors name that one source type instead of a oneOf soup).
 */
export const SourceSchema = Type.Unsafe<SourceStatic>({
  type: 'object',
  required: ['type'],
  discriminator: { propertyName: 'type' },
  oneOf: SOURCE_TYPES.map((t) => sourceSchemas[t]),
});

// ---------------------------------------------------------------------------------------------------------
// Cameras and rules

const coordinate = (axis: string) => Type.Number({ minimum: -MAX_COORDINATE, maximum: MAX_COORDINATE, description: `${axis}, px` });

export const ZoneSchema = Type.Object(
  {
    name: Type.String({ minLength: 1 }),
    polygon: Type.Array(Type.Tuple([coordinate('x'), coordinate('y')]), {
      minItems: 3,
      maxItems: MAX_POLYGON_POINTS,
      description: `Polygon in source pixels: 3 to ${MAX_POLYGON_POINTS} [x, y] points.`,
    }),
  },
  closed,
);

export const RulesSchema = Section(
  Type.Object(
    {
      rejectClasses: Default(
        Type.Array(Type.String({ minLength: 1 }), {
          maxItems: MAX_CLASSES,
          description: 'Class names (or numeric class ids as strings) whose detection rejects the part.',
        }),
        [],
      ),
      classConf: Default(
        Type.Record(Type.String(), Type.Number({ minimum: 0, maximum: 1 }), {
          maxProperties: MAX_CLASSES,
          description: 'Per-class confidence thresholds by class name, applied above model.conf.',
        }),
        {},
      ),
      minBoxArea: Default(Type.Number({ minimum: 0, maximum: MAX_FRAME_SIZE ** 2, description: 'Minimum box area in source pixels squared.' }), 0),
      zones: Default(
        Type.Array(ZoneSchema, { maxItems: MAX_ZONES, description: 'When non-empty, only detections whose box centre lies in a zone count.' }),
        [],
      ),
    },
    closed,
  ),
);

function cameraSchema<S extends TSchema>(source: S) {
  return Type.Object(
    {
      id: Type.String({ pattern: TOPIC_SAFE, description: 'Unique camera id; used in MQTT topics ([A-Za-z0-9_-]).' }),
      source,
      deadlineMs: Default(
        Type.Number({ exclusiveMinimum: 0, maximum: TIMER_MAX_MS, description: 'A frame not published within this many ms of capture is late.' }),
        500,
      ),
      stallTimeoutMs: Default(ms(100, 'No frame for this long = camera stalled: fault state and source restart, ms.'), 5000),
      frozenFrames: Default(Type.Integer({ minimum: 0, maximum: MAX_COUNT, description: 'This many identical consecutive frames = frozen: fault and restart; 0 = off.' }), 0),
      rules: RulesSchema,
      trigger: Default(Type.Boolean({ description: 'Only frames tagged by a cmd/trigger message are judged for rejects.' }), false),
    },
    closed,
  );
}

// ---------------------------------------------------------------------------------------------------------
// Sections

export const DeviceSchema = Section(
  Type.Object({ id: Type.Optional(Type.String({ pattern: TOPIC_SAFE, description: 'Device id in MQTT topics. Default: the host name.' })) }, closed),
);

export const LogSchema = Section(Type.Object({ level: Default(Enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace']), 'info') }, closed));

export const ModelSchema = Type.Object(
  {
    path: Type.String({ minLength: 1, description: 'ONNX model file (relative to the config file).' }),
    labels: Type.Optional(Type.String({ minLength: 1, description: 'Labels file, one class name per line, for models without names metadata.' })),
    engine: Default(Enum(['auto', 'tensorrt', 'cuda', 'cpu'], { description: 'auto: TensorRT, then onnxruntime CUDA, then CPU.' }), 'auto'),
    threads: Default(Type.Integer({ minimum: 0, maximum: MAX_THREADS, description: 'onnxruntime intra-op threads; 0 = number of cores. README "Performance".' }), 0),
    interOpThreads: Default(
      Type.Integer({
        minimum: 1,
        maximum: MAX_THREADS,
        description: 'onnxruntime inter-op threads; more than 1 runs independent branches of the graph in parallel (a YOLO graph is one chain: keep 1).',
      }),
      1,
    ),
    spin: Default(
      Enum(SPIN_MODES, {
        description:
          "When onnxruntime's threads busy-wait: during-runs (inside a run only), briefly (also up to 1 ms after one), always (onnxruntime's default: also between runs, a core per thread), never (least CPU, slower runs). README \"Performance\".",
      }),
      DEFAULT_SPIN,
    ),
    conf: Default(Type.Number({ minimum: 0, maximum: 1, description: 'Global confidence threshold.' }), 0.25),
    iou: Default(Type.Number({ minimum: 0, maximum: 1, description: 'NMS IoU threshold.' }), 0.7),
    maxDetections: Default(Type.Integer({ minimum: 1, maximum: MAX_COUNT, description: 'Most detections kept per frame.' }), 300),
    engineCacheDir: Type.Optional(Type.String({ minLength: 1, description: 'TensorRT engine cache. Default: $STATE_DIRECTORY/engines, else ./var/engines.' })),
  },
  closed,
);

export const TlsSchema = Type.Object(
  {
    ca: Type.Optional(Type.String({ minLength: 1, description: 'CA certificate file (relative to the config file).' })),
    cert: Type.Optional(Type.String({ minLength: 1, description: 'Client certificate file.' })),
    key: Type.Optional(Type.String({ minLength: 1, description: 'Client key file.' })),
    rejectUnauthorized: Default(Type.Boolean(), true),
  },
  closed,
);

export const EmbeddedBrokerSchema = Section(
  Type.Object(
    {
      host: Default(Type.String({ minLength: 1 }), '127.0.0.1'),
      port: Default(Type.Integer({ minimum: 0, maximum: 65535 }), 1883),
    },
    closed,
  ),
);

export const MqttSchema = Section(
  Type.Object(
    {
      url: Type.Optional(Type.String({ minLength: 1, description: 'Broker URL (mqtt://, mqtts://, ws://, wss://). Omitted = embedded broker (mqtt.embedded).' })),
      baseTopic: Default(Type.String({ minLength: 1, description: 'Topics are <baseTopic>/<device>/<camera>/<kind>.' }), 'inspectd'),
      clientId: Type.Optional(Type.String({ pattern: CLIENT_ID_SAFE, maxLength: 256, description: 'Default: inspectd-<device id>.' })),
      username: Type.Optional(Type.String()),
      password: Type.Optional(Type.String({ description: 'Never logged.' })),
      tls: Type.Optional(TlsSchema),
      detectionsQos: Default(Enum([0, 1]), 0),
      publishDetections: Default(Type.Boolean({ description: "Publish every frame's detections (rejects and state are always published)." }), true),
      keepaliveSec: Default(Type.Integer({ minimum: 0, maximum: MQTT_KEEPALIVE_MAX_SEC, description: 'MQTT keepalive, s.' }), 30),
      reconnectMs: Default(ms(100, 'Delay between reconnect attempts, ms.'), 2000),
      embedded: EmbeddedBrokerSchema,
    },
    closed,
  ),
);

export const OutboxSchema = Section(
  Type.Object(
    {
      dir: Type.Optional(Type.String({ minLength: 1, description: 'Durable outbox folder. Default: $STATE_DIRECTORY/outbox, else ./var/outbox.' })),
      maxBytes: Default(Type.Integer({ minimum: 1024, maximum: OUTBOX_MAX_BYTES, description: 'Outbox size bound, bytes.' }), 64 * 1024 * 1024),
      maxAgeMs: Default(
        Type.Integer({ minimum: 1, maximum: OUTBOX_MAX_AGE_MS, description: 'Events older than this are dropped (logged and counted), ms.' }),
        24 * 3600 * 1000,
      ),
      rejectTtlMs: Default(ms(1, 'A reject delivered later than this after capture is published with expired: true, ms.'), 2000),
    },
    closed,
  ),
);

export const SnapshotSchema = Section(
  Type.Object(
    {
      enabled: Default(Type.Boolean(), true),
      dir: Type.Optional(Type.String({ minLength: 1, description: 'Default: $STATE_DIRECTORY/snapshots, else ./var/snapshots.' })),
      maxFiles: Default(Type.Integer({ minimum: 1, maximum: MAX_COUNT, description: 'Oldest snapshots are deleted beyond this count.' }), 500),
    },
    closed,
  ),
);

export const HttpSchema = Section(
  Type.Object(
    {
      enabled: Default(Type.Boolean({ description: 'Health (/healthz) and Prometheus metrics (/metrics).' }), true),
      host: Default(Type.String({ minLength: 1 }), '127.0.0.1'),
      port: Default(Type.Integer({ minimum: 0, maximum: 65535 }), 9310),
    },
    closed,
  ),
);

export const ConsoleSchema = Section(
  Type.Object(
    {
      summary: Default(Enum(['auto', 'on', 'off'], { description: "Periodic status line; 'auto' = only on a terminal." }), 'auto'),
      intervalMs: Default(ms(100, 'Status line interval, ms.'), 2000),
    },
    closed,
  ),
);

/** MQTT commands are off unless enabled one by one: anyone who can publish on the broker can send them. */
export const CommandsSchema = Section(
  Type.Object(
    {
      reload: Default(Type.Boolean({ description: 'cmd/reload: re-read the config file.' }), false),
      pause: Default(Type.Boolean({ description: 'cmd/pause: stop judging a camera (or all).' }), false),
      resume: Default(Type.Boolean({ description: 'cmd/resume.' }), false),
      trigger: Default(Type.Boolean({ description: 'cmd/trigger: tag the next frame of a trigger-mode camera with a part id. Needed by cameras with trigger: true.' }), false),
    },
    { ...closed, description: 'Which MQTT commands are carried out; a disabled one is ignored (logged, counted in inspectd_commands_total).' },
  ),
);

function rootSchema<S extends TSchema>(source: S) {
  return Type.Object(
    {
      $schema: Type.Optional(Type.String({ description: 'Ignored; lets editors find this schema.' })),
      device: DeviceSchema,
      log: LogSchema,
      model: ModelSchema,
      cameras: Type.Array(cameraSchema(source), { minItems: 1, maxItems: MAX_CAMERAS }),
      mqtt: MqttSchema,
      outbox: OutboxSchema,
      snapshots: SnapshotSchema,
      http: HttpSchema,
      console: ConsoleSchema,
      commands: CommandsSchema,
    },
    closed,
  );
}

/** The whole config file: what load.ts validates against, and what types.ts derives the types from. */
export const ConfigSchema = rootSchema(SourceSchema);

/**
 * The composed schema for editors (schema/inspectd.schema.json): draft-07 has no discriminator, so a source
 * is checked with if/then per type, which editors report as clearly as the discriminator.
 */
export function editorSchema(): Record<string, unknown> {
  const source = Type.Unsafe({
    type: 'object',
    required: ['type'],
    properties: { type: { enum: [...SOURCE_TYPES] } },
    allOf: SOURCE_TYPES.map((t) => ({
      if: { properties: { type: { const: t } }, required: ['type'] },
      then: { $ref: `#/definitions/source_${t}` },
    })),
  });
  return {
    $schema: 'http://json-schema.org/draft-07/schema#',
    $id: 'https://inspectd.dev/schema/inspectd.schema.json',
    title: 'inspectd config',
    ...rootSchema(source),
    definitions: Object.fromEntries(SOURCE_TYPES.map((t) => [`source_${t}`, sourceSchemas[t]])),
  };
}
