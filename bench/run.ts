/**
 * `npm run bench [-- --models demo,yolov8n --res 720p,1080p --rounds 10 --block-s 2 --threads 0 --no-md]`:
 * the benchmark that README "Performance" and BENCHMARKS.md quote. One process, interleaved blocks, per
 * model and frame size:
 *   bare      session.run in a tight loop on a prepared tensor, on this thread, the engine's session options
 *             (its intra-op threads: --threads, else what model.threads 0 chose for this model)
 *   bare-all  the same on every core, where the engine chose fewer threads (skipped where it did not)
 *   camera    the real Pipeline (its engine worker, native letterbox, decode + NMS, rules) and the real MQTT
 *             sink with its durable outbox to a loopback broker (mosquitto when installed, else the embedded
 *             one), a subscriber timing each frame; frames offered like a camera at twice the bare rate
 *   fps15/30  the same pipeline fed at a fixed camera rate
 *   naive-raw sharp resize + letterbox, JS HWC->CHW, session.run on this thread on every core, JS decode + NMS,
 *             one by one
 *   jpeg      inspectd's JPEG path (Detector.prepareImage: shrink-on-load + native pad) with the next
 *             IMAGE_DECODES_AHEAD images decoded while the engine runs this one (inspectd detect / batch)
 *   naive-jpg the naive path on the same JPEG bytes
 *   *-before  camera, fps30 and jpeg with issue 11's changes off, in the same process (--before off skips them):
 *             the pipeline without submit-ahead, outputs allocated per run, onnxruntime's default spin (always),
 *             the file-per-event outbox (sink/outbox-files.ts) on its own MQTT connection; JPEGs decoded full
 *             size and letterboxed in JS, one after the other
 * Each round runs every block once, in an order rotated by the round, so load drift on a shared box hits
 * each alike; ratios are the median of per-round ratios with their IQR. CPU per frame is from
 * /proc/self/task/* /schedstat by thread (bench/threads.ts), machine idle from /proc/stat. Writes
 * bench-results/<date>.json and the table section of BENCHMARKS.md. Prints figures, never a pass/fail.
 */
import { pbkdf2 } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import mqtt from 'mqtt';
import * as ort from 'onnxruntime-node';
import sharp from 'sharp';
import { validateConfigObject } from '../src/config/load.js';
import { DEMO_REJECT_CLASSES } from '../src/config/defaults.js';
import type { CameraConfig } from '../src/config/types.js';
import type { Frame } from '../src/contracts/frame.js';
import { DEFAULT_POSTPROCESS, type LetterboxInfo, type PostprocessOptions } from '../src/contracts/vision.js';
import type { DetectionsPayload } from '../src/contracts/messages.js';
import { Detector, IMAGE_DECODES_AHEAD } from '../src/inference/detector.js';
import { DEFAULT_SPIN, ortSessionOptions } from '../src/inference/ort.js';
import { silentLogger } from '../src/ops/log.js';
import { Pipeline, type PipelineOptions } from '../src/pipeline/pipeline.js';
import { EmbeddedBroker } from '../src/sink/embedded-broker.js';
import { MqttSink } from '../src/sink/mqtt-sink.js';
import { Outbox } from '../src/sink/outbox.js';
import { FileOutbox } from '../src/sink/outbox-files.js';
import { renderScene } from '../src/synth/scene.js';
import { Postprocessor } from '../src/vision/postprocess.js';
import { preprocessRawSync } from '../src/vision/letterbox.js';
import { REPO_ROOT, SHARED_FIXTURES } from '../test/helpers/fixtures.js';
import { refGeometry } from '../test/native/letterbox-reference.js';
import { THREAD_NAMES, cpuByGroup, fmtRatio, idleFraction, markdownTable, quantile, ratioSpread, rewriteTableSection, rotate, spread, type Spread } from './stats.js';
import { bornDuring, nameThreads, readProcStat, snapshotThreads, threadIds } from './threads.js';

const { values: argv } = parseArgs({
  options: {
    models: { type: 'string' },
    res: { type: 'string', default: '720p,1080p' },
    rounds: { type: 'string', default: '10' },
    'block-s': { type: 'string', default: '2' },
    'min-frames': { type: 'string', default: '6' },
    threads: { type: 'string', default: '0' },
    spin: { type: 'string' },
    fps: { type: 'string', default: '15,30' },
    out: { type: 'string', default: path.join(REPO_ROOT, 'bench-results') },
    md: { type: 'string', default: path.join(REPO_ROOT, 'BENCHMARKS.md') },
    'no-md': { type: 'boolean', default: false },
    before: { type: 'string', default: 'on' },
    help: { type: 'boolean', short: 'h', default: false },
  },
});

const HELP = `usage: npm run bench -- [--models demo,yolov8n] [--res 720p,1080p,4k] [--rounds 10] [--block-s 2] [--min-frames 6]
                        [--threads 0] [--spin during-runs|briefly|always|never] [--fps 15,30] [--out bench-results] [--md BENCHMARKS.md] [--no-md]
                        [--before on|off]
--models: 'demo' and fixture model names (prefixes of ../shared/fixtures/models/*.onnx); default all present.
A quick look: --models demo --res 720p --rounds 2 --block-s 1 --no-md
`;
if (argv.help) {
  process.stdout.write(HELP);
  process.exit(0);
}

const RES: Record<string, [number, number]> = { '720p': [1280, 720], '1080p': [1920, 1080], '4k': [3840, 2160] };
const ROUNDS = Math.max(1, Number(argv.rounds));
const BLOCK_MS = Math.max(200, Number(argv['block-s']) * 1000);
/** A block runs at least BLOCK_MS and at least this many frames (a slow model on a busy box), at most MAX_EXTRA_MS longer. */
const MIN_FRAMES = Math.max(1, Number(argv['min-frames']));
const MAX_EXTRA_MS = 60_000;
const more = (t0: number, n: number): boolean => {
  const el = performance.now() - t0;
  return el < BLOCK_MS || (n < MIN_FRAMES && el < BLOCK_MS + MAX_EXTRA_MS);
};
const CORES = os.availableParallelism();
/** --threads: intra-op threads for every engine here; 0 (default) lets the engine choose (model.threads 0, auto). */
const THREADS = Number(argv.threads) > 0 ? Number(argv.threads) : 0;
const FPS = argv.fps
  .split(',')
  .map(Number)
  .filter((f) => f > 0);
