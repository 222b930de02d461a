/**
 * Preprocess benchmark: 1920x1080 RGB frame -> 640x640 letterboxed CHW float32.
 *   native (sync, on this thread) | native (async, libuv worker) | sharp resize+letterbox then a JS HWC->CHW loop.
 * Prints median and p99; never a pass/fail. `npm run bench:preprocess [-- --iterations N]`
 */
import sharp from 'sharp';
import { loadNativeAddon } from '../src/native/loader.js';
import { refGeometry } from '../test/native/letterbox-reference.js';

const W = 1920;
const H = 1080;
const D = 640;
const argIter = process.argv.indexOf('--iterations');
const N = argIter > 0 ? Number(process.argv[argIter + 1]) : 300;
const WARMUP = 20;

function stats(ms: number[]): string {
  const s = [...ms].sort((a, b) => a - b);
  const q = (p: number) => s[Math.min(s.length - 1, Math.floor(p * s.length))];
  return `median ${q(0.5).toFixed(2)} ms  p99 ${q(0.99).toFixed(2)} ms  min ${s[0].toFixed(2)} ms  (n=${s.length})`;
}

async function time(fn: () => unknown): Promise<number[]> {
  for (let i = 0; i < WARMUP; i++) await fn();
  const out: number[] = [];
  for (let i = 0; i < N; i++) {
    const t0 = performance.now();
    await fn();
    out.push(performance.now() - t0);
  }
  return out;
}

async function main(): Promise<void> {
  const frame = Buffer.alloc(W * H * 3);
  for (let i = 0; i < frame.length; i++) frame[i] = (i * 2654435761) >>> 24;
  const addon = loadNativeAddon();
  const out = new Float32Array(3 * D * D);
  const out16 = new Uint16Array(3 * D * D);

  const rows: Array<[string, number[]]> = [];
  rows.push(['native sync, fp32, reused output', await time(() => addon.preprocessSync(frame, W, H, 0, 'rgb24', D, D, false, out))]);
  rows.push(['native sync, fp32, new output', await time(() => addon.preprocessSync(frame, W, H, 0, 'rgb24', D, D, false))]);
  rows.push(['native sync, fp16, reused output', await time(() => addon.preprocessSync(frame, W, H, 0, 'rgb24', D, D, true, out16))]);
  rows.push(['native async (worker), fp32', await time(() => addon.preprocess(frame, W, H, 0, 'rgb24', D, D, false, out))]);

  sharp.concurrency(1); // one core, like the native path
  const g = refGeometry(W, H, D, D);
  const chw = new Float32Array(3 * D * D);
  const sharpJs = async () => {
    const hwc = await sharp(frame, { raw: { width: W, height: H, channels: 3 } })
      .resize(g.newWidth, g.newHeight, { kernel: 'linear', fit: 'fill' })
      .extend({
        top: g.padY,
        bottom: D - g.newHeight - g.padY,
        left: g.padX,
        right: D - g.newWidth - g.padX,
        background: { r: 114, g: 114, b: 114 },
      })
      .raw()
      .toBuffer();
    const plane = D * D;
    for (let i = 0, p = 0; p < plane; p++, i += 3) {
      chw[p] = hwc[i] / 255;
      chw[plane + p] = hwc[i + 1] / 255;
      chw[2 * plane + p] = hwc[i + 2] / 255;
    }
  };
  rows.push(['sharp (1 thread) resize+letterbox + JS HWC->CHW', await time(sharpJs)]);

  console.log(`preprocess ${W}x${H} rgb24 -> ${D}x${D} CHW, node ${process.version}, ${N} iterations after ${WARMUP} warm-up`);
  for (const [name, ms] of rows) console.log(`${name.padEnd(50)} ${stats(ms)}`);
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
