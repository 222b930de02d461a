/**
 * A camera that rejects every frame, for the outage and fault tests: one frame of the synthetic line with a
 * defect the project's demo model rejects (checked here, so a model change fails this precondition, not the
 * fault assertions), saved as a PNG and looped by real ffmpeg.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import sharp from 'sharp';
import { DEMO_MODEL_RELPATH, DEMO_REJECT_CLASSES } from '../../src/config/defaults.js';
import { Detector } from '../../src/inference/detector.js';
import { renderScene } from '../../src/synth/scene.js';
import { repoPath } from './fixtures.js';

export const hasFfmpeg = spawnSync('ffmpeg', ['-version']).status === 0;
export const DEMO_MODEL = repoPath(DEMO_MODEL_RELPATH);

/** Writes `<dir>/defect.png`, the first defect frame of the line (320 x 240) that the demo model rejects; returns its path. */
export async function rejectedImage(dir: string): Promise<string> {
  const image = path.join(dir, 'defect.png');
  const detector = await Detector.load({ modelPath: DEMO_MODEL, engine: 'cpu', threads: 1, tensorrtBuild: false });
  try {
    for (let i = 0; i < 40; i++) {
      const scene = await renderScene(7, i, { width: 320, height: 240, defectRate: 1 });
      if (scene.labels.length === 0) continue;
      const frame = { cameraId: 'probe', seq: i, captureMono: 0, captureWall: 0, width: 320, height: 240, format: 'rgb24' as const, data: scene.rgb };
      const { detections } = await detector.detectFrame(frame);
      if (!detections.some((d) => DEMO_REJECT_CLASSES.includes(d.class))) continue;
      await sharp(scene.rgb, { raw: { width: 320, height: 240, channels: 3 } })
        .png()
        .toFile(image);
      return image;
    }
  } finally {
    await detector.dispose();
  }
  assert.fail('the demo model rejects one of the first 40 defect frames of the line');
}

/** A camera config: ffmpeg loops `image` at `fps`, each frame judged on its own (decision: frame), so each is one reject. */
export function loopedRejectCamera(id: string, image: string, fps = 4): Record<string, unknown> {
  return {
    id,
    source: { type: 'ffmpeg', input: image, inputArgs: ['-loop', '1', '-framerate', String(fps)], realtime: true, width: 320, height: 240 },
    deadlineMs: 5000,
    rules: { rejectClasses: [...DEMO_REJECT_CLASSES] },
    // One still image looped: every frame judged on its own (test/integration/parts-outage.test.ts: verdicts).
    decision: 'frame',
  };
}

/** A daemon config on the demo model (CPU, one thread) for the fault tests: its outbox under dir; no snapshots, HTTP, console line or detections. */
export function faultDaemonConfig(dir: string, device: string, cameras: unknown[], mqtt: Record<string, unknown>): Record<string, unknown> {
  return {
    device: { id: device },
    model: { path: DEMO_MODEL, engine: 'cpu', threads: 1 },
    cameras,
    mqtt: { publishDetections: false, ...mqtt },
    outbox: { dir: path.join(dir, 'outbox') },
    snapshots: { enabled: false, dir: path.join(dir, 'snaps') },
    http: { enabled: false },
    console: { summary: 'off' },
  };
}