const BEFORE = argv.before !== 'off';
/** The fixed rate a before block runs at besides camera-fed: the highest of --fps. */
const BEFORE_FPS = FPS.length > 0 ? Math.max(...FPS) : 0;
const BEFORE_KINDS = BEFORE ? ['camera-before', ...(BEFORE_FPS > 0 ? [`fps${BEFORE_FPS}-before`] : []), 'jpeg-before'] : [];
const KINDS = ['bare', 'bare-all', 'camera', ...FPS.map((f) => `fps${f}`), 'naive-raw', 'jpeg', 'naive-jpg', ...BEFORE_KINDS] as const;
type Kind = string;
/** After a pipeline block's feed stops: how long its last frames may take to reach the subscriber. */
const DRAIN_MS = 10_000;
const JPEG_QUALITY = 90;
type InspectdConfig = ReturnType<typeof validateConfigObject>['config'];

const resolutions = argv.res.split(',').map((r) => r.trim().toLowerCase());
for (const r of resolutions) if (!RES[r]) throw new Error(`--res ${r}: one of ${Object.keys(RES).join(', ')}`);

// ---------------------------------------------------------------------------------------------------------------------
// Models and frames

interface ModelSpec {
  name: string;
  file: string;
  rejectClasses: string[];
}

function modelSpecs(): ModelSpec[] {
  const all: ModelSpec[] = [];
  const demo = path.join(REPO_ROOT, 'models', 'demo', 'inspectd-demo.onnx');
  if (existsSync(demo)) all.push({ name: 'demo', file: demo, rejectClasses: [...DEMO_REJECT_CLASSES] });
  const dir = path.join(SHARED_FIXTURES, 'models');
  if (existsSync(dir)) {
    for (const f of readdirSync(dir).sort()) if (f.endsWith('.onnx')) all.push({ name: f.replace(/\.onnx$/, ''), file: path.join(dir, f), rejectClasses: ['bus'] });
  } else process.stdout.write(`shared fixtures not found at ${SHARED_FIXTURES}: fixture models skipped (set INSPECTD_SHARED_FIXTURES)\n`);
  if (!argv.models) return all;
  return argv.models.split(',').map((want) => {
    const m = all.find((s) => s.name === want) ?? all.find((s) => s.name.startsWith(want));
    if (!m) throw new Error(`--models ${want}: not found (have ${all.map((s) => s.name).join(', ') || 'none'})`);
    return m;
  });
}

interface Frames {
  raw: { data: Buffer; width: number; height: number }[];
  jpeg: Buffer[];
}

/** Four distinct frames per size: synthetic line scenes for the demo model, the fixture photos for the others. */
async function makeFrames(model: ModelSpec, width: number, height: number): Promise<Frames> {
  const raw: Frames['raw'] = [];
  if (model.name === 'demo') {
    for (let i = 0; i < 4; i++) {
      const s = await renderScene(1, i, { width, height, defectRate: 0.5 });
      raw.push({ data: s.rgb, width, height });
    }
  } else {
    const photos = ['bus.jpg', 'zidane.jpg'].map((f) => path.join(SHARED_FIXTURES, 'images', f)).filter((f) => existsSync(f));
    if (photos.length === 0) throw new Error(`no fixture images in ${path.join(SHARED_FIXTURES, 'images')}`);
    for (let i = 0; i < 4; i++) {
      const data = await sharp(photos[i % photos.length])
        .removeAlpha()
        .resize(width, height, { fit: 'cover', position: i < 2 ? 'centre' : 'top' })
        .raw()
        .toBuffer();
      raw.push({ data, width, height });
    }
  }
  const jpeg = await Promise.all(
    raw.map((f) =>
      sharp(f.data, { raw: { width: f.width, height: f.height, channels: 3 } })
        .jpeg({ quality: JPEG_QUALITY })
        .toBuffer(),
    ),
  );
  return { raw, jpeg };
}

// ---------------------------------------------------------------------------------------------------------------------
// Broker, sink, subscriber

async function startBroker(): Promise<{ url: string; kind: string; stop: () => Promise<void> }> {
  const m = await import('../test/helpers/mosquitto.js');
  if (m.mosquittoBinary()) {
    const b = await m.startMosquitto();
    return { url: b.url, kind: 'mosquitto', stop: () => b.stop() };
  }
  const b = new EmbeddedBroker({ host: '127.0.0.1', port: 0, logger: silentLogger() });
  await b.start();
  return { url: b.url, kind: 'embedded (aedes)', stop: () => b.stop() };
}

function loadConfig(brokerUrl: string, outboxDir: string, cameras: { id: string; rejectClasses: string[] }[], modelFile: string): InspectdConfig {
  return validateConfigObject(
    {
      device: { id: 'bench' },
      model: { path: modelFile, engine: 'cpu', threads: THREADS, ...(argv.spin ? { spin: argv.spin } : {}) },
      // Per-frame rejects (durable through the outbox): the frame path; bench/parts.ts measures part tracking.
      cameras: cameras.map((c) => ({ id: c.id, source: { type: 'synthetic', scene: 'still' }, deadlineMs: 60_000, rules: { rejectClasses: c.rejectClasses }, decision: 'frame' })),
      mqtt: { url: brokerUrl, baseTopic: 'bench' },
      outbox: { dir: outboxDir, rejectTtlMs: 600_000 },
    },
    'bench',
    REPO_ROOT,
  ).config;
}

/** Arrival time (performance.now) per frameId ("camera:seq") at a subscriber in this process. */
class Subscriber {
  readonly arrived = new Map<string, number>();
  private client: mqtt.MqttClient | null = null;
  async start(url: string): Promise<void> {
    const sub = mqtt.connect(url, { clean: true, reconnectPeriod: 0 });
    this.client = sub;
    await new Promise<void>((resolve, reject) => {
      sub.once('connect', () => sub.subscribe('bench/bench/+/detections', { qos: 1 }, (err) => (err ? reject(err) : resolve())));
      sub.once('error', reject);
    });
    sub.on('message', (_topic, payload) => {
      const at = performance.now();
      // Only the frame id, from the payload's head: a full JSON.parse would bill this subscriber's parsing to the pipeline.
      const m = /"frameId":"([^"]+)"/.exec(payload.toString('utf8', 0, 160));
      if (m) this.arrived.set(m[1], at);
    });
  }
  async stop(): Promise<void> {
    await this.client?.endAsync(true);
  }
}

// ---------------------------------------------------------------------------------------------------------------------
// One model, loaded once for the whole run

interface ModelRig {
  spec: ModelSpec;
  detector: Detector;
  /** The engine's session options (bare); sessionAll: every core (bare-all, naive), the same session when those agree. */
  session: ort.InferenceSession;
  sessionAll: ort.InferenceSession;
  /** Intra-op threads of the pipeline's engine (--threads, or what model.threads 0 chose). */
  engineThreads: number;
  post: Postprocessor;
  postOpts: PostprocessOptions;
  pipeline: Pipeline;
  camera: CameraConfig;
  inputW: number;
  inputH: number;
  /** Per published frame of the block being measured. */
  onPublished: ((p: DetectionsPayload) => void) | null;
  seq: number;
  threads: { worker: number[]; enginePool: number[]; mainPool: number[] };
  /** The same model with issue 11's changes off (see the head of this file), when --before is on. */
  before: { detector: Detector; pipeline: Pipeline } | null;
}

