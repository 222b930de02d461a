// CUDA letterbox: the same math as preprocess.cc, writing straight into an engine's device input
// buffer. Built by nvcc where the CUDA toolkit is (binding.gyp with_cuda): into inspectd_cuda_check always,
// into inspectd_native with TensorRT. Its per-pixel code is checked against the CPU letterbox on the host
// (cuda_check_host.cu) wherever it is built; the kernel itself only on a GPU (test/native/cuda-letterbox.test.ts).
#ifndef INSPECTD_PREPROCESS_CUDA_H_
#define INSPECTD_PREPROCESS_CUDA_H_

#include <cuda_runtime_api.h>

#include <cstddef>
#include <cstdint>

namespace inspectd {

struct CudaLetterboxParams {
  const uint8_t* src;  // device pointer to the raw frame
  int src_w;
  int src_h;
  size_t src_stride;  // bytes per row
  int channels;       // 1 or 3
  bool bgr;           // source is BGR (output is always RGB)
  int dst_w;
  int dst_h;
  int new_w;  // from ComputeLetterbox
  int new_h;
  int pad_x;
  int pad_y;
  bool fp16;  // write __half instead of float
  void* dst;  // device pointer: 3 * dst_w * dst_h elements, planar CHW
};

// Enqueues the kernel on `stream`; returns cudaSuccess or the launch error.
cudaError_t LaunchLetterboxCuda(const CudaLetterboxParams& p, cudaStream_t stream);

}  // namespace inspectd

#endif  // INSPECTD_PREPROCESS_CUDA_H_
