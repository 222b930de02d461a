/**
 * Inference benchmark: per model, Detector stage medians/p99 (preprocess of an encoded image and of a raw
 * 1920x1080 frame, inference, postprocess) next to a bare onnxruntime `session.run` loop on the same model and
 * thread count. Prints figures, never a pass/fail.
 *   npm run bench:infer [-- --iterations 30 --threads 0 --engine auto]
 */
import { existsSync, readdirSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import * as ort from 'onnxruntime-node';
import type { EnginePreference } from '../src/engine/engine.js';
import type { Frame } from '../src/source/frame.js';
import { Detector } from '../src/vision/detector.js';
import { preprocessRawSync } from '../src/vision/letterbox.js';

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 && process.argv[i + 1] !== undefined ? process.argv[i + 1] : fallback;
}

const ITER = Number(arg('iterations', '30'));
const WARMUP = Number(arg('warmup', '3'));
const THREADS = Number(arg('threads', '0'));
const ENGINE = arg('engine', 'auto') as EnginePreference;

const ROOT = (() => {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  while (!existsSync(path.join(dir, 'package.json'))) dir = path.dirname(dir);
  return dir;
})();
const SHARED = process.env.INSPECTD_SHARED_FIXTURES ?? path.resolve(ROOT, '..', 'shared', 'fixtures');

function q(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.ceil(p * sorted.length) - 1)];
}
function fmt(ms: number[]): string {
  const s = [...ms].sort((a, b) => a - b);
  return `median ${q(s, 0.5).toFixed(2).padStart(8)} ms   p99 ${q(s, 0.99).toFixed(2).padStart(8)} ms`;
}
function median(ms: number[]): number {
  return q([...ms].sort((a, b) => a - b), 0.5);
}

async function bareLoop(model: string, threads: number, h: number, w: number): Promise<number[]> {
  const session = await ort.InferenceSession.create(model, {
    executionProviders: ['cpu'],
    intraOpNumThreads: threads,
    interOpNumThreads: 1,
    graphOptimizationLevel: 'all',
    executionMode: 'sequential',
  });
  const feeds = { [session.inputNames[0]]: new ort.Tensor('float32', new Float32Array(3 * h * w).fill(0.5), [1, 3, h, w]) };
  for (let i = 0; i < WARMUP; i++) await session.run(feeds);
  const out: number[] = [];
  for (let i = 0; i < ITER; i++) {
    const t0 = performance.now();
    await session.run(feeds);
    out.push(performance.now() - t0);
  }
  await session.release();
  return out;
}

async function benchModel(model: string, image: string | undefined): Promise<void> {
  const threads = THREADS > 0 ? THREADS : os.availableParallelism();
  const d = await Detector.load({ modelPath: model, engine: ENGINE, threads });
  const { width, height } = d.inputSize;
  console.log(`\n${path.basename(model)}  layout ${d.layout}  input ${width}x${height}  engine ${d.engineKind}  intra-op threads ${threads}`);
  const frame: Frame = {
    cameraId: 'bench', seq: 0, captureMono: 0, captureWall: 0, width: 1920, height: 1080, format: 'rgb24',
    data: Buffer.alloc(1920 * 1080 * 3),
  };
  for (let i = 0; i < frame.data.length; i++) frame.data[i] = (i * 2654435761) >>> 24;

  const rows: Record<string, number[]> = { pre: [], inf: [], post: [], total: [], preImg: [], preRaw: [] };
  for (let i = 0; i < WARMUP + ITER; i++) {
    const t0 = performance.now();
    const r = await d.detectFrame(frame);
    const total = performance.now() - t0;
    if (i < WARMUP) continue;
    rows.pre.push(r.timings.preprocessMs);
    rows.inf.push(r.timings.inferenceMs);
    rows.post.push(r.timings.postprocessMs);
    rows.total.push(total);
  }
  const out = new Float32Array(3 * width * height);
  for (let i = 0; i < WARMUP + ITER; i++) {
    const t0 = performance.now();
    preprocessRawSync(frame, width, height, out);
    if (i >= WARMUP) rows.preRaw.push(performance.now() - t0);
  }
  if (image) {
    for (let i = 0; i < WARMUP + Math.min(ITER, 10); i++) {
      const r = await d.detectImage(image);
      if (i >= WARMUP) rows.preImg.push(r.timings.preprocessMs);
    }
  }
  await d.dispose();
  const bare = await bareLoop(model, threads, height, width);
  console.log(`  detectFrame 1920x1080 rgb24 (n=${ITER}, warm-up ${WARMUP})`);
  console.log(`    preprocess (JS letterbox)    ${fmt(rows.pre)}`);
  console.log(`    inference                    ${fmt(rows.inf)}`);
  console.log(`    postprocess (decode + NMS)   ${fmt(rows.post)}`);
  console.log(`    total                        ${fmt(rows.total)}`);
  console.log(`  preprocessRaw alone, reused output tensor ${fmt(rows.preRaw)}`);
  if (image) console.log(`  preprocess of ${path.basename(image)} (sharp decode + letterbox, n=${rows.preImg.length}) ${fmt(rows.preImg)}`);
  console.log(`  bare session.run loop (same model, ${threads} threads)      ${fmt(bare)}`);
  console.log(
    `  throughput vs bare: ${(median(bare) / median(rows.total)).toFixed(3)}x   inference vs bare: ${(median(rows.inf) / median(bare)).toFixed(3)}x`,
  );
}

async function main(): Promise<void> {
  const models: string[] = [];
  const fixtureDir = path.join(SHARED, 'models');
  if (existsSync(fixtureDir)) {
    for (const f of readdirSync(fixtureDir).sort()) if (f.endsWith('.onnx')) models.push(path.join(fixtureDir, f));
  } else {
    console.log(`shared fixtures not found at ${SHARED}: fixture models skipped (set INSPECTD_SHARED_FIXTURES)`);
  }
  const demoDir = path.join(ROOT, 'models', 'demo');
  if (existsSync(demoDir)) {
    for (const f of readdirSync(demoDir).sort()) if (f.endsWith('.onnx')) models.push(path.join(demoDir, f));
  }
  if (models.length === 0) {
    console.log('no models to benchmark (no ../shared/fixtures/models and no models/demo/*.onnx)');
    return;
  }
  const image = existsSync(path.join(SHARED, 'images', 'bus.jpg')) ? path.join(SHARED, 'images', 'bus.jpg') : undefined;
  console.log(`inspectd bench:infer  node ${process.version}  ${os.cpus()[0]?.model ?? 'cpu'} x${os.availableParallelism()}  loadavg ${os.loadavg().map((l) => l.toFixed(2)).join(' ')}`);
  for (const m of models) await benchModel(m, image);
}

await main();
