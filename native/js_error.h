// JS errors carrying a stable `code` (the codes live in src/errors.ts).
#ifndef INSPECTD_JS_ERROR_H_
#define INSPECTD_JS_ERROR_H_

#include <napi.h>

#include <string>

namespace inspectd {

inline Napi::Error CodedError(Napi::Env env, const std::string& code, const std::string& message) {
  Napi::Error err = Napi::Error::New(env, message);
  err.Set("code", Napi::String::New(env, code));
  return err;
}

// An error found on a worker thread: kept as plain strings until the JS thread can build it.
struct NativeFailure {
  std::string code;
  std::string message;
};

}  // namespace inspectd

#endif  // INSPECTD_JS_ERROR_H_
