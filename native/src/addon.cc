// Entry point of berth's native core: registers each exported function once.
// Later parts (clone, netlink, mounts) add their exports here.
#include <napi.h>

#include "clock.h"

namespace {

// monotonicNs(): bigint nanoseconds of CLOCK_MONOTONIC (the clock Node's
// process.hrtime.bigint() reads too, so spans from JS and from C line up).
Napi::Value MonotonicNs(const Napi::CallbackInfo& info) {
  return Napi::BigInt::New(info.Env(), berth::monotonic_ns());
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("version", Napi::String::New(env, BERTH_NATIVE_VERSION));
  exports.Set("monotonicNs", Napi::Function::New(env, MonotonicNs, "monotonicNs"));
  return exports;
}

}  // namespace

NODE_API_MODULE(berth_native, Init)
