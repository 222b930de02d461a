#include "trt_backend.h"

#include <cstdlib>
#include <cstring>

#include "half.h"
#if INSPECTD_WITH_CUDA_PREPROCESS
#include "cuda_letterbox.h"
#endif

namespace inspectd {
namespace {

constexpr const char* kErrShape = "INSPECTD_ERR_ENGINE_SHAPE";
constexpr const char* kErrRun = "INSPECTD_ERR_ENGINE_RUN";
constexpr const char* kErrUnavailable = "INSPECTD_ERR_ENGINE_UNAVAILABLE";

std::vector<int64_t> FromDims(const nvinfer1::Dims& d) {
  if (d.nbDims < 0) return {};
  return std::vector<int64_t>(d.d, d.d + d.nbDims);
}

std::string DimsText(const std::vector<int64_t>& d) {
  std::string s = "[";
  for (size_t i = 0; i < d.size(); ++i) s += (i ? ", " : "") + std::to_string(d[i]);
  return s + "]";
}

int64_t Volume(const std::vector<int64_t>& d) {
  int64_t v = 1;
  for (int64_t x : d) v *= x;
  return v;
}

std::string CudaText(cudaError_t e) { return std::string(cudaGetErrorString(e)) + " (cuda error " + std::to_string(static_cast<int>(e)) + ")"; }

}  // namespace

void TrtLogger::log(Severity severity, nvinfer1::AsciiChar const* msg) noexcept {
  if (severity > Severity::kERROR || msg == nullptr) return;  // warnings and chatter are not ours to print
  try {
    std::lock_guard<std::mutex> lock(mu_);
    last_error_ = msg;
  } catch (...) {
  }
}

std::string TrtLogger::TakeLastError() {
  std::lock_guard<std::mutex> lock(mu_);
  std::string s;
  s.swap(last_error_);
  return s;
}

bool TrtBackend::Fail(NativeFailure* err, const std::string& code, const std::string& message) {
  err->code = code;
  err->message = message;
  return false;
}

std::unique_ptr<TrtBackend> TrtBackend::Load(const uint8_t* blob, size_t size, NativeFailure* err) {
  std::unique_ptr<TrtBackend> b(new TrtBackend());
  b->runtime_ = nvinfer1::createInferRuntime(b->logger_);
  if (b->runtime_ == nullptr) {
    b->Fail(err, kErrUnavailable, "TensorRT createInferRuntime failed: " + b->logger_.TakeLastError());
    return nullptr;
  }
  b->engine_ = b->runtime_->deserializeCudaEngine(blob, size);
  if (b->engine_ == nullptr) {
    b->Fail(err, kErrUnavailable,
            "TensorRT could not deserialize the engine (corrupt, or built by another TensorRT version or for another "
            "GPU; rebuild it with `inspectd build-engine`): " +
                b->logger_.TakeLastError());
    return nullptr;
  }
  const int32_t n = b->engine_->getNbIOTensors();
  int inputs = 0;
  for (int32_t i = 0; i < n; ++i) {
    TrtTensorInfo t;
    const char* name = b->engine_->getIOTensorName(i);
    t.name = name;
    t.is_input = b->engine_->getTensorIOMode(name) == nvinfer1::TensorIOMode::kINPUT;
    const nvinfer1::DataType dt = b->engine_->getTensorDataType(name);
    if (dt != nvinfer1::DataType::kFLOAT && dt != nvinfer1::DataType::kHALF) {
      b->Fail(err, kErrUnavailable,
              "engine tensor '" + t.name + "' has data type " + std::to_string(static_cast<int>(dt)) +
                  "; only float32 and float16 I/O are supported (export the model with float I/O)");
      return nullptr;
    }
    t.fp16 = dt == nvinfer1::DataType::kHALF;
    t.shape = FromDims(b->engine_->getTensorShape(name));
    if (t.is_input) {
      ++inputs;
      b->input_index_ = static_cast<size_t>(i);
      bool dynamic = false;
      for (int64_t d : t.shape) dynamic = dynamic || d < 0;
      // Static engines have no optimisation profile; asking would only log a TensorRT error.
      if (dynamic) {
        t.min_shape = FromDims(b->engine_->getProfileShape(name, 0, nvinfer1::OptProfileSelector::kMIN));
        t.max_shape = FromDims(b->engine_->getProfileShape(name, 0, nvinfer1::OptProfileSelector::kMAX));
      }
      if (t.max_shape.size() != t.shape.size()) t.max_shape = t.shape;
      if (t.min_shape.size() != t.shape.size()) t.min_shape = t.shape;
    }
    b->tensors_.push_back(std::move(t));
  }
  if (inputs != 1) {
    b->Fail(err, kErrUnavailable,
            "engine has " + std::to_string(inputs) + " inputs; inspectd runs single-input detection models");
    return nullptr;
  }
  b->buffers_.resize(b->tensors_.size());
  b->context_ = b->engine_->createExecutionContext();
  if (b->context_ == nullptr) {
    b->Fail(err, kErrUnavailable, "TensorRT could not create an execution context: " + b->logger_.TakeLastError());
    return nullptr;
  }
  cudaError_t ce = cudaStreamCreate(&b->stream_);
  if (ce != cudaSuccess) {
    b->stream_ = nullptr;
    b->Fail(err, kErrUnavailable, "cudaStreamCreate failed: " + CudaText(ce));
    return nullptr;
  }
  const TrtTensorInfo& in = b->tensors_[b->input_index_];
  const std::string where = "input '" + in.name + "' (" + (in.fp16 ? "float16" : "float32") + ")";
#if INSPECTD_WITH_CUDA_PREPROCESS
  const char* knob = std::getenv("INSPECTD_CUDA_LETTERBOX");
  if (knob != nullptr && std::strcmp(knob, "0") == 0) {
    b->SetLetterbox(false, "INSPECTD_CUDA_LETTERBOX=0: frames are letterboxed on the CPU into " + where);
  } else {
    b->SetLetterbox(true, "frames are letterboxed on the GPU (CUDA kernel) into " + where);
  }
#else
  b->SetLetterbox(false, "this addon was built without the CUDA letterbox kernel (no nvcc at build time): frames are "
                         "letterboxed on the CPU into " + where);
#endif
  return b;
}

void TrtBackend::SetLetterbox(bool cuda, std::string reason) {
  std::lock_guard<std::mutex> lock(letterbox_mu_);
  cuda_letterbox_ = cuda;
  letterbox_reason_ = std::move(reason);
}

bool TrtBackend::cuda_letterbox() const {
  std::lock_guard<std::mutex> lock(letterbox_mu_);
  return cuda_letterbox_;
}

std::string TrtBackend::letterbox_reason() const {
  std::lock_guard<std::mutex> lock(letterbox_mu_);
  return letterbox_reason_;
}

TrtBackend::~TrtBackend() {
  if (stream_ != nullptr) cudaStreamSynchronize(stream_);
  for (Buffer& buf : buffers_) {
    if (buf.device != nullptr) cudaFree(buf.device);
    if (buf.host != nullptr) cudaFreeHost(buf.host);
  }
  if (frame_device_ != nullptr) cudaFree(frame_device_);
  delete context_;  // TensorRT 10: plain delete, context before engine before runtime
  delete engine_;
  delete runtime_;
  if (stream_ != nullptr) cudaStreamDestroy(stream_);
}

bool TrtBackend::Reserve(size_t index, size_t bytes, NativeFailure* err) {
  Buffer& buf = buffers_[index];
  if (buf.capacity >= bytes) return true;
  if (buf.device != nullptr) cudaFree(buf.device);
  if (buf.host != nullptr) cudaFreeHost(buf.host);
  buf = Buffer{};
  cudaError_t ce = cudaMalloc(&buf.device, bytes);
  if (ce != cudaSuccess) {
    buf.device = nullptr;
    return Fail(err, kErrRun,
                "out of GPU memory: cudaMalloc of " + std::to_string(bytes) + " bytes for tensor '" +
                    tensors_[index].name + "' failed: " + CudaText(ce) +
                    " (use a smaller input size or free the GPU)");
  }
  ce = cudaMallocHost(&buf.host, bytes);
  if (ce != cudaSuccess) {
    cudaFree(buf.device);
    buf = Buffer{};
    return Fail(err, kErrRun,
                "cudaMallocHost of " + std::to_string(bytes) + " bytes for tensor '" + tensors_[index].name +
                    "' failed: " + CudaText(ce));
  }
  buf.capacity = bytes;
  return true;
}

bool TrtBackend::Prepare(const std::vector<int64_t>& dims, std::vector<std::vector<int64_t>>* out_dims,
                         NativeFailure* err) {
  const TrtTensorInfo& in = tensors_[input_index_];
  bool dynamic = false;
  bool ok = dims.size() == in.shape.size();
  for (size_t i = 0; ok && i < dims.size(); ++i) {
    if (dims[i] < 1) ok = false;
    if (in.shape[i] < 0) {
      dynamic = true;
      if (dims[i] < in.min_shape[i] || dims[i] > in.max_shape[i]) ok = false;
    } else if (dims[i] != in.shape[i]) {
      ok = false;
    }
  }
  if (!ok) {
    bool engine_dynamic = false;
    for (int64_t d : in.shape) engine_dynamic = engine_dynamic || d < 0;
    const std::string range =
        engine_dynamic ? " (profile " + DimsText(in.min_shape) + " .. " + DimsText(in.max_shape) + ")" : "";
    return Fail(err, kErrShape,
                "input '" + in.name + "' expects " + DimsText(in.shape) + range + ", got " + DimsText(dims));
  }
  if (dynamic) {
    nvinfer1::Dims d{};
    d.nbDims = static_cast<int32_t>(dims.size());
    for (size_t i = 0; i < dims.size(); ++i) d.d[i] = dims[i];
    if (!context_->setInputShape(in.name.c_str(), d)) {
      return Fail(err, kErrShape,
                  "TensorRT refused input shape " + DimsText(dims) + " for '" + in.name + "' (profile " +
                      DimsText(in.min_shape) + " .. " + DimsText(in.max_shape) + "): " + logger_.TakeLastError());
    }
  }

  const size_t in_bytes = static_cast<size_t>(Volume(dims)) * (in.fp16 ? 2 : 4);
  if (!Reserve(input_index_, in_bytes, err)) return false;
  out_dims->assign(tensors_.size(), {});
  for (size_t i = 0; i < tensors_.size(); ++i) {
    if (i == input_index_) continue;
    (*out_dims)[i] = FromDims(context_->getTensorShape(tensors_[i].name.c_str()));
    bool known = !(*out_dims)[i].empty();
    for (int64_t x : (*out_dims)[i]) known = known && x >= 0;
    if (!known) {
      return Fail(err, kErrRun,
                  "output '" + tensors_[i].name + "' has no concrete shape (" + DimsText((*out_dims)[i]) +
                      ") for input " + DimsText(dims) + "; data-dependent output shapes are not supported");
    }
    const size_t bytes = static_cast<size_t>(Volume((*out_dims)[i])) * (tensors_[i].fp16 ? 2 : 4);
    if (!Reserve(i, bytes == 0 ? 1 : bytes, err)) return false;
  }
  return true;
}

bool TrtBackend::Execute(const std::vector<std::vector<int64_t>>& out_dims, std::vector<TrtOutput>* outs,
                         NativeFailure* err) {
  for (size_t i = 0; i < tensors_.size(); ++i) {
    if (!context_->setTensorAddress(tensors_[i].name.c_str(), buffers_[i].device)) {
      return Fail(err, kErrRun, "setTensorAddress failed for '" + tensors_[i].name + "': " + logger_.TakeLastError());
    }
  }
  if (!context_->enqueueV3(stream_)) {
    cudaStreamSynchronize(stream_);
    return Fail(err, kErrRun, "TensorRT enqueueV3 failed: " + logger_.TakeLastError());
  }
  for (size_t i = 0; i < tensors_.size(); ++i) {
    if (i == input_index_) continue;
    const size_t bytes = static_cast<size_t>(Volume(out_dims[i])) * (tensors_[i].fp16 ? 2 : 4);
    if (bytes == 0) continue;
    cudaError_t ce = cudaMemcpyAsync(buffers_[i].host, buffers_[i].device, bytes, cudaMemcpyDeviceToHost, stream_);
    if (ce != cudaSuccess) {
      cudaStreamSynchronize(stream_);
      return Fail(err, kErrRun, "copying output '" + tensors_[i].name + "' from the GPU failed: " + CudaText(ce));
    }
  }
  cudaError_t ce = cudaStreamSynchronize(stream_);
  if (ce != cudaSuccess) return Fail(err, kErrRun, "CUDA stream failed: " + CudaText(ce));

  outs->clear();
  for (size_t i = 0; i < tensors_.size(); ++i) {
    if (i == input_index_) continue;
    TrtOutput o;
    o.name = tensors_[i].name;
    o.dims = out_dims[i];
    const size_t n = static_cast<size_t>(Volume(out_dims[i]));
    o.data.resize(n);
    if (tensors_[i].fp16) {
      const uint16_t* h = static_cast<const uint16_t*>(buffers_[i].host);
      for (size_t k = 0; k < n; ++k) o.data[k] = HalfToFloat(h[k]);
    } else if (n > 0) {
      std::memcpy(o.data.data(), buffers_[i].host, n * 4);
    }
    outs->push_back(std::move(o));
  }
  return true;
}

bool TrtBackend::Run(const float* input, size_t input_len, const std::vector<int64_t>& dims,
                     std::vector<TrtOutput>* outs, NativeFailure* err) {
  std::lock_guard<std::mutex> lock(run_mu_);
  std::vector<std::vector<int64_t>> out_dims;
  if (!Prepare(dims, &out_dims, err)) return false;
  const TrtTensorInfo& in = tensors_[input_index_];
  if (static_cast<int64_t>(input_len) != Volume(dims)) {
    return Fail(err, kErrShape,
                "input data has " + std::to_string(input_len) + " values, dims " + DimsText(dims) + " need " +
                    std::to_string(Volume(dims)));
  }
  const size_t in_bytes = input_len * (in.fp16 ? 2 : 4);
  Buffer& ib = buffers_[input_index_];
  if (in.fp16) {
    uint16_t* h = static_cast<uint16_t*>(ib.host);
    for (size_t i = 0; i < input_len; ++i) h[i] = FloatToHalf(input[i]);
  } else {
    std::memcpy(ib.host, input, in_bytes);
  }
  cudaError_t ce = cudaMemcpyAsync(ib.device, ib.host, in_bytes, cudaMemcpyHostToDevice, stream_);
  if (ce != cudaSuccess) return Fail(err, kErrRun, "copying the input to the GPU failed: " + CudaText(ce));
  return Execute(out_dims, outs, err);
}

bool TrtBackend::LetterboxInput(const PreprocessSource& frame, int dst_w, int dst_h, const LetterboxGeometry& g,
                                bool* on_gpu, NativeFailure* err) {
  const TrtTensorInfo& in = tensors_[input_index_];
  Buffer& ib = buffers_[input_index_];
#if INSPECTD_WITH_CUDA_PREPROCESS
  if (cuda_letterbox()) {
    // The frame goes up as bytes; the tensor is made where the engine reads it (no host round trip).
    const size_t bytes = FrameBytes(frame);
    cudaError_t ce = cudaSuccess;
    if (frame_capacity_ < bytes) {
      if (frame_device_ != nullptr) cudaFree(frame_device_);
      frame_device_ = nullptr;
      frame_capacity_ = 0;
      ce = cudaMalloc(&frame_device_, bytes);
      if (ce == cudaSuccess) {
        frame_capacity_ = bytes;
      } else {
        frame_device_ = nullptr;
        return Fail(err, kErrRun,
                    "out of GPU memory: cudaMalloc of " + std::to_string(bytes) + " bytes for the raw frame failed: " +
                        CudaText(ce) + " (use a smaller camera resolution or free the GPU)");
      }
    }
    ce = EnqueueCudaLetterbox(frame, frame_device_, dst_w, dst_h, g, in.fp16, ib.device, stream_);
    if (ce == cudaSuccess) {
      *on_gpu = true;
      return true;
    }
    // E.g. no kernel image for this GPU's arch: the CPU letterbox serves this frame and every later one.
    SetLetterbox(false, "the CUDA letterbox kernel failed (" + CudaText(ce) + "): frames are letterboxed on the CPU "
                        "into input '" + in.name + "' from now on");
  }
#endif
  if (in.fp16) {
    LetterboxToChwF16(frame, dst_w, dst_h, g, static_cast<uint16_t*>(ib.host));
  } else {
    LetterboxToChwF32(frame, dst_w, dst_h, g, static_cast<float*>(ib.host));
  }
  const size_t in_bytes = static_cast<size_t>(3) * dst_w * dst_h * (in.fp16 ? 2 : 4);
  cudaError_t ce = cudaMemcpyAsync(ib.device, ib.host, in_bytes, cudaMemcpyHostToDevice, stream_);
  if (ce != cudaSuccess) return Fail(err, kErrRun, "copying the input to the GPU failed: " + CudaText(ce));
  *on_gpu = false;
  return true;
}

bool TrtBackend::RunFrame(const PreprocessSource& frame, const std::vector<int64_t>& dims,
                          std::vector<TrtOutput>* outs, LetterboxGeometry* geometry, bool* on_gpu,
                          NativeFailure* err) {
  std::lock_guard<std::mutex> lock(run_mu_);
  if (dims.size() != 4 || dims[0] != 1 || dims[1] != 3 || dims[2] < 1 || dims[3] < 1 || dims[2] > 16384 ||
      dims[3] > 16384) {
    return Fail(err, kErrShape,
                "runFrame letterboxes into one NCHW RGB image: dims must be [1, 3, H, W], got " + DimsText(dims));
  }
  std::vector<std::vector<int64_t>> out_dims;
  if (!Prepare(dims, &out_dims, err)) return false;
  const int dst_h = static_cast<int>(dims[2]);
  const int dst_w = static_cast<int>(dims[3]);
  *geometry = ComputeLetterbox(frame.width, frame.height, dst_w, dst_h);
  if (!LetterboxInput(frame, dst_w, dst_h, *geometry, on_gpu, err)) return false;
  return Execute(out_dims, outs, err);
}

std::string TrtVersion() {
  const int32_t v = getInferLibVersion();
  int major, minor, patch;
  if (v >= 10000) {  // TensorRT >= 10: MAJOR * 10000 + MINOR * 100 + PATCH
    major = v / 10000;
    minor = (v / 100) % 100;
    patch = v % 100;
  } else {  // TensorRT 8: MAJOR * 1000 + MINOR * 100 + PATCH
    major = v / 1000;
    minor = (v / 100) % 10;
    patch = v % 100;
  }
  return std::to_string(major) + "." + std::to_string(minor) + "." + std::to_string(patch);
}

std::string ComputeCapability(std::string* why) {
  int dev = 0;
  cudaError_t ce = cudaGetDevice(&dev);
  int major = 0, minor = 0;
  if (ce == cudaSuccess) ce = cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, dev);
  if (ce == cudaSuccess) ce = cudaDeviceGetAttribute(&minor, cudaDevAttrComputeCapabilityMinor, dev);
  if (ce != cudaSuccess) {
    *why = "no usable CUDA device: " + CudaText(ce);
    return "";
  }
  return std::to_string(major) + "." + std::to_string(minor);
}

}  // namespace inspectd
