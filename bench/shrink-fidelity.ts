/**
 * `npm run bench:shrink`: what shrink-on-load (Detector.prepareImage on images at least
 * DEFAULT_SHRINK_ON_LOAD_FACTOR times the letterbox) changes in the detections, against the independent
 * reference (../shared/fixtures/expected) and against the full-size decode, on the fixture images
 * enlarged 3x and 4x (the fixtures themselves are under 3x every model input, so they never take the shrink
 * path). An enlarged image's reference is the original's with its boxes scaled. Also the time each path
 * takes to prepare one image (decode + letterbox, alternating, medians). Prints figures, never a pass/fail.
 */
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import sharp from 'sharp';
import type { Box, Detection } from '../src/contracts/vision.js';
import { Detector } from '../src/inference/detector.js';
import { iou } from '../src/parts/geometry.js';
import { DEFAULT_SHRINK_ON_LOAD_FACTOR } from '../src/vision/letterbox.js';
import { SHARED_FIXTURES } from '../test/helpers/fixtures.js';
import { markdownTable, quantile } from './stats.js';

type Box4 = [number, number, number, number];
interface RefDet {
  cls: number;
  conf: number;
  box: Box4;
}

/** What the fixture acceptance test compares: detections of the reference at conf >= this. */
const MIN_CONF = 0.3;
const SCALES = [3, 4];
const TIMING_ROUNDS = 9;

const boxOf = (d: Detection): Box4 => [d.box.x1, d.box.y1, d.box.x2, d.box.y2];
const toBox = ([x1, y1, x2, y2]: Box4): Box => ({ x1, y1, x2, y2 });

interface Match {
  compared: number;
  matched: number;
  minIou: number;
  maxDconf: number;
}

/** Greedy match of each reference detection (conf >= MIN_CONF) to the same-class detection of highest IoU. */
function compare(ref: RefDet[], ours: Detection[]): Match {
  const want = ref.filter((r) => r.conf >= MIN_CONF);
  const used = new Set<number>();
  let matched = 0;
  let minIou = 1;
  let maxDconf = 0;
  for (const r of want) {
    let best = -1;
    let bestIou = 0;
    for (const [i, d] of ours.entries()) {
      if (used.has(i) || d.classId !== r.cls) continue;
      const v = iou(toBox(r.box), d.box);
      if (v > bestIou) {
        bestIou = v;
        best = i;
      }
    }
    if (best < 0 || bestIou < 0.5) {
      minIou = 0;
      continue;
    }
    used.add(best);
    matched++;
    minIou = Math.min(minIou, bestIou);
    maxDconf = Math.max(maxDconf, Math.abs(ours[best].confidence - r.conf));
  }
  return { compared: want.length, matched, minIou: want.length ? minIou : Number.NaN, maxDconf: want.length ? maxDconf : Number.NaN };
}

const fmt = (m: Match) =>
  `${m.matched}/${m.compared}, IoU ≥ ${Number.isFinite(m.minIou) ? m.minIou.toFixed(3) : '-'}, Δconf ≤ ${Number.isFinite(m.maxDconf) ? m.maxDconf.toFixed(3) : '-'}`;

async function prepareMs(d: Detector, jpeg: Buffer): Promise<number> {
  const t0 = performance.now();
  d.releasePrepared(await d.prepareImage(jpeg));
  return performance.now() - t0;
}

async function main(): Promise<void> {
  const modelsDir = path.join(SHARED_FIXTURES, 'models');
  if (!existsSync(modelsDir)) {
    process.stdout.write(`shared fixtures not found at ${SHARED_FIXTURES}: nothing to compare (set INSPECTD_SHARED_FIXTURES)\n`);
    return;
  }
  const rows: string[][] = [];
  for (const file of readdirSync(modelsDir)
    .filter((f) => f.endsWith('.onnx'))
    .sort()) {
    const name = file.replace(/\.onnx$/, '');
    const refFile = path.join(SHARED_FIXTURES, 'expected', `${name}.jsonl`);
    if (!existsSync(refFile)) continue;
    const refs = readFileSync(refFile, 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { image: string; width: number; height: number; detections: RefDet[] });
    const load = (shrinkOnLoadFactor: number) => Detector.load({ modelPath: path.join(modelsDir, file), engine: 'cpu', tensorrtBuild: false, shrinkOnLoadFactor });
    const fast = await load(DEFAULT_SHRINK_ON_LOAD_FACTOR);
    const exact = await load(Number.POSITIVE_INFINITY);
    try {
      for (const ref of refs) {
        const src = path.join(SHARED_FIXTURES, 'images', ref.image);
        if (!existsSync(src)) continue;
        const original = await exact.detectImage(src);
        rows.push([
          name,
          ref.image,
          `${ref.width}×${ref.height}`,
          `— (under ${DEFAULT_SHRINK_ON_LOAD_FACTOR}×: not shrunk)`,
          `full size ${fmt(compare(ref.detections, original.detections))}`,
          '',
          '',
          '',
        ]);
        for (const k of SCALES) {
          const jpeg = await sharp(src)
            .resize(ref.width * k, ref.height * k, { kernel: 'lanczos3' })
            .jpeg({ quality: 95 })
            .toBuffer();
          const scaled = ref.detections.map((r) => ({ ...r, box: r.box.map((v) => v * k) as Box4 }));
          const a = await fast.detectImage(jpeg);
          const b = await exact.detectImage(jpeg);
          // Shrink path against the full-size decode of the same enlarged image: the shrink's own effect.
          const asRef = b.detections.filter((d) => d.confidence >= MIN_CONF).map((d) => ({ cls: d.classId, conf: d.confidence, box: boxOf(d) }));
          const tf: number[] = [];
          const te: number[] = [];
          for (let i = 0; i < TIMING_ROUNDS; i++) {
            if (i % 2 === 0) {
              tf.push(await prepareMs(fast, jpeg));
              te.push(await prepareMs(exact, jpeg));
            } else {
              te.push(await prepareMs(exact, jpeg));
              tf.push(await prepareMs(fast, jpeg));
            }
          }
          rows.push([
            name,
            ref.image,
            `${ref.width * k}×${ref.height * k} (${k}×)`,
            `shrink-on-load ${fmt(compare(scaled, a.detections))}`,
            `full size ${fmt(compare(scaled, b.detections))}`,
            fmt(compare(asRef, a.detections)),
            quantile(tf, 0.5).toFixed(1),
            quantile(te, 0.5).toFixed(1),
          ]);
        }
      }
    } finally {
      await fast.dispose();
      await exact.dispose();
    }
  }
  process.stdout.write(
    `Shrink-on-load (images ≥ ${DEFAULT_SHRINK_ON_LOAD_FACTOR}× the letterbox) against the reference (conf ≥ ${MIN_CONF}: matched same class at IoU ≥ 0.5, the lowest IoU and the largest confidence difference of the matched) and against the full-size decode; prepare = decode + letterbox of one image, median of ${TIMING_ROUNDS}, alternating.\n\n`,
  );
  process.stdout.write(
    `${markdownTable(['model', 'image', 'size', 'vs reference', 'vs reference, full-size decode', 'shrink vs full-size decode', 'prepare ms, shrink', 'prepare ms, full size'], rows)}\n`,
  );
}

await main();
