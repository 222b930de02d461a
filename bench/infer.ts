/**
 * Inference benchmark over the fixture models (../shared/fixtures/models, when present) and the demo model;
 * the measuring is `inspectd bench` (src/cli/bench.ts). Prints figures, never a pass/fail.
 *   npm run bench:infer [-- --iterations 30 --warmup 3 --threads 0 --engine auto]
 */
import { existsSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { runInferenceBench } from '../src/cli/bench.js';
import { parseEngine, parseInteger } from '../src/cli/args.js';
import { REPO_ROOT, SHARED_FIXTURES } from '../test/helpers/fixtures.js';

const { values: v } = parseArgs({
  options: { iterations: { type: 'string' }, warmup: { type: 'string' }, threads: { type: 'string' }, engine: { type: 'string' } },
});

const ROOT = REPO_ROOT;
const SHARED = SHARED_FIXTURES;

const models: string[] = [];
const fixtureDir = path.join(SHARED, 'models');
if (existsSync(fixtureDir)) {
  for (const f of readdirSync(fixtureDir).sort()) if (f.endsWith('.onnx')) models.push(path.join(fixtureDir, f));
} else {
  console.log(`shared fixtures not found at ${SHARED}: fixture models skipped (set INSPECTD_SHARED_FIXTURES)`);
}
const demoDir = path.join(ROOT, 'models', 'demo');
if (existsSync(demoDir)) {
  for (const f of readdirSync(demoDir).sort()) if (f.endsWith('.onnx')) models.push(path.join(demoDir, f));
}
const bus = path.join(SHARED, 'images', 'bus.jpg');
if (models.length === 0) console.log('no models to benchmark (no ../shared/fixtures/models and no models/demo/*.onnx)');
else
  await runInferenceBench(models, {
    image: existsSync(bus) ? bus : undefined,
    iterations: parseInteger('iterations', v.iterations, 1, 100000) ?? 30,
    warmup: parseInteger('warmup', v.warmup, 0, 1000) ?? 3,
    threads: parseInteger('threads', v.threads, 0, 1024) ?? 0,
    engine: parseEngine(v.engine) ?? 'auto',
  });
