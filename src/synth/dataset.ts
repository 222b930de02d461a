/**
 * Writes an Ultralytics-style YOLO dataset from the synthetic line:
 * images/{train,val}/*.jpg, labels/{train,val}/*.txt and data.yaml.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import sharp from 'sharp';
import { DEMO_CLASSES, frameSeed, mulberry32, renderScene, type SceneLabel } from './scene.js';
import { renderConveyor } from './conveyor.js';

/**
 * `conveyor`: frames of moving belts (plates entering, crossing, leaving); `still`: one scene per part (an
 * indexed line); `mixed`: conveyor with every fifth image still (what the demo model is trained on).
 */
export const DATASET_SCENES = ['conveyor', 'still', 'mixed'] as const;
export type DatasetScene = (typeof DATASET_SCENES)[number];

export interface DatasetOptions {
  out: string;
  train: number;
  val: number;
  seed: number;
  width?: number;
  height?: number;
  defectRate?: number;
  /** Which line to film (default conveyor: what the demo camera shows). */
  scene?: DatasetScene;
  /** JPEG quality (default 92). */
  quality?: number;
  /** Called after each image; for progress output. */
  onProgress?: (done: number, total: number) => void;
}

export function formatLabels(labels: SceneLabel[]): string {
  return labels.map((l) => `${l.classId} ${l.cx.toFixed(6)} ${l.cy.toFixed(6)} ${l.w.toFixed(6)} ${l.h.toFixed(6)}`).join('\n') + (labels.length ? '\n' : '');
}

export function dataYaml(root: string, names: readonly string[]): string {
  const lines = [`path: ${root}`, 'train: images/train', 'val: images/val', `nc: ${names.length}`, 'names:'];
  names.forEach((n, i) => lines.push(`  ${i}: ${n}`));
  return lines.join('\n') + '\n';
}

const DATASET_SALT = 0x6a09e667;

/**
 * The conveyor seed of dataset image `index` (train: 0.., val: 1e6..) of a dataset seed: so a test can
 * choose a line seed no training image was filmed on.
 */
export function datasetLineSeed(seed: number, index: number): number {
  return frameSeed(seed ^ DATASET_SALT, index);
}

/**
 * Image `index` of a dataset. Conveyor images each film a belt of their own (its own seed: tone, lighting,
 * plates) at a random moment, so the set covers whole plates and plates cut by the frame's edges.
 */
async function renderFrame(kind: DatasetScene, seed: number, index: number, width: number, height: number, defectRate: number): Promise<{ rgb: Buffer; labels: SceneLabel[] }> {
  if (kind === 'still' || (kind === 'mixed' && index % 5 === 4)) return renderScene(seed, index, { width, height, defectRate });
  const lineSeed = datasetLineSeed(seed, index);
  const at = Math.floor(mulberry32(lineSeed)() * 1_000_000);
  return renderConveyor(lineSeed, at, { width, height, defectRate, beltPxPerFrame: 1 });
}

/**
 * Train and val use disjoint frame indices of the same seed (val starts at 1e6), so the held-out set
 * is never seen in training while both come from one reproducible stream.
 */
export async function writeDataset(opts: DatasetOptions): Promise<{ images: number; labels: number }> {
  const width = opts.width ?? 320;
  const height = opts.height ?? 240;
  const defectRate = opts.defectRate ?? 0.8;
  const quality = opts.quality ?? 92;
  const sceneKind = opts.scene ?? 'conveyor';
  const root = path.resolve(opts.out);
  const splits: [string, number, number][] = [
    ['train', opts.train, 0],
    ['val', opts.val, 1_000_000],
  ];
  let images = 0;
  let labels = 0;
  const total = opts.train + opts.val;
  for (const [split, count, base] of splits) {
    await mkdir(path.join(root, 'images', split), { recursive: true });
    await mkdir(path.join(root, 'labels', split), { recursive: true });
    for (let i = 0; i < count; i++) {
      const scene = await renderFrame(sceneKind, opts.seed, base + i, width, height, defectRate);
      const name = `${split}_${String(i).padStart(6, '0')}`;
      const jpg = await sharp(scene.rgb, { raw: { width, height, channels: 3 } })
        .jpeg({ quality })
        .toBuffer();
      await writeFile(path.join(root, 'images', split, `${name}.jpg`), jpg);
      await writeFile(path.join(root, 'labels', split, `${name}.txt`), formatLabels(scene.labels));
      images++;
      labels += scene.labels.length;
      opts.onProgress?.(images, total);
    }
  }
  await writeFile(path.join(root, 'data.yaml'), dataYaml(root, DEMO_CLASSES));
  return { images, labels };
}
