/**
 * The config `inspectd run` uses when no file is given: the demo model on a synthetic line, an embedded
 * broker, everything on loopback. Built as a plain object and validated like a file, so defaults live in
 * one place (schema.ts) and this can never drift into an invalid config.
 */
import path from 'node:path';
import { EMBEDDED_SOURCE, validateConfigObject, type LoadedConfig } from './load.js';

/** Class names of the demo model that reject a part. The one list to adjust if the demo model changes. */
export const DEMO_REJECT_CLASSES: readonly string[] = ['scratch', 'dent', 'stain', 'missing_hole'];

/** The demo model, relative to the package root. */
export const DEMO_MODEL_RELPATH = path.join('models', 'demo', 'inspectd-demo.onnx');

export function embeddedDefaults(packageRoot: string): LoadedConfig {
  const raw = {
    model: { path: path.join(packageRoot, DEMO_MODEL_RELPATH) },
    cameras: [
      {
        id: 'line1',
        // Seed 7: frames the demo model never saw in training (its dataset is seed 1).
        // Still scenes: every frame is judged on its own (a reject per frame).
        source: { type: 'synthetic', scene: 'still', fps: 5, width: 640, height: 480, seed: 7, defectRate: 0.3 },
        rules: { rejectClasses: [...DEMO_REJECT_CLASSES] },
      },
    ],
  };
  return validateConfigObject(raw, EMBEDDED_SOURCE, packageRoot);
}
