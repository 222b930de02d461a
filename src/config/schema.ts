/**
 * JSON Schema (draft-07) of the config file, with the default of every optional key.
 * Keys whose default depends on the machine (device.id = hostname, outbox/snapshots/engine cache dirs under
 * $STATE_DIRECTORY or ./var, folder done/quarantine dirs) have no `default` here; load.ts fills them in and
 * their descriptions say what they become.
 *
 * Validation compiles the parts separately (configValidationSchema + one schema per source type) so that
 * defaults apply inside the source and errors name one source type instead of a oneOf soup; editors get
 * the composed editorSchema(), written to schema/inspectd.schema.json by write-schema.ts.
 */

type Json = Record<string, unknown>;

export const SOURCE_TYPES = ['synthetic', 'ffmpeg', 'gstreamer', 'folder'] as const;

/** Camera ids and topic segments: safe in MQTT topics and file names. */
export const TOPIC_SAFE = '^[A-Za-z0-9_-]+$';

const posInt = (def: number | undefined, description: string, minimum = 1): Json =>
  def === undefined
    ? { type: 'integer', minimum, description }
    : { type: 'integer', minimum, default: def, description };

const size = (description: string): Json => ({ type: 'integer', minimum: 1, maximum: 16384, description });

export const sourceSchemas: Record<(typeof SOURCE_TYPES)[number], Json> = {
  synthetic: {
    type: 'object',
    description: 'Built-in synthetic production line (demo and tests).',
    additionalProperties: false,
    required: ['type'],
    properties: {
      type: { const: 'synthetic' },
      fps: { type: 'number', exclusiveMinimum: 0, maximum: 1000, default: 5, description: 'Frames per second.' },
      width: { ...size('Frame width in pixels.'), default: 640 },
      height: { ...size('Frame height in pixels.'), default: 480 },
      seed: { type: 'integer', default: 1, description: 'Same seed, same frames.' },
      defectRate: { type: 'number', minimum: 0, maximum: 1, default: 0.3, description: 'Fraction of parts that carry a defect.' },
    },
  },
  ffmpeg: {
    type: 'object',
    description: 'Any input ffmpeg can read: V4L2 device, RTSP/HTTP URL, file, lavfi test pattern.',
    additionalProperties: false,
    required: ['type', 'input', 'width', 'height'],
    properties: {
      type: { const: 'ffmpeg' },
      input: { type: 'string', minLength: 1, description: 'Device path (/dev/video0), URL (rtsp://...) or file path (relative to the config file).' },
      inputFormat: { type: 'string', minLength: 1, description: 'ffmpeg -f for the input (v4l2, lavfi, ...); omitted = probe.' },
      width: size('Output frame width; ffmpeg scales to it.'),
      height: size('Output frame height; ffmpeg scales to it.'),
      fps: { type: 'number', exclusiveMinimum: 0, maximum: 1000, description: "Output frame rate; omitted = the input's." },
      realtime: { type: 'boolean', default: false, description: 'Files: read at the native rate (-re).' },
      loop: { type: 'boolean', default: false, description: 'Files: loop forever (-stream_loop -1).' },
      rtspTransport: { enum: ['tcp', 'udp'], default: 'tcp', description: 'RTSP transport (rtsp:// inputs only).' },
      inputArgs: { type: 'array', items: { type: 'string' }, default: [], description: 'Extra ffmpeg arguments inserted before -i.' },
    },
  },
  gstreamer: {
    type: 'object',
    description: 'A gst-launch-1.0 pipeline; inspectd appends videoconvert, videoscale, RGB caps and fdsink.',
    additionalProperties: false,
    required: ['type', 'pipeline', 'width', 'height'],
    properties: {
      type: { const: 'gstreamer' },
      pipeline: { type: 'string', minLength: 1, description: 'Pipeline description ending in raw video, e.g. "v4l2src device=/dev/video0".' },
      width: size('Output frame width.'),
      height: size('Output frame height.'),
    },
  },
  folder: {
    type: 'object',
    description: 'Hot folder: image files dropped here are judged one by one, then moved to doneDir (or quarantineDir).',
    additionalProperties: false,
    required: ['type', 'path'],
    properties: {
      type: { const: 'folder' },
      path: { type: 'string', minLength: 1, description: 'Folder to watch (relative to the config file); created if missing.' },
      doneDir: { type: 'string', minLength: 1, description: 'Processed files go here. Default: <path>/done.' },
      quarantineDir: { type: 'string', minLength: 1, description: 'Unreadable files go here with a .reason.txt. Default: <path>/quarantine.' },
      pollMs: { ...posInt(500, 'How often the folder is listed, ms.', 10) },
      settleMs: { type: 'integer', minimum: 0, default: 1000, description: 'A file is read only once its size and mtime stayed unchanged this long, ms.' },
    },
  },
};

