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

/** What the synthetic camera films (src/synth/conveyor.ts, src/synth/scene.ts). */
export const SYNTHETIC_SCENES = ['conveyor', 'still'] as const;

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
/** Device ids: a topic level, part of every key and of the client id inspectd-<id>. */
export const DEVICE_ID_MAX_LENGTH = 64;
/** MQTT client ids: no control characters (NUL included) and no wildcards, which brokers refuse. */
export const CLIENT_ID_SAFE = '^[^\\u0000-\\u001f\\u007f#+]+$';

/**
 * Why `topic` cannot prefix MQTT topics (undefined when it can): no wildcards or NUL, no empty levels. The one
 * check, used by load.ts (with the file position) and by the MQTT sink (for configs built in code).
 */
export function baseTopicProblem(topic: string): string | undefined {
  if (topic.length === 0) return 'must not be empty';
  // biome-ignore lint/suspicious/noControlCharactersInRegex: NUL is exactly what must be refused in a topic.
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
    scene: Default(
      Enum(SYNTHETIC_SCENES, {
        description:
          'conveyor: a moving belt, plates enter at the left, cross at beltPxPerFrame and leave at the right (each seen in several frames); still: a new scene every frame (an indexed line, one part per frame).',
      }),
      'conveyor',
    ),
    beltPxPerFrame: Default(Type.Number({ minimum: 1, maximum: SYNTHETIC_MAX_SIZE, description: 'conveyor: how far the belt moves between frames, px.' }), 64),
    lossless: Default(
      Type.Boolean({
        description:
          'Hand out the next frame only once the previous one is judged (never dropped): with a high fps, the line runs as fast as the box can judge it. For tests and evaluations.',
      }),
      false,
    ),
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
    loop: Default(Type.Boolean({ description: "Files: loop forever (-stream_loop -1). false: the file is played once and the camera's state becomes 'ended'." }), false),
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
    followSymlinks: Default(Type.Boolean({ description: 'Judge symbolic links (to wherever they point). false: a link is quarantined with the reason, never read.' }), false),
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
      zones: Default(Type.Array(ZoneSchema, { maxItems: MAX_ZONES, description: 'When non-empty, only detections whose box centre lies in a zone count.' }), []),
    },
    closed,
  ),
);

/** Where parts come from and go to on the image; `none`: unknown (no decision line, no direction check). */
export const BELT_DIRECTIONS = ['none', 'left-to-right', 'right-to-left', 'top-to-bottom', 'bottom-to-top'] as const;
/** What judging a camera's frames means: one verdict per part (tracked across frames), or a reject per frame. */
export const DECISIONS = ['part', 'frame'] as const;
/** Fastest belt, mm/s (100 m/s); finest and coarsest scale, mm per pixel; longest ejector distance, mm (1 km). */
export const MAX_BELT_SPEED_MM_S = 100_000;
export const MAX_MM_PER_PIXEL = 10_000;
export const MAX_EJECTOR_DISTANCE_MM = 1_000_000;
/** Most frames a part may wait in probation or coast while unseen. */
export const MAX_TRACK_FRAMES = 10_000;

const fraction = (description: string) => Type.Number({ minimum: 0, maximum: 1, description });

export const TrackerSchema = Section(
  Type.Object(
    {
      highConf: Default(fraction('Detections at or above this confidence are matched to parts first (ByteTrack stage 1).'), 0.5),
      lowConf: Default(
        fraction('From this confidence up to highConf a detection only continues a part already tracked (stage 2); below it, ignored. Detections below model.conf never arrive.'),
        0.1,
      ),
      newTrackConf: Default(fraction('An unmatched detection starts a new part only at or above this confidence.'), 0.6),
      matchIou: Default(fraction("Least IoU between a part's predicted box and a high-confidence detection to match them."), 0.2),
      lowMatchIou: Default(fraction('Least IoU for a low-confidence match (stage 2).'), 0.5),
      probationFrames: Default(
        Type.Integer({ minimum: 1, maximum: MAX_TRACK_FRAMES, description: 'Frames in a row a new track must be matched before it counts as a part (1 = at once).' }),
        2,
      ),
      lostFrames: Default(
        Type.Integer({ minimum: 0, maximum: MAX_TRACK_FRAMES, description: 'Frames a part is kept while unseen (a missed detection, an occlusion) before it is given up.' }),
        10,
      ),
      duplicateIou: Default(
        fraction('Two part detections of one frame, or two tracked parts, overlapping this much (IoU) are one part: parts on a belt lie side by side, not on top of each other.'),
        0.5,
      ),
    },
    closed,
  ),
);

