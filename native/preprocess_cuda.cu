// CUDA letterbox kernel: the same geometry and INTER_LINEAR sampling as preprocess.cc, one thread per
// output pixel, writing planar RGB float32/float16 straight into an engine's device input buffer.
// The per-pixel code is __host__ __device__ so that cuda_check_host.cu can run exactly it on the CPU for tests.
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <cmath>

#include "preprocess_cuda.h"

namespace inspectd {
namespace {

__host__ __device__ __forceinline__ void Tap(int d, int src, int dst, int* i0, int* i1, float* a) {
  // OpenCV INTER_LINEAR: half-pixel centres, clamped at the edges (as MakeTaps in preprocess.cc, in float).
  float f = (d + 0.5f) * (static_cast<float>(src) / dst) - 0.5f;
  int s = static_cast<int>(floorf(f));
  float frac = f - s;
  if (s < 0) {
    s = 0;
    frac = 0.f;
  }
  if (s >= src - 1) {
    s = src - 1;
    frac = 0.f;
  }
  *i0 = s;
  *i1 = s + 1 < src - 1 ? s + 1 : src - 1;
  *a = frac;
}

template <typename T>
__host__ __device__ __forceinline__ T Out(float v);
template <>
__host__ __device__ __forceinline__ float Out<float>(float v) {
  return v;
}
template <>
__host__ __device__ __forceinline__ __half Out<__half>(float v) {
  return __float2half_rn(v);
}

// Output pixel (x, y), all three planes.
template <typename T>
__host__ __device__ __forceinline__ void LetterboxPixel(const CudaLetterboxParams& p, int x, int y) {
  T* out = static_cast<T*>(p.dst);
  const size_t plane = static_cast<size_t>(p.dst_w) * p.dst_h;
  const size_t o = static_cast<size_t>(y) * p.dst_w + x;
  const int ix = x - p.pad_x;
  const int iy = y - p.pad_y;
  if (ix < 0 || iy < 0 || ix >= p.new_w || iy >= p.new_h) {
    const T pad = Out<T>(114.0f / 255.0f);
    out[o] = pad;
    out[plane + o] = pad;
    out[2 * plane + o] = pad;
    return;
  }
  int x0, x1, y0, y1;
  float ax, ay;
  Tap(ix, p.src_w, p.new_w, &x0, &x1, &ax);
  Tap(iy, p.src_h, p.new_h, &y0, &y1, &ay);
  const uint8_t* r0 = p.src + static_cast<size_t>(y0) * p.src_stride;
  const uint8_t* r1 = p.src + static_cast<size_t>(y1) * p.src_stride;
  const int cn = p.channels;
  for (int c = 0; c < 3; ++c) {
    const int sc = cn == 1 ? 0 : (p.bgr ? 2 - c : c);
    const float a0 = r0[x0 * cn + sc], b0 = r0[x1 * cn + sc];
    const float a1 = r1[x0 * cn + sc], b1 = r1[x1 * cn + sc];
    const float top = a0 + ax * (b0 - a0);
    const float bot = a1 + ax * (b1 - a1);
    out[c * plane + o] = Out<T>((top + ay * (bot - top)) * (1.0f / 255.0f));
  }
}

template <typename T>
__global__ void LetterboxKernel(CudaLetterboxParams p) {
  const int x = blockIdx.x * blockDim.x + threadIdx.x;
  const int y = blockIdx.y * blockDim.y + threadIdx.y;
  if (x >= p.dst_w || y >= p.dst_h) return;
  LetterboxPixel<T>(p, x, y);
}

}  // namespace

cudaError_t LaunchLetterboxCuda(const CudaLetterboxParams& p, cudaStream_t stream) {
  const dim3 block(32, 8);
  const dim3 grid((p.dst_w + block.x - 1) / block.x, (p.dst_h + block.y - 1) / block.y);
  if (p.fp16) {
    LetterboxKernel<__half><<<grid, block, 0, stream>>>(p);
  } else {
    LetterboxKernel<float><<<grid, block, 0, stream>>>(p);
  }
  return cudaGetLastError();
}

}  // namespace inspectd
