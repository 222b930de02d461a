// STAND-IN implementation of the TensorRT/CUDA subset in NvInfer.h / cuda_runtime_api.h. Test use only.
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "../half.h"
#include "NvInfer.h"
#include "cuda_runtime_api.h"
#include "standin_stats.h"

namespace {

struct Alloc {
  size_t size;
  bool device;
};

std::mutex g_mu;
std::map<const void*, Alloc> g_allocs;
size_t g_device_bytes = 0;
long g_live_objects = 0;
inspectd::standin::Transfers g_transfers;

long EnvLong(const char* name, long fallback) {
  const char* v = std::getenv(name);
  if (v == nullptr || *v == '\0') return fallback;
  return std::strtol(v, nullptr, 10);
}

// Is [p, p + n) inside one live allocation of the given kind?
bool Covered(const void* p, size_t n, bool device) {
  std::lock_guard<std::mutex> lock(g_mu);
  auto it = g_allocs.upper_bound(p);
  if (it == g_allocs.begin()) return false;
  --it;
  const char* base = static_cast<const char*>(it->first);
  const char* q = static_cast<const char*>(p);
  return it->second.device == device && q >= base && q + n <= base + it->second.size;
}

bool IsTracked(const void* p) {
  std::lock_guard<std::mutex> lock(g_mu);
  auto it = g_allocs.upper_bound(p);
  if (it == g_allocs.begin()) return false;
  --it;
  const char* base = static_cast<const char*>(it->first);
  const char* q = static_cast<const char*>(p);
  return q >= base && q < base + it->second.size;
}

cudaError_t Allocate(void** out, size_t size, bool device) {
  if (out == nullptr || size == 0) return cudaErrorInvalidValue;
  std::lock_guard<std::mutex> lock(g_mu);
  if (device) {
    const long cap = EnvLong("INSPECTD_STANDIN_DEVICE_BYTES", 1L << 40);
    if (g_device_bytes + size > static_cast<size_t>(cap)) {
      *out = nullptr;
      return cudaErrorMemoryAllocation;
    }
  }
  void* p = std::malloc(size);
  if (p == nullptr) return cudaErrorMemoryAllocation;
  g_allocs[p] = Alloc{size, device};
  if (device) g_device_bytes += size;
  *out = p;
  return cudaSuccess;
}

cudaError_t Release(void* p, bool device) {
  if (p == nullptr) return cudaSuccess;
  std::lock_guard<std::mutex> lock(g_mu);
  auto it = g_allocs.find(p);
  if (it == g_allocs.end() || it->second.device != device) return cudaErrorInvalidValue;
  if (device) g_device_bytes -= it->second.size;
  g_allocs.erase(it);
  std::free(p);
  return cudaSuccess;
}

}  // namespace

struct CUstream_st {
  int unused;
};

extern "C" {

cudaError_t cudaMalloc(void** devPtr, size_t size) { return Allocate(devPtr, size, true); }
cudaError_t cudaFree(void* devPtr) { return Release(devPtr, true); }
cudaError_t cudaMallocHost(void** ptr, size_t size) { return Allocate(ptr, size, false); }
cudaError_t cudaFreeHost(void* ptr) { return Release(ptr, false); }

cudaError_t cudaMemcpyAsync(void* dst, const void* src, size_t count, enum cudaMemcpyKind kind, cudaStream_t) {
  if (kind == cudaMemcpyHostToDevice) {
    if (!Covered(dst, count, true) || IsTracked(src) != Covered(src, count, false)) return cudaErrorInvalidValue;
  } else if (kind == cudaMemcpyDeviceToHost) {
    if (!Covered(src, count, true) || IsTracked(dst) != Covered(dst, count, false)) return cudaErrorInvalidValue;
  } else {
    return cudaErrorInvalidValue;  // the backend only copies host<->device
  }
  std::memcpy(dst, src, count);
  std::lock_guard<std::mutex> lock(g_mu);
  (kind == cudaMemcpyHostToDevice ? g_transfers.h2d_bytes : g_transfers.d2h_bytes) += count;
  return cudaSuccess;
}

cudaError_t cudaStreamCreate(cudaStream_t* pStream) {
  *pStream = new CUstream_st{0};
  std::lock_guard<std::mutex> lock(g_mu);
  ++g_live_objects;
  return cudaSuccess;
}

cudaError_t cudaStreamDestroy(cudaStream_t stream) {
  delete stream;
  std::lock_guard<std::mutex> lock(g_mu);
  --g_live_objects;
  return cudaSuccess;
}

cudaError_t cudaStreamSynchronize(cudaStream_t) {
  const long ms = EnvLong("INSPECTD_STANDIN_ENQUEUE_DELAY_MS", 0);
  if (ms > 0) std::this_thread::sleep_for(std::chrono::milliseconds(ms));
  return cudaSuccess;
}

cudaError_t cudaGetDevice(int* device) {
  *device = 0;
  return cudaSuccess;
}

cudaError_t cudaDeviceGetAttribute(int* value, enum cudaDeviceAttr attr, int) {
  if (attr == cudaDevAttrComputeCapabilityMajor) {
    *value = 8;
  } else if (attr == cudaDevAttrComputeCapabilityMinor) {
    *value = 7;
  } else {
    return cudaErrorInvalidValue;
  }
  return cudaSuccess;
}

const char* cudaGetErrorString(cudaError_t error) {
  switch (error) {
    case cudaSuccess:
      return "no error";
    case cudaErrorInvalidValue:
      return "invalid argument";
    case cudaErrorMemoryAllocation:
      return "out of memory";
    case cudaErrorNoDevice:
      return "no CUDA-capable device is detected";
    case cudaErrorNoKernelImageForDevice:
      return "no kernel image is available for execution on the device";
    default:
      return "unknown error";
  }
}

int32_t getInferLibVersion() noexcept { return 100000; }  // 10.0.0

}  // extern "C"

