#include <napi.h>
namespace inspectd {
Napi::Object Init(Napi::Env env, Napi::Object exports) { return exports; }
}  // namespace inspectd
static Napi::Object InitAddon(Napi::Env env, Napi::Object exports) { return inspectd::Init(env, exports); }
NODE_API_MODULE(inspectd_native, InitAddon)
