// Times the two ways a TensorRT input can be made from a camera frame, per frame, on this machine's GPU:
//   CPU path: the production one-thread letterbox, then the tensor's upload (the host round trip);
//   GPU path: the raw frame's upload, then the CUDA letterbox kernel writing the tensor on the device.
// Needs build/Release/inspectd_cuda_check.node (built where nvcc is) and a CUDA device; says why not otherwise.
// Usage: node scripts/cuda-letterbox-bench.mjs [--iterations N]   (exit 2: could not run here)
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const require = createRequire(import.meta.url);
const dir = process.env.INSPECTD_NATIVE_DIR ?? path.join(root, 'build', 'Release');
const at = process.argv.indexOf('--iterations');
const iterations = at > 0 ? Number(process.argv[at + 1]) : 30;

let check;
try {
  check = require(path.join(dir, 'inspectd_cuda_check.node'));
} catch (err) {
  console.log(`cuda-letterbox-bench: not run: inspectd_cuda_check is not built (${err.message.split('\n')[0]}); it needs nvcc at build time`);
  process.exit(2);
}
const device = check.device();
if (!device.available) {
  console.log(`cuda-letterbox-bench: not run: ${device.reason} (CUDA runtime ${device.runtimeVersion}, driver ${device.driverVersion})`);
  process.exit(2);
}
console.log(`GPU ${device.name} (sm ${device.computeCapability}, ${device.memoryMiB} MiB), CUDA runtime ${device.runtimeVersion}, driver ${device.driverVersion}`);
console.log(`mean ms per frame over ${iterations} frames (after one warm-up); 640x640 planar RGB out`);

// Deterministic bytes, so a rerun times the same work.
function frameBytes(n, seed) {
  const a = Buffer.allocUnsafe(n);
  let s = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    a[i] = s & 255;
  }
  return a;
}

const rows = [];
for (const [name, w, h] of [
  ['1080p', 1920, 1080],
  ['4K', 3840, 2160],
]) {
  const data = frameBytes(w * h * 3, w);
  for (const fp16 of [false, true]) {
    const r = check.bench(data, w, h, 0, 'bgr24', 640, 640, fp16, iterations);
    const cpu = r.cpuLetterboxMs + r.cpuTensorUploadMs;
    const gpu = r.gpuFrameUploadMs + r.gpuKernelMs;
    rows.push({
      frame: `${name} bgr24`,
      out: fp16 ? 'fp16' : 'fp32',
      'cpu letterbox': r.cpuLetterboxMs.toFixed(3),
      'tensor upload': r.cpuTensorUploadMs.toFixed(3),
      'cpu path': cpu.toFixed(3),
      'frame upload': r.gpuFrameUploadMs.toFixed(3),
      kernel: r.gpuKernelMs.toFixed(3),
      'gpu path': gpu.toFixed(3),
      speedup: `${(cpu / gpu).toFixed(1)}x`,
    });
  }
}
console.table(rows);
