// A unix datagram receiver for tests only: Node cannot bind AF_UNIX SOCK_DGRAM sockets itself.
#ifndef INSPECTD_DGRAM_RECEIVER_H_
#define INSPECTD_DGRAM_RECEIVER_H_

#include <napi.h>

namespace inspectd {

// JS: dgramBind(path) -> fd (throws on failure); dgramRecv(fd, timeoutMs) -> string | null; dgramClose(fd)
void InitDgramReceiver(Napi::Env env, Napi::Object exports);

}  // namespace inspectd

#endif  // INSPECTD_DGRAM_RECEIVER_H_
