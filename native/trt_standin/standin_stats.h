// Live-resource counters of the stand-in, so tests can assert dispose() released everything.
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

}  // namespace standin
}  // namespace inspectd

#endif  // INSPECTD_STANDIN_STATS_H_
