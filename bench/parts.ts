/**
 * Part tracking benchmark: what the part stage (tracking, defect assignment, decisions) adds to a frame with
 * 50 parts alive, next to the frame's own cost (letterbox + inference + decode of the demo model on a frame
 * of the synthetic conveyor). Prints median and p99; never a pass/fail.
 *   npm run bench:parts [-- --frames 3000 --tracks 50 --model-frames 100]
 */
import { performance } from 'node:perf_hooks';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { partsConfig, DEMO_MODEL_RELPATH } from '../src/config/defaults.js';
import type { Frame } from '../src/contracts/frame.js';
import type { Detection } from '../src/contracts/vision.js';
import { silentLogger } from '../src/ops/log.js';
import { PartStage } from '../src/parts/parts.js';
import { renderConveyor } from '../src/synth/conveyor.js';
import { packageRoot } from '../src/util/package.js';
import { Detector } from '../src/inference/detector.js';

function arg(name: string, def: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : def;
}

const FRAMES = arg('frames', 3000);
const TRACKS = arg('tracks', 50);
const MODEL_FRAMES = arg('model-frames', 100);
const WARMUP = 200;
const W = 1920;
const H = 1080;

function stats(ms: number[]): { median: number; p99: number; text: string } {
  const s = [...ms].sort((a, b) => a - b);
  const q = (p: number) => s[Math.min(s.length - 1, Math.floor(p * s.length))];
  return { median: q(0.5), p99: q(0.99), text: `median ${q(0.5).toFixed(3)} ms  p99 ${q(0.99).toFixed(3)} ms  (n=${s.length})` };
}

/**
 * A wide belt with TRACKS plates alive at all times: a grid of lanes, plates moving 12 px per frame; one
 * leaving at the right is replaced by one entering at the left. Every fifth plate carries a scratch.
 */
function beltFrame(seq: number): Detection[] {
  const lanes = 5;
  const perLane = Math.ceil(TRACKS / lanes);
  const pitch = (W + 160) / perLane;
  const out: Detection[] = [];
  for (let lane = 0; lane < lanes; lane++) {
    for (let k = 0; k < perLane && out.length < TRACKS * 2; k++) {
      const x = ((k * pitch + seq * 12 + lane * 37) % (W + 160)) - 160;
      const y = 60 + lane * 200;
      const box = { x1: Math.max(0, x), y1: y, x2: Math.min(W, x + 140), y2: y + 110 };
      if (box.x2 - box.x1 < 4) continue;
      out.push({ class: 'plate', classId: 4, confidence: 0.9, box });
      if ((k + lane) % 5 === 0) out.push({ class: 'scratch', classId: 0, confidence: 0.7, box: { x1: box.x1 + 10, y1: y + 30, x2: box.x1 + 40, y2: y + 50 } });
    }
  }
  return out;
}

async function stageCost(): Promise<{ ms: number[]; live: number; verdicts: number; dets: number }> {
  let n = 0;
  const stage = new PartStage({
    deviceId: 'bench',
    cameraId: 'belt',
    bootId: 1,
    nextNumber: () => ++n,
    config: partsConfig({ partClass: 'plate', belt: { direction: 'left-to-right' } }),
  });
  const ms: number[] = [];
  let live = 0;
  let verdicts = 0;
  let dets = 0;
  for (let seq = 0; seq < WARMUP + FRAMES; seq++) {
    const kept = beltFrame(seq);
    const frame: Frame = { cameraId: 'belt', seq, captureMono: seq * 40, captureWall: 1_700_000_000_000 + seq * 40, width: W, height: H, format: 'rgb24', data: Buffer.alloc(0) };
    const rejectCauses = kept.filter((d) => d.class === 'scratch');
    const t0 = performance.now();
    const r = stage.observe({ frame, kept, rejectCauses }, frame.captureMono, frame.captureWall);
    const dt = performance.now() - t0;
    if (seq >= WARMUP) {
      ms.push(dt);
      live += stage.live;
      verdicts += r.verdicts.length;
      dets += kept.length;
    }
  }
  return { ms, live: live / FRAMES, verdicts, dets: dets / FRAMES };
}

async function frameCost(): Promise<number[] | null> {
  const model = path.join(packageRoot(), DEMO_MODEL_RELPATH);
  if (!existsSync(model)) return null;
  const detector = await Detector.load({ modelPath: model, engine: 'cpu', threads: 1, tensorrtBuild: false, logger: silentLogger() });
  try {
    const scenes = await Promise.all(Array.from({ length: 8 }, (_, i) => renderConveyor(7, i * 3, { width: 640, height: 480, defectRate: 0.3, beltPxPerFrame: 64 })));
    const ms: number[] = [];
    for (let i = 0; i < MODEL_FRAMES + 10; i++) {
      const s = scenes[i % scenes.length];
      const { timings: t } = await detector.detectFrame({ cameraId: 'belt', seq: i, captureMono: 0, captureWall: 0, width: 640, height: 480, format: 'rgb24', data: s.rgb });
      if (i >= 10) ms.push(t.preprocessMs + t.inferenceMs + t.postprocessMs);
    }
    return ms;
  } finally {
    await detector.dispose();
  }
}

async function main(): Promise<void> {
  const s = await stageCost();
  const st = stats(s.ms);
  console.log(`part stage (tracking + defect assignment + decisions), ${s.live.toFixed(1)} parts alive on average, ${s.dets.toFixed(0)} detections/frame, ${s.verdicts} verdicts:`);
  console.log(`  ${st.text}`);
  const f = await frameCost();
  if (!f) {
    console.log('frame total: demo model not found, skipped');
    return;
  }
  const ft = stats(f);
  console.log('frame total (demo model, 640x480 conveyor frame, letterbox + onnxruntime CPU 1 thread + decode):');
  console.log(`  ${ft.text}`);
  console.log(`added by parts: ${((st.median / ft.median) * 100).toFixed(2)} % of the median frame, ${((st.p99 / ft.median) * 100).toFixed(2)} % at p99`);
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
