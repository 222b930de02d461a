// sd_notify(3) without libsystemd: one datagram to $NOTIFY_SOCKET (path or '@' abstract name).
#ifndef INSPECTD_SD_NOTIFY_H_
#define INSPECTD_SD_NOTIFY_H_

#include <napi.h>

#include <string>

namespace inspectd {

// Fills *addr/*len for a unix socket path; '@' prefix means the abstract namespace. Returns 0 or an errno.
int UnixAddress(const std::string& path, void* addr, unsigned* len);

// Sends `message` as one datagram. Returns 0 or an errno value.
int SdNotify(const std::string& socket_path, const std::string& message);

// JS: sdNotify(socketPath: string, message: string) -> 0 | errno
void InitSdNotify(Napi::Env env, Napi::Object exports);

}  // namespace inspectd

#endif  // INSPECTD_SD_NOTIFY_H_
