/**
 * Pipeline overhead benchmark: raw frames through the real Pipeline (native or JS letterbox, engine,
 * decode + NMS, rules) and the real MQTT sink (outbox for rejects) to a subscriber on a loopback broker
 * (mosquitto when installed, else the embedded one), next to a bare onnxruntime `session.run` loop on
 * the same model and thread count. Prints figures, never a pass/fail.
 *   npm run bench:pipeline [-- --frames 60 --warmup 5 --threads 0 --width 1920 --height 1080]
 *
 * Frames are offered closed-loop (the next one as soon as the previous is handed to the sink), so the
 * engine is never idle and nothing waits in a mailbox: throughput is the pipeline's ceiling, and
 * capture -> subscriber latency is what one frame costs on a busy box. Models: models/demo/*.onnx on
 * synthetic line frames, and ../shared/fixtures/models/yolov8n-coco-int8.onnx on bus.jpg (raw) when present.
 */
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { monitorEventLoopDelay, performance } from 'node:perf_hooks';
import mqtt from 'mqtt';
import sharp from 'sharp';
import { validateConfigObject } from '../src/config/load.js';
import { DEMO_REJECT_CLASSES } from '../src/config/defaults.js';
import { silentLogger } from '../src/ops/log.js';
import { Pipeline } from '../src/pipeline/pipeline.js';
import type { DetectionsPayload } from '../src/contracts/messages.js';
import { EmbeddedBroker } from '../src/sink/embedded-broker.js';
import { MqttSink } from '../src/sink/mqtt-sink.js';
import { Outbox } from '../src/sink/outbox.js';
import type { Frame } from '../src/contracts/frame.js';
import { renderScene } from '../src/synth/scene.js';
import { Detector } from '../src/inference/detector.js';
import { preprocessRawSync } from '../src/vision/letterbox.js';
import { bareSessionLoop, formatStats as fmt, median } from '../src/cli/bench.js';
import { REPO_ROOT, SHARED_FIXTURES } from '../test/helpers/fixtures.js';

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 && process.argv[i + 1] !== undefined ? process.argv[i + 1] : fallback;
}

const FRAMES = Number(arg('frames', '60'));
const WARMUP = Number(arg('warmup', '5'));
const THREADS = Number(arg('threads', '0')) || os.availableParallelism();
const WIDTH = Number(arg('width', '1920'));
const HEIGHT = Number(arg('height', '1080'));

const ROOT = REPO_ROOT;
const SHARED = SHARED_FIXTURES;

/** The broker: mosquitto (the test helper) when installed, else the embedded aedes broker. */
async function startBroker(): Promise<{ url: string; kind: string; stop: () => Promise<void> }> {
  try {
    const m = await import('../test/helpers/mosquitto.js');
    if (m.mosquittoBinary()) {
      const b = await m.startMosquitto();
      return { url: b.url, kind: 'mosquitto', stop: () => b.stop() };
    }
  } catch {
    // test helpers not built: fall back to the embedded broker
  }
  const b = new EmbeddedBroker({ host: '127.0.0.1', port: 0, logger: silentLogger() });
  await b.start();
  return { url: b.url, kind: 'embedded (aedes)', stop: () => b.stop() };
}

interface Case {
  model: string;
  frames: { data: Buffer; width: number; height: number }[];
  rejectClasses: string[];
  what: string;
}

