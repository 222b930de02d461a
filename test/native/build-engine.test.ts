import assert from 'node:assert/strict';
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { buildEngineCommand } from '../../src/cli/build-engine.js';
import { createTensorRtEngine } from '../../src/inference/tensorrt.js';
import { loadNativeAddon } from '../../src/native/loader.js';
import { FN_AFFINE, standinEngine } from './standin-engine.js';

function capture() {
  const lines = { out: '', err: '' };
  return { lines, stdout: (s: string) => void (lines.out += s), stderr: (s: string) => void (lines.err += s) };
}

test('build-engine says TensorRT is not installed when trtexec is absent', { timeout: 10_000 }, async () => {
  const c = capture();
  const code = await buildEngineCommand(['--model', 'm.onnx', '--fp16'], { env: { PATH: '/nonexistent' }, ...c });
  if (existsSync('/usr/src/tensorrt/bin/trtexec')) return; // a TensorRT machine
  assert.equal(code, 1);
  assert.match(c.lines.err, /TensorRT is not installed \(trtexec was not found/);
});

test('build-engine rejects bad arguments with usage', { timeout: 10_000 }, async () => {
  const c = capture();
  assert.equal(await buildEngineCommand(['--fp16'], { env: {}, ...c }), 2);
  assert.match(c.lines.err, /--model is required\nusage: inspectd build-engine/);
  assert.equal(await buildEngineCommand(['--model', 'm', '--fp16', '--int8'], { env: {}, ...c }), 2);
  assert.equal(await buildEngineCommand(['--model', 'm', '--bogus'], { env: {}, ...c }), 2);
});

test('build-engine runs trtexec, shows its progress and stores the engine under the cache key', { timeout: 20_000 }, async (t) => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'inspectd-build-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const onnx = path.join(dir, 'model.onnx');
  writeFileSync(onnx, 'onnx bytes');
  const engineFile = path.join(dir, 'engine.bin');
  writeFileSync(
    engineFile,
    standinEngine(FN_AFFINE, [
      { name: 'x', mode: 'input', dtype: 'float32', dims: [1, 4] },
      { name: 'y', mode: 'output', dtype: 'float32', dims: [1, 4] },
    ]),
  );
  // A fake trtexec: prints progress, writes a stand-in engine to --saveEngine, records its arguments.
  const bin = path.join(dir, 'bin');
  const { mkdirSync } = await import('node:fs');
  mkdirSync(bin);
  writeFileSync(
    path.join(bin, 'trtexec'),
    `#!/bin/sh\necho "$@" > "${dir}/args"\necho "[I] building..."\nfor a in "$@"; do case "$a" in --saveEngine=*) cp "${engineFile}" "\${a#--saveEngine=}";; esac; done\n`,
  );
  chmodSync(path.join(bin, 'trtexec'), 0o755);
  const cache = path.join(dir, 'cache');
  const standin = loadNativeAddon('inspectd_trt_standin');
  const c = capture();
  const code = await buildEngineCommand(['--model', onnx, '--fp16', '--cache', cache], {
    addon: standin,
    env: { PATH: `${bin}:/usr/bin:/bin` },
    ...c,
  });
  assert.equal(code, 0, c.lines.err);
  assert.match(c.lines.err, /\[I\] building\.\.\./);
  assert.match(readFileSync(path.join(dir, 'args'), 'utf8'), /--onnx=.*model\.onnx --saveEngine=.*\.tmp-\d+ --fp16/);
  const written = c.lines.out.trim();
  assert.match(path.basename(written), /^[0-9a-f]{64}-trt10\.0\.0-sm87-fp16\.engine$/);
  const engine = await createTensorRtEngine({ onnxPath: onnx, cacheDir: cache, addon: standin });
  const [y] = await engine.run(Float32Array.from([1, 2, 3, 4]), [1, 4]);
  assert.deepEqual(Array.from(y.data), [3, 5, 7, 9]);
  await engine.dispose();
});
