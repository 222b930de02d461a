/**
 * Writes an Ultralytics-style YOLO dataset from the synthetic line:
 * images/{train,val}/*.jpg, labels/{train,val}/*.txt and data.yaml.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import sharp from 'sharp';
import { DEMO_CLASSES, renderScene, type SceneLabel } from './scene.js';

export interface DatasetOptions {
  out: string;
  train: number;
  val: number;
  seed: number;
  width?: number;
  height?: number;
  defectRate?: number;
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

/**
 * Train and val use disjoint frame indices of the same seed (val starts at 1e6), so the held-out set
 * is never seen in training while both come from one reproducible stream.
 */
export async function writeDataset(opts: DatasetOptions): Promise<{ images: number; labels: number }> {
  const width = opts.width ?? 320;
  const height = opts.height ?? 240;
  const defectRate = opts.defectRate ?? 0.8;
  const quality = opts.quality ?? 92;
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
      const scene = await renderScene(opts.seed, base + i, { width, height, defectRate });
      const name = `${split}_${String(i).padStart(6, '0')}`;
      const jpg = await sharp(scene.rgb, { raw: { width, height, channels: 3 } }).jpeg({ quality }).toBuffer();
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