function cameraIdOf(name: string): string {
  return name.replace(/[^A-Za-z0-9_-]/g, '_').slice(0, 40);
}

/** Loads a Detector in its engine worker and names the threads it starts (the worker, then onnxruntime's pool). */
async function loadEngine(spec: ModelSpec, cfg: InspectdConfig, before: boolean): Promise<{ detector: Detector; worker: number[]; enginePool: number[] }> {
  let detector!: Detector;
  const engineThreads = await bornDuring(async () => {
    detector = await Detector.load({
      modelPath: spec.file,
      engine: 'cpu',
      threads: before && THREADS === 0 ? CORES : THREADS,
      // Before: every core (model.threads 0 meant that), onnxruntime's own spin default, a fresh output buffer per run, JPEGs decoded full size.
      spin: before ? 'always' : cfg.model.spin,
      reuseOutputs: !before,
      ...(before ? { shrinkOnLoadFactor: Number.POSITIVE_INFINITY } : {}),
      interOpThreads: cfg.model.interOpThreads,
      tensorrtBuild: false,
      logger: silentLogger(),
    });
  });
  // The engine's threads are those of the new ones that work during runs: with model.threads 0 the load may
  // leave the first session's (timed on every core, then let go) behind, idle or on its way out.
  const candidates = unnamed(engineThreads);
  const t0 = snapshotThreads();
  const { width, height } = detector.inputSize;
  for (let i = 0; i < 5; i++) await detector.runTensor(new Float32Array(3 * width * height), [1, 3, height, width]);
  const t1 = snapshotThreads();
  const fresh = candidates.filter((t) => (t1.get(t)?.runNs ?? 0) - (t0.get(t)?.runNs ?? 0) > 0);
  // The worker_threads thread starts first; the session it creates then starts onnxruntime's pool.
  const worker = fresh.slice(0, 1);
  const enginePool = fresh.slice(1);
  nameThreads(worker, THREAD_NAMES.ortWorker);
  nameThreads(enginePool, THREAD_NAMES.ortEnginePool);
  return { detector, worker, enginePool };
}

function benchSink(sink: MqttSink, rig: ModelRig): PipelineOptions['sink'] {
  return {
    detections: (p) => {
      sink.publishDetections(p);
      rig.onPublished?.(p);
    },
    reject: (p) => sink.publishReject(p),
    verdict: (p) => sink.publishVerdict(p),
  };
}

async function loadRig(spec: ModelSpec, cfg: InspectdConfig, sink: MqttSink, sinkBefore: MqttSink | null): Promise<ModelRig> {
  const logger = silentLogger();
  const engine = await loadEngine(spec, cfg, false);
  const detector = engine.detector;
  const threads = { worker: engine.worker, enginePool: engine.enginePool, mainPool: [] as number[] };
  const engineThreads = detector.intraOpThreads ?? CORES;
  // bare: the engine's own session options; naive and bare-all: every core, as onnxruntime's default would.
  const sessionWith = (threads: number) =>
    ort.InferenceSession.create(spec.file, ortSessionOptions('cpu', { threads, interOpThreads: cfg.model.interOpThreads, spin: cfg.model.spin }));
  let session!: ort.InferenceSession;
  let sessionAll!: ort.InferenceSession;
  const mainThreads = await bornDuring(async () => {
    session = await sessionWith(engineThreads);
    sessionAll = engineThreads === CORES ? session : await sessionWith(CORES);
  });
  threads.mainPool = unnamed(mainThreads);
  nameThreads(threads.mainPool, THREAD_NAMES.ortMainPool);
  const camera = cfg.cameras.find((c) => c.id === cameraIdOf(spec.name))!;
  const rig: ModelRig = {
    spec,
    detector,
    session,
    sessionAll,
    engineThreads,
    post: new Postprocessor(detector.layoutInfo, detector.metadata.names),
    postOpts: { ...DEFAULT_POSTPROCESS, conf: cfg.model.conf, iou: cfg.model.iou, maxDetections: cfg.model.maxDetections },
    pipeline: undefined as unknown as Pipeline,
    camera,
    inputW: detector.inputSize.width,
    inputH: detector.inputSize.height,
    onPublished: null,
    seq: 0,
    threads,
    before: null,
  };
  rig.pipeline = new Pipeline({ deviceId: 'bench', detector, post: rig.postOpts, logger, sink: benchSink(sink, rig) });
  rig.pipeline.addCamera(camera);
  if (sinkBefore) {
    const b = await loadEngine(spec, cfg, true);
    const pipeline = new Pipeline({ deviceId: 'bench', detector: b.detector, post: rig.postOpts, logger, sink: benchSink(sinkBefore, rig), submitAhead: false });
    pipeline.addCamera(camera);
    rig.before = { detector: b.detector, pipeline };
  }
  return rig;
}

async function libuvPoolThreads(): Promise<number[]> {
  const size = Number(process.env.UV_THREADPOOL_SIZE) || 4;
  const before = snapshotThreads();
  await Promise.all(
    Array.from({ length: size * 2 }, () => new Promise((resolve, reject) => pbkdf2('bench', 'salt', 20_000, 32, 'sha256', (err) => (err ? reject(err) : resolve(undefined))))),
  );
  const after = snapshotThreads();
  const busy: number[] = [];
  for (const [tid, a] of after) if (tid !== process.pid && a.runNs - (before.get(tid)?.runNs ?? 0) > 2e6) busy.push(tid);
  return unnamed(busy);
}

/** Threads still called "node" (libvips names its own; those stay libvips'). */
function unnamed(tids: number[]): number[] {
  return tids.filter((t) => {
    try {
      return readFileSync(`/proc/self/task/${t}/comm`, 'utf8').trim() === 'node';
    } catch {
      return false;
    }
  });
}

// ---------------------------------------------------------------------------------------------------------------------
// Blocks

interface BlockResult {
  kind: Kind;
  frames: number;
  wallMs: number;
  fps: number;
  /** CPU ms per frame by thread group, and in all. */
  cpuMsPerFrame: Record<string, number>;
  cpuMsPerFrameTotal: number;
  /** Whole-machine idle fraction over the block. */
  idle: number;
  /** Pipeline blocks: capture -> subscriber, and that minus inference, per measured frame. */
  e2eMs?: number[];
  addedMs?: number[];
  /** addedMs less the frame's wait for a busy engine (payload queueMs): what the pipeline adds when the engine is free. */
  beyondQueueMs?: number[];
  inferenceMs?: number[];
  superseded?: number;
  lost?: number;
}

interface Window {
  t0: number;
  threads: ReturnType<typeof snapshotThreads>;
  stat: ReturnType<typeof readProcStat>;
}

