// Used by binding.gyp: finds TensorRT (NvInfer.h), the CUDA toolkit (headers, libcudart, nvcc) and the GPU
// architectures to compile the CUDA letterbox kernel for.
// `node native/find_tensorrt.cjs found|include|lib|cuda|cuda_include|cuda_lib|cuda_preprocess|nvcc|cuda_gencode|summary`
// prints one value. Environment: TENSORRT_ROOT; CUDA_HOME / CUDA_PATH (else nvcc on PATH, else /usr/local/cuda);
// INSPECTD_CUDA=0 builds as on a box without CUDA; INSPECTD_CUDA_ARCHS="72 87 90" picks the SASS targets.
'use strict';
const fs = require('node:fs');
const path = require('node:path');
const { spawnSync } = require('node:child_process');

// Xavier (sm_72), Orin (sm_87), Hopper servers (sm_90). nvcc drops what it cannot build (CUDA 13 has no sm_72).
const DEFAULT_ARCHS = [72, 87, 90];

const env = process.env;
const cudaOff = env.INSPECTD_CUDA === '0';
const trtRoots = [
  env.TENSORRT_ROOT && path.join(env.TENSORRT_ROOT, 'include'),
  '/usr/include/x86_64-linux-gnu',
  '/usr/include/aarch64-linux-gnu', // JetPack
  '/usr/include',
].filter(Boolean);

function onPath(name) {
  for (const dir of (env.PATH || '').split(path.delimiter)) {
    const f = dir && path.join(dir, name);
    if (f && fs.existsSync(f)) return f;
  }
  return '';
}

function cudaRoots() {
  const viaPath = onPath('nvcc');
  return [
    env.CUDA_HOME,
    env.CUDA_PATH,
    // A symlinked nvcc names its toolkit; a wrapper script (/usr/local/bin/nvcc) does not, /usr/local/cuda does.
    viaPath && path.dirname(path.dirname(fs.realpathSync(viaPath))),
    '/usr/local/cuda',
  ].filter(Boolean);
}

function trtInclude() {
  return trtRoots.find((d) => fs.existsSync(path.join(d, 'NvInfer.h'))) || '';
}
function trtLib() {
  const cands = [
    env.TENSORRT_ROOT && path.join(env.TENSORRT_ROOT, 'lib'),
    '/usr/lib/x86_64-linux-gnu',
    '/usr/lib/aarch64-linux-gnu',
    '/usr/lib',
  ].filter(Boolean);
  return cands.find((d) => fs.existsSync(path.join(d, 'libnvinfer.so'))) || cands[cands.length - 1];
}
function cudaRoot() {
  if (cudaOff) return '';
  return cudaRoots().find((d) => fs.existsSync(path.join(d, 'include', 'cuda_runtime_api.h'))) || '';
}
function cudaLib(root) {
  return (root && ['lib64', 'lib', path.join('targets', `${process.arch === 'arm64' ? 'aarch64' : 'x86_64'}-linux`, 'lib')]
    .map((d) => path.join(root, d))
    .find((d) => fs.existsSync(path.join(d, 'libcudart.so')))) || '';
}
function nvccOf(root) {
  const n = root && path.join(root, 'bin', 'nvcc');
  return n && fs.existsSync(n) ? n : '';
}

/** sm_XX / compute_XX numbers this nvcc can build, or null when it cannot say (older than CUDA 11). */
function listed(nvcc, flag, prefix) {
  const r = spawnSync(nvcc, [flag], { encoding: 'utf8', timeout: 20_000 });
  if (r.status !== 0) return null;
  const nums = r.stdout.split(/\s+/).filter((w) => w.startsWith(prefix)).map((w) => Number(w.slice(prefix.length)));
  return nums.filter((n) => Number.isInteger(n)).sort((a, b) => a - b);
}

/** What the kernel is compiled for: SASS per wanted arch nvcc supports, plus PTX of the lowest arch it knows
 * so that GPUs not in the list (desktop Turing/Ampere/Ada, newer ones) JIT-compile it. */
