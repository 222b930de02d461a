/** scripts/gpu-check.sh on a machine without a usable GPU: it runs what it can and names what it could not. */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { test } from 'node:test';
import { tryLoadNativeAddon } from '../../src/native/loader.js';
import { repoPath } from '../helpers/fixtures.js';

const device = tryLoadNativeAddon('inspectd_cuda_check')?.device();

// With a GPU the script builds engines for minutes: that is for the GPU machine, not the suite.
test('gpu-check.sh --no-build without a GPU: exit 0, the host-side kernel check passes, and the summary says what could not run', {
  timeout: 180_000,
  skip: device?.available ? 'a CUDA device is present: run scripts/gpu-check.sh itself' : false,
}, () => {
  const r = spawnSync('bash', [repoPath('scripts', 'gpu-check.sh'), '--no-build'], { encoding: 'utf8', timeout: 170_000 });
  const out = `${r.stdout}\n${r.stderr}`;
  assert.equal(r.status, 0, out.slice(-8000));
  for (const s of ['machine', 'build', 'CUDA device (inspectd_cuda_check)', 'kernel vs CPU letterbox', 'timing:', 'TensorRT:', 'summary']) {
    assert.ok(out.includes(`== ${s}`), `section ${s}`);
  }
  assert.match(out, /^failed \(0\):$/m);
  const notRun = out.slice(out.indexOf('could not run ('));
  if (device) {
    // nvcc built the check addon: the kernel's host-side comparison ran and passed; the GPU parts are named.
    assert.match(out, /^ok \d+ - the kernel's per-pixel code, compiled by nvcc and run on the host, matches .*\(fp32\)$/m);
    assert.match(notRun, /- the CUDA kernel on a GPU: no usable CUDA device/);
  } else {
    assert.match(notRun, /- the CUDA kernel: inspectd_cuda_check not built \(no nvcc at build time\)/);
  }
  assert.match(notRun, /- timing: no usable CUDA device/);
  assert.match(notRun, /- TensorRT(: the production addon has no usable TensorRT| detections: fixtures not found)/);
});
