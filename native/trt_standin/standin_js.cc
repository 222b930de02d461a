#include "standin_js.h"

#include "standin_stats.h"

namespace inspectd {

void InitStandin(Napi::Env env, Napi::Object exports) {
  exports.Set("standinStats", Napi::Function::New(
                                  env,
                                  [](const Napi::CallbackInfo& info) -> Napi::Value {
                                    standin::Stats s = standin::GetStats();
                                    Napi::Object o = Napi::Object::New(info.Env());
                                    o.Set("deviceBytes", static_cast<double>(s.device_bytes));
                                    o.Set("deviceAllocs", static_cast<double>(s.device_allocs));
                                    o.Set("hostAllocs", static_cast<double>(s.host_allocs));
                                    o.Set("liveObjects", static_cast<double>(s.live_objects));
                                    return o;
                                  },
                                  "standinStats"));
  exports.Set("standinTransfers", Napi::Function::New(
                                      env,
                                      [](const Napi::CallbackInfo& info) -> Napi::Value {
                                        standin::Transfers t = standin::GetTransfers();
                                        Napi::Object o = Napi::Object::New(info.Env());
                                        o.Set("h2dBytes", static_cast<double>(t.h2d_bytes));
                                        o.Set("d2hBytes", static_cast<double>(t.d2h_bytes));
                                        o.Set("kernelLaunches", static_cast<double>(t.kernel_launches));
                                        return o;
                                      },
                                      "standinTransfers"));
}

}  // namespace inspectd
