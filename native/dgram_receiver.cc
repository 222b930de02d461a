#include "dgram_receiver.h"

#include <errno.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>
#include <string>
#include <vector>

#include "js_error.h"
#include "sd_notify.h"

namespace inspectd {
namespace {

Napi::Value Bind(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsString()) {
    CodedError(env, "INSPECTD_ERR_USAGE", "dgramBind(path)").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  sockaddr_un addr;
  unsigned len = 0;
  int rc = UnixAddress(info[0].As<Napi::String>().Utf8Value(), &addr, &len);
  int fd = -1;
  if (rc == 0) {
    fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0) rc = errno;
  }
  if (rc == 0 && bind(fd, reinterpret_cast<sockaddr*>(&addr), static_cast<socklen_t>(len)) != 0) {
    rc = errno;
    close(fd);
  }
  if (rc != 0) {
    CodedError(env, "INSPECTD_ERR_USAGE", std::string("dgramBind failed: ") + std::strerror(rc))
        .ThrowAsJavaScriptException();
    return env.Undefined();
  }
  return Napi::Number::New(env, fd);
}

// Blocks the calling thread up to timeoutMs: fine for tests, never used by the daemon.
Napi::Value Recv(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const int fd = info[0].ToNumber().Int32Value();
  const int timeout = info.Length() > 1 ? info[1].ToNumber().Int32Value() : 0;
  pollfd p{fd, POLLIN, 0};
  int n;
  do {
    n = poll(&p, 1, timeout);
  } while (n < 0 && errno == EINTR);
  if (n <= 0) return env.Null();
  std::vector<char> buf(65536);
  ssize_t got = recv(fd, buf.data(), buf.size(), 0);
  if (got < 0) return env.Null();
  return Napi::String::New(env, buf.data(), static_cast<size_t>(got));
}

Napi::Value Close(const Napi::CallbackInfo& info) {
  close(info[0].ToNumber().Int32Value());
  return info.Env().Undefined();
}

}  // namespace

void InitDgramReceiver(Napi::Env env, Napi::Object exports) {
  exports.Set("dgramBind", Napi::Function::New(env, Bind, "dgramBind"));
  exports.Set("dgramRecv", Napi::Function::New(env, Recv, "dgramRecv"));
  exports.Set("dgramClose", Napi::Function::New(env, Close, "dgramClose"));
}

}  // namespace inspectd
