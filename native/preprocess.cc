#include "preprocess.h"

#include <algorithm>
#include <cmath>
#include <memory>
#include <string>
#include <vector>

#include "half.h"
#include "js_error.h"

namespace inspectd {
namespace {

constexpr float kPad = 114.0f / 255.0f;
constexpr float kNorm = 1.0f / 255.0f;

// Bilinear taps for one axis, OpenCV INTER_LINEAR (half-pixel centres, edge clamped).
struct AxisTaps {
  std::vector<int> i0;
  std::vector<int> i1;
  std::vector<float> a;  // weight of i1
};

AxisTaps MakeTaps(int src, int dst) {
  AxisTaps t;
  t.i0.resize(dst);
  t.i1.resize(dst);
  t.a.resize(dst);
  const double ratio = static_cast<double>(src) / dst;
  for (int d = 0; d < dst; ++d) {
    double f = (d + 0.5) * ratio - 0.5;
    int s = static_cast<int>(std::floor(f));
    double frac = f - s;
    if (s < 0) {
      s = 0;
      frac = 0;
    }
    if (s >= src - 1) {
      s = src - 1;
      frac = 0;
    }
    t.i0[d] = s;
    t.i1[d] = std::min(s + 1, src - 1);
    t.a[d] = static_cast<float>(frac);
  }
  return t;
}

template <typename T>
inline T Store(float v);
template <>
inline float Store<float>(float v) {
  return v;
}
template <>
inline uint16_t Store<uint16_t>(float v) {
  return FloatToHalf(v);
}

template <typename T>
void FillPlaneRows(T* plane, int dst_w, int row_begin, int row_end, T value) {
  std::fill(plane + static_cast<size_t>(row_begin) * dst_w, plane + static_cast<size_t>(row_end) * dst_w, value);
}

template <typename T, int CN>
void Resample(const PreprocessSource& src, int dst_w, int dst_h, const LetterboxGeometry& g, T* out) {
  const size_t plane = static_cast<size_t>(dst_w) * dst_h;
  T* planes[3] = {out, out + plane, out + 2 * plane};
  const T pad = Store<T>(kPad);
  // Source channel feeding output R, G, B.
  int ch[3] = {0, 1, 2};
  if (CN == 1) ch[0] = ch[1] = ch[2] = 0;
  if (src.order == PixelOrder::kBgr) {
    ch[0] = 2;
    ch[2] = 0;
  }

  AxisTaps xt = MakeTaps(src.width, g.new_w);
  AxisTaps yt = MakeTaps(src.height, g.new_h);
  // Byte offsets of the two horizontal taps.
  std::vector<int> x0(g.new_w), x1(g.new_w);
  for (int x = 0; x < g.new_w; ++x) {
    x0[x] = xt.i0[x] * CN;
    x1[x] = xt.i1[x] * CN;
  }

  for (int c = 0; c < 3; ++c) {
    FillPlaneRows(planes[c], dst_w, 0, g.pad_y, pad);
    FillPlaneRows(planes[c], dst_w, g.pad_y + g.new_h, dst_h, pad);
  }
  const int right = dst_w - g.pad_x - g.new_w;
  for (int y = 0; y < g.new_h; ++y) {
    const uint8_t* r0 = src.data + static_cast<size_t>(yt.i0[y]) * src.stride;
    const uint8_t* r1 = src.data + static_cast<size_t>(yt.i1[y]) * src.stride;
    const float ya = yt.a[y];
    const size_t row = static_cast<size_t>(g.pad_y + y) * dst_w;
    T* o[3];
    for (int c = 0; c < 3; ++c) {
      T* line = planes[c] + row;
      std::fill(line, line + g.pad_x, pad);
      std::fill(line + g.pad_x + g.new_w, line + g.pad_x + g.new_w + right, pad);
      o[c] = line + g.pad_x;
    }
    const int* __restrict px0 = x0.data();
    const int* __restrict px1 = x1.data();
    const float* __restrict pxa = xt.a.data();
    if (CN == 1) {
      T* __restrict o0 = o[0];
      T* __restrict o1 = o[1];
      T* __restrict o2 = o[2];
      for (int x = 0; x < g.new_w; ++x) {
        const float xa = pxa[x];
        const float a0 = r0[px0[x]], b0 = r0[px1[x]];
        const float a1 = r1[px0[x]], b1 = r1[px1[x]];
        const float top = a0 + xa * (b0 - a0);
        const float bot = a1 + xa * (b1 - a1);
        const T v = Store<T>((top + ya * (bot - top)) * kNorm);
        o0[x] = v;
        o1[x] = v;
        o2[x] = v;
      }
    } else {
      for (int c = 0; c < 3; ++c) {
        const uint8_t* __restrict s0 = r0 + ch[c];
        const uint8_t* __restrict s1 = r1 + ch[c];
        T* __restrict oc = o[c];
        for (int x = 0; x < g.new_w; ++x) {
          const float xa = pxa[x];
          const float a0 = s0[px0[x]], b0 = s0[px1[x]];
          const float a1 = s1[px0[x]], b1 = s1[px1[x]];
          const float top = a0 + xa * (b0 - a0);
          const float bot = a1 + xa * (b1 - a1);
          oc[x] = Store<T>((top + ya * (bot - top)) * kNorm);
        }
      }
    }
  }
}

template <typename T>
void Dispatch(const PreprocessSource& src, int dst_w, int dst_h, const LetterboxGeometry& g, T* out) {
  if (src.order == PixelOrder::kGray) {
    Resample<T, 1>(src, dst_w, dst_h, g, out);
  } else {
    Resample<T, 3>(src, dst_w, dst_h, g, out);
  }
}

// ---- N-API glue -------------------------------------------------------------------------

struct PreprocessBaton {
  PreprocessSource src;
  int dst_w = 0;
  int dst_h = 0;
  bool fp16 = false;
  LetterboxGeometry geometry;
  void* out = nullptr;  // points into out_ref's buffer
};

// Validates arguments on the JS thread; on failure throws a coded JS error and returns false.
// Holds the input and output typed arrays in refs so they outlive async work.
bool ParseArgs(const Napi::CallbackInfo& info, PreprocessBaton* b, Napi::Reference<Napi::Uint8Array>* in_ref,
               Napi::Reference<Napi::TypedArray>* out_ref) {
  Napi::Env env = info.Env();
  const char* usage = "preprocess(data: Uint8Array, width, height, stride, format, dstW, dstH, fp16, out?)";
  if (info.Length() < 8 || !info[0].IsTypedArray() ||
      info[0].As<Napi::TypedArray>().TypedArrayType() != napi_uint8_array || !info[1].IsNumber() ||
      !info[2].IsNumber() || !info[3].IsNumber() || !info[4].IsString() || !info[5].IsNumber() ||
      !info[6].IsNumber() || !info[7].IsBoolean()) {
    CodedError(env, "INSPECTD_ERR_USAGE", std::string("bad arguments: ") + usage).ThrowAsJavaScriptException();
    return false;
  }
  Napi::Uint8Array data = info[0].As<Napi::Uint8Array>();
  const int64_t w = info[1].As<Napi::Number>().Int64Value();
  const int64_t h = info[2].As<Napi::Number>().Int64Value();
  const int64_t stride = info[3].As<Napi::Number>().Int64Value();
  const std::string fmt = info[4].As<Napi::String>().Utf8Value();
  const int64_t dw = info[5].As<Napi::Number>().Int64Value();
  const int64_t dh = info[6].As<Napi::Number>().Int64Value();
  b->fp16 = info[7].As<Napi::Boolean>().Value();
  if (w <= 0 || h <= 0 || w > 65536 || h > 65536 || dw <= 0 || dh <= 0 || dw > 16384 || dh > 16384) {
    CodedError(env, "INSPECTD_ERR_IMAGE_UNREADABLE",
               "frame or tensor size out of range: " + std::to_string(w) + "x" + std::to_string(h) + " -> " +
                   std::to_string(dw) + "x" + std::to_string(dh))
        .ThrowAsJavaScriptException();
    return false;
  }
  if (!ParseFrame(env, data, w, h, stride, fmt, &b->src)) return false;
  b->dst_w = static_cast<int>(dw);
  b->dst_h = static_cast<int>(dh);
  b->geometry = ComputeLetterbox(b->src.width, b->src.height, b->dst_w, b->dst_h);

  const size_t count = static_cast<size_t>(3) * dw * dh;
  Napi::TypedArray out;
  if (info.Length() > 8 && !info[8].IsUndefined() && !info[8].IsNull()) {
    if (!info[8].IsTypedArray()) {
      CodedError(env, "INSPECTD_ERR_USAGE", "out must be a Float32Array (or Uint16Array with fp16)")
          .ThrowAsJavaScriptException();
      return false;
    }
    out = info[8].As<Napi::TypedArray>();
    const napi_typedarray_type want = b->fp16 ? napi_uint16_array : napi_float32_array;
    if (out.TypedArrayType() != want || out.ElementLength() != count) {
      CodedError(env, "INSPECTD_ERR_USAGE",
                 std::string("out must be a ") + (b->fp16 ? "Uint16Array" : "Float32Array") + " of length " +
                     std::to_string(count))
          .ThrowAsJavaScriptException();
      return false;
    }
  } else if (b->fp16) {
    out = Napi::Uint16Array::New(env, count);
  } else {
    out = Napi::Float32Array::New(env, count);
  }
  b->out = static_cast<uint8_t*>(out.ArrayBuffer().Data()) + out.ByteOffset();
  *in_ref = Napi::Persistent(data);
  *out_ref = Napi::Persistent(out);
  return true;
}

void RunBaton(const PreprocessBaton& b) {
  if (b.fp16) {
    LetterboxToChwF16(b.src, b.dst_w, b.dst_h, b.geometry, static_cast<uint16_t*>(b.out));
  } else {
    LetterboxToChwF32(b.src, b.dst_w, b.dst_h, b.geometry, static_cast<float*>(b.out));
  }
}

Napi::Object MakeResult(Napi::Env env, const PreprocessBaton& b, Napi::TypedArray tensor) {
  Napi::Object r = Napi::Object::New(env);
  r.Set("tensor", tensor);
  r.Set("scale", Napi::Number::New(env, b.geometry.scale));
  r.Set("padX", Napi::Number::New(env, b.geometry.pad_x));
  r.Set("padY", Napi::Number::New(env, b.geometry.pad_y));
  r.Set("newWidth", Napi::Number::New(env, b.geometry.new_w));
  r.Set("newHeight", Napi::Number::New(env, b.geometry.new_h));
  return r;
}

class PreprocessWorker : public Napi::AsyncWorker {
 public:
  PreprocessWorker(Napi::Env env, const PreprocessBaton& baton, Napi::Reference<Napi::Uint8Array>&& in_ref,
                   Napi::Reference<Napi::TypedArray>&& out_ref)
      : Napi::AsyncWorker(env, "inspectd:preprocess"),
        deferred_(Napi::Promise::Deferred::New(env)),
        baton_(baton),
        in_ref_(std::move(in_ref)),
        out_ref_(std::move(out_ref)) {}