namespace nvinfer1 {
namespace standin {

struct Tensor {
  std::string name;
  TensorIOMode mode;
  DataType dtype;
  std::vector<int64_t> dims;
  std::vector<int64_t> max_dims;
};

struct EngineImpl {
  uint32_t function = 0;
  std::vector<Tensor> tensors;
  const Tensor* Find(const char* name) const {
    if (name == nullptr) return nullptr;
    for (const Tensor& t : tensors)
      if (t.name == name) return &t;
    return nullptr;
  }
  const Tensor* Input() const {
    for (const Tensor& t : tensors)
      if (t.mode == TensorIOMode::kINPUT) return &t;
    return nullptr;
  }
};

struct ContextImpl {
  const EngineImpl* engine;
  std::vector<int64_t> input_dims;  // current input shape (engine dims until set)
  std::map<std::string, void*> addresses;
};

struct RuntimeImpl {
  ILogger* logger;
};

namespace {

Dims ToDims(const std::vector<int64_t>& v) {
  Dims d{};
  d.nbDims = static_cast<int32_t>(v.size());
  for (size_t i = 0; i < v.size(); ++i) d.d[i] = v[i];
  return d;
}

Dims Invalid() {
  Dims d{};
  d.nbDims = -1;
  return d;
}

class Reader {
 public:
  Reader(const uint8_t* p, size_t n) : p_(p), n_(n) {}
  template <typename T>
  bool Get(T* out) {
    if (n_ - off_ < sizeof(T) || off_ > n_) return false;
    std::memcpy(out, p_ + off_, sizeof(T));
    off_ += sizeof(T);
    return true;
  }
  bool Bytes(std::string* out, size_t len) {
    if (n_ - off_ < len) return false;
    out->assign(reinterpret_cast<const char*>(p_ + off_), len);
    off_ += len;
    return true;
  }
  bool AtEnd() const { return off_ == n_; }