function openWindow(): Window {
  const stat = readProcStat();
  const threads = snapshotThreads();
  return { t0: performance.now(), threads, stat };
}

function closeWindow(kind: Kind, w: Window, frames: number): BlockResult {
  const wallMs = performance.now() - w.t0;
  const threads = snapshotThreads();
  const stat = readProcStat();
  const byGroup = cpuByGroup(w.threads, threads);
  const cpuMsPerFrame: Record<string, number> = {};
  let total = 0;
  for (const [g, ns] of Object.entries(byGroup)) {
    cpuMsPerFrame[g] = frames > 0 ? ns / 1e6 / frames : NaN;
    total += ns;
  }
  return {
    kind,
    frames,
    wallMs,
    fps: (frames * 1000) / wallMs,
    cpuMsPerFrame,
    cpuMsPerFrameTotal: frames > 0 ? total / 1e6 / frames : NaN,
    idle: w.stat && stat ? idleFraction(w.stat, stat) : NaN,
  };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function preparedTensor(rig: ModelRig, f: Frames['raw'][number]): Float32Array {
  const frame: Frame = { cameraId: 'bare', seq: 0, captureMono: 0, captureWall: 0, width: f.width, height: f.height, format: 'rgb24', data: f.data };
  return preprocessRawSync(frame, rig.inputW, rig.inputH).tensor;
}

async function bareBlock(rig: ModelRig, tensor: Float32Array, allCores = false): Promise<BlockResult> {
  const session = allCores ? rig.sessionAll : rig.session;
  const feeds = { [session.inputNames[0]]: new ort.Tensor('float32', tensor, [1, 3, rig.inputH, rig.inputW]) };
  await session.run(feeds); // warm-in, not counted
  const w = openWindow();
  let n = 0;
  while (more(w.t0, n)) {
    await session.run(feeds);
    n++;
  }
  return closeWindow(allCores ? 'bare-all' : 'bare', w, n);
}

/**
 * The naive alternative, one frame at a time on this thread: sharp resize + letterbox pad (from raw pixels or
 * the JPEG), a JS HWC->CHW loop into a new tensor, session.run, JS decode + NMS.
 */
async function naiveOne(rig: ModelRig, input: { raw: Frames['raw'][number] } | { jpeg: Buffer; width: number; height: number }): Promise<void> {
  const W = rig.inputW;
  const H = rig.inputH;
  const src = 'raw' in input ? input.raw : input;
  const g = refGeometry(src.width, src.height, W, H);
  const img = 'raw' in input ? sharp(input.raw.data, { raw: { width: src.width, height: src.height, channels: 3 } }) : sharp(input.jpeg);
  const hwc = await img
    .resize(g.newWidth, g.newHeight, { kernel: 'linear', fit: 'fill' })
    .extend({ top: g.padY, bottom: H - g.newHeight - g.padY, left: g.padX, right: W - g.newWidth - g.padX, background: { r: 114, g: 114, b: 114 } })
    .removeAlpha()
    .raw()
    .toBuffer();
  const plane = W * H;
  const chw = new Float32Array(3 * plane);
  for (let i = 0, p = 0; p < plane; p++, i += 3) {
    chw[p] = hwc[i] / 255;
    chw[plane + p] = hwc[i + 1] / 255;
    chw[2 * plane + p] = hwc[i + 2] / 255;
  }
  const session = rig.sessionAll;
  const out = await session.run({ [session.inputNames[0]]: new ort.Tensor('float32', chw, [1, 3, H, W]) });
  const info: LetterboxInfo = { scale: g.scale, padX: g.padX, padY: g.padY, srcWidth: src.width, srcHeight: src.height, dstWidth: W, dstHeight: H };
  rig.post.run(out[session.outputNames[0]].data as Float32Array, info, rig.postOpts);
}

async function naiveBlock(rig: ModelRig, frames: Frames, jpeg: boolean): Promise<BlockResult> {
  const input = (i: number) => {
    const raw = frames.raw[i % frames.raw.length];
    return jpeg ? { jpeg: frames.jpeg[i % frames.jpeg.length], width: raw.width, height: raw.height } : { raw };
  };
  await naiveOne(rig, input(0));
  const w = openWindow();
  let n = 0;
  while (more(w.t0, n)) await naiveOne(rig, input(++n));
  return closeWindow(jpeg ? 'naive-jpg' : 'naive-raw', w, n);
}

/** inspectd's JPEG path as `inspectd detect` and `batch` run it: the next IMAGE_DECODES_AHEAD images decode while the engine runs this one. */
async function jpegBlock(rig: ModelRig, frames: Frames): Promise<BlockResult> {
  const d = rig.detector;
  let started = 0;
  const prep = () => d.prepareImage(frames.jpeg[started++ % frames.jpeg.length]);
  await d.inferPrepared(await prep(), rig.postOpts); // warm-in
  const ahead = Array.from({ length: IMAGE_DECODES_AHEAD }, prep);
  const w = openWindow();
  let n = 0;
  while (more(w.t0, n)) {
    const cur = await ahead.shift()!;
    ahead.push(prep());
    await d.inferPrepared(cur, rig.postOpts);
    n++;
  }
  const result = closeWindow('jpeg', w, n);
  for (const p of ahead) d.releasePrepared(await p);
  return result;
}

/** The JPEG path before issue 11: decoded full size, letterboxed in JS, the next image only after this one's result. */
async function jpegBeforeBlock(rig: ModelRig, frames: Frames): Promise<BlockResult> {
  const d = rig.before!.detector;
  const one = async (i: number) => d.inferPrepared(await d.prepareImage(frames.jpeg[i % frames.jpeg.length]), rig.postOpts);
  await one(0); // warm-in
  const w = openWindow();
  let n = 0;
  while (more(w.t0, n)) await one(++n);
  return closeWindow('jpeg-before', w, n);
}

/**
 * The pipeline fed like a camera every periodMs (on a drift-free schedule). The window opens at the first
 * frame published, and closes after BLOCK_MS; frames published in it are counted, their latency taken at
 * the subscriber once the feed stopped and the pipeline drained.
 */
async function pipelineBlock(kind: Kind, rig: ModelRig, pipeline: Pipeline, frames: Frames, periodMs: number, sub: Subscriber): Promise<BlockResult> {
  const cam = rig.camera.id;
  const measured: DetectionsPayload[] = [];
  const capture = new Map<number, number>();
  let w: Window | null = null;
  let closed = false;
  let result: BlockResult | null = null;
  let opened!: () => void;
  const openedP = new Promise<void>((r) => (opened = r));
  const supersededBefore = pipeline.counters(cam)!.dropped.superseded;
  rig.onPublished = (p) => {
    if (closed) return;
    if (!w) {
      w = openWindow();
      opened();
      return;
    }
    measured.push(p);
  };
  let timer: NodeJS.Timeout | undefined;
  let k = 0;
  const start = performance.now();
  const tick = (): void => {
    const src = frames.raw[rig.seq % frames.raw.length];
    const now = performance.now();
    const seq = rig.seq++;
    capture.set(seq, now);
    pipeline.offer({ cameraId: cam, seq, captureMono: now, captureWall: Date.now(), width: src.width, height: src.height, format: 'rgb24', data: src.data });
    k++;
    timer = setTimeout(tick, Math.max(0, start + k * periodMs - performance.now()));
  };
  tick();
  await Promise.race([openedP, sleep(DRAIN_MS)]);
  const win = w as Window | null; // set by the callback meanwhile
  if (win) {
    while (more(win.t0, measured.length)) await sleep(Math.max(1, Math.min(20, BLOCK_MS - (performance.now() - win.t0))));
    closed = true;
    result = closeWindow(kind, win, measured.length);
  }
  clearTimeout(timer);
  closed = true;
  rig.onPublished = null;
  // Not Pipeline.drain: that stops it taking frames for good. The next block starts on an idle pipeline.
  const deadline = Date.now() + DRAIN_MS;
  while (pipeline.busy && Date.now() < deadline) await sleep(2);
  const pendingArrivals = () => measured.some((p) => !sub.arrived.has(p.frameId));
  while (pendingArrivals() && Date.now() < deadline) await sleep(5);
  if (!result) result = closeWindow(kind, openWindow(), 0);
  const e2e: number[] = [];
  const added: number[] = [];
  const inference: number[] = [];
  const beyond: number[] = [];
  let lost = 0;
  for (const p of measured) {
    const at = sub.arrived.get(p.frameId);
    sub.arrived.delete(p.frameId);
    if (at === undefined) {
      lost++;
      continue;
    }
    const ms = at - capture.get(p.seq)!;
    e2e.push(ms);
    added.push(ms - p.latency.inferenceMs);
    inference.push(p.latency.inferenceMs);
    beyond.push(ms - p.latency.inferenceMs - p.latency.queueMs);
  }
  sub.arrived.clear();
  return {
    ...result,
    e2eMs: e2e,
    addedMs: added,
    beyondQueueMs: beyond,
    inferenceMs: inference,
    superseded: pipeline.counters(cam)!.dropped.superseded - supersededBefore,
    lost,
  };
}

// ---------------------------------------------------------------------------------------------------------------------
// Progress (a bar on a TTY, nothing when piped)

class Progress {
  private done = 0;
  private readonly t0 = performance.now();
  private readonly tty = process.stderr.isTTY === true;
  constructor(private readonly total: number) {}
  step(label: string): void {
    if (!this.tty) return;
    const frac = this.done / this.total;
    const width = 30;
    const bar = '#'.repeat(Math.round(frac * width)).padEnd(width, '.');
    const el = (performance.now() - this.t0) / 1000;
    const eta = this.done > 0 ? (el / this.done) * (this.total - this.done) : NaN;
    const etaS = Number.isFinite(eta) ? `${Math.floor(eta / 60)}m${String(Math.round(eta % 60)).padStart(2, '0')}s` : '?';
    process.stderr.write(`\r[${bar}] ${this.done}/${this.total} eta ${etaS}  ${label}`.padEnd(110).slice(0, 110));
  }
  tick(): void {
    this.done++;
  }
  end(): void {
    if (this.tty) process.stderr.write(`\r${' '.repeat(110)}\r`);
  }
}

// ---------------------------------------------------------------------------------------------------------------------
// Summary

interface CaseResult {
  model: string;
  res: string;
  width: number;
  height: number;
  inputSize: string;
  periodMs: number;
  /** Intra-op threads of the pipeline's engine. */
  threads: number;
  rounds: Record<Kind, BlockResult[]>;
}

function pooled(blocks: BlockResult[], key: 'e2eMs' | 'addedMs' | 'beyondQueueMs' | 'inferenceMs'): number[] {
  return blocks.flatMap((b) => b[key] ?? []);
}

interface CaseSummary {
  model: string;
  res: string;
  fps: Record<Kind, Spread>;
  threads: number;
  pipelineOverBare: Spread;
  /** Against the bare loop on every core, where the engine chose fewer (else the same as pipelineOverBare). */
  pipelineOverBareAll: Spread;
  pipelineOverNaiveRaw: Spread;
  jpegOverNaive: Spread;
  /** After ÷ before (issue 11's changes on ÷ off), per round; CPU ratios are CPU per frame after ÷ before. */
  vsBefore: { camera: Spread; cameraCpu: Spread; fixed: Spread; fixedCpu: Spread; jpeg: Spread; jpegCpu: Spread } | null;
  cpuOverBare: Record<Kind, Spread>;
  cpuMsPerFrame: Record<Kind, Spread>;
  /** CPU ms per frame of each round, per block kind (for per-round ratios between kinds). */
  cpuPerRound: Record<Kind, number[]>;
  cpuByGroup: Record<Kind, Record<string, number>>;
  latency: Record<Kind, { e2eP50: number; e2eP99: number; addedP50: number; addedP99: number; beyondP50: number; beyondP99: number; n: number; lost: number }>;
  idle: Record<Kind, Spread>;
  superseded: Record<Kind, number>;
}

function summarise(c: CaseResult): CaseSummary {
  const r = c.rounds;
  const fpsOf = (k: Kind) => r[k].map((b) => b.fps);
  const cpuOf = (k: Kind) => r[k].map((b) => b.cpuMsPerFrameTotal);
  const s: CaseSummary = {
    model: c.model,
    res: c.res,
    fps: {},
    threads: c.threads,
    pipelineOverBare: ratioSpread(fpsOf('camera'), fpsOf('bare')),
    pipelineOverBareAll: ratioSpread(fpsOf('camera'), fpsOf(r['bare-all'].length > 0 ? 'bare-all' : 'bare')),
    pipelineOverNaiveRaw: ratioSpread(fpsOf('camera'), fpsOf('naive-raw')),
    jpegOverNaive: ratioSpread(fpsOf('jpeg'), fpsOf('naive-jpg')),
    vsBefore: null,
    cpuOverBare: {},
    cpuMsPerFrame: {},
    cpuPerRound: {},
    cpuByGroup: {},
    latency: {},
    idle: {},
    superseded: {},
  };
  if (BEFORE) {
    const fixed = BEFORE_FPS > 0 ? `fps${BEFORE_FPS}` : 'camera';
    s.vsBefore = {
      camera: ratioSpread(fpsOf('camera'), fpsOf('camera-before')),
      cameraCpu: ratioSpread(cpuOf('camera'), cpuOf('camera-before')),
      fixed: ratioSpread(fpsOf(fixed), fpsOf(`${fixed}-before`)),
      fixedCpu: ratioSpread(cpuOf(fixed), cpuOf(`${fixed}-before`)),
      jpeg: ratioSpread(fpsOf('jpeg'), fpsOf('jpeg-before')),
      jpegCpu: ratioSpread(cpuOf('jpeg'), cpuOf('jpeg-before')),
    };
  }
  for (const k of KINDS) {
    s.fps[k] = spread(fpsOf(k));
    s.cpuMsPerFrame[k] = spread(cpuOf(k));
    s.cpuPerRound[k] = cpuOf(k);
    s.cpuOverBare[k] = ratioSpread(cpuOf(k), cpuOf('bare'));
    s.idle[k] = spread(r[k].map((b) => b.idle));
    const groups = new Set(r[k].flatMap((b) => Object.keys(b.cpuMsPerFrame)));
    s.cpuByGroup[k] = {};
    for (const g of groups)
      s.cpuByGroup[k][g] = quantile(
        r[k].map((b) => b.cpuMsPerFrame[g] ?? 0),
        0.5,
      );
    if (r[k].some((b) => b.e2eMs)) {
      const e2e = pooled(r[k], 'e2eMs');
      const added = pooled(r[k], 'addedMs');
      const beyond = pooled(r[k], 'beyondQueueMs');
      s.latency[k] = {
        e2eP50: quantile(e2e, 0.5),
        e2eP99: quantile(e2e, 0.99),
        addedP50: quantile(added, 0.5),
        addedP99: quantile(added, 0.99),
        beyondP50: quantile(beyond, 0.5),
        beyondP99: quantile(beyond, 0.99),
        n: e2e.length,
        lost: r[k].reduce((a, b) => a + (b.lost ?? 0), 0),
      };
      s.superseded[k] = r[k].reduce((a, b) => a + (b.superseded ?? 0), 0);
    }
  }
  return s;
}

const f1 = (x: number) => (Number.isFinite(x) ? x.toFixed(1) : 'n/a');
const f2 = (x: number) => (Number.isFinite(x) ? x.toFixed(2) : 'n/a');
const pct = (x: number) => (Number.isFinite(x) ? `${(x * 100).toFixed(0)} %` : 'n/a');

function feedLabel(k: Kind): string {
  const before = k.endsWith('-before') ? ', before' : '';
  const base = k.replace(/-before$/, '');
  return (base === 'camera' ? 'camera, 2× bare rate' : `${base.slice(3)} fps`) + before;
}

function tables(sums: CaseSummary[]): string {
  const fixedKinds = FPS.map((f) => `fps${f}`);
  const thr = markdownTable(
    [
      'model',
      'frames',
      'engine threads',
      'bare runs/s',
      `bare on all ${CORES} cores runs/s`,
      'pipeline, camera-fed, frames/s',
      'pipeline ÷ bare',
      'pipeline ÷ bare on all cores',
      'naive raw frames/s',
      'pipeline ÷ naive raw',
      'JPEG path frames/s',
      'naive JPEG frames/s',
      'JPEG path ÷ naive',
    ],
    sums.map((s) => [
      s.model,
      s.res,
      String(s.threads),
      f1(s.fps.bare.median),
      s.threads === CORES ? '(same)' : f1(s.fps['bare-all'].median),
      f1(s.fps.camera.median),
      fmtRatio(s.pipelineOverBare),
      s.threads === CORES ? '(same)' : fmtRatio(s.pipelineOverBareAll),
      f1(s.fps['naive-raw'].median),
      fmtRatio(s.pipelineOverNaiveRaw),
      f1(s.fps.jpeg.median),
      f1(s.fps['naive-jpg'].median),
      fmtRatio(s.jpegOverNaive),
    ]),
  );
  const lat = markdownTable(
    [
      'model',
      'frames',
      'feed',
      'frames/s',
      'capture → subscriber p50 / p99 ms',
      'added (minus inference) p50 / p99 ms',
      'added less the wait for a busy engine p50 / p99 ms',
      'frames timed',
      'superseded',
    ],
    sums.flatMap((s) =>
      ['camera', ...fixedKinds, ...BEFORE_KINDS.filter((k) => k !== 'jpeg-before')].map((k) => [
        s.model,
        s.res,
        feedLabel(k),
        f1(s.fps[k].median),
        `${f1(s.latency[k]?.e2eP50 ?? NaN)} / ${f1(s.latency[k]?.e2eP99 ?? NaN)}`,
        `${f2(s.latency[k]?.addedP50 ?? NaN)} / ${f2(s.latency[k]?.addedP99 ?? NaN)}`,
        `${f2(s.latency[k]?.beyondP50 ?? NaN)} / ${f2(s.latency[k]?.beyondP99 ?? NaN)}`,
        String(s.latency[k]?.n ?? 0) + ((s.latency[k]?.lost ?? 0) > 0 ? ` (${s.latency[k]!.lost} never arrived)` : ''),
        String(s.superseded[k] ?? 0),
      ]),
    ),
  );
  const groupNames = [...new Set(sums.flatMap((s) => KINDS.flatMap((k) => Object.keys(s.cpuByGroup[k]))))].sort();
  const cpu = markdownTable(
    ['model', 'frames', 'block', 'CPU ms/frame (all threads)', '÷ bare', ...groupNames, 'machine idle'],
    sums.flatMap((s) =>
      KINDS.filter((k) => s.fps[k].n > 0).map((k) => [
        s.model,
        s.res,
        k,
        f2(s.cpuMsPerFrame[k].median),
        k === 'bare' ? '1' : fmtRatio(s.cpuOverBare[k]),
        ...groupNames.map((g) => (s.cpuByGroup[k][g] !== undefined ? f2(s.cpuByGroup[k][g]) : '')),
        pct(s.idle[k].median),
      ]),
    ),
  );
  const fixedLabel = BEFORE_FPS > 0 ? `${BEFORE_FPS} fps` : 'camera-fed';
  const fixedKind = BEFORE_FPS > 0 ? `fps${BEFORE_FPS}` : 'camera';
  const vs = BEFORE
    ? `### Before and after (issue 11's changes off and on, interleaved in the same rounds)\n\n${markdownTable(
        [
          'model',
          'frames',
          'camera-fed frames/s before → after',
          'after ÷ before',
          'CPU ms/frame camera-fed before → after',
          'after ÷ before',
          `CPU ms/frame at ${fixedLabel} before → after`,
          'after ÷ before',
          `added latency at ${fixedLabel} p50 / p99 ms before → after`,
          'JPEG path frames/s before → after',
          'after ÷ before',
          'JPEG CPU ms/frame before → after',
        ],
        sums.map((s) => [
          s.model,
          s.res,
          `${f1(s.fps['camera-before'].median)} → ${f1(s.fps.camera.median)}`,
          fmtRatio(s.vsBefore!.camera),
          `${f2(s.cpuMsPerFrame['camera-before'].median)} → ${f2(s.cpuMsPerFrame.camera.median)}`,
          fmtRatio(s.vsBefore!.cameraCpu),
          `${f2(s.cpuMsPerFrame[`${fixedKind}-before`].median)} → ${f2(s.cpuMsPerFrame[fixedKind].median)}`,
          fmtRatio(s.vsBefore!.fixedCpu),
          `${f2(s.latency[`${fixedKind}-before`]?.addedP50 ?? NaN)} / ${f2(s.latency[`${fixedKind}-before`]?.addedP99 ?? NaN)} → ${f2(s.latency[fixedKind]?.addedP50 ?? NaN)} / ${f2(s.latency[fixedKind]?.addedP99 ?? NaN)}`,
          `${f1(s.fps['jpeg-before'].median)} → ${f1(s.fps.jpeg.median)}`,
          fmtRatio(s.vsBefore!.jpeg),
          `${f2(s.cpuMsPerFrame['jpeg-before'].median)} → ${f2(s.cpuMsPerFrame.jpeg.median)}`,
        ]),
      )}\n\n`
    : '';
  return `${vs}### Throughput (median of ${ROUNDS} rounds; ratios: median of per-round ratios, IQR in brackets)\n\n${thr}\n\n### Latency (all timed frames of all rounds pooled)\n\n${lat}\n\n### CPU per frame by thread (medians over rounds; /proc/self/task/*/schedstat)\n\n${cpu}\n`;
}

function targets(sums: CaseSummary[]): string[] {
  const lines: string[] = [];
  for (const s of sums) {
    const isDemo = s.model === 'demo';
    const isYolo = s.model.startsWith('yolov8n');
    if (isDemo || isYolo) {
      const all = s.threads === CORES ? '' : `; ÷ bare on all ${CORES} cores ${fmtRatio(s.pipelineOverBareAll)}`;
      lines.push(
        `${s.model} ${s.res}: camera-fed ÷ bare (${s.threads} engine thread${s.threads === 1 ? '' : 's'}) ${fmtRatio(s.pipelineOverBare)}${all} (target ≥ ${isDemo ? '0.85' : '0.95'}×)`,
      );
      // With no idle core, frames/s cannot beat what the CPU allows: bare CPU per frame ÷ the pipeline's.
      lines.push(
        `${s.model} ${s.res}: CPU-bound ceiling of camera-fed ÷ bare (bare CPU per frame ÷ camera-fed CPU per frame) ${fmtRatio(ratioSpread(s.cpuPerRound.bare, s.cpuPerRound.camera))}, machine idle while camera-fed ${pct(s.idle.camera.median)}`,
      );
    }
    if (isDemo && s.cpuOverBare.fps30) lines.push(`${s.model} ${s.res}: CPU per frame at 30 fps ÷ bare ${fmtRatio(s.cpuOverBare.fps30)} (target ≤ 2×)`);
    for (const k of FPS.map((f) => `fps${f}`)) {
      const l = s.latency[k];
      if (l)
        lines.push(
          `${s.model} ${s.res}: added latency at ${k.slice(3)} fps p50 ${f2(l.addedP50)} ms, p99 ${f2(l.addedP99)} ms (target ≤ 3 / ≤ 8 ms); less the wait for a busy engine p50 ${f2(l.beyondP50)}, p99 ${f2(l.beyondP99)} ms`,
        );
    }
    if (isDemo || isYolo) lines.push(`${s.model} ${s.res}: JPEG path ÷ naive ${fmtRatio(s.jpegOverNaive)} (target ≥ 1.5×)`);
    if (s.vsBefore)
      lines.push(
        `${s.model} ${s.res}: after ÷ before: camera-fed throughput ${fmtRatio(s.vsBefore.camera)}, its CPU per frame ${fmtRatio(s.vsBefore.cameraCpu)}; ` +
          `CPU per frame at ${BEFORE_FPS} fps ${fmtRatio(s.vsBefore.fixedCpu)}; JPEG path throughput ${fmtRatio(s.vsBefore.jpeg)}, its CPU per frame ${fmtRatio(s.vsBefore.jpegCpu)}`,
      );
  }
  return lines;
}

/** The spin setting every session here runs with: --spin, else the config default. */
function spinOf(): string {
  return argv.spin ?? DEFAULT_SPIN;
}

function machine(broker: string) {
  const version = (pkg: string): string => {
    try {
      return (JSON.parse(readFileSync(path.join(REPO_ROOT, 'node_modules', pkg, 'package.json'), 'utf8')) as { version: string }).version;
    } catch {
      return 'unknown';
    }
  };
  const ortVersion = version('onnxruntime-node');
  const sharpVersion = `${version('sharp')} (libvips ${sharp.versions.vips})`;
  return {
    cpu: os.cpus()[0]?.model ?? 'unknown',
    cores: os.availableParallelism(),
    memGiB: Math.round(os.totalmem() / 2 ** 30),
    kernel: `${os.type()} ${os.release()}`,
    node: process.version,
    onnxruntime: ortVersion,
    sharp: sharpVersion,
    intraOpThreads: THREADS === 0 ? 'auto (model.threads 0)' : THREADS,
    spin: spinOf(),
    broker,
    date: new Date().toISOString(),
  };
}

// ---------------------------------------------------------------------------------------------------------------------

async function main(): Promise<void> {
  const specs = modelSpecs();
  if (specs.length === 0) {
    process.stdout.write('no models to benchmark (no models/demo/*.onnx, no ../shared/fixtures/models)\n');
    return;
  }
  const loadStart = os.loadavg();
  // The libuv pool may have started while modules loaded: its threads are the ones that burn CPU while
  // pbkdf2 (which runs only on the pool) does, one job per pool thread.
  nameThreads(await libuvPoolThreads(), THREAD_NAMES.libuv);
  // What else runs by now is Node's own (V8's platform workers, the inspector's and signal threads).
  nameThreads(unnamed(threadIds()), THREAD_NAMES.platform);

  const broker = await startBroker();
  const tmp = mkdtempSync(path.join(os.tmpdir(), 'inspectd-bench-run-'));
  const cams = specs.map((s) => ({ id: cameraIdOf(s.name), rejectClasses: s.rejectClasses }));
  const cfg0 = loadConfig(broker.url, path.join(tmp, 'outbox'), cams, specs[0].file);
  const logger = silentLogger();
  const outbox = new Outbox({ config: cfg0.outbox, logger });
  await outbox.start();
  const sink = new MqttSink({ mqtt: cfg0.mqtt, outbox, deviceId: 'bench', logger, version: 'bench' });
  await sink.start(new AbortController().signal);
  // The before pipelines' sink: the file-per-event outbox, its own connection (a client id of its own).
  let outboxBefore: FileOutbox | null = null;
  let sinkBefore: MqttSink | null = null;
  if (BEFORE) {
    const cfgB = loadConfig(broker.url, path.join(tmp, 'outbox-before'), cams, specs[0].file);
    outboxBefore = new FileOutbox({ config: cfgB.outbox, logger });
    await outboxBefore.start();
    sinkBefore = new MqttSink({
      mqtt: { ...cfgB.mqtt, clientId: 'inspectd-bench-before' },
      outbox: outboxBefore as unknown as Outbox,
      deviceId: 'bench',
      logger,
      version: 'bench',
    });
    await sinkBefore.start(new AbortController().signal);
  }
  const sub = new Subscriber();
  await sub.start(broker.url);

  const rigs: ModelRig[] = [];
  const cases: { rig: ModelRig; res: string; frames: Frames; tensor: Float32Array; result: CaseResult }[] = [];
  try {
    for (const spec of specs) {
      const rig = await loadRig(spec, loadConfig(broker.url, path.join(tmp, 'outbox'), cams, spec.file), sink, sinkBefore);
      rigs.push(rig);
      for (const res of resolutions) {
        const [width, height] = RES[res];
        const frames = await makeFrames(spec, width, height);
        const tensor = preparedTensor(rig, frames.raw[0]);
        // The camera-faster-than-engine period: half a bare run, from a short calibration.
        const cal = await bareBlock(rig, tensor);
        const periodMs = Math.max(1, 1000 / cal.fps / 2);
        const rounds: Record<Kind, BlockResult[]> = {};
        for (const k of KINDS) rounds[k] = [];
        cases.push({
          rig,
          res,
          frames,
          tensor,
          result: { model: spec.name, res, width, height, inputSize: `${rig.inputW}x${rig.inputH}`, periodMs, threads: rig.engineThreads, rounds },
        });
      }
    }
    const desc = machine(broker.kind);
    process.stdout.write(
      `inspectd bench: ${specs.map((s) => s.name).join(', ')} at ${resolutions.join(', ')}; ${ROUNDS} rounds of ${KINDS.length} blocks of ${BLOCK_MS / 1000} s; ` +
        `${desc.cpu} x${desc.cores}, node ${desc.node}, onnxruntime ${desc.onnxruntime}, intra-op threads ${desc.intraOpThreads}, broker ${broker.kind}; load ${loadStart.map((l) => l.toFixed(2)).join(' ')}\n`,
    );
    const progress = new Progress(ROUNDS * cases.length * KINDS.length);
    for (let round = 0; round < ROUNDS; round++) {
      for (const [ci, c] of cases.entries()) {
        for (const kind of rotate(KINDS, round + ci)) {
          progress.step(`round ${round + 1}/${ROUNDS} ${c.result.model} ${c.res} ${kind}`);
          let b: BlockResult;
          const before = kind.endsWith('-before');
          const pipeline = before ? c.rig.before!.pipeline : c.rig.pipeline;
          if (kind === 'bare-all' && c.rig.engineThreads === CORES) {
            progress.tick(); // the same session as bare
            continue;
          }
          if (kind === 'bare') b = await bareBlock(c.rig, c.tensor);
          else if (kind === 'bare-all') b = await bareBlock(c.rig, c.tensor, true);
          else if (kind === 'camera' || kind === 'camera-before') b = await pipelineBlock(kind, c.rig, pipeline, c.frames, c.result.periodMs, sub);
          else if (kind.startsWith('fps')) b = await pipelineBlock(kind, c.rig, pipeline, c.frames, 1000 / Number.parseInt(kind.slice(3), 10), sub);
          else if (kind === 'naive-raw') b = await naiveBlock(c.rig, c.frames, false);
          else if (kind === 'naive-jpg') b = await naiveBlock(c.rig, c.frames, true);
          else if (kind === 'jpeg-before') b = await jpegBeforeBlock(c.rig, c.frames);
          else b = await jpegBlock(c.rig, c.frames);
          c.result.rounds[kind].push(b);
          progress.tick();
        }
      }
    }
    progress.end();
    const loadEnd = os.loadavg();
    const sums = cases.map((c) => summarise(c.result));
    const section = [
      `Measured ${desc.date.slice(0, 16).replace('T', ' ')} UTC on ${desc.cpu}, ${desc.cores} cores, ${desc.memGiB} GiB, ${desc.kernel}; node ${desc.node}, onnxruntime-node ${desc.onnxruntime}, sharp ${desc.sharp}; ` +
        `intra-op threads ${desc.intraOpThreads} (per model in the table), spin ${desc.spin}; broker ${broker.kind} on loopback. Load average ${loadStart.map((l) => l.toFixed(2)).join(' ')} at the start, ${loadEnd.map((l) => l.toFixed(2)).join(' ')} at the end ` +
        `(the machine is shared: see the idle column).`,
      '',
      `Command: \`npm run bench -- ${process.argv.slice(2).join(' ')}\` (${ROUNDS} rounds × ${cases.length} cases × ${KINDS.length} blocks of ${BLOCK_MS / 1000} s, block order rotated every round).`,
      '',
      'Targets (issue 11):',
      '',
      ...targets(sums).map((l) => `- ${l}`),
      '',
      tables(sums),
    ].join('\n');
    process.stdout.write(`\n${section}\n`);
    mkdirSync(argv.out, { recursive: true });
    const jsonFile = path.join(argv.out, `bench-${desc.date.replace(/[:.]/g, '-')}.json`);
    writeFileSync(jsonFile, JSON.stringify({ machine: desc, loadStart, loadEnd, options: argv, kinds: KINDS, summaries: sums, cases: cases.map((c) => c.result) }, null, 1));
    process.stdout.write(`\nwrote ${path.relative(process.cwd(), jsonFile)}\n`);
    if (!argv['no-md']) {
      const md = existsSync(argv.md) ? readFileSync(argv.md, 'utf8') : '';
      writeFileSync(argv.md, rewriteTableSection(md, section));
      process.stdout.write(`rewrote the table section of ${path.relative(process.cwd(), argv.md)}\n`);
    }
  } finally {
    for (const rig of rigs) {
      for (const p of [rig.pipeline, rig.before?.pipeline]) {
        if (!p) continue;
        await p.drain(DRAIN_MS);
        p.stop();
      }
    }
    await sub.stop();
    await sink.stop();
    await outbox.stop();
    await sinkBefore?.stop();
    await outboxBefore?.stop();
    for (const rig of rigs) {
      await rig.detector.dispose();
      await rig.before?.detector.dispose();
      await rig.session.release();
      if (rig.sessionAll !== rig.session) await rig.sessionAll.release();
    }
    await broker.stop();
    rmSync(tmp, { recursive: true, force: true });
  }
}

await main();