async function benchCase(c: Case, brokerUrl: string): Promise<void> {
  const tmp = mkdtempSync(path.join(os.tmpdir(), 'inspectd-bench-'));
  const loaded = validateConfigObject(
    {
      device: { id: 'bench' },
      model: { path: c.model, engine: 'cpu', threads: THREADS },
      // Per-frame rejects: this measures the frame path (bench/parts.ts measures part tracking).
      cameras: [{ id: 'cam', source: { type: 'synthetic', scene: 'still' }, deadlineMs: 10_000, rules: { rejectClasses: c.rejectClasses }, decision: 'frame' }],
      mqtt: { url: brokerUrl, baseTopic: 'bench' },
      outbox: { dir: path.join(tmp, 'outbox'), rejectTtlMs: 60_000 },
    },
    'bench',
    ROOT,
  );
  const cfg = loaded.config;
  const logger = silentLogger();
  const detector = await Detector.load({ modelPath: c.model, engine: 'cpu', threads: THREADS, logger });
  const { width: iw, height: ih } = detector.inputSize;
  const f0 = c.frames[0];
  console.log(`\n${path.basename(c.model)}  input ${iw}x${ih}  engine ${detector.engineKind}  preprocess ${detector.preprocessKind}  intra-op threads ${THREADS}`);
  console.log(`  frames: ${c.what}, ${f0.width}x${f0.height} rgb24; reject classes ${c.rejectClasses.join(',')}`);

  const bareInput = preprocessRawSync(
    { cameraId: 'bare', seq: 0, captureMono: 0, captureWall: 0, width: f0.width, height: f0.height, format: 'rgb24', data: f0.data },
    iw,
    ih,
  ).tensor;
  const bareBefore = await bareSessionLoop({ model: c.model, threads: THREADS, input: bareInput, height: ih, width: iw, iterations: FRAMES, warmup: WARMUP });

  const outbox = new Outbox({ config: cfg.outbox, logger });
  await outbox.start();
  const sink = new MqttSink({ mqtt: cfg.mqtt, outbox, deviceId: 'bench', logger, version: 'bench' });
  await sink.start(new AbortController().signal);

  // the subscriber: arrival time per seq, on the same clock as capture
  const arrived = new Map<number, number>();
  const rejectsArrived = new Map<number, number>();
  const sub = mqtt.connect(brokerUrl, { clean: true, reconnectPeriod: 0 });
  await new Promise<void>((resolve, reject) => {
    sub.once('connect', () => sub.subscribe(['bench/bench/cam/detections', 'bench/bench/cam/reject'], { qos: 1 }, (err) => (err ? reject(err) : resolve())));
    sub.once('error', reject);
  });
  sub.on('message', (topic, payload) => {
    const at = performance.now();
    const seq = (JSON.parse(payload.toString()) as { seq: number }).seq;
    (topic.endsWith('/reject') ? rejectsArrived : arrived).set(seq, at);
  });

  const total = WARMUP + FRAMES;
  const capture = new Map<number, number>();
  const payloads: DetectionsPayload[] = [];
  let next = 0;
  let measureStart = 0;
  let measureEnd = 0;
  let rejects = 0;
  const cameraTotals: number[] = [];
  let cameraDone!: () => void;
  const cameraFinished = new Promise<void>((r) => (cameraDone = r));
  let finished!: () => void;
  const allPublished = new Promise<void>((r) => (finished = r));
  const offerNext = (): void => {
    const src = c.frames[next % c.frames.length];
    const now = performance.now();
    if (next === WARMUP) measureStart = now;
    capture.set(next, now);
    const frame: Frame = { cameraId: 'cam', seq: next, captureMono: now, captureWall: Date.now(), width: src.width, height: src.height, format: 'rgb24', data: src.data };
    next++;
    pipeline.offer(frame);
  };
  const pipeline = new Pipeline({
    deviceId: 'bench',
    detector,
    post: { conf: cfg.model.conf, iou: cfg.model.iou, maxDetections: cfg.model.maxDetections },
    logger,
    sink: {
      detections: (p) => {
        sink.publishDetections(p);
        if (p.seq >= total) {
          cameraTotals.push(p.latency.totalMs);
          if (cameraTotals.length === FRAMES) cameraDone();
          return;
        }
        payloads.push(p);
        if (p.seq === total - 1) {
          measureEnd = performance.now();
          finished();
        } else if (next < total) setImmediate(offerNext);
      },
      reject: (p) => {
        rejects++;
        return sink.publishReject(p);
      },
      verdict: (p) => sink.publishVerdict(p),
    },
  });
  pipeline.addCamera(cfg.cameras[0]);
  // how long the event loop (MQTT, outbox, sources, http) waits while frames are processed
  const loopDelay = monitorEventLoopDelay({ resolution: 5 });
  loopDelay.enable();
  offerNext();
  await allPublished;
  loopDelay.disable();
  const deadline = Date.now() + 10_000;
  while ((arrived.size < total || rejectsArrived.size < rejects) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));

  // Camera feed: a frame every half bare run (latest frame wins), as a camera faster than the engine would;
  // here the next frame can be letterboxed while the engine still runs the current one.
  const periodMs = Math.max(1, median(bareBefore.runs) / 2);
  const supersededBefore = pipeline.counters('cam')!.dropped.superseded;
  const cameraStart = performance.now();
  const feed = setInterval(offerNext, periodMs);
  await cameraFinished;
  clearInterval(feed);
  const cameraMs = performance.now() - cameraStart;
  const superseded = pipeline.counters('cam')!.dropped.superseded - supersededBefore;
  await pipeline.drain(10_000);
  pipeline.stop();
  await sink.stop();
  await outbox.stop();
  await sub.endAsync(true);
  await detector.dispose();
  rmSync(tmp, { recursive: true, force: true });

  const bareAfter = await bareSessionLoop({ model: c.model, threads: THREADS, input: bareInput, height: ih, width: iw, iterations: FRAMES, warmup: WARMUP });

  const measured = payloads.filter((p) => p.seq >= WARMUP);
  const col = (k: keyof DetectionsPayload['latency']) => measured.map((p) => p.latency[k]);
  const e2e: number[] = [];
  const aboveInference: number[] = [];
  const aboveStages: number[] = [];
  for (const p of measured) {
    const at = arrived.get(p.seq);
    if (at === undefined) continue;
    const ms = at - capture.get(p.seq)!;
    e2e.push(ms);
    aboveInference.push(ms - p.latency.inferenceMs);
    aboveStages.push(ms - p.latency.preprocessMs - p.latency.inferenceMs - p.latency.postprocessMs);
  }
  const rejectE2e: number[] = [];
  for (const [seq, at] of rejectsArrived) if (seq >= WARMUP && seq < total) rejectE2e.push(at - capture.get(seq)!);
  const pipelineFps = (FRAMES * 1000) / (measureEnd - measureStart);
  const bareFps = (b: { wallMs: number }) => (FRAMES * 1000) / b.wallMs;

  console.log(`  pipeline, closed loop (n=${FRAMES}, warm-up ${WARMUP}); stages from the payloads`);
  console.log(`    queue (capture -> preprocess)  ${fmt(col('queueMs'))}`);
  console.log(`    preprocess                     ${fmt(col('preprocessMs'))}`);
  console.log(`    inference                      ${fmt(col('inferenceMs'))}`);
  console.log(`    postprocess (decode + NMS)     ${fmt(col('postprocessMs'))}`);
  console.log(`    capture -> handed to sink      ${fmt(col('totalMs'))}`);
  if (e2e.length > 0) {
    console.log(`    capture -> subscriber (detections, QoS ${cfg.mqtt.detectionsQos})  ${fmt(e2e)}   (${e2e.length} of ${measured.length} arrived)`);
    console.log(`    ... minus inference                  ${fmt(aboveInference)}`);
    console.log(`    ... minus preprocess+inference+post  ${fmt(aboveStages)}`);
  } else console.log('    no detections message arrived at the subscriber');
  if (rejectE2e.length > 0) {
    console.log(`    capture -> subscriber (reject, QoS 1 via outbox)  ${fmt(rejectE2e)}   (${rejectE2e.length} arrived)`);
    // a growing delay means the outbox falls behind the rate rejects are decided
    const bySeq = [...rejectsArrived].filter(([seq]) => seq >= WARMUP && seq < total).sort((a, b) => a[0] - b[0]);
    const delay = ([seq, at]: [number, number]) => (at - capture.get(seq)!).toFixed(1);
    console.log(`    reject delay, first measured frame ${delay(bySeq[0])} ms, last ${delay(bySeq[bySeq.length - 1])} ms`);
  }
  console.log(
    `    event-loop delay while processing   median ${(loopDelay.percentile(50) / 1e6).toFixed(2).padStart(8)} ms   p99 ${(loopDelay.percentile(99) / 1e6).toFixed(2).padStart(8)} ms   max ${(loopDelay.max / 1e6).toFixed(2)} ms`,
  );
  console.log(`  bare session.run (same model, ${THREADS} threads), before  ${fmt(bareBefore.runs)}   ${bareFps(bareBefore).toFixed(2)} runs/s`);
  console.log(`  bare session.run (same model, ${THREADS} threads), after   ${fmt(bareAfter.runs)}   ${bareFps(bareAfter).toFixed(2)} runs/s`);
  const bareBest = Math.max(bareFps(bareBefore), bareFps(bareAfter));
  console.log(`  pipeline throughput, closed loop ${pipelineFps.toFixed(2)} frames/s = ${(pipelineFps / bareBest).toFixed(3)}x the faster bare loop`);
  const cameraFps = (FRAMES * 1000) / cameraMs;
  console.log(
    `  camera feed (a frame every ${periodMs.toFixed(1)} ms, latest wins): ${cameraFps.toFixed(2)} frames/s = ${(cameraFps / bareBest).toFixed(3)}x the faster bare loop; ` +
      `${superseded} superseded; capture -> handed to sink ${fmt(cameraTotals)}`,
  );
}

