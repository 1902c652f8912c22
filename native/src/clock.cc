// CLOCK_MONOTONIC read without libc wrappers that could allocate.
#include "clock.h"

#include <time.h>

namespace berth {

uint64_t monotonic_ns() {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1000000000ull + static_cast<uint64_t>(ts.tv_nsec);
}

}  // namespace berth
