// glibc's allocator tuned from JavaScript, for a long-lived daemon:
//   mallocTrim(): malloc_trim(0), which gives every arena's free pages back to the kernel (not only the top of the
//     main heap, as free() does on its own); true when some memory was released, false without glibc.
// (mallopt(M_ARENA_MAX) called at berthd's start was measured and not kept: docs/host-notes.md "berthd's memory".)
#include <napi.h>

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

berth::ExportRegistrar reg([](Napi::Env env, Napi::Object exports) {
  exports.Set("mallocTrim", Napi::Function::New(env, MallocTrim, "mallocTrim"));
});

}  // namespace
