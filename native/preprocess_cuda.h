// CUDA letterbox: the same math as preprocess.cc, writing straight into an engine's device input
// buffer. Built only when TensorRT + CUDA (nvcc) are present. UNVERIFIED: no GPU was available when
// it was written; it compiles with nvcc 13 but has not been run.
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
