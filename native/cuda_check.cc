// inspectd_cuda_check: the CUDA letterbox kernel on its own, for test/native/cuda-letterbox.test.ts and
// scripts/gpu-check.sh. Synchronous on purpose (tests and timing only; the daemon never loads it).
// JS: device() -> {available, reason?, runtimeVersion, driverVersion, deviceCount, name?, computeCapability?}
//     letterbox(data, width, height, stride, format, dstW, dstH, fp16) -> {tensor, scale, padX, padY, newWidth, newHeight}
//     letterboxOnHost(...same) -> same, from the kernel's per-pixel code run on the CPU (no GPU needed)
//     bench(data, width, height, stride, format, dstW, dstH, fp16, iterations) -> mean ms per frame of each step
#include <cuda_runtime_api.h>
#include <napi.h>

#include <chrono>
#include <string>
#include <vector>

#include "cuda_letterbox.h"
#include "js_error.h"
#include "preprocess.h"

namespace inspectd {

void LetterboxOnHost(const CudaLetterboxParams& p);  // cuda_check_host.cu

namespace {

constexpr const char* kUnavailable = "INSPECTD_ERR_ENGINE_UNAVAILABLE";

std::string CudaText(cudaError_t e) {
  return std::string(cudaGetErrorString(e)) + " (cuda error " + std::to_string(static_cast<int>(e)) + ")";
}

std::string VersionText(int v) {
  if (v <= 0) return "none";
  return std::to_string(v / 1000) + "." + std::to_string((v % 1000) / 10);
}

// Throws a coded JS error naming the failed step; true when e is cudaSuccess.
bool Ok(Napi::Env env, cudaError_t e, const char* step) {
  if (e == cudaSuccess) return true;
  CodedError(env, kUnavailable, std::string(step) + " failed: " + CudaText(e)).ThrowAsJavaScriptException();
  return false;
}

struct DeviceBuffer {
  void* p = nullptr;
  ~DeviceBuffer() {
    if (p != nullptr) cudaFree(p);
  }
};
struct PinnedBuffer {
  void* p = nullptr;
  ~PinnedBuffer() {
    if (p != nullptr) cudaFreeHost(p);
  }
};
struct Stream {
  cudaStream_t s = nullptr;
  ~Stream() {
    if (s != nullptr) cudaStreamDestroy(s);
  }
};
struct Event {
  cudaEvent_t e = nullptr;
  ~Event() {
    if (e != nullptr) cudaEventDestroy(e);
  }
};

Napi::Value Device(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Object o = Napi::Object::New(env);
  int rt = 0, drv = 0, n = 0;
  cudaRuntimeGetVersion(&rt);
  cudaDriverGetVersion(&drv);  // 0 without a driver
  o.Set("runtimeVersion", VersionText(rt));
  o.Set("driverVersion", VersionText(drv));
  cudaError_t e = cudaGetDeviceCount(&n);
  if (e != cudaSuccess || n == 0) {
    o.Set("available", false);
    o.Set("deviceCount", 0);
    o.Set("reason", e != cudaSuccess ? "no usable CUDA device: cudaGetDeviceCount: " + CudaText(e)
                                     : std::string("no CUDA device"));
    return o;
  }
  cudaDeviceProp prop{};
  e = cudaGetDeviceProperties(&prop, 0);
  o.Set("deviceCount", n);
  if (e != cudaSuccess) {
    o.Set("available", false);
    o.Set("reason", "cudaGetDeviceProperties: " + CudaText(e));
    return o;
  }
  o.Set("available", true);
  o.Set("name", std::string(prop.name));
  o.Set("computeCapability", std::to_string(prop.major) + "." + std::to_string(prop.minor));
  o.Set("memoryMiB", static_cast<double>(prop.totalGlobalMem / (1024 * 1024)));
  return o;
}

struct Job {
  PreprocessSource src;
  int dst_w = 0;
  int dst_h = 0;
  bool fp16 = false;
  LetterboxGeometry g;
  size_t count() const { return static_cast<size_t>(3) * dst_w * dst_h; }
  size_t out_bytes() const { return count() * (fp16 ? 2 : 4); }
};

bool ParseJob(const Napi::CallbackInfo& info, Job* j, size_t extra) {
  Napi::Env env = info.Env();
  if (info.Length() < 8 + extra || !info[0].IsTypedArray() ||
      info[0].As<Napi::TypedArray>().TypedArrayType() != napi_uint8_array || !info[1].IsNumber() ||
      !info[2].IsNumber() || !info[3].IsNumber() || !info[4].IsString() || !info[5].IsNumber() ||
      !info[6].IsNumber() || !info[7].IsBoolean()) {
    CodedError(env, "INSPECTD_ERR_USAGE", "bad arguments: (data, width, height, stride, format, dstW, dstH, fp16)")
        .ThrowAsJavaScriptException();
    return false;
  }
  const int64_t dw = info[5].As<Napi::Number>().Int64Value();
  const int64_t dh = info[6].As<Napi::Number>().Int64Value();
  if (dw <= 0 || dh <= 0 || dw > 16384 || dh > 16384) {
    CodedError(env, "INSPECTD_ERR_USAGE", "tensor size out of range").ThrowAsJavaScriptException();
    return false;
  }
  if (!ParseFrame(env, info[0].As<Napi::Uint8Array>(), info[1].As<Napi::Number>().Int64Value(),
                  info[2].As<Napi::Number>().Int64Value(), info[3].As<Napi::Number>().Int64Value(),
                  info[4].As<Napi::String>().Utf8Value(), &j->src)) {
    return false;
  }
  j->dst_w = static_cast<int>(dw);
  j->dst_h = static_cast<int>(dh);
  j->fp16 = info[7].As<Napi::Boolean>().Value();
  j->g = ComputeLetterbox(j->src.width, j->src.height, j->dst_w, j->dst_h);
  return true;
}

Napi::Object Geometry(Napi::Env env, const LetterboxGeometry& g) {
  Napi::Object r = Napi::Object::New(env);
  r.Set("scale", g.scale);
  r.Set("padX", g.pad_x);
  r.Set("padY", g.pad_y);
  r.Set("newWidth", g.new_w);
  r.Set("newHeight", g.new_h);
  return r;
}

Napi::Value Letterbox(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Job j;
  if (!ParseJob(info, &j, 0)) return env.Undefined();
  DeviceBuffer frame, out;
  Stream stream;
  if (!Ok(env, cudaStreamCreate(&stream.s), "cudaStreamCreate") ||
      !Ok(env, cudaMalloc(&frame.p, FrameBytes(j.src)), "cudaMalloc(frame)") ||
      !Ok(env, cudaMalloc(&out.p, j.out_bytes()), "cudaMalloc(tensor)") ||
      !Ok(env, EnqueueCudaLetterbox(j.src, frame.p, j.dst_w, j.dst_h, j.g, j.fp16, out.p, stream.s),
          "the letterbox kernel")) {
    return env.Undefined();
  }
  Napi::TypedArray tensor = j.fp16 ? static_cast<Napi::TypedArray>(Napi::Uint16Array::New(env, j.count()))
                                   : static_cast<Napi::TypedArray>(Napi::Float32Array::New(env, j.count()));
  void* host = static_cast<uint8_t*>(tensor.ArrayBuffer().Data()) + tensor.ByteOffset();
  if (!Ok(env, cudaMemcpyAsync(host, out.p, j.out_bytes(), cudaMemcpyDeviceToHost, stream.s), "copying the tensor back") ||
      !Ok(env, cudaStreamSynchronize(stream.s), "the letterbox kernel (at synchronize)")) {
    return env.Undefined();
  }
  Napi::Object r = Geometry(env, j.g);
  r.Set("tensor", tensor);
  return r;
}

Napi::Value LetterboxHost(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Job j;
  if (!ParseJob(info, &j, 0)) return env.Undefined();
  Napi::TypedArray tensor = j.fp16 ? static_cast<Napi::TypedArray>(Napi::Uint16Array::New(env, j.count()))
                                   : static_cast<Napi::TypedArray>(Napi::Float32Array::New(env, j.count()));
  void* host = static_cast<uint8_t*>(tensor.ArrayBuffer().Data()) + tensor.ByteOffset();
  LetterboxOnHost(CudaParams(j.src, j.src.data, j.dst_w, j.dst_h, j.g, j.fp16, host));
  Napi::Object r = Geometry(env, j.g);
  r.Set("tensor", tensor);
  return r;
}

// Mean milliseconds per frame of: the CPU letterbox (one thread, as in the production addon) and the upload
// of its tensor from pinned memory (the CPU path's host round trip), against the GPU path's frame upload
// (from the caller's pageable buffer, as the TensorRT backend does) and kernel. Events time the GPU steps.
Napi::Value Bench(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Job j;
  if (!ParseJob(info, &j, 1)) return env.Undefined();
  const int iterations = info[8].ToNumber().Int32Value();
  if (iterations < 1 || iterations > 100000) {
    CodedError(env, "INSPECTD_ERR_USAGE", "iterations must be 1..100000").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  DeviceBuffer frame, out;
  PinnedBuffer pinned;
  Stream stream;
  Event e0, e1, e2;
  if (!Ok(env, cudaStreamCreate(&stream.s), "cudaStreamCreate") ||
      !Ok(env, cudaMalloc(&frame.p, FrameBytes(j.src)), "cudaMalloc(frame)") ||
      !Ok(env, cudaMalloc(&out.p, j.out_bytes()), "cudaMalloc(tensor)") ||
      !Ok(env, cudaMallocHost(&pinned.p, j.out_bytes()), "cudaMallocHost(tensor)") ||
      !Ok(env, cudaEventCreate(&e0.e), "cudaEventCreate") || !Ok(env, cudaEventCreate(&e1.e), "cudaEventCreate") ||
      !Ok(env, cudaEventCreate(&e2.e), "cudaEventCreate")) {
    return env.Undefined();
  }
  using Clock = std::chrono::steady_clock;
  double cpu = 0, tensor_up = 0, frame_up = 0, kernel = 0;
  for (int i = 0; i <= iterations; ++i) {  // iteration 0 warms up (JIT of PTX, first-touch pages) and is not counted
    const auto t0 = Clock::now();
    if (j.fp16) {
      LetterboxToChwF16(j.src, j.dst_w, j.dst_h, j.g, static_cast<uint16_t*>(pinned.p));
    } else {
      LetterboxToChwF32(j.src, j.dst_w, j.dst_h, j.g, static_cast<float*>(pinned.p));
    }
    const double cpu_ms = std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
    float up_ms = 0, frame_ms = 0, kernel_ms = 0;
    if (!Ok(env, cudaEventRecord(e0.e, stream.s), "cudaEventRecord") ||
        !Ok(env, cudaMemcpyAsync(out.p, pinned.p, j.out_bytes(), cudaMemcpyHostToDevice, stream.s), "tensor upload") ||
        !Ok(env, cudaEventRecord(e1.e, stream.s), "cudaEventRecord") ||
        !Ok(env, cudaEventSynchronize(e1.e), "tensor upload") ||
        !Ok(env, cudaEventElapsedTime(&up_ms, e0.e, e1.e), "cudaEventElapsedTime")) {
      return env.Undefined();
    }
    if (!Ok(env, cudaEventRecord(e0.e, stream.s), "cudaEventRecord") ||
        !Ok(env, cudaMemcpyAsync(frame.p, j.src.data, FrameBytes(j.src), cudaMemcpyHostToDevice, stream.s),
            "frame upload") ||
        !Ok(env, cudaEventRecord(e1.e, stream.s), "cudaEventRecord")) {
      return env.Undefined();
    }
    // The kernel alone: the frame is on the device now.
    if (!Ok(env, LaunchLetterboxCuda(CudaParams(j.src, frame.p, j.dst_w, j.dst_h, j.g, j.fp16, out.p), stream.s),
            "the letterbox kernel") ||
        !Ok(env, cudaEventRecord(e2.e, stream.s), "cudaEventRecord") ||
        !Ok(env, cudaEventSynchronize(e2.e), "the letterbox kernel") ||
        !Ok(env, cudaEventElapsedTime(&frame_ms, e0.e, e1.e), "cudaEventElapsedTime") ||
        !Ok(env, cudaEventElapsedTime(&kernel_ms, e1.e, e2.e), "cudaEventElapsedTime")) {
      return env.Undefined();
    }
    if (i == 0) continue;
    cpu += cpu_ms;
    tensor_up += up_ms;
    frame_up += frame_ms;
    kernel += kernel_ms;
  }
  Napi::Object r = Napi::Object::New(env);
  r.Set("iterations", iterations);
  r.Set("cpuLetterboxMs", cpu / iterations);
  r.Set("cpuTensorUploadMs", tensor_up / iterations);
  r.Set("gpuFrameUploadMs", frame_up / iterations);
  r.Set("gpuKernelMs", kernel / iterations);
  r.Set("tensorBytes", static_cast<double>(j.out_bytes()));
  r.Set("frameBytes", static_cast<double>(FrameBytes(j.src)));
  return r;
}

}  // namespace
}  // namespace inspectd

static Napi::Object InitAddon(Napi::Env env, Napi::Object exports) {
  exports.Set("device", Napi::Function::New(env, inspectd::Device, "device"));
  exports.Set("letterbox", Napi::Function::New(env, inspectd::Letterbox, "letterbox"));
  exports.Set("letterboxOnHost", Napi::Function::New(env, inspectd::LetterboxHost, "letterboxOnHost"));
  exports.Set("bench", Napi::Function::New(env, inspectd::Bench, "bench"));
  return exports;
}
NODE_API_MODULE(NODE_GYP_MODULE_NAME, InitAddon)
