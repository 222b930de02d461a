#include "trt_engine.h"

#include "js_error.h"

#if INSPECTD_WITH_TENSORRT

#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "preprocess.h"
#include "trt_backend.h"

namespace inspectd {
namespace {

class TrtEngineWrap : public Napi::ObjectWrap<TrtEngineWrap> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "TrtEngine",
                       {InstanceMethod<&TrtEngineWrap::LoadJs>("load"),
                        InstanceMethod<&TrtEngineWrap::DescribeJs>("describe"),
                        InstanceMethod<&TrtEngineWrap::RunJs>("run"),
                        InstanceMethod<&TrtEngineWrap::RunFrameJs>("runFrame"),
                        InstanceMethod<&TrtEngineWrap::DisposeJs>("dispose"),
                        InstanceAccessor<&TrtEngineWrap::InFlightJs>("inFlight"),
                        InstanceAccessor<&TrtEngineWrap::InputLetterboxJs>("inputLetterbox")});
  }

  // Constructor stores nothing but defaults: load() does the work.
  explicit TrtEngineWrap(const Napi::CallbackInfo& info) : Napi::ObjectWrap<TrtEngineWrap>(info) {}

  // Called on the JS thread by the workers.
  void Finish() { --in_flight_; }
  void Adopt(std::unique_ptr<TrtBackend> b) { backend_ = std::move(b); }

 private:
  Napi::Value LoadJs(const Napi::CallbackInfo& info);
  Napi::Value DescribeJs(const Napi::CallbackInfo& info);
  Napi::Value RunJs(const Napi::CallbackInfo& info);
  Napi::Value RunFrameJs(const Napi::CallbackInfo& info);
  Napi::Value DisposeJs(const Napi::CallbackInfo& info);
  Napi::Value InputLetterboxJs(const Napi::CallbackInfo& info);
  Napi::Value InFlightJs(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), in_flight_); }

  bool Usable(Napi::Env env, bool need_loaded);

  std::unique_ptr<TrtBackend> backend_;
  int in_flight_ = 0;
  bool loading_ = false;
  bool disposed_ = false;

  friend class LoadWorker;
};

// Shared shape of our workers: a promise, a reference to the wrap (keeps it alive), a coded failure.
class EngineWorker : public Napi::AsyncWorker {
 public:
  EngineWorker(Napi::Env env, Napi::Object self, TrtEngineWrap* wrap, const char* name)
      : Napi::AsyncWorker(env, name),
        deferred_(Napi::Promise::Deferred::New(env)),
        self_(Napi::Persistent(self)),
        wrap_(wrap) {}
  Napi::Promise Promise() const { return deferred_.Promise(); }

 protected:
  void Failed(const NativeFailure& f) {
    failure_ = f;
    SetError(f.message);
  }
  void OnError(const Napi::Error& e) override {
    wrap_->Finish();
    if (!failure_.code.empty()) {
      deferred_.Reject(CodedError(Env(), failure_.code, failure_.message).Value());
    } else {
      deferred_.Reject(e.Value());
    }
  }

  Napi::Promise::Deferred deferred_;
  Napi::ObjectReference self_;
  TrtEngineWrap* wrap_;
  NativeFailure failure_;
};

class LoadWorker : public EngineWorker {
 public:
  LoadWorker(Napi::Env env, Napi::Object self, TrtEngineWrap* wrap, Napi::Uint8Array blob)
      : EngineWorker(env, self, wrap, "inspectd:trt-load"),
        blob_ref_(Napi::Persistent(blob)),
        data_(blob.Data()),
        size_(blob.ByteLength()) {}

  void Execute() override {
    NativeFailure f;
    backend_ = TrtBackend::Load(data_, size_, &f);
    if (!backend_) Failed(f);
  }
  void OnOK() override {
    wrap_->Finish();
    wrap_->loading_ = false;
    wrap_->Adopt(std::move(backend_));
    deferred_.Resolve(Env().Undefined());
  }
  void OnError(const Napi::Error& e) override {
    wrap_->loading_ = false;
    EngineWorker::OnError(e);
  }

