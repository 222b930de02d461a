// Live-resource counters of the stand-in, so tests can assert dispose() released everything, and its traffic.
#ifndef INSPECTD_STANDIN_STATS_H_
#define INSPECTD_STANDIN_STATS_H_

#include <cstddef>

namespace inspectd {
namespace standin {

struct Stats {
  size_t device_bytes = 0;
  long device_allocs = 0;
  long host_allocs = 0;
  long live_objects = 0;  // runtimes, engines, contexts, streams
};

Stats GetStats();

// Cumulative traffic since load, so tests can tell which way an engine input was made.
struct Transfers {
  size_t h2d_bytes = 0;
  size_t d2h_bytes = 0;
  long kernel_launches = 0;  // stand-in letterbox kernel (letterbox_kernel.cc)
};

Transfers GetTransfers();

// For the stand-in kernel: is [p, p + n) inside one live "device" allocation? Counts the launch.
bool IsDeviceRange(const void* p, size_t n);
void CountKernelLaunch();

}  // namespace standin
}  // namespace inspectd

#endif  // INSPECTD_STANDIN_STATS_H_
