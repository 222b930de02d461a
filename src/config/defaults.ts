/**
 * The config `inspectd run` uses when no file is given: the demo model on a synthetic line, an embedded
 * broker, everything on loopback. Built as a plain object and validated like a file, so defaults live in
 * one place (schema.ts) and this can never drift into an invalid config.
 */
import path from 'node:path';
import { EMBEDDED_SOURCE, validateConfigObject, type LoadedConfig } from './load.js';
import type { PartsConfig } from './types.js';

/** Class names of the demo model that reject a part. The one list to adjust if the demo model changes. */
export const DEMO_REJECT_CLASSES: readonly string[] = ['scratch', 'dent', 'stain', 'missing_hole'];
/** The demo model's class for the part itself: the demo tracks plates and gives each one verdict. */
export const DEMO_PART_CLASS = 'plate';
/** The demo belt: 64 px per frame at 5 fps on a 640 px wide view, 0.5 mm per pixel = 160 mm/s. */
export const DEMO_BELT = { fps: 5, beltPxPerFrame: 64, mmPerPixel: 0.5 } as const;

/** The demo model, relative to the package root. */
export const DEMO_MODEL_RELPATH = path.join('models', 'demo', 'inspectd-demo.onnx');

export function embeddedDefaults(packageRoot: string): LoadedConfig {
  const raw = {
    model: { path: path.join(packageRoot, DEMO_MODEL_RELPATH) },
    cameras: [
      {
        id: 'line1',
        // Seed 7: a belt the demo model never saw in training (its dataset is seed 1).
        source: { type: 'synthetic', scene: 'conveyor', fps: DEMO_BELT.fps, beltPxPerFrame: DEMO_BELT.beltPxPerFrame, width: 640, height: 480, seed: 7, defectRate: 0.3 },
        rules: { rejectClasses: [...DEMO_REJECT_CLASSES] },
        // One verdict per plate, decided in the middle of the view; an ejector 300 mm past that line.
        decision: 'part',
        parts: {
          partClass: DEMO_PART_CLASS,
          belt: {
            direction: 'left-to-right',
            mmPerPixel: DEMO_BELT.mmPerPixel,
            speedMmPerS: DEMO_BELT.beltPxPerFrame * DEMO_BELT.fps * DEMO_BELT.mmPerPixel,
            ejectorDistanceMm: 300,
          },
        },
      },
    ],
    // The embedded broker listens on loopback only: local users may pause, resume and reload the demo.
    commands: { reload: true, pause: true, resume: true },
  };
  return validateConfigObject(raw, EMBEDDED_SOURCE, packageRoot);
}

/**
 * A camera's `parts` settings as validation makes them from `parts` (the schema's defaults filled in): for code
 * and tests that build a camera config without a file. Throws ConfigInvalidError like a file would.
 */
export function partsConfig(parts: Record<string, unknown> = {}): PartsConfig {
  const raw = { model: { path: 'model.onnx' }, cameras: [{ id: 'cam', source: { type: 'synthetic' }, parts }] };
  return validateConfigObject(raw, EMBEDDED_SOURCE, path.sep).config.cameras[0].parts;
}
