// Host side of the CUDA letterbox: uploads a raw frame and enqueues the kernel (preprocess_cuda.cu) that
// writes the planar RGB tensor straight into a device buffer (an engine's input binding). Used by the
// TensorRT backend and by inspectd_cuda_check; compiled with g++ (the kernel alone goes through nvcc).
#ifndef INSPECTD_CUDA_LETTERBOX_H_
#define INSPECTD_CUDA_LETTERBOX_H_

#include <cuda_runtime_api.h>

#include <cstddef>

#include "preprocess.h"
#include "preprocess_cuda.h"

namespace inspectd {

// Bytes of `src` the letterbox reads: stride * (height - 1) + width * channels.
size_t FrameBytes(const PreprocessSource& src);

// Kernel parameters for `src` already copied to `device_frame` (same stride), writing into `device_dst`.
CudaLetterboxParams CudaParams(const PreprocessSource& src, const void* device_frame, int dst_w, int dst_h,
                               const LetterboxGeometry& g, bool fp16, void* device_dst);

// Copies FrameBytes(src) from host to `device_frame`, then enqueues the kernel writing 3 * dst_w * dst_h
// float32 (or float16 when fp16) values to `device_dst`, both on `stream`. Returns the first CUDA error.
cudaError_t EnqueueCudaLetterbox(const PreprocessSource& src, void* device_frame, int dst_w, int dst_h,
                                 const LetterboxGeometry& g, bool fp16, void* device_dst, cudaStream_t stream);

}  // namespace inspectd

#endif  // INSPECTD_CUDA_LETTERBOX_H_