 private:
  Napi::Reference<Napi::Uint8Array> blob_ref_;  // the serialized engine stays alive while Execute reads it
  const uint8_t* data_;
  size_t size_;
  std::unique_ptr<TrtBackend> backend_;
};

Napi::Array OutputsToJs(Napi::Env env, const std::vector<TrtOutput>& outs) {
  Napi::Array result = Napi::Array::New(env, outs.size());
  for (size_t i = 0; i < outs.size(); ++i) {
    const TrtOutput& o = outs[i];
    Napi::Object t = Napi::Object::New(env);
    t.Set("name", o.name);
    Napi::Array dims = Napi::Array::New(env, o.dims.size());
    for (size_t k = 0; k < o.dims.size(); ++k) dims.Set(static_cast<uint32_t>(k), static_cast<double>(o.dims[k]));
    t.Set("dims", dims);
    Napi::Float32Array data = Napi::Float32Array::New(env, o.data.size());
    if (!o.data.empty()) std::memcpy(data.Data(), o.data.data(), o.data.size() * sizeof(float));
    t.Set("data", data);
    result.Set(static_cast<uint32_t>(i), t);
  }
  return result;
}

class RunWorker : public EngineWorker {
 public:
  RunWorker(Napi::Env env, Napi::Object self, TrtEngineWrap* wrap, TrtBackend* backend, Napi::Float32Array input,
            std::vector<int64_t> dims)
      : EngineWorker(env, self, wrap, "inspectd:trt-run"),
        backend_(backend),
        input_ref_(Napi::Persistent(input)),
        input_(input.Data()),
        input_len_(input.ElementLength()),
        dims_(std::move(dims)) {}

  void Execute() override {
    NativeFailure f;
    if (!backend_->Run(input_, input_len_, dims_, &outs_, &f)) Failed(f);
  }
  void OnOK() override {
    wrap_->Finish();
    deferred_.Resolve(OutputsToJs(Env(), outs_));
  }

 private:
  TrtBackend* backend_;  // owned by the wrap; dispose() refuses while this worker is in flight
  Napi::Reference<Napi::Float32Array> input_ref_;
  const float* input_;
  size_t input_len_;
  std::vector<int64_t> dims_;
  std::vector<TrtOutput> outs_;
};

// runFrame: the raw frame is letterboxed into the input binding by the backend (on the GPU where it can).
class RunFrameWorker : public EngineWorker {
 public:
  RunFrameWorker(Napi::Env env, Napi::Object self, TrtEngineWrap* wrap, TrtBackend* backend, Napi::Uint8Array data,
                 const PreprocessSource& frame, std::vector<int64_t> dims)
      : EngineWorker(env, self, wrap, "inspectd:trt-run-frame"),
        backend_(backend),
        data_ref_(Napi::Persistent(data)),
        frame_(frame),
        dims_(std::move(dims)) {}

  void Execute() override {
    NativeFailure f;
    if (!backend_->RunFrame(frame_, dims_, &outs_, &geometry_, &on_gpu_, &f)) Failed(f);
  }
  void OnOK() override {
    wrap_->Finish();
    Napi::Env env = Env();
    Napi::Object r = Napi::Object::New(env);
    r.Set("outputs", OutputsToJs(env, outs_));
    Napi::Object g = Napi::Object::New(env);
    g.Set("scale", geometry_.scale);
    g.Set("padX", geometry_.pad_x);
    g.Set("padY", geometry_.pad_y);
    g.Set("newWidth", geometry_.new_w);
    g.Set("newHeight", geometry_.new_h);
    r.Set("letterbox", g);
    r.Set("letterboxOn", on_gpu_ ? "cuda" : "cpu");
    deferred_.Resolve(r);
  }

 private:
  TrtBackend* backend_;                        // owned by the wrap; dispose() refuses while this worker is in flight
  Napi::Reference<Napi::Uint8Array> data_ref_;  // the frame stays alive while Execute reads it
  PreprocessSource frame_;
  std::vector<int64_t> dims_;
  std::vector<TrtOutput> outs_;
  LetterboxGeometry geometry_;
  bool on_gpu_ = false;
};

