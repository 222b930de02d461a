// Registers exports only; each concern lives in its own file.
#include <napi.h>

#include "preprocess.h"
#include "sd_notify.h"
#include "trt_engine.h"
#if INSPECTD_TRT_STANDIN
#include "trt_standin/standin_js.h"
#endif

namespace inspectd {

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  InitPreprocess(env, exports);
  InitSdNotify(env, exports);
  InitTensorRt(env, exports);
#if INSPECTD_TRT_STANDIN
  InitStandin(env, exports);
#endif
  return exports;
}

}  // namespace inspectd

static Napi::Object InitAddon(Napi::Env env, Napi::Object exports) { return inspectd::Init(env, exports); }
NODE_API_MODULE(NODE_GYP_MODULE_NAME, InitAddon)
