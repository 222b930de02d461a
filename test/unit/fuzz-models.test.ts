/**
 * Model files fuzzed (seeded, bounded): truncated and bit-flipped copies of a real ONNX export and random
 * bytes. Each either loads (a flip in weights can be harmless) or is refused with an InspectdError whose
 * code says what is wrong and whose message names the file — never a crash of the process or the worker.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import fc from 'fast-check';
import { Detector } from '../../src/inference/detector.js';
import { isInspectdError } from '../../src/errors.js';
import { repoPath } from '../helpers/fixtures.js';

const GOOD = readFileSync(repoPath('test', 'assets', 'tiny-v8.onnx'));

test('fuzz: truncated, bit-flipped and random model files load or are refused with a code and the file name', { timeout: 180_000 }, async (t) => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'inspectd-fuzz-model-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const input = fc.oneof(
    fc.integer({ min: 0, max: GOOD.length - 1 }).map((n) => ({ kind: 'truncated', bytes: GOOD.subarray(0, n) })),
    fc.array(fc.nat({ max: GOOD.length * 8 - 1 }), { minLength: 1, maxLength: 8 }).map((bits) => {
      const b = Buffer.from(GOOD);
      for (const bit of bits) b[bit >> 3]! ^= 1 << (bit & 7);
      return { kind: 'flipped', bytes: b };
    }),
    fc.uint8Array({ maxLength: 4096 }).map((a) => ({ kind: 'random', bytes: Buffer.from(a) })),
  );
  const outcomes: Record<string, number> = {};
  let n = 0;
  await fc.assert(
    fc.asyncProperty(input, async ({ kind, bytes }) => {
      const file = path.join(dir, `m${n++}.onnx`);
      writeFileSync(file, bytes);
      try {
        const d = await Detector.load({ modelPath: file, engine: 'cpu', threads: 1, tensorrtBuild: false, nativePreprocess: false });
        await d.dispose();
        outcomes[`${kind}:loaded`] = (outcomes[`${kind}:loaded`] ?? 0) + 1;
      } catch (err) {
        assert.ok(isInspectdError(err), `${kind}: not an InspectdError: ${String(err)}`);
        assert.ok(err.message.includes(file), `${kind}: the message names the file: ${err.message}`);
        outcomes[`${kind}:${err.code}`] = (outcomes[`${kind}:${err.code}`] ?? 0) + 1;
      }
    }),
    { seed: 20261202, numRuns: 60 },
  );
  t.diagnostic(`outcomes: ${JSON.stringify(outcomes)}`);
  assert.ok(
    Object.keys(outcomes).some((k) => k.startsWith('truncated:INSPECTD_ERR_')),
    'truncated files are refused',
  );
});