const zoneSchema: Json = {
  type: 'object',
  additionalProperties: false,
  required: ['name', 'polygon'],
  properties: {
    name: { type: 'string', minLength: 1 },
    polygon: {
      type: 'array',
      minItems: 3,
      description: 'Polygon in source pixels: at least 3 [x, y] points.',
      items: { type: 'array', minItems: 2, maxItems: 2, items: { type: 'number' } },
    },
  },
};

const rulesSchema: Json = {
  type: 'object',
  additionalProperties: false,
  default: {},
  properties: {
    rejectClasses: {
      type: 'array',
      items: { type: 'string', minLength: 1 },
      default: [],
      description: 'Class names (or numeric class ids as strings) whose detection rejects the part.',
    },
    classConf: {
      type: 'object',
      additionalProperties: { type: 'number', minimum: 0, maximum: 1 },
      default: {},
      description: "Per-class confidence thresholds by class name, applied above model.conf.",
    },
    minBoxArea: { type: 'number', minimum: 0, default: 0, description: 'Minimum box area in source pixels squared.' },
    zones: { type: 'array', items: zoneSchema, default: [], description: 'When non-empty, only detections whose box centre lies in a zone count.' },
  },
};

function cameraSchema(source: Json): Json {
  return {
    type: 'object',
    additionalProperties: false,
    required: ['id', 'source'],
    properties: {
      id: { type: 'string', pattern: TOPIC_SAFE, description: 'Unique camera id; used in MQTT topics ([A-Za-z0-9_-]).' },
      source,
      deadlineMs: { type: 'number', exclusiveMinimum: 0, default: 500, description: 'A frame not published within this many ms of capture is late.' },
      stallTimeoutMs: posInt(5000, 'No frame for this long = camera stalled: fault state and source restart, ms.', 100),
      frozenFrames: posInt(0, 'This many identical consecutive frames = frozen: fault and restart; 0 = off.', 0),
      rules: rulesSchema,
      trigger: { type: 'boolean', default: false, description: 'Only frames tagged by a cmd/trigger message are judged for rejects.' },
    },
  };
}

