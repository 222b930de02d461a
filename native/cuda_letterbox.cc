#include "cuda_letterbox.h"

namespace inspectd {

size_t FrameBytes(const PreprocessSource& src) {
  return src.stride * static_cast<size_t>(src.height - 1) + static_cast<size_t>(src.width) * Channels(src.order);
}

CudaLetterboxParams CudaParams(const PreprocessSource& src, const void* device_frame, int dst_w, int dst_h,
                               const LetterboxGeometry& g, bool fp16, void* device_dst) {
  CudaLetterboxParams p{};
  p.src = static_cast<const uint8_t*>(device_frame);
  p.src_w = src.width;
  p.src_h = src.height;
  p.src_stride = src.stride;
  p.channels = Channels(src.order);
  p.bgr = src.order == PixelOrder::kBgr;
  p.dst_w = dst_w;
  p.dst_h = dst_h;
  p.new_w = g.new_w;
  p.new_h = g.new_h;
  p.pad_x = g.pad_x;
  p.pad_y = g.pad_y;
  p.fp16 = fp16;
  p.dst = device_dst;
  return p;
}

cudaError_t EnqueueCudaLetterbox(const PreprocessSource& src, void* device_frame, int dst_w, int dst_h,
                                 const LetterboxGeometry& g, bool fp16, void* device_dst, cudaStream_t stream) {
  // From pageable memory the copy returns once the bytes are staged, so the caller may reuse src at once.
  cudaError_t e = cudaMemcpyAsync(device_frame, src.data, FrameBytes(src), cudaMemcpyHostToDevice, stream);
  if (e != cudaSuccess) return e;
  return LaunchLetterboxCuda(CudaParams(src, device_frame, dst_w, dst_h, g, fp16, device_dst), stream);
}

}  // namespace inspectd