// dims from a JS number array; throws INSPECTD_ERR_ENGINE_SHAPE and returns false on a non-number.
bool ParseDims(Napi::Env env, Napi::Array jd, std::vector<int64_t>* dims) {
  for (uint32_t i = 0; i < jd.Length(); ++i) {
    Napi::Value v = jd.Get(i);
    if (!v.IsNumber()) {
      CodedError(env, "INSPECTD_ERR_ENGINE_SHAPE", "dims must be numbers").ThrowAsJavaScriptException();
      return false;
    }
    dims->push_back(v.As<Napi::Number>().Int64Value());
  }
  return true;
}

bool TrtEngineWrap::Usable(Napi::Env env, bool need_loaded) {
  if (disposed_) {
    CodedError(env, "INSPECTD_ERR_ENGINE_DISPOSED", "the TensorRT engine was disposed; create a new one")
        .ThrowAsJavaScriptException();
    return false;
  }
  if (need_loaded && !backend_) {
    CodedError(env, "INSPECTD_ERR_ENGINE_UNAVAILABLE", "the TensorRT engine is not loaded; await load() first")
        .ThrowAsJavaScriptException();
    return false;
  }
  return true;
}

Napi::Value TrtEngineWrap::LoadJs(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!Usable(env, false)) return env.Undefined();
  if (backend_ || loading_) {
    CodedError(env, "INSPECTD_ERR_ENGINE_BUSY", "load() was already called on this engine")
        .ThrowAsJavaScriptException();
    return env.Undefined();
  }
  if (info.Length() < 1 || !info[0].IsTypedArray() ||
      info[0].As<Napi::TypedArray>().TypedArrayType() != napi_uint8_array) {
    CodedError(env, "INSPECTD_ERR_USAGE", "load(engine: Uint8Array)").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  auto* w = new LoadWorker(env, info.This().As<Napi::Object>(), this, info[0].As<Napi::Uint8Array>());
  ++in_flight_;
  loading_ = true;
  Napi::Promise p = w->Promise();
  w->Queue();
  return p;
}

Napi::Array Shape(Napi::Env env, const std::vector<int64_t>& d) {
  Napi::Array a = Napi::Array::New(env, d.size());
  for (size_t i = 0; i < d.size(); ++i) a.Set(static_cast<uint32_t>(i), static_cast<double>(d[i]));
  return a;
}

Napi::Value TrtEngineWrap::DescribeJs(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!Usable(env, true)) return env.Undefined();
  Napi::Array inputs = Napi::Array::New(env);
  Napi::Array outputs = Napi::Array::New(env);
  for (const TrtTensorInfo& t : backend_->tensors()) {
    Napi::Object o = Napi::Object::New(env);
    o.Set("name", t.name);
    o.Set("shape", Shape(env, t.shape));
    o.Set("type", t.fp16 ? "float16" : "float32");
    if (t.is_input) {
      o.Set("minShape", Shape(env, t.min_shape));
      o.Set("maxShape", Shape(env, t.max_shape));
      inputs.Set(inputs.Length(), o);
    } else {
      outputs.Set(outputs.Length(), o);
    }
  }
  Napi::Object r = Napi::Object::New(env);
  r.Set("inputs", inputs);
  r.Set("outputs", outputs);
  return r;
}

Napi::Value TrtEngineWrap::RunJs(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!Usable(env, true)) return env.Undefined();
  if (info.Length() < 2 || !info[0].IsTypedArray() ||
      info[0].As<Napi::TypedArray>().TypedArrayType() != napi_float32_array || !info[1].IsArray()) {
    CodedError(env, "INSPECTD_ERR_USAGE", "run(input: Float32Array, dims: number[])").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  std::vector<int64_t> dims;
  if (!ParseDims(env, info[1].As<Napi::Array>(), &dims)) return env.Undefined();
  auto* w = new RunWorker(env, info.This().As<Napi::Object>(), this, backend_.get(), info[0].As<Napi::Float32Array>(),
                          std::move(dims));
  ++in_flight_;
  Napi::Promise p = w->Promise();
  w->Queue();
  return p;
}