async function syntheticFrames(n: number): Promise<Case['frames']> {
  const out: Case['frames'] = [];
  for (let i = 0; i < n; i++) {
    const s = await renderScene(1, i, { width: WIDTH, height: HEIGHT, defectRate: 0.5 });
    out.push({ data: s.rgb, width: s.width, height: s.height });
  }
  return out;
}

async function imageFrame(file: string): Promise<Case['frames']> {
  const { data, info } = await sharp(file).removeAlpha().toColourspace('srgb').raw().toBuffer({ resolveWithObject: true });
  return [{ data, width: info.width, height: info.height }];
}

async function main(): Promise<void> {
  console.log(
    `inspectd bench:pipeline  node ${process.version}  ${os.cpus()[0]?.model ?? 'cpu'} x${os.availableParallelism()}  loadavg ${os
      .loadavg()
      .map((l) => l.toFixed(2))
      .join(' ')}`,
  );
  const cases: Case[] = [];
  const demo = path.join(ROOT, 'models', 'demo', 'inspectd-demo.onnx');
  if (existsSync(demo)) cases.push({ model: demo, frames: await syntheticFrames(8), rejectClasses: [...DEMO_REJECT_CLASSES], what: 'synthetic line (8 scenes, defect rate 0.5)' });
  else console.log(`demo model not built (${demo}): skipped`);
  const yolo = path.join(SHARED, 'models', 'yolov8n-coco-int8.onnx');
  const bus = path.join(SHARED, 'images', 'bus.jpg');
  if (existsSync(yolo) && existsSync(bus)) cases.push({ model: yolo, frames: await imageFrame(bus), rejectClasses: ['bus'], what: 'bus.jpg decoded once' });
  else console.log(`shared fixtures not found at ${SHARED}: yolov8n skipped (set INSPECTD_SHARED_FIXTURES)`);
  if (cases.length === 0) return;
  const broker = await startBroker();
  console.log(`broker: ${broker.kind} on ${broker.url}`);
  try {
    for (const c of cases) await benchCase(c, broker.url);
  } finally {
    await broker.stop();
  }
}

await main();