export const BeltSchema = Section(
  Type.Object(
    {
      direction: Default(Enum(BELT_DIRECTIONS, { description: 'How parts move across the image. Needed for the decision line; a part moving against it is reported.' }), 'none'),
      speedMmPerS: Type.Optional(
        Type.Number({ exclusiveMinimum: 0, maximum: MAX_BELT_SPEED_MM_S, description: 'Belt speed, mm/s. Omitted: measured from the tracked parts (needs mmPerPixel).' }),
      ),
      mmPerPixel: Type.Optional(Type.Number({ exclusiveMinimum: 0, maximum: MAX_MM_PER_PIXEL, description: 'Image scale along the belt at the parts, mm per pixel.' })),
      ejectorDistanceMm: Type.Optional(
        Type.Number({
          minimum: 0,
          maximum: MAX_EJECTOR_DISTANCE_MM,
          description:
            'Distance from the decision line to the ejector along the belt, mm. With mmPerPixel (and speedMmPerS or measured speed): verdicts carry ejectAt and ejectInMs.',
        }),
      ),
    },
    closed,
  ),
);

export const PartsSchema = Section(
  Type.Object(
    {
      partClass: Type.Optional(
        Type.String({
          minLength: 1,
          description:
            'Class name of the part itself (e.g. plate): parts are tracked on it and defects belong to the part whose box holds them. Omitted: each tracked defect is a part (good parts are then never seen).',
        }),
      ),
      minFrames: Default(
        Type.Integer({
          minimum: 1,
          maximum: MAX_TRACK_FRAMES,
          description: "A reject class seen in at least this many of a part's frames rejects it; a pass needs this many frames of the part.",
        }),
        2,
      ),
      highConf: Default(fraction('One detection of a reject class at or above this confidence rejects the part at once.'), 0.9),
      requireWhole: Default(Type.Boolean({ description: 'With partClass: a part never seen whole (only cut by the image edge) cannot pass: its verdict is the fail-safe.' }), true),
      maxAgeMs: Default(ms(1, 'A part tracked this long without crossing the line or leaving is decided anyway, ms.'), 10_000),
      publishPass: Default(Type.Boolean({ description: 'Publish pass verdicts too (a PLC shift register wants one verdict per part); rejects are always published.' }), true),
      failSafe: Default(
        Enum(['reject', 'pass', 'none'], {
          description:
            "The verdict of a part that was tracked but could not be judged (frames lost, camera fault while in view): reason 'no-verdict'. none: publish nothing (still counted).",
        }),
        'reject',
      ),
      decisionLine: Section(
        Type.Object(
          {
            position: Default(
              fraction('Where along the belt direction a part is decided, as a fraction of the image width (horizontal belts) or height (vertical): 0.5 = the middle.'),
              0.5,
            ),
          },
          closed,
        ),
      ),
      tracker: TrackerSchema,
      belt: BeltSchema,
    },
    closed,
  ),
);

function cameraSchema<S extends TSchema>(source: S) {
  return Type.Object(
    {
      id: Type.String({ pattern: TOPIC_SAFE, description: 'Unique camera id; used in MQTT topics ([A-Za-z0-9_-]).' }),
      source,
      deadlineMs: Default(Type.Number({ exclusiveMinimum: 0, maximum: TIMER_MAX_MS, description: 'A frame not published within this many ms of capture is late.' }), 500),
      stallTimeoutMs: Default(ms(100, 'No frame for this long = camera stalled: fault state and source restart, ms.'), 5000),
      frozenFrames: Default(Type.Integer({ minimum: 0, maximum: MAX_COUNT, description: 'This many identical consecutive frames = frozen: fault and restart; 0 = off.' }), 0),
      rules: RulesSchema,
      trigger: Default(Type.Boolean({ description: 'Only frames tagged by a cmd/trigger message are judged for rejects.' }), false),
      decision: Type.Optional(
        Enum(DECISIONS, {
          description:
            'part: track parts across frames and publish one verdict per part on <camera>/verdict; frame: judge each frame on its own (a reject per frame on <camera>/reject). Default: part for video sources (synthetic, ffmpeg, gstreamer); frame in trigger mode (always) and for a folder source (each image one part).',
        }),
      ),
      parts: PartsSchema,
    },
    closed,
  );
}

// ---------------------------------------------------------------------------------------------------------
// Sections

export const DeviceSchema = Section(
  Type.Object(
    {
      id: Type.Optional(
        Type.String({
          pattern: TOPIC_SAFE,
          maxLength: DEVICE_ID_MAX_LENGTH,
          description: 'Device id in MQTT topics, keys and the client id: unique in the fleet and stable. Default: the host name (topic-safe, cut at 64).',
        }),
      ),
    },
    closed,
  ),
);