Napi::Value TrtEngineWrap::RunFrameJs(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!Usable(env, true)) return env.Undefined();
  if (info.Length() < 6 || !info[0].IsTypedArray() ||
      info[0].As<Napi::TypedArray>().TypedArrayType() != napi_uint8_array || !info[1].IsNumber() ||
      !info[2].IsNumber() || !info[3].IsNumber() || !info[4].IsString() || !info[5].IsArray()) {
    CodedError(env, "INSPECTD_ERR_USAGE",
               "runFrame(data: Uint8Array, width, height, stride, format, dims: [1, 3, H, W])")
        .ThrowAsJavaScriptException();
    return env.Undefined();
  }
  Napi::Uint8Array data = info[0].As<Napi::Uint8Array>();
  PreprocessSource frame;
  if (!ParseFrame(env, data, info[1].As<Napi::Number>().Int64Value(), info[2].As<Napi::Number>().Int64Value(),
                  info[3].As<Napi::Number>().Int64Value(), info[4].As<Napi::String>().Utf8Value(), &frame)) {
    return env.Undefined();
  }
  std::vector<int64_t> dims;
  if (!ParseDims(env, info[5].As<Napi::Array>(), &dims)) return env.Undefined();
  auto* w = new RunFrameWorker(env, info.This().As<Napi::Object>(), this, backend_.get(), data, frame, std::move(dims));
  ++in_flight_;
  Napi::Promise p = w->Promise();
  w->Queue();
  return p;
}

Napi::Value TrtEngineWrap::InputLetterboxJs(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!Usable(env, true)) return env.Undefined();
  Napi::Object o = Napi::Object::New(env);
  o.Set("on", backend_->cuda_letterbox() ? "cuda" : "cpu");
  o.Set("reason", backend_->letterbox_reason());
  return o;
}

Napi::Value TrtEngineWrap::DisposeJs(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (in_flight_ > 0) {
    CodedError(env, "INSPECTD_ERR_ENGINE_BUSY",
               std::to_string(in_flight_) + " TensorRT call(s) still in flight; await them before dispose()")
        .ThrowAsJavaScriptException();
    return env.Undefined();
  }
  disposed_ = true;
  backend_.reset();
  return env.Undefined();
}

Napi::Value ComputeCapabilityJs(const Napi::CallbackInfo& info) {
  std::string why;
  std::string cc = ComputeCapability(&why);
  if (cc.empty()) {
    CodedError(info.Env(), "INSPECTD_ERR_ENGINE_UNAVAILABLE", why).ThrowAsJavaScriptException();
    return info.Env().Undefined();
  }
  return Napi::String::New(info.Env(), cc);
}

}  // namespace

void InitTensorRt(Napi::Env env, Napi::Object exports) {
  Napi::Object trt = Napi::Object::New(env);
  trt.Set("available", true);
  trt.Set("version", TrtVersion());
#if INSPECTD_TRT_STANDIN
  trt.Set("standin", true);
#else
  trt.Set("standin", false);
#endif
  trt.Set("computeCapability", Napi::Function::New(env, ComputeCapabilityJs, "computeCapability"));
  trt.Set("Engine", TrtEngineWrap::Define(env));
  exports.Set("tensorrt", trt);
}

}  // namespace inspectd

#else  // !INSPECTD_WITH_TENSORRT

namespace inspectd {

void InitTensorRt(Napi::Env env, Napi::Object exports) {
  Napi::Object trt = Napi::Object::New(env);
  trt.Set("available", false);
  trt.Set("reason",
          "the native addon was built without TensorRT (NvInfer.h was not found under TENSORRT_ROOT, "
          "/usr/include/x86_64-linux-gnu, /usr/include/aarch64-linux-gnu or /usr/include): install TensorRT "
          "(and the CUDA toolkit headers) and run `npm run build:native`");
  exports.Set("tensorrt", trt);
}

}  // namespace inspectd

#endif
