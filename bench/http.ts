/**
 * HTTP inference API benchmark: throughput and latency (p50/p99) of POST /v1/detect with 1, 4 and 16
 * concurrent clients against `inspectd run` (a child process: the clients do not share its event loop), next
 * to the bare engine loop (a Detector in this process, detectImage on the same JPEG, one at a time), in
 * interleaved blocks whose order rotates each round; the ratio API/bare is taken per round (median, IQR).
 * Each model runs without a camera (one watching an empty folder) and with one synthetic camera (10 fps, 640x480). Prints a table, never a
 * pass/fail.
 *   npm run bench:http [-- --rounds 3 --block-ms 1500 --threads 1]
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import sharp from 'sharp';
import { stringify } from 'yaml';
import { parseInteger } from '../src/cli/args.js';
import { DEMO_MODEL_RELPATH } from '../src/config/defaults.js';
import { Detector } from '../src/inference/detector.js';
import { silentLogger } from '../src/ops/log.js';
import { renderConveyor } from '../src/synth/conveyor.js';
import { REPO_ROOT, SHARED_FIXTURES } from '../test/helpers/fixtures.js';
import { freePort } from '../test/helpers/mosquitto.js';

const { values: v } = parseArgs({ options: { rounds: { type: 'string' }, 'block-ms': { type: 'string' }, threads: { type: 'string' } } });
const ROUNDS = parseInteger('rounds', v.rounds, 1, 100) ?? 3;
const BLOCK_MS = parseInteger('block-ms', v['block-ms'], 200, 60_000) ?? 1500;
const THREADS = parseInteger('threads', v.threads, 0, 256) ?? 1;
const CONCURRENCY = [1, 4, 16];

interface Block {
  rps: number;
  p50: number;
  p99: number;
  refused: number;
}

const quantile = (xs: number[], q: number): number => {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(q * s.length))]!;
};

/** `clients` loops posting the image until the block ends; every loop is bounded by the block's time. */
async function apiBlock(url: string, image: Buffer, clients: number): Promise<Block> {
  const lat: number[] = [];
  let refused = 0;
  const t0 = performance.now();
  const end = t0 + BLOCK_MS;
  const client = async () => {
    while (performance.now() < end) {
      const s = performance.now();
      const res = await fetch(`${url}/v1/detect`, { method: 'POST', body: image, headers: { 'content-type': 'image/jpeg' } });
      await res.arrayBuffer();
      if (res.status === 200) lat.push(performance.now() - s);
      else if (res.status === 503) refused++;
      else throw new Error(`/v1/detect answered ${res.status}`);
    }
  };
  await Promise.all(Array.from({ length: clients }, client));
  const secs = (performance.now() - t0) / 1000;
  return { rps: lat.length / secs, p50: quantile(lat, 0.5), p99: quantile(lat, 0.99), refused };
}

/** The bare engine loop: detectImage on the same bytes, one after another, for one block. */
async function bareBlock(detector: Detector, image: Buffer): Promise<Block> {
  const lat: number[] = [];
  const t0 = performance.now();
  while (performance.now() - t0 < BLOCK_MS) {
    const s = performance.now();
    await detector.detectImage(image);
    lat.push(performance.now() - s);
  }
  const secs = (performance.now() - t0) / 1000;
  return { rps: lat.length / secs, p50: quantile(lat, 0.5), p99: quantile(lat, 0.99), refused: 0 };
}

async function startDaemon(dir: string, model: string, camera: boolean): Promise<{ url: string; child: ChildProcess; fps: () => Promise<number> }> {
  const port = await freePort();
  const cfg = path.join(dir, 'config.yaml');
  writeFileSync(
    cfg,
    stringify({
      device: { id: 'bench' },
      model: { path: model, engine: 'cpu', threads: THREADS },
      // "No camera": one watching an empty folder (a config needs a camera), so no frame reaches the engine.
      cameras: [
        {
          id: 'cam1',
          source: camera
            ? { type: 'synthetic', scene: 'conveyor', fps: 10, width: 640, height: 480, seed: 7, beltPxPerFrame: 64 }
            : { type: 'folder', path: path.join(dir, 'empty') },
          deadlineMs: 2000,
          decision: 'frame',
        },
      ],
      mqtt: { embedded: { port: await freePort() } },
      outbox: { dir: path.join(dir, 'outbox') },
      snapshots: { enabled: false, dir: path.join(dir, 'snaps') },
      http: { port, maxQueueMs: 10_000, api: { maxQueue: 64 } },
      console: { summary: 'off' },
      log: { level: 'warn' },
    }),
  );
  const child = spawn(process.execPath, [path.join(REPO_ROOT, 'dist', 'src', 'main.js'), 'run', '--config', cfg], { stdio: ['ignore', 'ignore', 'inherit'] });
  const url = `http://127.0.0.1:${port}`;
  const deadline = performance.now() + 60_000;
  for (;;) {
    const ready = await fetch(`${url}/v2/health/ready`).then(
      (r) => r.ok,
      () => false,
    );
    if (ready) break;
    if (performance.now() > deadline || child.exitCode !== null) throw new Error('the daemon did not get ready within 60 s');
    await new Promise((r) => setTimeout(r, 200));
  }
  const published = async () => {
    const text = await (await fetch(`${url}/metrics`)).text();
    const m = /inspectd_frames_published_total\{camera="cam1"\} (\d+)/.exec(text);
    return m ? Number(m[1]) : 0;
  };
  let last = { n: await published(), at: performance.now() };
  /** Camera frames published per second since the last call. */
  const fps = async () => {
    const now = { n: await published(), at: performance.now() };
    const r = ((now.n - last.n) * 1000) / (now.at - last.at);
    last = now;
    return r;
  };
  return { url, child, fps };
}

