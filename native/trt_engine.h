// JS wrapper of TrtBackend: `tensorrt` export with {available, reason?, version?, computeCapability(), Engine}.
#ifndef INSPECTD_TRT_ENGINE_H_
#define INSPECTD_TRT_ENGINE_H_

#include <napi.h>

namespace inspectd {

// Without INSPECTD_WITH_TENSORRT: exports.tensorrt = {available: false, reason}.
void InitTensorRt(Napi::Env env, Napi::Object exports);

}  // namespace inspectd

#endif  // INSPECTD_TRT_ENGINE_H_
