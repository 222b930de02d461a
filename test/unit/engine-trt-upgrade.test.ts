import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { trtUpgradeBlocker, upgradeToTensorRt } from '../../src/inference/trt-upgrade.js';
import type { NativeAddon } from '../../src/native/loader.js';
import { ErrorCodes } from '../../src/errors.js';
import { silentLogger } from '../../src/ops/log.js';

/** Only the addon's `tensorrt` field matters to the blocker: TensorRT/GPU presence is what is varied here. */
function addonWith(tensorrt: NativeAddon['tensorrt']): NativeAddon {
  return { tensorrt } as NativeAddon;
}

test('trtUpgradeBlocker names what is missing, or null when a background build can work', { timeout: 5000 }, (t) => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'inspectd-blocker-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(path.join(dir, 'trtexec'), '#!/bin/sh\n');
  chmodSync(path.join(dir, 'trtexec'), 0o755);
  const withTrtexec = { PATH: dir };
  const noTrtexec = { PATH: '/nonexistent' };
  class Engine {}
  const ok = addonWith({ available: true, version: '10.3.0', standin: false, computeCapability: () => '8.7', Engine: Engine as never });

  assert.match(trtUpgradeBlocker(null, withTrtexec) ?? '', /native addon is not built.*npm run build:native/);
  assert.equal(trtUpgradeBlocker(addonWith({ available: false, reason: 'built without TensorRT' }), withTrtexec), 'built without TensorRT');
  const noGpu = addonWith({
    available: true,
    version: '10.3.0',
    standin: false,
    computeCapability: () => {
      throw new Error('no CUDA device: cudaGetDevice failed');
    },
    Engine: Engine as never,
  });
  assert.equal(trtUpgradeBlocker(noGpu, withTrtexec), 'no CUDA device: cudaGetDevice failed');
  assert.match(trtUpgradeBlocker(ok, noTrtexec) ?? '', /trtexec was not found/);
  assert.equal(trtUpgradeBlocker(ok, withTrtexec), null);
});

test('upgradeToTensorRt refuses up front, without building, where TensorRT cannot work', { timeout: 5000 }, async () => {
  await assert.rejects(
    upgradeToTensorRt({
      onnxPath: '/nonexistent.onnx',
      cacheDir: os.tmpdir(),
      logger: silentLogger(),
      warmupDims: [1, 3, 32, 32],
      addon: addonWith({ available: false, reason: 'built without TensorRT' }),
      env: { PATH: '/nonexistent' },
    }),
    { code: ErrorCodes.ENGINE_UNAVAILABLE, message: /cannot be built here: built without TensorRT/ },
  );
});