  Napi::Promise Promise() const { return deferred_.Promise(); }

  void Execute() override { RunBaton(baton_); }

  void OnOK() override { deferred_.Resolve(MakeResult(Env(), baton_, out_ref_.Value())); }

  void OnError(const Napi::Error& e) override { deferred_.Reject(e.Value()); }

 private:
  Napi::Promise::Deferred deferred_;
  PreprocessBaton baton_;
  Napi::Reference<Napi::Uint8Array> in_ref_;   // keeps the frame alive while Execute reads it
  Napi::Reference<Napi::TypedArray> out_ref_;  // keeps the tensor alive while Execute writes it
};

Napi::Value PreprocessAsync(const Napi::CallbackInfo& info) {
  PreprocessBaton b;
  Napi::Reference<Napi::Uint8Array> in_ref;
  Napi::Reference<Napi::TypedArray> out_ref;
  if (!ParseArgs(info, &b, &in_ref, &out_ref)) return info.Env().Undefined();
  auto* worker = new PreprocessWorker(info.Env(), b, std::move(in_ref), std::move(out_ref));
  Napi::Promise p = worker->Promise();
  worker->Queue();
  return p;
}

Napi::Value PreprocessSync(const Napi::CallbackInfo& info) {
  PreprocessBaton b;
  Napi::Reference<Napi::Uint8Array> in_ref;
  Napi::Reference<Napi::TypedArray> out_ref;
  if (!ParseArgs(info, &b, &in_ref, &out_ref)) return info.Env().Undefined();
  RunBaton(b);
  return MakeResult(info.Env(), b, out_ref.Value());
}

Napi::Value LetterboxGeometryJs(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 4) {
    CodedError(env, "INSPECTD_ERR_USAGE", "letterboxGeometry(srcW, srcH, dstW, dstH)").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  LetterboxGeometry g = ComputeLetterbox(info[0].ToNumber().Int32Value(), info[1].ToNumber().Int32Value(),
                                         info[2].ToNumber().Int32Value(), info[3].ToNumber().Int32Value());
  Napi::Object r = Napi::Object::New(env);
  r.Set("scale", g.scale);
  r.Set("padX", g.pad_x);
  r.Set("padY", g.pad_y);
  r.Set("newWidth", g.new_w);
  r.Set("newHeight", g.new_h);
  return r;
}

}  // namespace

LetterboxGeometry ComputeLetterbox(int src_w, int src_h, int dst_w, int dst_h) {
  LetterboxGeometry g;
  g.scale = std::min(static_cast<double>(dst_h) / src_h, static_cast<double>(dst_w) / src_w);
  // Python's round() rounds half to even; nearbyint does too in the default rounding mode.
  g.new_w = std::max(1, std::min(dst_w, static_cast<int>(std::nearbyint(src_w * g.scale))));
  g.new_h = std::max(1, std::min(dst_h, static_cast<int>(std::nearbyint(src_h * g.scale))));
  const double dw = (dst_w - g.new_w) / 2.0;
  const double dh = (dst_h - g.new_h) / 2.0;
  g.pad_x = static_cast<int>(std::nearbyint(dw - 0.1));
  g.pad_y = static_cast<int>(std::nearbyint(dh - 0.1));
  return g;
}

bool ParseFrame(Napi::Env env, const Napi::Uint8Array& data, int64_t w, int64_t h, int64_t stride,
                const std::string& fmt, PreprocessSource* src) {
  if (fmt == "rgb24") {
    src->order = PixelOrder::kRgb;
  } else if (fmt == "bgr24") {
    src->order = PixelOrder::kBgr;
  } else if (fmt == "gray8") {
    src->order = PixelOrder::kGray;
  } else {
    CodedError(env, "INSPECTD_ERR_USAGE", "unknown pixel format '" + fmt + "' (expected rgb24, bgr24 or gray8)")
        .ThrowAsJavaScriptException();
    return false;
  }
  const int cn = Channels(src->order);
  if (w <= 0 || h <= 0 || w > 65536 || h > 65536) {
    CodedError(env, "INSPECTD_ERR_IMAGE_UNREADABLE",
               "frame size out of range: " + std::to_string(w) + "x" + std::to_string(h))
        .ThrowAsJavaScriptException();
    return false;
  }
  if (stride == 0) stride = w * cn;
  if (stride < w * cn) {
    CodedError(env, "INSPECTD_ERR_IMAGE_UNREADABLE",
               "row stride " + std::to_string(stride) + " is smaller than width * channels (" +
                   std::to_string(w * cn) + ")")
        .ThrowAsJavaScriptException();
    return false;
  }
  const size_t needed = static_cast<size_t>(stride) * (h - 1) + static_cast<size_t>(w * cn);
  if (data.ByteLength() < needed) {
    CodedError(env, "INSPECTD_ERR_IMAGE_UNREADABLE",
               "frame buffer holds " + std::to_string(data.ByteLength()) + " bytes, " + std::to_string(w) + "x" +
                   std::to_string(h) + " " + fmt + " with stride " + std::to_string(stride) + " needs " +
                   std::to_string(needed))
        .ThrowAsJavaScriptException();
    return false;
  }
  src->data = data.Data();
  src->width = static_cast<int>(w);
  src->height = static_cast<int>(h);
  src->stride = static_cast<size_t>(stride);
  return true;
}

void LetterboxToChwF32(const PreprocessSource& src, int dst_w, int dst_h, const LetterboxGeometry& g, float* out) {
  Dispatch<float>(src, dst_w, dst_h, g, out);
}

void LetterboxToChwF16(const PreprocessSource& src, int dst_w, int dst_h, const LetterboxGeometry& g,
                       uint16_t* out) {
  Dispatch<uint16_t>(src, dst_w, dst_h, g, out);
}

void InitPreprocess(Napi::Env env, Napi::Object exports) {
  exports.Set("preprocess", Napi::Function::New(env, PreprocessAsync, "preprocess"));
  exports.Set("preprocessSync", Napi::Function::New(env, PreprocessSync, "preprocessSync"));
  exports.Set("letterboxGeometry", Napi::Function::New(env, LetterboxGeometryJs, "letterboxGeometry"));
}

}  // namespace inspectd
