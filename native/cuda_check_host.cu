// inspectd_cuda_check only: the kernel's translation unit plus a CPU loop over its per-pixel code, so that the
// arithmetic nvcc compiled is checked against the CPU letterbox even where no GPU is.
#include "preprocess_cuda.cu"

namespace inspectd {

// p.src / p.dst are host pointers here.
void LetterboxOnHost(const CudaLetterboxParams& p) {
  for (int y = 0; y < p.dst_h; ++y) {
    for (int x = 0; x < p.dst_w; ++x) {
      if (p.fp16) {
        LetterboxPixel<__half>(p, x, y);
      } else {
        LetterboxPixel<float>(p, x, y);
      }
    }
  }
}

}  // namespace inspectd
