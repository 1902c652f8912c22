// The one clock berth's spans and the native child's step timestamps share.
#pragma once
#include <cstdint>

namespace berth {

// CLOCK_MONOTONIC in nanoseconds. Async-signal-safe: the cloned child calls it too.
uint64_t monotonic_ns();

}  // namespace berth
