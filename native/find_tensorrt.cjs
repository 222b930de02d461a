// Used by binding.gyp: finds TensorRT (NvInfer.h) and the CUDA runtime headers.
// `node native/find_tensorrt.cjs found|include|lib|cuda_include|cuda_lib|cuda_preprocess|nvcc` prints one value.
'use strict';
const fs = require('node:fs');
const path = require('node:path');

const trtRoots = [
  process.env.TENSORRT_ROOT && path.join(process.env.TENSORRT_ROOT, 'include'),
  '/usr/include/x86_64-linux-gnu',
  '/usr/include/aarch64-linux-gnu', // JetPack
  '/usr/include',
].filter(Boolean);
const cudaRoots = [process.env.CUDA_HOME, process.env.CUDA_PATH, '/usr/local/cuda'].filter(Boolean);

function trtInclude() {
  return trtRoots.find((d) => fs.existsSync(path.join(d, 'NvInfer.h'))) || '';
}
function trtLib() {
  const cands = [
    process.env.TENSORRT_ROOT && path.join(process.env.TENSORRT_ROOT, 'lib'),
    '/usr/lib/x86_64-linux-gnu',
    '/usr/lib/aarch64-linux-gnu',
    '/usr/lib',
  ].filter(Boolean);
  return cands.find((d) => fs.existsSync(path.join(d, 'libnvinfer.so'))) || cands[cands.length - 1];
}
function cudaRoot() {
  return cudaRoots.find((d) => fs.existsSync(path.join(d, 'include', 'cuda_runtime_api.h'))) || '';
}
const what = process.argv[2];
const inc = trtInclude();
const cuda = cudaRoot();
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
  case 'cuda_include':
    process.stdout.write(cuda ? path.join(cuda, 'include') : '/usr/include');
    break;
  case 'cuda_lib': {
    const l = cuda && ['lib64', 'lib'].map((d) => path.join(cuda, d)).find((d) => fs.existsSync(d));
    process.stdout.write(l || '/usr/lib');
    break;
  }
  case 'cuda_preprocess': {
    // The CUDA letterbox kernel needs TensorRT (it feeds its input buffer) and nvcc.
    const n = cuda && path.join(cuda, 'bin', 'nvcc');
    process.stdout.write(inc && n && fs.existsSync(n) ? '1' : '0');
    break;
  }
  case 'nvcc': {
    const n = cuda && path.join(cuda, 'bin', 'nvcc');
    process.stdout.write(n && fs.existsSync(n) ? n : '');
    break;
  }
  default:
    process.stderr.write('usage: find_tensorrt.cjs found|include|lib|cuda_include|cuda_lib|cuda_preprocess|nvcc\n');
    process.exit(2);
}