export const LogSchema = Section(Type.Object({ level: Default(Enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace']), 'info') }, closed));

export const ModelSchema = Type.Object(
  {
    path: Type.String({ minLength: 1, description: 'ONNX model file (relative to the config file).' }),
    labels: Type.Optional(Type.String({ minLength: 1, description: 'Labels file, one class name per line, for models without names metadata.' })),
    engine: Default(Enum(['auto', 'tensorrt', 'cuda', 'cpu'], { description: 'auto: TensorRT, then onnxruntime CUDA, then CPU.' }), 'auto'),
    threads: Default(
      Type.Integer({
        minimum: 0,
        maximum: MAX_THREADS,
        description:
          'onnxruntime intra-op threads; 0 = auto: the number of cores, one fewer when a run takes under 10 ms on all of them (a light model: the rest of the daemon gets a core). README "Performance".',
      }),
      0,
    ),
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
          'When onnxruntime\'s threads busy-wait: during-runs (inside a run only), briefly (also up to 1 ms after one), always (onnxruntime\'s default: also between runs, a core per thread), never (least CPU, slower runs). README "Performance".',
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

/** Names of environment variables a secret may be read from. */
export const ENV_NAME = '^[A-Za-z_][A-Za-z0-9_]*$';
const SECRET_FILE = (what: string): string =>
  `File holding the ${what} (its first line), read at start and on every reload. A relative path is looked up in $CREDENTIALS_DIRECTORY when set (systemd LoadCredential=), else next to the config file.`;

export const TlsSchema = Type.Object(
  {
    ca: Type.Optional(Type.String({ minLength: 1, description: 'CA certificate file (relative to the config file).' })),
    cert: Type.Optional(Type.String({ minLength: 1, description: 'Client certificate file.' })),
    key: Type.Optional(Type.String({ minLength: 1, description: 'Client key file (PEM; may be encrypted, then set one passphrase source).' })),
    passphrase: Type.Optional(Type.String({ description: 'Passphrase of an encrypted key. Never logged; prefer passphraseFile or passphraseEnv.' })),
    passphraseFile: Type.Optional(Type.String({ minLength: 1, description: SECRET_FILE('key passphrase') })),
    passphraseEnv: Type.Optional(Type.String({ pattern: ENV_NAME, description: 'Environment variable holding the key passphrase.' })),
    rejectUnauthorized: Default(Type.Boolean({ description: "Refuse a server certificate the CA (tls.ca, else the system's) did not sign." }), true),
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
      password: Type.Optional(Type.String({ description: 'Never logged; prefer passwordFile or passwordEnv (a config file holding it must not be readable by others).' })),
      passwordFile: Type.Optional(Type.String({ minLength: 1, description: SECRET_FILE('password') })),
      passwordEnv: Type.Optional(Type.String({ pattern: ENV_NAME, description: 'Environment variable holding the password.' })),
      tls: Type.Optional(TlsSchema),
      detectionsQos: Default(Enum([0, 1]), 0),
      publishDetections: Default(Type.Boolean({ description: "Publish every frame's detections (rejects and state are always published)." }), true),
      keepaliveSec: Default(Type.Integer({ minimum: 0, maximum: MQTT_KEEPALIVE_MAX_SEC, description: 'MQTT keepalive, s.' }), 30),
      reconnectMs: Default(ms(100, 'Delay between reconnect attempts, ms.'), 2000),
      reconnectMaxMs: Default(
        ms(100, 'After the broker refuses the connection (bad credentials, not authorised) or an event (an ACL) the delay doubles from reconnectMs up to this, ms.'),
        30_000,
      ),
      protocolVersion: Default(
        Enum([4, 5], {
          description:
            'MQTT protocol: 5 (a broker refusing a publish, e.g. an ACL denying a topic, says so and the event stays in the outbox) or 4 (3.1.1, for brokers without MQTT 5: a refused publish is acknowledged and lost). The embedded broker always speaks 4.',
        }),
        5,
      ),
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
      maxAgeMs: Default(Type.Integer({ minimum: 1, maximum: OUTBOX_MAX_AGE_MS, description: 'Events older than this are dropped (logged and counted), ms.' }), 24 * 3600 * 1000),
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
      maxBytes: Default(
        Type.Integer({
          minimum: 64 * 1024,
          maximum: OUTBOX_MAX_BYTES,
          description: 'Oldest snapshots are deleted beyond this many bytes. Snapshots also leave the outbox its room on a shared disk: they yield first.',
        }),
        256 * 1024 * 1024,
      ),
    },
    closed,
  ),
);

/** The HTTP inference API (/v1/detect, /v2 Open Inference Protocol): README "HTTP inference API". */
export const HttpApiSchema = Section(
  Type.Object(
    {
      enabled: Default(Type.Boolean({ description: "Serve /v1/detect and the /v2 Open Inference Protocol routes on the daemon's engine." }), true),
      maxQueue: Default(Type.Integer({ minimum: 1, maximum: 1024, description: 'API requests waiting for the engine at most; one more is answered 503 with Retry-After.' }), 16),
      maxConcurrent: Default(
        Type.Integer({ minimum: 1, maximum: 256, description: 'API requests being decoded, queued or run at once; more are answered 503 with Retry-After.' }),
        32,
      ),
      maxDecoding: Default(
        Type.Integer({
          minimum: 1,
          maximum: 64,
          description: "API images decoded at once; keep it below libuv's thread pool (UV_THREADPOOL_SIZE, 4), which the cameras' image work shares.",
        }),
        2,
      ),
      maxBodyBytes: Default(
        Type.Integer({ minimum: 1024, maximum: 1024 * 1024 * 1024, description: 'Largest request body (image or JSON tensor), bytes; larger: 413.' }),
        32 * 1024 * 1024,
      ),
      maxPixels: Default(Type.Integer({ minimum: 1, maximum: 268_402_689, description: 'Largest image (width x height) /v1/detect decodes; larger: 413.' }), 40_000_000),
      retryAfterSec: Default(Type.Integer({ minimum: 1, maximum: 3600, description: 'Retry-After of a 503 (queue full, waited too long, not ready), s.' }), 1),
    },
    closed,
  ),
);

export const HttpSchema = Section(
  Type.Object(
    {
      enabled: Default(Type.Boolean({ description: 'Health (/healthz), Prometheus metrics (/metrics), the line view and the inference API.' }), true),
      host: Default(Type.String({ minLength: 1, description: 'Address to listen on; loopback unless you mean to expose it (then set tokenFile).' }), '127.0.0.1'),
      port: Default(Type.Integer({ minimum: 0, maximum: 65535 }), 9310),
      tokenFile: Type.Optional(
        Type.String({
          minLength: 1,
          description:
            'File holding a bearer token (first line): every request must send `Authorization: Bearer <token>`. With systemd LoadCredential=, $CREDENTIALS_DIRECTORY/<name>.',
        }),
      ),
      maxQueueMs: Default(ms(1, 'Longest an API request waits for the engine (cameras first), ms; then 503 with Retry-After.'), 2000),
      api: HttpApiSchema,
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
      encoder: Default(Type.Boolean({ description: 'cmd/encoder: belt encoder readings for ejector timing (parts.belt.encoder).' }), false),
    },
    { ...closed, description: 'Which MQTT commands are carried out; a disabled one is ignored (logged, counted in inspectd_commands_total).' },
  ),
);

/** Sparkplug B 3.0 edge node (src/sink/sparkplug): the box is the edge node, each camera a device. Off by default. */
export const SparkplugSchema = Section(
  Type.Object(
    {
      enabled: Default(Type.Boolean({ description: "Publish spBv1.0 births, data and deaths on a second MQTT connection to the mqtt section's broker." }), false),
      groupId: Default(Type.String({ pattern: TOPIC_SAFE, description: 'Sparkplug group id (spBv1.0/<groupId>/...).' }), 'inspectd'),
      edgeNodeId: Type.Optional(Type.String({ pattern: TOPIC_SAFE, description: 'Sparkplug edge node id. Default: device.id.' })),
      primaryHostId: Type.Optional(
        Type.String({ pattern: TOPIC_SAFE, description: 'Wait for spBv1.0/STATE/<id> to say online before any birth; rebirth when it comes back online.' }),
      ),
      minIntervalMs: Default(ms(100, 'Report by exception: NDATA/DDATA at most this often per node/device, ms (changes in between are merged).'), 1000),
      commands: Section(
        Type.Object(
          {
            rebirth: Default(Type.Boolean({ description: 'NCMD Node Control/Rebirth (the spec requires it).' }), true),
            pause: Default(Type.Boolean({ description: 'DCMD Device Control/Pause: cmd/pause for that camera.' }), false),
            resume: Default(Type.Boolean({ description: 'DCMD Device Control/Resume.' }), false),
          },
          { ...closed, description: 'Which Sparkplug commands are carried out; a disabled one is ignored and counted.' },
        ),
      ),
    },
    closed,
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
      sparkplug: SparkplugSchema,
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
      // biome-ignore lint/suspicious/noThenProperty: JSON Schema's if/then, not a thenable.
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
