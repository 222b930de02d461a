// STAND-IN for the CUDA letterbox kernel (preprocess_cuda.cu) in the stand-in build: the same contract
// (device pointers in, planar RGB float32/float16 written to the device buffer, a launch error returned),
// computed by the CPU letterbox on the stand-in's host-backed "device" memory. It checks that both pointers
// are live device allocations of the sizes the parameters imply, so wiring mistakes fail the tests.
// Knob: INSPECTD_STANDIN_KERNEL_ERROR=<cuda error number> makes every launch fail with it (e.g. 209,
// cudaErrorNoKernelImageForDevice, as on a GPU whose arch the fatbin lacks).
#include <cstdlib>

#include "../preprocess.h"
#include "../preprocess_cuda.h"
#include "standin_stats.h"

namespace inspectd {

cudaError_t LaunchLetterboxCuda(const CudaLetterboxParams& p, cudaStream_t stream) {
  const char* knob = std::getenv("INSPECTD_STANDIN_KERNEL_ERROR");
  if (knob != nullptr && *knob != '\0') return static_cast<cudaError_t>(std::strtol(knob, nullptr, 10));
  if (stream == nullptr || p.src_w < 1 || p.src_h < 1 || (p.channels != 1 && p.channels != 3) || p.dst_w < 1 ||
      p.dst_h < 1 || p.new_w < 1 || p.new_h < 1 || p.pad_x < 0 || p.pad_y < 0 || p.pad_x + p.new_w > p.dst_w ||
      p.pad_y + p.new_h > p.dst_h) {
    return cudaErrorInvalidValue;
  }
  const size_t src_bytes = p.src_stride * static_cast<size_t>(p.src_h - 1) + static_cast<size_t>(p.src_w) * p.channels;
  const size_t dst_bytes = static_cast<size_t>(3) * p.dst_w * p.dst_h * (p.fp16 ? 2 : 4);
  if (!standin::IsDeviceRange(p.src, src_bytes) || !standin::IsDeviceRange(p.dst, dst_bytes)) {
    return cudaErrorInvalidValue;
  }
  PreprocessSource src;
  src.data = p.src;
  src.width = p.src_w;
  src.height = p.src_h;
  src.stride = p.src_stride;
  src.order = p.channels == 1 ? PixelOrder::kGray : p.bgr ? PixelOrder::kBgr : PixelOrder::kRgb;
  LetterboxGeometry g;
  g.new_w = p.new_w;
  g.new_h = p.new_h;
  g.pad_x = p.pad_x;
  g.pad_y = p.pad_y;
  if (p.fp16) {
    LetterboxToChwF16(src, p.dst_w, p.dst_h, g, static_cast<uint16_t*>(p.dst));
  } else {
    LetterboxToChwF32(src, p.dst_w, p.dst_h, g, static_cast<float*>(p.dst));
  }
  standin::CountKernelLaunch();
  return cudaSuccess;
}

}  // namespace inspectd
