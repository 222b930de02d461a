// TensorRT 10 backend, pure C++ (no N-API): deserialize an engine, own its device/pinned buffers and
// one CUDA stream, run one input -> all outputs. Compiled only with INSPECTD_WITH_TENSORRT (real
// TensorRT, or the stand-in in native/trt_standin for tests).
#ifndef INSPECTD_TRT_BACKEND_H_
#define INSPECTD_TRT_BACKEND_H_

#include <NvInfer.h>
#include <cuda_runtime_api.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "js_error.h"

namespace inspectd {

struct TrtTensorInfo {
  std::string name;
  bool is_input = false;
  bool fp16 = false;
  std::vector<int64_t> shape;      // -1 where dynamic
  std::vector<int64_t> max_shape;  // inputs: profile 0 kMAX
  std::vector<int64_t> min_shape;  // inputs: profile 0 kMIN
};

struct TrtOutput {
  std::string name;
  std::vector<int64_t> dims;
  std::vector<float> data;
};

class TrtLogger : public nvinfer1::ILogger {
 public:
  void log(Severity severity, nvinfer1::AsciiChar const* msg) noexcept override;
  std::string TakeLastError();

 private:
  std::mutex mu_;
  std::string last_error_;
};

class TrtBackend {
 public:
  // Returns nullptr and fills *err when the blob cannot be used.
  static std::unique_ptr<TrtBackend> Load(const uint8_t* blob, size_t size, NativeFailure* err);
  ~TrtBackend();
  TrtBackend(const TrtBackend&) = delete;
  TrtBackend& operator=(const TrtBackend&) = delete;

  const std::vector<TrtTensorInfo>& tensors() const { return tensors_; }

  // One inference; serialised internally (one context, one stream). Safe on a worker thread.
  bool Run(const float* input, size_t input_len, const std::vector<int64_t>& dims, std::vector<TrtOutput>* outs,
           NativeFailure* err);

 private:
  struct Buffer {
    void* device = nullptr;
    void* host = nullptr;  // pinned
    size_t capacity = 0;
  };
  TrtBackend() = default;
  bool Reserve(size_t index, size_t bytes, NativeFailure* err);
  bool Fail(NativeFailure* err, const std::string& code, const std::string& message);

  TrtLogger logger_;
  nvinfer1::IRuntime* runtime_ = nullptr;
  nvinfer1::ICudaEngine* engine_ = nullptr;
  nvinfer1::IExecutionContext* context_ = nullptr;
  cudaStream_t stream_ = nullptr;
  std::vector<TrtTensorInfo> tensors_;
  std::vector<Buffer> buffers_;  // parallel to tensors_
  size_t input_index_ = 0;
  std::mutex run_mu_;
};

// "10.3.0" from getInferLibVersion(); "8.7" from the current CUDA device, or "" with *why set.
std::string TrtVersion();
std::string ComputeCapability(std::string* why);

}  // namespace inspectd

#endif  // INSPECTD_TRT_BACKEND_H_