function rootSchema(source: Json): Json {
  return {
    type: 'object',
    additionalProperties: false,
    required: ['model', 'cameras'],
    properties: {
      $schema: { type: 'string', description: 'Ignored; lets editors find this schema.' },
      device: {
        type: 'object',
        additionalProperties: false,
        default: {},
        properties: { id: { type: 'string', pattern: TOPIC_SAFE, description: 'Device id in MQTT topics. Default: the host name.' } },
      },
      log: {
        type: 'object',
        additionalProperties: false,
        default: {},
        properties: { level: { enum: ['fatal', 'error', 'warn', 'info', 'debug', 'trace'], default: 'info' } },
      },
      model: {
        type: 'object',
        additionalProperties: false,
        required: ['path'],
        properties: {
          path: { type: 'string', minLength: 1, description: 'ONNX model file (relative to the config file).' },
          labels: { type: 'string', minLength: 1, description: 'Labels file, one class name per line, for models without names metadata.' },
          engine: { enum: ['auto', 'tensorrt', 'cuda', 'cpu'], default: 'auto', description: 'auto: TensorRT, then onnxruntime CUDA, then CPU.' },
          threads: posInt(0, 'onnxruntime intra-op threads; 0 = number of cores.', 0),
          conf: { type: 'number', minimum: 0, maximum: 1, default: 0.25, description: 'Global confidence threshold.' },
          iou: { type: 'number', minimum: 0, maximum: 1, default: 0.7, description: 'NMS IoU threshold.' },
          maxDetections: posInt(300, 'Most detections kept per frame.'),
          engineCacheDir: { type: 'string', minLength: 1, description: 'TensorRT engine cache. Default: $STATE_DIRECTORY/engines, else ./var/engines.' },
        },
      },
      cameras: { type: 'array', minItems: 1, items: cameraSchema(source) },
      mqtt: {
        type: 'object',
        additionalProperties: false,
        default: {},
        properties: {
          url: { type: 'string', minLength: 1, description: 'Broker URL (mqtt://, mqtts://, ws://, wss://). Omitted = embedded broker (mqtt.embedded).' },
          baseTopic: { type: 'string', minLength: 1, default: 'inspectd', description: 'Topics are <baseTopic>/<device>/<camera>/<kind>.' },
          clientId: { type: 'string', minLength: 1, description: 'Default: inspectd-<device id>.' },
          username: { type: 'string' },
          password: { type: 'string', description: 'Never logged.' },
          tls: {
            type: 'object',
            additionalProperties: false,
            properties: {
              ca: { type: 'string', minLength: 1, description: 'CA certificate file (relative to the config file).' },
              cert: { type: 'string', minLength: 1, description: 'Client certificate file.' },
              key: { type: 'string', minLength: 1, description: 'Client key file.' },
              rejectUnauthorized: { type: 'boolean', default: true },
            },
          },
          detectionsQos: { enum: [0, 1], default: 0 },
          publishDetections: { type: 'boolean', default: true, description: 'Publish every frame\'s detections (rejects and state are always published).' },
          keepaliveSec: posInt(30, 'MQTT keepalive, s.', 0),
          reconnectMs: posInt(2000, 'Delay between reconnect attempts, ms.', 100),
          embedded: {
            type: 'object',
            additionalProperties: false,
            default: {},
            properties: {
              host: { type: 'string', minLength: 1, default: '127.0.0.1' },
              port: { type: 'integer', minimum: 0, maximum: 65535, default: 1883 },
            },
          },
        },
      },
      outbox: {
        type: 'object',
        additionalProperties: false,
        default: {},
        properties: {
          dir: { type: 'string', minLength: 1, description: 'Durable outbox folder. Default: $STATE_DIRECTORY/outbox, else ./var/outbox.' },
          maxBytes: posInt(64 * 1024 * 1024, 'Outbox size bound, bytes.', 1024),
          maxAgeMs: posInt(24 * 3600 * 1000, 'Events older than this are dropped (logged and counted), ms.'),
          rejectTtlMs: posInt(2000, 'A reject delivered later than this after capture is published with expired: true, ms.'),
        },
      },
      snapshots: {
        type: 'object',
        additionalProperties: false,
        default: {},
        properties: {
          enabled: { type: 'boolean', default: true },
          dir: { type: 'string', minLength: 1, description: 'Default: $STATE_DIRECTORY/snapshots, else ./var/snapshots.' },
          maxFiles: posInt(500, 'Oldest snapshots are deleted beyond this count.'),
        },
      },
      http: {
        type: 'object',
        additionalProperties: false,
        default: {},
        properties: {
          enabled: { type: 'boolean', default: true, description: 'Health (/healthz) and Prometheus metrics (/metrics).' },
          host: { type: 'string', minLength: 1, default: '127.0.0.1' },
          port: { type: 'integer', minimum: 0, maximum: 65535, default: 9310 },
        },
      },
      console: {
        type: 'object',
        additionalProperties: false,
        default: {},
        properties: {
          summary: { enum: ['auto', 'on', 'off'], default: 'auto', description: "Periodic status line; 'auto' = only on a terminal." },
          intervalMs: posInt(2000, 'Status line interval, ms.', 100),
        },
      },
    },
  };
}

/** The schema validation uses: a camera's source is checked here only for its type, then against sourceSchemas[type]. */
export function configValidationSchema(): Json {
  return rootSchema({
    type: 'object',
    required: ['type'],
    properties: { type: { enum: [...SOURCE_TYPES] } },
  });
}

/** The composed schema for editors (schema/inspectd.schema.json). */
export function editorSchema(): Json {
  return {
    $schema: 'http://json-schema.org/draft-07/schema#',
    $id: 'https://inspectd.dev/schema/inspectd.schema.json',
    title: 'inspectd config',
    ...rootSchema({
      type: 'object',
      required: ['type'],
      properties: { type: { enum: [...SOURCE_TYPES] } },
      allOf: SOURCE_TYPES.map((t) => ({
        if: { properties: { type: { const: t } }, required: ['type'] },
        then: { $ref: `#/definitions/source_${t}` },
      })),
    }),
    definitions: Object.fromEntries(SOURCE_TYPES.map((t) => [`source_${t}`, sourceSchemas[t]])),
  };
}
