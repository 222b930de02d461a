/**
 * `npm run soak -- --minutes N [--fps F] [--warmup-min W] [--sample-s S] [--snapshots on|off]`: runs the real daemon in this
 * process on the embedded defaults (demo model, synthetic line at F fps, embedded broker) for N minutes and
 * samples RSS, V8 heap, external/array-buffer memory and event-loop delay every S seconds. Prints each
 * sample and, after the warm-up, the least-squares slope per resource (MB/min and % over the run). A
 * measurement, not a test: it never fails on a figure.
 */
import { parseArgs } from 'node:util';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Daemon } from '../src/app/daemon.js';
import { validateConfigObject } from '../src/config/load.js';
import { DEMO_MODEL_RELPATH, DEMO_REJECT_CLASSES } from '../src/config/defaults.js';
import { silentLogger } from '../src/ops/log.js';
import { REPO_ROOT } from '../test/helpers/fixtures.js';

interface Sample {
  t: number;
  rssMb: number;
  heapMb: number;
  externalMb: number;
  arrayBuffersMb: number;
  loopP99Ms: number;
}

const { values } = parseArgs({
  options: {
    minutes: { type: 'string', default: '30' },
    fps: { type: 'string', default: '10' },
    'warmup-min': { type: 'string', default: '5' },
    'sample-s': { type: 'string', default: '10' },
    // off: no snapshot JPEGs (sharp/libvips), to tell their memory from the rest of the daemon's.
    snapshots: { type: 'string', default: 'on' },
  },
});
const minutes = Number(values.minutes);
const warmupMin = Math.min(Number(values['warmup-min']), minutes / 2);
const sampleS = Number(values['sample-s']);

/** Least-squares slope of y over x. */
function slope(xs: number[], ys: number[]): number {
  const n = xs.length;
  const mx = xs.reduce((a, b) => a + b, 0) / n;
  const my = ys.reduce((a, b) => a + b, 0) / n;
  let num = 0;
  let den = 0;
  for (let i = 0; i < n; i++) {
    num += (xs[i]! - mx) * (ys[i]! - my);
    den += (xs[i]! - mx) ** 2;
  }
  return den === 0 ? 0 : num / den;
}

const tmp = mkdtempSync(path.join(os.tmpdir(), 'inspectd-soak-'));
const loaded = validateConfigObject(
  {
    model: { path: path.join(REPO_ROOT, DEMO_MODEL_RELPATH), threads: 1 },
    cameras: [{ id: 'line1', source: { type: 'synthetic', fps: Number(values.fps), width: 640, height: 480, seed: 7 }, rules: { rejectClasses: [...DEMO_REJECT_CLASSES] } }],
    mqtt: { embedded: { host: '127.0.0.1', port: 0 } },
    outbox: { dir: path.join(tmp, 'outbox') },
    snapshots: { enabled: values.snapshots !== 'off', dir: path.join(tmp, 'snapshots'), maxFiles: 200 },
    http: { enabled: false },
    console: { summary: 'off' },
  },
  '<soak>',
  REPO_ROOT,
);
const daemon = new Daemon({ loaded, logger: silentLogger() });
await daemon.start();
const loop = monitorEventLoopDelay({ resolution: 10 });
loop.enable();
const t0 = performance.now();
const samples: Sample[] = [];
const mb = (b: number) => Math.round((b / 1048576) * 10) / 10;
process.stdout.write(
  `soak: ${minutes} min at ${values.fps} fps, warm-up ${warmupMin} min, a sample every ${sampleS} s, snapshots ${values.snapshots}, MALLOC_ARENA_MAX=${process.env.MALLOC_ARENA_MAX ?? 'unset'} (pid ${process.pid})\n`,
);
process.stdout.write('   min    rss  heap  external  arraybuf  loop p99 ms  frames\n');
while ((performance.now() - t0) / 60000 < minutes) {
  await new Promise((r) => setTimeout(r, sampleS * 1000));
  const m = process.memoryUsage();
  const s: Sample = {
    t: (performance.now() - t0) / 60000,
    rssMb: mb(m.rss),
    heapMb: mb(m.heapUsed),
    externalMb: mb(m.external),
    arrayBuffersMb: mb(m.arrayBuffers),
    loopP99Ms: loop.percentile(99) / 1e6,
  };
  loop.reset();
  samples.push(s);
  const frames = daemon.pipelineStats?.inferredTotal ?? 0;
  process.stdout.write(
    `${s.t.toFixed(2).padStart(6)} ${String(s.rssMb).padStart(6)} ${String(s.heapMb).padStart(5)} ${String(s.externalMb).padStart(9)} ${String(s.arrayBuffersMb).padStart(9)} ${s.loopP99Ms.toFixed(1).padStart(12)} ${String(frames).padStart(7)}\n`,
  );
}
await daemon.stop();
rmSync(tmp, { recursive: true, force: true });

const after = samples.filter((s) => s.t >= warmupMin);
if (after.length < 3) {
  process.stdout.write('too few samples after the warm-up for a slope; run longer\n');
} else {
  const xs = after.map((s) => s.t);
  const span = xs.at(-1)! - xs[0]!;
  process.stdout.write(`\nafter the warm-up (${after.length} samples over ${span.toFixed(1)} min):\n`);
  for (const key of ['rssMb', 'heapMb', 'externalMb', 'arrayBuffersMb'] as const) {
    const ys = after.map((s) => s[key]);
    const k = slope(xs, ys);
    const pct = (k * span * 100) / Math.max(0.1, ys[0]!);
    process.stdout.write(
      `  ${key.padEnd(15)} ${k >= 0 ? '+' : ''}${k.toFixed(3)} MB/min  (${pct >= 0 ? '+' : ''}${pct.toFixed(1)} % over the window; first ${ys[0]} MB, last ${ys.at(-1)} MB)\n`,
    );
  }
  const p99 = after.map((s) => s.loopP99Ms).sort((a, b) => a - b);
  process.stdout.write(`  event-loop delay p99: median ${p99[p99.length >> 1]!.toFixed(1)} ms, worst ${p99.at(-1)!.toFixed(1)} ms\n`);
}
