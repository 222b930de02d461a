/**
 * The CUDA letterbox kernel (native/preprocess_cuda.cu) against the native CPU letterbox: built wherever
 * nvcc is (inspectd_cuda_check), compared on a CUDA device, skipped with the reason elsewhere.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { test } from 'node:test';
import { loadNativeAddon, tryLoadNativeAddon, type NativeLetterbox } from '../../src/native/loader.js';
import { repoPath } from '../helpers/fixtures.js';
import { halfToFloat, randomBytes, type RefFrame } from './letterbox-reference.js';

const TOL = 1 / 255;

function find(what: string): string {
  const r = spawnSync(process.execPath, [repoPath('native', 'find_tensorrt.cjs'), what], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  return r.stdout.trim();
}

const cudaAtBuild = find('cuda') === '1';
const checkFile = repoPath('build', 'Release', 'inspectd_cuda_check.node');
const check = cudaAtBuild ? tryLoadNativeAddon('inspectd_cuda_check') : null;
const device = check?.device();
const gpuSkip: false | string = !cudaAtBuild
  ? 'no CUDA toolkit at build time (nvcc, cuda_runtime_api.h, libcudart): the kernel was not built'
  : !check
    ? `inspectd_cuda_check did not load from ${checkFile}`
    : device?.available
      ? false
      : `no CUDA device to run the kernel on: ${device?.reason}`;

/** {kind, arch} of every image in the addon's embedded fatbin (NVIDIA's fatbin container layout). */
function fatbinImages(file: string): string[] {
  const b = readFileSync(file);
  const at = b.indexOf(Buffer.from([0x50, 0xed, 0x55, 0xba])); // 0xBA55ED50 little-endian
  assert.ok(at >= 0, `${file} holds no CUDA fatbin`);
  const headerSize = b.readUInt16LE(at + 6);
  const end = at + headerSize + Number(b.readBigUInt64LE(at + 8));
  const images: string[] = [];
  for (let p = at + headerSize; p < end; ) {
    const kind = b.readUInt16LE(p);
    const entryHeader = b.readUInt32LE(p + 4);
    const size = Number(b.readBigUInt64LE(p + 8));
    const arch = b.readUInt32LE(p + 28);
    images.push(kind === 1 ? `compute_${arch}` : kind === 2 ? `sm_${arch}` : `kind${kind}_${arch}`);
    p += entryHeader + size;
  }
  return images.sort();
}

test('with nvcc at build time, inspectd_cuda_check holds the kernel for the archs find_tensorrt.cjs chose', {
  skip: cudaAtBuild ? false : 'no CUDA toolkit at build time (nvcc not found): nothing to check',
}, () => {
  assert.ok(
    existsSync(checkFile),
    `nvcc is there (find_tensorrt.cjs cuda = 1) but ${checkFile} was not built: the gyp build did not compile the kernel ` +
      '(a build with INSPECTD_CUDA=0 or -Dwith_cuda=0 is tested with INSPECTD_CUDA=0 too)',
  );
  // -gencode=arch=compute_87,code=sm_87 -> sm_87 (SASS); code=compute_75 -> compute_75 (PTX for the JIT).
  const want = find('cuda_gencode')
    .split('\n')
    .map((g) => /code=(\w+)$/.exec(g)?.[1])
    .filter((c): c is string => c !== undefined)
    .sort();
  assert.ok(
    want.some((c) => c.startsWith('sm_')),
    `SASS for at least one arch: ${want.join(' ')}`,
  );
  assert.ok(
    want.some((c) => c.startsWith('compute_')),
    'PTX for GPUs not in the list',
  );
  assert.deepEqual(fatbinImages(checkFile), want);
});

test('without a usable CUDA device the check addon still loads, says why, and refuses to run the kernel', {
  skip: !check ? gpuSkip || 'inspectd_cuda_check not built' : device?.available ? 'a CUDA device is present' : false,
}, () => {
  assert.ok(check && device);
  assert.equal(device.available, false);
  assert.match(device.reason ?? '', /CUDA/);
  assert.match(device.runtimeVersion, /^\d+\.\d+$/);
  assert.throws(() => check.letterbox(new Uint8Array(12), 2, 2, 0, 'rgb24', 8, 8, false), {
    code: 'INSPECTD_ERR_ENGINE_UNAVAILABLE',
    message: /cuda error \d+/,
  });
});

function frame(width: number, height: number, format: RefFrame['format'], pad: number, seed: number): RefFrame {
  const cn = format === 'gray8' ? 1 : 3;
  const stride = width * cn + pad;
  return { data: randomBytes(stride * height, seed), width, height, stride, format };
}

