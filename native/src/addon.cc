// Entry point of berth's native core. Every source file registers its exports
// through ExportRegistrar (exports.h); this file only runs them and adds the
// clock and the version.
#include <napi.h>

#include "clock.h"
#include "exports.h"

namespace berth {

std::vector<ExportInit>& export_inits() {
  static std::vector<ExportInit> inits;
  return inits;
}

}  // namespace berth

namespace {

// monotonicNs(): bigint nanoseconds of CLOCK_MONOTONIC (the clock Node's
// process.hrtime.bigint() reads too, so spans from JS and from C line up).
Napi::Value MonotonicNs(const Napi::CallbackInfo& info) {
  return Napi::BigInt::New(info.Env(), berth::monotonic_ns());
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("version", Napi::String::New(env, BERTH_NATIVE_VERSION));
  exports.Set("monotonicNs", Napi::Function::New(env, MonotonicNs, "monotonicNs"));
  for (berth::ExportInit init : berth::export_inits()) init(env, exports);
  return exports;
}

}  // namespace

NODE_API_MODULE(berth_native, Init)