function archPlan(nvcc) {
  const wanted = env.INSPECTD_CUDA_ARCHS
    ? env.INSPECTD_CUDA_ARCHS.split(/[\s,]+/).filter(Boolean).map((s) => Number(s.replace(/^sm_/, '')))
    : DEFAULT_ARCHS;
  const sms = listed(nvcc, '--list-gpu-code', 'sm_');
  const computes = listed(nvcc, '--list-gpu-arch', 'compute_');
  const sass = sms ? wanted.filter((a) => sms.includes(a)) : wanted;
  const dropped = wanted.filter((a) => !sass.includes(a));
  const ptx = computes && computes.length > 0 ? computes[0] : Math.min(...wanted);
  return { sass, dropped, ptx };
}

function gencode(plan) {
  return [
    ...plan.sass.map((a) => `-gencode=arch=compute_${a},code=sm_${a}`),
    `-gencode=arch=compute_${plan.ptx},code=compute_${plan.ptx}`,
  ];
}

function nvccVersion(nvcc) {
  const r = spawnSync(nvcc, ['--version'], { encoding: 'utf8', timeout: 20_000 });
  const m = /release ([\d.]+), V([\d.]+)/.exec(r.stdout || '');
  return m ? m[2] : 'unknown';
}

const what = process.argv[2];
const inc = trtInclude();
const cuda = cudaRoot();
const nvcc = nvccOf(cuda);
// The CUDA toolkit is usable for our kernel when nvcc, the runtime headers and libcudart are all there.
const cudaFound = Boolean(cuda && nvcc && cudaLib(cuda));
switch (what) {
  case 'found':
    // TensorRT without the CUDA runtime headers cannot be compiled against.
    process.stdout.write(inc && (cuda || fs.existsSync(path.join(inc, 'cuda_runtime_api.h'))) ? '1' : '0');
    break;
  case 'include':
    process.stdout.write(inc || '/usr/include');
    break;
  case 'lib':
    process.stdout.write(trtLib());
    break;
  case 'cuda':
    process.stdout.write(cudaFound ? '1' : '0');
    break;
  case 'cuda_include':
    process.stdout.write(cuda ? path.join(cuda, 'include') : '/usr/include');
    break;
  case 'cuda_lib':
    process.stdout.write(cudaLib(cuda) || '/usr/lib');
    break;
  case 'cuda_preprocess':
    // The kernel goes into the production addon only with TensorRT: it feeds the engine's input binding.
    process.stdout.write(inc && cudaFound ? '1' : '0');
    break;
  case 'nvcc':
    process.stdout.write(nvcc);
    break;
  case 'cuda_gencode':
    // One flag per line: binding.gyp expands this with <!@(...) into the nvcc command.
    if (cudaFound) process.stdout.write(gencode(archPlan(nvcc)).join('\n'));
    break;
  case 'summary': {
    const lines = [`TensorRT: ${inc ? `NvInfer.h in ${inc}, libraries in ${trtLib()}` : 'not found (the production addon reports tensorrt.available=false)'}`];
    if (!cudaFound) {
      const why = cudaOff ? 'INSPECTD_CUDA=0' : cuda ? `incomplete toolkit at ${cuda} (needs bin/nvcc and libcudart.so)` : 'no toolkit found';
      lines.push(`CUDA: ${why}; the CUDA letterbox kernel is not built`);
    } else {
      const plan = archPlan(nvcc);
      lines.push(`CUDA: ${cuda}, nvcc ${nvccVersion(nvcc)} (${nvcc})`);
      lines.push(
        `CUDA letterbox kernel: SASS ${plan.sass.map((a) => `sm_${a}`).join(' ') || 'none'}, PTX compute_${plan.ptx}` +
          (plan.dropped.length ? `; not supported by this nvcc: ${plan.dropped.map((a) => `sm_${a}`).join(' ')}` : ''),
      );
      lines.push(`  built into: inspectd_cuda_check (tests, scripts/gpu-check.sh)${inc ? ' and inspectd_native (TensorRT input)' : ''}`);
    }
    process.stdout.write(`${lines.join('\n')}\n`);
    break;
  }
  default:
    process.stderr.write(
      'usage: find_tensorrt.cjs found|include|lib|cuda|cuda_include|cuda_lib|cuda_preprocess|nvcc|cuda_gencode|summary\n',
    );
    process.exit(2);
}
