/**
 * `inspectd bench`: per model, Detector stage medians/p99 (preprocess of an encoded image and of a raw
 * 1920x1080 frame, each with the native and the JS letterbox; inference; postprocess) next to a bare
 * onnxruntime `session.run` loop on the same model and thread count. Prints figures, never a pass/fail.
 * `npm run bench:infer` runs it on the fixture models and the demo model.
 */
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import * as ort from 'onnxruntime-node';
import type { EnginePreference } from '../contracts/engine.js';
import type { Frame } from '../contracts/frame.js';
import { createNativePreprocessor } from '../native/preprocess.js';
import { Detector } from '../inference/detector.js';
import { decodeImage, preprocessRawSync } from '../vision/letterbox.js';
import { EXIT_OK, parseEngine, parseInteger, parseCommandArgs, usageError } from './args.js';

const HELP = `usage: inspectd bench --model M [--model M2 ...] [--image IMG] [--iterations N] [--warmup N]
                      [--threads N] [--engine auto|tensorrt|cuda|cpu]
Times the detector's stages on a 1920x1080 frame (and IMG, if given) next to a bare session.run loop.
Prints figures; close other work on the machine first.
`;

export interface InferenceBenchOptions {
  image?: string;
  iterations: number;
  warmup: number;
  /** 0 = one per core. */
  threads: number;
  engine: EnginePreference;
}

export function quantile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.ceil(p * sorted.length) - 1)];
}
export function formatStats(ms: number[]): string {
  const s = [...ms].sort((a, b) => a - b);
  return `median ${quantile(s, 0.5).toFixed(2).padStart(8)} ms   p99 ${quantile(s, 0.99).toFixed(2).padStart(8)} ms`;
}
export function median(ms: number[]): number {
  return quantile(
    [...ms].sort((a, b) => a - b),
    0.5,
  );
}

/**
 * The reference: one onnxruntime session on the main thread, one fixed input, nothing else. Feed it the
 * letterboxed frame the detector sees: some models run slower on a flat gray tensor than on real pixels.
 */
export async function bareSessionLoop(o: {
  model: string;
  threads: number;
  input: Float32Array;
  height: number;
  width: number;
  iterations: number;
  warmup: number;
}): Promise<{ runs: number[]; wallMs: number }> {
  const session = await ort.InferenceSession.create(o.model, {
    executionProviders: ['cpu'],
    intraOpNumThreads: o.threads,
    interOpNumThreads: 1,
    graphOptimizationLevel: 'all',
    executionMode: 'sequential',
  });
  const feeds = { [session.inputNames[0]]: new ort.Tensor('float32', o.input, [1, 3, o.height, o.width]) };
  for (let i = 0; i < o.warmup; i++) await session.run(feeds);
  const runs: number[] = [];
  const start = performance.now();
  for (let i = 0; i < o.iterations; i++) {
    const t0 = performance.now();
    await session.run(feeds);
    runs.push(performance.now() - t0);
  }
  const wallMs = performance.now() - start;
  await session.release();
  return { runs, wallMs };
}

