// STAND-IN for TensorRT 10's NvInfer.h: the subset native/trt_backend.cc uses, with the same names,
// signatures and enum values as TensorRT 10 (Dims64, name-based I/O tensors, enqueueV3). The real
// classes forward to an implementation pointer; these do too (standin.cc). The "engine" format the
// stand-in deserializes is documented in FORMAT.md beside this file.
#ifndef INSPECTD_STANDIN_NVINFER_H_
#define INSPECTD_STANDIN_NVINFER_H_

#include <cstddef>
#include <cstdint>

#include "cuda_runtime_api.h"

#define NV_TENSORRT_MAJOR 10
#define NV_TENSORRT_MINOR 0
#define NV_TENSORRT_PATCH 0

extern "C" int32_t getInferLibVersion() noexcept;

namespace nvinfer1 {

using AsciiChar = char;

class Dims64 {
 public:
  static constexpr int32_t MAX_DIMS{8};
  int32_t nbDims;
  int64_t d[MAX_DIMS];
};
using Dims = Dims64;

enum class DataType : int32_t {
  kFLOAT = 0,
  kHALF = 1,
  kINT8 = 2,
  kINT32 = 3,
  kBOOL = 4,
  kUINT8 = 5,
  kFP8 = 6,
  kBF16 = 7,
  kINT64 = 8,
  kINT4 = 9,
};

enum class TensorIOMode : int32_t { kNONE = 0, kINPUT = 1, kOUTPUT = 2 };

enum class OptProfileSelector : int32_t { kMIN = 0, kOPT = 1, kMAX = 2 };

class ILogger {
 public:
  enum class Severity : int32_t { kINTERNAL_ERROR = 0, kERROR = 1, kWARNING = 2, kINFO = 3, kVERBOSE = 4 };
  ILogger() = default;
  virtual void log(Severity severity, AsciiChar const* msg) noexcept = 0;
  virtual ~ILogger() = default;
};

namespace standin {
struct EngineImpl;
struct ContextImpl;
struct RuntimeImpl;
}  // namespace standin

class IExecutionContext {
 public:
  ~IExecutionContext() noexcept;
  bool setInputShape(char const* tensorName, Dims const& dims) noexcept;
  Dims getTensorShape(char const* tensorName) const noexcept;
  bool setTensorAddress(char const* tensorName, void* data) noexcept;
  bool enqueueV3(cudaStream_t stream) noexcept;

  standin::ContextImpl* mImpl;
};

class ICudaEngine {
 public:
  ~ICudaEngine() noexcept;
  int32_t getNbIOTensors() const noexcept;
  char const* getIOTensorName(int32_t index) const noexcept;
  TensorIOMode getTensorIOMode(char const* tensorName) const noexcept;
  Dims getTensorShape(char const* tensorName) const noexcept;
  DataType getTensorDataType(char const* tensorName) const noexcept;
  Dims getProfileShape(char const* tensorName, int32_t profileIndex, OptProfileSelector select) const noexcept;
  IExecutionContext* createExecutionContext() noexcept;

  standin::EngineImpl* mImpl;
};

class IRuntime {
 public:
  ~IRuntime() noexcept;
  ICudaEngine* deserializeCudaEngine(void const* blob, std::size_t size) noexcept;

  standin::RuntimeImpl* mImpl;
};

IRuntime* createInferRuntime(ILogger& logger) noexcept;

}  // namespace nvinfer1

#endif  // INSPECTD_STANDIN_NVINFER_H_
