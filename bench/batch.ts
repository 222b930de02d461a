/**
 * `npm run bench:batch [-- --images 500 --rounds 3 --threads 1]`: `inspectd batch` on a folder of JPEGs next to the
 * bare engine loop in the same run. Per round, in alternating order: the bare loop (a Detector in this process,
 * detectImage on each file read from disk, one after another) and `inspectd batch --out FILE <folder>` as the real
 * command in a child process (its own model load included, as a user runs it). Reports images/s of each and the
 * per-round ratio batch/bare (median, IQR). Figures, never a pass/fail.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import sharp from 'sharp';
import { parseInteger } from '../src/cli/args.js';
import { DEMO_MODEL_RELPATH } from '../src/config/defaults.js';
import { Detector } from '../src/inference/detector.js';
import { silentLogger } from '../src/ops/log.js';
import { renderConveyor } from '../src/synth/conveyor.js';
import { REPO_ROOT, SHARED_FIXTURES } from '../test/helpers/fixtures.js';

const { values: v } = parseArgs({ options: { images: { type: 'string' }, 'images-large': { type: 'string' }, rounds: { type: 'string' }, threads: { type: 'string' } } });
const IMAGES = parseInteger('images', v.images, 1, 100_000) ?? 500;
const IMAGES_LARGE = parseInteger('images-large', v['images-large'], 1, 100_000) ?? 40;
const ROUNDS = parseInteger('rounds', v.rounds, 1, 100) ?? 3;
const THREADS = parseInteger('threads', v.threads, 0, 64) ?? 1;
const MAIN = path.join(REPO_ROOT, 'dist', 'src', 'main.js');

const quantile = (xs: number[], q: number): number => {
  const a = [...xs].sort((x, y) => x - y);
  return a.length === 0 ? Number.NaN : a[Math.min(a.length - 1, Math.floor(q * (a.length - 1) + 0.5))]!;
};

/** `n` distinct conveyor frames as 640x480 JPEGs in `dir`. */
async function writeFolder(dir: string, n: number): Promise<string[]> {
  mkdirSync(dir, { recursive: true });
  for (let i = 0; i < n; i++) {
    const s = await renderConveyor(11, i, { width: 640, height: 480, defectRate: 0.5, beltPxPerFrame: 24 });
    writeFileSync(
      path.join(dir, `f${String(i).padStart(5, '0')}.jpg`),
      await sharp(s.rgb, { raw: { width: 640, height: 480, channels: 3 } })
        .jpeg({ quality: 90 })
        .toBuffer(),
    );
  }
  return readdirSync(dir).map((f) => path.join(dir, f));
}

async function bare(detector: Detector, files: string[]): Promise<number> {
  const t0 = performance.now();
  for (const f of files) await detector.detectImage(readFileSync(f));
  return files.length / ((performance.now() - t0) / 1000);
}

async function batch(model: string, folder: string, out: string, n: number): Promise<number> {
  rmSync(out, { force: true });
  const t0 = performance.now();
  const code = await new Promise<number | null>((resolve) => {
    const child = spawn(process.execPath, [MAIN, 'batch', '--model', model, '--engine', 'cpu', '--threads', String(THREADS), '--out', out, folder], {
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let err = '';
    child.stderr.on('data', (d: Buffer) => void (err = (err + d.toString()).slice(-2000)));
    child.on('exit', (c) => {
      if (c !== 0) process.stderr.write(err);
      resolve(c);
    });
  });
  const secs = (performance.now() - t0) / 1000;
  const lines = readFileSync(out, 'utf8').trim().split('\n').length;
  if (code !== 0 || lines !== n) throw new Error(`inspectd batch exited ${code} with ${lines} of ${n} lines`);
  return n / secs;
}

if (!existsSync(MAIN)) throw new Error(`${MAIN} is missing: run npm run build:ts first`);
const models: { name: string; path: string; n: number }[] = [{ name: 'demo', path: path.join(REPO_ROOT, DEMO_MODEL_RELPATH), n: IMAGES }];
const v8 = path.join(SHARED_FIXTURES, 'models', 'yolov8n-coco-int8.onnx');
if (existsSync(v8)) models.push({ name: 'yolov8n-int8', path: v8, n: IMAGES_LARGE });
else console.log(`${v8} not found: yolov8n skipped (set INSPECTD_SHARED_FIXTURES)`);

const tmp = mkdtempSync(path.join(os.tmpdir(), 'inspectd-bench-batch-'));
console.log(
  `bench:batch  ${ROUNDS} rounds, onnxruntime CPU, ${THREADS} intra-op thread(s), ${os.cpus().length} cores, load ${os
    .loadavg()
    .map((l) => l.toFixed(2))
    .join(' ')}`,
);
const rows: string[] = [];
try {
  for (const m of models) {
    const files = await writeFolder(path.join(tmp, `${m.name}-jpegs`), m.n);
    const detector = await Detector.load({ modelPath: m.path, engine: 'cpu', threads: THREADS, logger: silentLogger(), tensorrtBuild: false });
    try {
      for (let i = 0; i < 3; i++) await detector.detectImage(readFileSync(files[0]!));
      const b: number[] = [];
      const r: number[] = [];
      const ratios: number[] = [];
      for (let round = 0; round < ROUNDS; round++) {
        let rb = 0;
        let rr = 0;
        for (const kind of round % 2 === 0 ? ['bare', 'batch'] : ['batch', 'bare']) {
          if (kind === 'bare') rr = await bare(detector, files);
          else rb = await batch(m.path, path.dirname(files[0]!), path.join(tmp, 'out.jsonl'), files.length);
        }
        b.push(rb);
        r.push(rr);
        ratios.push(rb / rr);
        process.stdout.write(`  ${m.name} round ${round + 1}: batch ${rb.toFixed(1)} images/s, bare ${rr.toFixed(1)} images/s\n`);
      }
      const f = (x: number) => x.toFixed(2);
      rows.push(
        `${m.name.padEnd(13)} ${String(m.n).padStart(6)} ${quantile(b, 0.5).toFixed(1).padStart(10)} ${quantile(r, 0.5).toFixed(1).padStart(10)}   ${f(quantile(ratios, 0.5))}× (${f(quantile(ratios, 0.25))}–${f(quantile(ratios, 0.75))})`,
      );
    } finally {
      await detector.dispose();
    }
  }
} finally {
  rmSync(tmp, { recursive: true, force: true });
}
console.log('\nmodel         images  batch i/s   bare i/s   batch ÷ bare, median (IQR)');
for (const row of rows) console.log(row);
console.log('batch: `inspectd batch --out FILE <folder>` as a child process, model load included; bare: Detector.detectImage on each file in this process.');
