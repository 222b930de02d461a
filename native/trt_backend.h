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
#include "preprocess.h"

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

  // One inference on a raw frame, letterboxed to dims = [1, 3, H, W] straight into the input binding: on the
  // GPU (preprocess_cuda.cu) when this build has the kernel and it launches, else on the CPU into the pinned
  // staging buffer. *on_gpu says which one did; a failed launch switches this engine to the CPU for good.
  bool RunFrame(const PreprocessSource& frame, const std::vector<int64_t>& dims, std::vector<TrtOutput>* outs,
                LetterboxGeometry* geometry, bool* on_gpu, NativeFailure* err);

  // Which letterbox RunFrame uses now, and why (for the log). Safe from any thread.
  bool cuda_letterbox() const;
  std::string letterbox_reason() const;

 private:
  struct Buffer {
    void* device = nullptr;
    void* host = nullptr;  // pinned
    size_t capacity = 0;
  };
  TrtBackend() = default;
  bool Reserve(size_t index, size_t bytes, NativeFailure* err);
  bool Fail(NativeFailure* err, const std::string& code, const std::string& message);
  // Run's halves: check dims, set the input shape and size every buffer; then bind, enqueue, fetch outputs.
  bool Prepare(const std::vector<int64_t>& dims, std::vector<std::vector<int64_t>>* out_dims, NativeFailure* err);
  bool Execute(const std::vector<std::vector<int64_t>>& out_dims, std::vector<TrtOutput>* outs, NativeFailure* err);
  // Fills the input binding from `frame`; false (with *err) only when neither letterbox could.
  bool LetterboxInput(const PreprocessSource& frame, int dst_w, int dst_h, const LetterboxGeometry& g, bool* on_gpu,
                      NativeFailure* err);
  void SetLetterbox(bool cuda, std::string reason);

  TrtLogger logger_;
  nvinfer1::IRuntime* runtime_ = nullptr;
  nvinfer1::ICudaEngine* engine_ = nullptr;
  nvinfer1::IExecutionContext* context_ = nullptr;
  cudaStream_t stream_ = nullptr;
  std::vector<TrtTensorInfo> tensors_;
  std::vector<Buffer> buffers_;  // parallel to tensors_
  size_t input_index_ = 0;
  std::mutex run_mu_;
  void* frame_device_ = nullptr;  // the raw frame on the GPU (CUDA letterbox only)
  size_t frame_capacity_ = 0;
  mutable std::mutex letterbox_mu_;  // guards the two below: a run may change them while JS reads them
  bool cuda_letterbox_ = false;
  std::string letterbox_reason_;
};

// "10.3.0" from getInferLibVersion(); "8.7" from the current CUDA device, or "" with *why set.
std::string TrtVersion();
std::string ComputeCapability(std::string* why);

}  // namespace inspectd

#endif  // INSPECTD_TRT_BACKEND_H_