async function stopDaemon(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null) return;
  const exited = new Promise((r) => child.once('exit', r));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
  await exited;
  clearTimeout(timer);
}

const models: { name: string; path: string; image: () => Promise<Buffer> }[] = [];
const demo = path.join(REPO_ROOT, DEMO_MODEL_RELPATH);
const conveyorJpeg = async () => {
  const s = await renderConveyor(7, 3, { width: 640, height: 480, defectRate: 0.5, beltPxPerFrame: 64 });
  return sharp(s.rgb, { raw: { width: 640, height: 480, channels: 3 } })
    .jpeg({ quality: 90 })
    .toBuffer();
};
models.push({ name: 'demo', path: demo, image: conveyorJpeg });
const v8 = path.join(SHARED_FIXTURES, 'models', 'yolov8n-coco-int8.onnx');
const bus = path.join(SHARED_FIXTURES, 'images', 'bus.jpg');
if (existsSync(v8)) models.push({ name: 'yolov8n-int8', path: v8, image: async () => (existsSync(bus) ? readFileSync(bus) : conveyorJpeg()) });
else console.log(`${v8} not found: yolov8n skipped (set INSPECTD_SHARED_FIXTURES)`);

console.log(`bench:http  rounds ${ROUNDS}, blocks of ${BLOCK_MS} ms, onnxruntime CPU, ${THREADS} intra-op thread(s), ${os.cpus().length} cores`);
const rows: string[] = [];
const dir = mkdtempSync(path.join(os.tmpdir(), 'inspectd-bench-http-'));
try {
  for (const m of models) {
    const image = await m.image();
    const bare = await Detector.load({ modelPath: m.path, engine: 'cpu', threads: THREADS, logger: silentLogger(), tensorrtBuild: false });
    try {
      for (let i = 0; i < 3; i++) await bare.detectImage(image);
      for (const camera of [false, true]) {
        const d = await startDaemon(dir, m.path, camera);
        try {
          for (let i = 0; i < 3; i++) await (await fetch(`${d.url}/v1/detect`, { method: 'POST', body: image, headers: { 'content-type': 'image/jpeg' } })).arrayBuffer();
          for (const clients of CONCURRENCY) {
            const api: Block[] = [];
            const ref: Block[] = [];
            const ratios: number[] = [];
            const camFps: number[] = [];
            for (let r = 0; r < ROUNDS; r++) {
              let a: Block | undefined;
              let b: Block | undefined;
              // Rotate which runs first, so drift in machine speed does not favour one side.
              for (const kind of r % 2 === 0 ? ['api', 'bare'] : ['bare', 'api']) {
                if (kind === 'api') {
                  await d.fps();
                  a = await apiBlock(d.url, image, clients);
                  if (camera) camFps.push(await d.fps());
                } else b = await bareBlock(bare, image);
              }
              api.push(a!);
              ref.push(b!);
              ratios.push(a!.rps / b!.rps);
            }
            const med = (xs: number[]) => quantile(xs, 0.5);
            rows.push(
              [
                m.name.padEnd(13),
                (camera ? 'yes' : 'no').padEnd(6),
                String(clients).padStart(7),
                med(api.map((x) => x.rps))
                  .toFixed(1)
                  .padStart(8),
                med(api.map((x) => x.p50))
                  .toFixed(1)
                  .padStart(8),
                med(api.map((x) => x.p99))
                  .toFixed(1)
                  .padStart(8),
                String(api.reduce((s, x) => s + x.refused, 0)).padStart(5),
                med(ref.map((x) => x.rps))
                  .toFixed(1)
                  .padStart(8),
                med(ref.map((x) => x.p50))
                  .toFixed(1)
                  .padStart(8),
                `${med(ratios).toFixed(2)} (${quantile(ratios, 0.25).toFixed(2)}..${quantile(ratios, 0.75).toFixed(2)})`.padStart(18),
                camera ? med(camFps).toFixed(1).padStart(7) : '      -',
              ].join(' '),
            );
            console.log(rows[rows.length - 1]);
          }
        } finally {
          await stopDaemon(d.child);
        }
      }
    } finally {
      await bare.dispose();
    }
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}
console.log('\nmodel         camera clients  api r/s  p50 ms  p99 ms  503s bare r/s bare p50  ratio med (IQR)  cam fps');
for (const r of rows) console.log(r);
console.log('api: POST /v1/detect (JPEG) over loopback to `inspectd run`; bare: Detector.detectImage in this process; ratio: api/bare per round.');