async function benchModel(model: string, o: InferenceBenchOptions): Promise<void> {
  const { image, engine: ENGINE, iterations: ITER, warmup: WARMUP } = o;
  const threads = o.threads > 0 ? o.threads : os.availableParallelism();
  // No background TensorRT build here: it would compete for the cores being measured.
  const d = await Detector.load({ modelPath: model, engine: ENGINE, threads, tensorrtBuild: false });
  const { width, height } = d.inputSize;
  console.log(
    `\n${path.basename(model)}  layout ${d.layout}  input ${width}x${height}  engine ${d.engineKind}  intra-op threads ${threads}  raw-frame preprocess ${d.preprocessKind}`,
  );
  const frame: Frame = {
    cameraId: 'bench',
    seq: 0,
    captureMono: 0,
    captureWall: 0,
    width: 1920,
    height: 1080,
    format: 'rgb24',
    data: Buffer.alloc(1920 * 1080 * 3),
  };
  for (let i = 0; i < frame.data.length; i++) frame.data[i] = (i * 2654435761) >>> 24;

  const rows: Record<string, number[]> = { pre: [], inf: [], post: [], total: [], rawJs: [], rawNative: [], imgJs: [], imgNative: [] };
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
  // The two letterboxes alone on the same 1080p frame, each into a reused tensor.
  const out = new Float32Array(3 * width * height);
  const native = createNativePreprocessor();
  for (let i = 0; i < WARMUP + ITER; i++) {
    let t0 = performance.now();
    preprocessRawSync(frame, width, height, out);
    if (i >= WARMUP) rows.rawJs.push(performance.now() - t0);
    if (!native) continue;
    t0 = performance.now();
    await native(frame, width, height, out);
    if (i >= WARMUP) rows.rawNative.push(performance.now() - t0);
  }
  // Encoded image: sharp decode (EXIF, colourspace) + letterbox, JS (detectImage's path) and native.
  if (image) {
    for (let i = 0; i < WARMUP + Math.min(ITER, 10); i++) {
      let t0 = performance.now();
      let img = await decodeImage(image);
      preprocessRawSync({ ...frame, width: img.width, height: img.height, format: img.format, data: img.data }, width, height, out);
      if (i >= WARMUP) rows.imgJs.push(performance.now() - t0);
      if (!native) continue;
      t0 = performance.now();
      img = await decodeImage(image);
      await native({ ...frame, width: img.width, height: img.height, format: img.format, data: img.data }, width, height, out);
      if (i >= WARMUP) rows.imgNative.push(performance.now() - t0);
    }
  }
  await d.dispose();
  preprocessRawSync(frame, width, height, out);
  const { runs: bare } = await bareSessionLoop({ model, threads, input: out, height, width, iterations: ITER, warmup: WARMUP });
  const na = (what: string) => `${what.padEnd(44)} n/a (native addon not built)`;
  console.log(`  detectFrame 1920x1080 rgb24, ${d.preprocessKind} preprocess (n=${ITER}, warm-up ${WARMUP})`);
  console.log(`    preprocess                               ${formatStats(rows.pre)}`);
  console.log(`    inference                                ${formatStats(rows.inf)}`);
  console.log(`    postprocess (decode + NMS)               ${formatStats(rows.post)}`);
  console.log(`    total                                    ${formatStats(rows.total)}`);
  console.log(`  bare session.run loop (same model, ${threads} threads)  ${formatStats(bare)}`);
  console.log(`  preprocess alone, 1920x1080 rgb24 -> ${width}x${height} (n=${ITER})`);
  console.log(`    JS letterbox                             ${formatStats(rows.rawJs)}`);
  console.log(native ? `    native letterbox (off the JS thread)     ${formatStats(rows.rawNative)}` : `    ${na('native letterbox')}`);
  if (image) {
    console.log(`  preprocess of ${path.basename(image)} (sharp decode + letterbox, n=${rows.imgJs.length})`);
    console.log(`    sharp + JS letterbox                     ${formatStats(rows.imgJs)}`);
    console.log(native ? `    sharp + native letterbox                 ${formatStats(rows.imgNative)}` : `    ${na('sharp + native letterbox')}`);
  }
  console.log(`  throughput vs bare: ${(median(bare) / median(rows.total)).toFixed(3)}x   inference vs bare: ${(median(rows.inf) / median(bare)).toFixed(3)}x`);
}

/** Benchmarks each model in turn, printing as it goes. */
export async function runInferenceBench(models: string[], o: InferenceBenchOptions): Promise<void> {
  console.log(
    `inspectd bench  node ${process.version}  ${os.cpus()[0]?.model ?? 'cpu'} x${os.availableParallelism()}  loadavg ${os
      .loadavg()
      .map((l) => l.toFixed(2))
      .join(' ')}`,
  );
  for (const m of models) await benchModel(m, o);
}

export async function benchCommand(argv: string[]): Promise<number> {
  const parsed = parseCommandArgs(argv, HELP, {
    model: { type: 'string', short: 'm', multiple: true },
    image: { type: 'string' },
    iterations: { type: 'string' },
    warmup: { type: 'string' },
    threads: { type: 'string' },
    engine: { type: 'string' },
  });
  if (!parsed) return EXIT_OK;
  const v = parsed.values;
  if (!v.model?.length) throw usageError(`--model is required\n${HELP}`);
  await runInferenceBench(v.model, {
    image: v.image,
    iterations: parseInteger('iterations', v.iterations, 1, 100000) ?? 30,
    warmup: parseInteger('warmup', v.warmup, 0, 1000) ?? 3,
    threads: parseInteger('threads', v.threads, 0, 1024) ?? 0,
    engine: parseEngine(v.engine) ?? 'auto',
  });
  return EXIT_OK;
}