/** A smooth frame (gradients, as in real images) as well as noise: interpolation errors show on both. */
function gradient(width: number, height: number, format: RefFrame['format']): RefFrame {
  const cn = format === 'gray8' ? 1 : 3;
  const data = new Uint8Array(width * height * cn);
  for (let y = 0; y < height; y++) for (let x = 0; x < width; x++) for (let c = 0; c < cn; c++) data[(y * width + x) * cn + c] = (x * (c + 1) + y * (3 - c)) & 255;
  return { data, width, height, stride: width * cn, format };
}

const cases: Array<[string, RefFrame, number, number]> = [
  ['1080p rgb24 -> 640x640', gradient(1920, 1080, 'rgb24'), 640, 640],
  ['4K bgr24 -> 640x640', frame(3840, 2160, 'bgr24', 0, 1), 640, 640],
  ['810x1080 gray8 -> 640x640', frame(810, 1080, 'gray8', 0, 2), 640, 640],
  ['1280x720 bgr24 -> 960x960', gradient(1280, 720, 'bgr24'), 960, 960],
  ['97x61 rgb24, 5 bytes row padding -> 640x640 (upscale)', frame(97, 61, 'rgb24', 5, 3), 640, 640],
  ['641x479 gray8, 9 bytes row padding -> 320x320', frame(641, 479, 'gray8', 9, 4), 320, 320],
  ['640x640 rgb24 -> 640x640 (identity)', frame(640, 640, 'rgb24', 0, 5), 640, 640],
  ['333x2 rgb24 -> 64x64 (extreme aspect)', frame(333, 2, 'rgb24', 7, 6), 64, 64],
  ['1x1 gray8 -> 32x32', frame(1, 1, 'gray8', 0, 7), 32, 32],
];

type Letterbox = (f: RefFrame, dw: number, dh: number, fp16: boolean) => NativeLetterbox;

/** Every case through `run` and through the production CPU letterbox: same geometry, max |diff| <= 1/255. */
function assertMatchesCpu(run: Letterbox, fp16: boolean): void {
  const cpu = loadNativeAddon();
  for (const [name, f, dw, dh] of cases) {
    const want = cpu.preprocessSync(f.data, f.width, f.height, f.stride, f.format, dw, dh, fp16);
    const got = run(f, dw, dh, fp16);
    assert.deepEqual(
      { scale: got.scale, padX: got.padX, padY: got.padY, newWidth: got.newWidth, newHeight: got.newHeight },
      { scale: want.scale, padX: want.padX, padY: want.padY, newWidth: want.newWidth, newHeight: want.newHeight },
      `${name}: same letterbox geometry`,
    );
    assert.equal(got.tensor.length, 3 * dw * dh, name);
    assert.equal(got.tensor instanceof Uint16Array, fp16, `${name}: element type`);
    const value = fp16 ? (t: Float32Array | Uint16Array, i: number) => halfToFloat(t[i]) : (t: Float32Array | Uint16Array, i: number) => t[i];
    let worst = 0;
    let at = -1;
    for (let i = 0; i < got.tensor.length; i++) {
      const d = Math.abs(value(got.tensor, i) - value(want.tensor, i));
      if (!(d <= worst)) {
        worst = d;
        at = i;
      }
    }
    assert.ok(worst <= TOL, `${name}: max |kernel - cpu| = ${worst} at element ${at} (limit 1/255 = ${TOL})`);
  }
}

for (const fp16 of [false, true]) {
  const precision = fp16 ? 'fp16' : 'fp32';
  test(`CUDA letterbox kernel on the GPU matches the CPU letterbox within 1/255 (${precision})`, { skip: gpuSkip, timeout: 120_000 }, () => {
    assert.ok(check);
    assertMatchesCpu((f, dw, dh, half) => check.letterbox(f.data, f.width, f.height, f.stride, f.format, dw, dh, half), fp16);
  });

  // Runs wherever nvcc built the addon: the kernel's own arithmetic (nvcc-compiled, host side), not the GPU.
  test(`the kernel's per-pixel code, compiled by nvcc and run on the host, matches the CPU letterbox within 1/255 (${precision})`, {
    skip: check ? false : gpuSkip || 'inspectd_cuda_check not built',
    timeout: 120_000,
  }, () => {
    assert.ok(check);
    assertMatchesCpu((f, dw, dh, half) => check.letterboxOnHost(f.data, f.width, f.height, f.stride, f.format, dw, dh, half), fp16);
  });
}
