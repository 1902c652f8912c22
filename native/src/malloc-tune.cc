// glibc's allocator and V8's heap tuned from JavaScript, for a long-lived daemon:
//   mallocTrim(): malloc_trim(0), which gives every arena's free pages back to the kernel (not only the top of the
//     main heap, as free() does on its own); true when some memory was released, false without glibc.
//   v8LowMemory(): V8's own memory reduction for this isolate, Isolate::LowMemoryNotification(): full collections
//     until nothing more is freed, with compaction, empty pages released; synchronous, on the calling thread.
//     (MemoryPressureNotification(kCritical) was measured and not kept: docs/host-notes.md "berthd's memory".)
// (mallopt(M_ARENA_MAX) called at berthd's start was measured and not kept: docs/host-notes.md "berthd's memory".)
#include <napi.h>
#include <v8.h>

#if defined(__GLIBC__)
#include <malloc.h>
#endif

#include "exports.h"

namespace {

Napi::Value MallocTrim(const Napi::CallbackInfo& info) {
#if defined(__GLIBC__)
  return Napi::Boolean::New(info.Env(), malloc_trim(0) == 1);
#else
  return Napi::Boolean::New(info.Env(), false);
#endif
}

Napi::Value V8LowMemory(const Napi::CallbackInfo& info) {
  v8::Isolate::GetCurrent()->LowMemoryNotification();
  return info.Env().Undefined();
}

berth::ExportRegistrar reg([](Napi::Env env, Napi::Object exports) {
  exports.Set("mallocTrim", Napi::Function::New(env, MallocTrim, "mallocTrim"));
  exports.Set("v8LowMemory", Napi::Function::New(env, V8LowMemory, "v8LowMemory"));
});

}  // namespace
