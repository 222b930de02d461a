// One-pass letterbox: raw RGB/BGR/gray uint8 (any stride) -> padded, normalised CHW float32/float16 RGB.
#ifndef INSPECTD_PREPROCESS_H_
#define INSPECTD_PREPROCESS_H_

#include <napi.h>

#include <cstddef>
#include <cstdint>
#include <string>

namespace inspectd {

enum class PixelOrder { kRgb, kBgr, kGray };

// Ultralytics letterbox geometry (ultralytics/data/augment.py LetterBox).
struct LetterboxGeometry {
  double scale = 0;
  int new_w = 0;
  int new_h = 0;
  int pad_x = 0;
  int pad_y = 0;
};

struct PreprocessSource {
  const uint8_t* data = nullptr;
  int width = 0;
  int height = 0;
  size_t stride = 0;  // bytes per row
  PixelOrder order = PixelOrder::kRgb;
};

LetterboxGeometry ComputeLetterbox(int src_w, int src_h, int dst_w, int dst_h);

inline int Channels(PixelOrder order) { return order == PixelOrder::kGray ? 1 : 3; }

// A frame handed over from JS (data, width, height, stride or 0 for packed, "rgb24" | "bgr24" | "gray8"):
// checks it and fills *src (pointing into data). On a bad frame throws a coded JS error and returns false.
bool ParseFrame(Napi::Env env, const Napi::Uint8Array& data, int64_t width, int64_t height, int64_t stride,
                const std::string& format, PreprocessSource* src);

// Writes 3 * dst_w * dst_h values (planes R, G, B). Pure C++: safe on any thread.
void LetterboxToChwF32(const PreprocessSource& src, int dst_w, int dst_h, const LetterboxGeometry& g, float* out);
void LetterboxToChwF16(const PreprocessSource& src, int dst_w, int dst_h, const LetterboxGeometry& g, uint16_t* out);

// JS: preprocess(data, width, height, stride, format, dstW, dstH, fp16, out?) -> Promise<{tensor, scale, padX, padY, newWidth, newHeight}>
// JS: preprocessSync(...same) -> same object (benchmarks and valgrind runs)
void InitPreprocess(Napi::Env env, Napi::Object exports);

}  // namespace inspectd

#endif  // INSPECTD_PREPROCESS_H_
