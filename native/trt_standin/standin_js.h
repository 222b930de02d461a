// JS: standinStats() -> {deviceBytes, deviceAllocs, hostAllocs, liveObjects};
//     standinTransfers() -> {h2dBytes, d2hBytes, kernelLaunches} (cumulative); only in the stand-in build.
#ifndef INSPECTD_STANDIN_JS_H_
#define INSPECTD_STANDIN_JS_H_

#include <napi.h>

namespace inspectd {
void InitStandin(Napi::Env env, Napi::Object exports);
}  // namespace inspectd

#endif  // INSPECTD_STANDIN_JS_H_
