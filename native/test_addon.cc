// inspectd_test_native: helpers the tests need that the production addon must not ship.
#include <napi.h>

#include "dgram_receiver.h"

namespace inspectd {

Napi::Object InitTest(Napi::Env env, Napi::Object exports) {
  InitDgramReceiver(env, exports);
  return exports;
}

}  // namespace inspectd

static Napi::Object InitAddon(Napi::Env env, Napi::Object exports) { return inspectd::InitTest(env, exports); }
NODE_API_MODULE(NODE_GYP_MODULE_NAME, InitAddon)
