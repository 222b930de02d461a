#include "sd_notify.h"

#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>

namespace inspectd {

int UnixAddress(const std::string& path, void* out, unsigned* len) {
  auto* addr = static_cast<sockaddr_un*>(out);
  std::memset(addr, 0, sizeof *addr);
  addr->sun_family = AF_UNIX;
  if (path.empty() || (path[0] != '/' && path[0] != '@')) return EINVAL;
  if (path.size() > sizeof addr->sun_path) return ENAMETOOLONG;
  std::memcpy(addr->sun_path, path.data(), path.size());
  if (path[0] == '@') {
    addr->sun_path[0] = '\0';  // abstract namespace: no terminating NUL, length counts exactly
    *len = static_cast<unsigned>(offsetof(sockaddr_un, sun_path) + path.size());
  } else {
    if (path.size() == sizeof addr->sun_path) return ENAMETOOLONG;  // needs room for the NUL
    *len = static_cast<unsigned>(offsetof(sockaddr_un, sun_path) + path.size() + 1);
  }
  return 0;
}

int SdNotify(const std::string& socket_path, const std::string& message) {
  sockaddr_un addr;
  unsigned len = 0;
  int rc = UnixAddress(socket_path, &addr, &len);
  if (rc != 0) return rc;
  int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return errno;
  ssize_t sent;
  do {
    sent = sendto(fd, message.data(), message.size(), MSG_NOSIGNAL, reinterpret_cast<sockaddr*>(&addr),
                  static_cast<socklen_t>(len));
  } while (sent < 0 && errno == EINTR);
  rc = sent < 0 ? errno : (static_cast<size_t>(sent) == message.size() ? 0 : EMSGSIZE);
  close(fd);
  return rc;
}

namespace {

Napi::Value SdNotifyJs(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 2 || !info[0].IsString() || !info[1].IsString()) {
    return Napi::Number::New(env, EINVAL);
  }
  return Napi::Number::New(env, SdNotify(info[0].As<Napi::String>().Utf8Value(), info[1].As<Napi::String>().Utf8Value()));
}

}  // namespace

void InitSdNotify(Napi::Env env, Napi::Object exports) {
  exports.Set("sdNotify", Napi::Function::New(env, SdNotifyJs, "sdNotify"));
}

}  // namespace inspectd