 private:
  const uint8_t* p_;
  size_t n_;
  size_t off_ = 0;
};

bool Parse(const void* blob, size_t size, EngineImpl* e, std::string* why) {
  if (blob == nullptr || size < 8 || std::memcmp(blob, "INSPTRT1", 8) != 0) {
    *why = "bad magic: not a serialized engine";
    return false;
  }
  Reader r(static_cast<const uint8_t*>(blob) + 8, size - 8);
  uint32_t count = 0;
  if (!r.Get(&e->function) || e->function > 1 || !r.Get(&count) || count < 1 || count > 8) {
    *why = "bad header";
    return false;
  }
  int inputs = 0;
  for (uint32_t i = 0; i < count; ++i) {
    Tensor t;
    uint8_t mode = 0, dtype = 0;
    uint16_t name_len = 0;
    uint32_t rank = 0;
    if (!r.Get(&mode) || !r.Get(&dtype) || !r.Get(&name_len) || !r.Bytes(&t.name, name_len) || !r.Get(&rank) ||
        (mode != 1 && mode != 2) || dtype > 9 || rank < 1 || rank > 8 || t.name.empty()) {
      *why = "bad tensor record " + std::to_string(i);
      return false;
    }
    t.mode = static_cast<TensorIOMode>(mode);
    t.dtype = static_cast<DataType>(dtype);
    t.dims.resize(rank);
    for (auto& d : t.dims)
      if (!r.Get(&d) || d == 0 || d < -1) {
        *why = "bad dims in tensor " + t.name;
        return false;
      }
    if (mode == 1) {
      ++inputs;
      t.max_dims.resize(rank);
      for (size_t k = 0; k < rank; ++k)
        if (!r.Get(&t.max_dims[k]) || (t.dims[k] > 0 && t.max_dims[k] != t.dims[k]) || t.max_dims[k] < 1) {
          *why = "bad profile in tensor " + t.name;
          return false;
        }
    }
    e->tensors.push_back(std::move(t));
  }
  if (inputs != 1 || !r.AtEnd()) {
    *why = inputs != 1 ? "stand-in engines have exactly one input" : "trailing bytes";
    return false;
  }
  return true;
}

size_t ElemSize(DataType t) { return t == DataType::kHALF ? 2 : 4; }

int64_t Volume(const std::vector<int64_t>& d) {
  int64_t v = 1;
  for (int64_t x : d) v *= x;
  return v;
}

std::vector<int64_t> OutputDims(const EngineImpl& e, const Tensor& out, const std::vector<int64_t>& in) {
  if (e.function == 0) return in;
  std::vector<int64_t> d = {in[0], in.size() > 1 ? in[1] : 1};
  (void)out;
  return d;
}

float Load(const void* p, DataType t, int64_t i) {
  if (t == DataType::kHALF) return inspectd::HalfToFloat(static_cast<const uint16_t*>(p)[i]);
  return static_cast<const float*>(p)[i];
}

void StoreValue(void* p, DataType t, int64_t i, float v) {
  if (t == DataType::kHALF) {
    static_cast<uint16_t*>(p)[i] = inspectd::FloatToHalf(v);
  } else {
    static_cast<float*>(p)[i] = v;
  }
}

}  // namespace
}  // namespace standin

IExecutionContext::~IExecutionContext() noexcept {
  delete mImpl;
  std::lock_guard<std::mutex> lock(g_mu);
  --g_live_objects;
}

bool IExecutionContext::setInputShape(char const* tensorName, Dims const& dims) noexcept {
  const standin::Tensor* t = mImpl->engine->Find(tensorName);
  if (t == nullptr || t->mode != TensorIOMode::kINPUT || dims.nbDims != static_cast<int32_t>(t->dims.size()))
    return false;
  for (int32_t i = 0; i < dims.nbDims; ++i) {
    if (dims.d[i] < 1 || dims.d[i] > t->max_dims[i]) return false;
    if (t->dims[i] > 0 && dims.d[i] != t->dims[i]) return false;
  }
  mImpl->input_dims.assign(dims.d, dims.d + dims.nbDims);
  return true;
}

Dims IExecutionContext::getTensorShape(char const* tensorName) const noexcept {
  const standin::Tensor* t = mImpl->engine->Find(tensorName);
  if (t == nullptr) return standin::Invalid();
  if (t->mode == TensorIOMode::kINPUT) return standin::ToDims(mImpl->input_dims);
  return standin::ToDims(standin::OutputDims(*mImpl->engine, *t, mImpl->input_dims));
}

bool IExecutionContext::setTensorAddress(char const* tensorName, void* data) noexcept {
  if (mImpl->engine->Find(tensorName) == nullptr || data == nullptr) return false;
  mImpl->addresses[tensorName] = data;
  return true;
}

bool IExecutionContext::enqueueV3(cudaStream_t stream) noexcept {
  if (stream == nullptr) return false;
  const standin::EngineImpl& e = *mImpl->engine;
  const standin::Tensor* in = e.Input();
  const std::vector<int64_t>& dims = mImpl->input_dims;
  for (int64_t d : dims)
    if (d < 1) return false;  // input shape not specified
  auto addr = [&](const standin::Tensor& t, const std::vector<int64_t>& d) -> void* {
    auto it = mImpl->addresses.find(t.name);
    if (it == mImpl->addresses.end()) return nullptr;
    const size_t bytes = static_cast<size_t>(standin::Volume(d)) * standin::ElemSize(t.dtype);
    return Covered(it->second, bytes, true) ? it->second : nullptr;
  };
  const void* src = addr(*in, dims);
  if (src == nullptr) return false;
  int k = 0;
  for (const standin::Tensor& t : e.tensors) {
    if (t.mode != TensorIOMode::kOUTPUT) continue;
    const std::vector<int64_t> od = standin::OutputDims(e, t, dims);
    void* dst = addr(t, od);
    if (dst == nullptr) return false;
    if (e.function == 0) {
      const int64_t n = standin::Volume(dims);
      for (int64_t i = 0; i < n; ++i)
        standin::StoreValue(dst, t.dtype, i, standin::Load(src, in->dtype, i) * 2.0f + 1.0f + static_cast<float>(k));
    } else {
      const int64_t outer = od[0] * od[1];
      const int64_t inner = standin::Volume(dims) / outer;
      for (int64_t o = 0; o < outer; ++o) {
        double sum = 0;
        for (int64_t i = 0; i < inner; ++i) sum += standin::Load(src, in->dtype, o * inner + i);
        standin::StoreValue(dst, t.dtype, o, static_cast<float>(sum));
      }
    }
    ++k;
  }
  return true;
}

ICudaEngine::~ICudaEngine() noexcept {
  delete mImpl;
  std::lock_guard<std::mutex> lock(g_mu);
  --g_live_objects;
}

int32_t ICudaEngine::getNbIOTensors() const noexcept { return static_cast<int32_t>(mImpl->tensors.size()); }

char const* ICudaEngine::getIOTensorName(int32_t index) const noexcept {
  if (index < 0 || index >= getNbIOTensors()) return nullptr;
  return mImpl->tensors[index].name.c_str();
}

TensorIOMode ICudaEngine::getTensorIOMode(char const* tensorName) const noexcept {
  const standin::Tensor* t = mImpl->Find(tensorName);
  return t == nullptr ? TensorIOMode::kNONE : t->mode;
}

Dims ICudaEngine::getTensorShape(char const* tensorName) const noexcept {
  const standin::Tensor* t = mImpl->Find(tensorName);
  if (t == nullptr) return standin::Invalid();
  if (t->mode == TensorIOMode::kOUTPUT) {  // outputs follow the input, so report -1 where it is dynamic
    const standin::Tensor* in = mImpl->Input();
    std::vector<int64_t> d = standin::OutputDims(*mImpl, *t, in->dims);
    for (auto& x : d)
      if (x < 1) x = -1;
    return standin::ToDims(d);
  }
  return standin::ToDims(t->dims);
}

DataType ICudaEngine::getTensorDataType(char const* tensorName) const noexcept {
  const standin::Tensor* t = mImpl->Find(tensorName);
  return t == nullptr ? DataType::kFLOAT : t->dtype;
}

Dims ICudaEngine::getProfileShape(char const* tensorName, int32_t profileIndex,
                                  OptProfileSelector select) const noexcept {
  const standin::Tensor* t = mImpl->Find(tensorName);
  if (t == nullptr || t->mode != TensorIOMode::kINPUT || profileIndex != 0) return standin::Invalid();
  std::vector<int64_t> d = t->dims;
  for (size_t i = 0; i < d.size(); ++i)
    if (d[i] < 1) d[i] = select == OptProfileSelector::kMIN ? 1 : t->max_dims[i];
  return standin::ToDims(d);
}

IExecutionContext* ICudaEngine::createExecutionContext() noexcept {
  auto* c = new IExecutionContext();
  c->mImpl = new standin::ContextImpl{mImpl, mImpl->Input()->dims, {}};
  std::lock_guard<std::mutex> lock(g_mu);
  ++g_live_objects;
  return c;
}

IRuntime::~IRuntime() noexcept {
  delete mImpl;
  std::lock_guard<std::mutex> lock(g_mu);
  --g_live_objects;
}

ICudaEngine* IRuntime::deserializeCudaEngine(void const* blob, std::size_t size) noexcept {
  auto* impl = new standin::EngineImpl();
  std::string why;
  if (!standin::Parse(blob, size, impl, &why)) {
    delete impl;
    mImpl->logger->log(ILogger::Severity::kERROR, ("stand-in deserializeCudaEngine: " + why).c_str());
    return nullptr;
  }
  auto* e = new ICudaEngine();
  e->mImpl = impl;
  std::lock_guard<std::mutex> lock(g_mu);
  ++g_live_objects;
  return e;
}

IRuntime* createInferRuntime(ILogger& logger) noexcept {
  auto* r = new IRuntime();
  r->mImpl = new standin::RuntimeImpl{&logger};
  std::lock_guard<std::mutex> lock(g_mu);
  ++g_live_objects;
  return r;
}

}  // namespace nvinfer1

namespace inspectd {
namespace standin {

Transfers GetTransfers() {
  std::lock_guard<std::mutex> lock(g_mu);
  return g_transfers;
}

bool IsDeviceRange(const void* p, size_t n) { return Covered(p, n, true); }

void CountKernelLaunch() {
  std::lock_guard<std::mutex> lock(g_mu);
  ++g_transfers.kernel_launches;
}

Stats GetStats() {
  std::lock_guard<std::mutex> lock(g_mu);
  Stats s;
  s.device_bytes = g_device_bytes;
  for (const auto& kv : g_allocs) (kv.second.device ? s.device_allocs : s.host_allocs)++;
  s.live_objects = g_live_objects;
  return s;
}

}  // namespace standin
}  // namespace inspectd
