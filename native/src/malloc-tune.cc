// glibc's allocator and V8's heap tuned from JavaScript, for a long-lived daemon:
//   mallocTrim(): malloc_trim(0), which gives every arena's free pages back to the kernel (not only the top of the
//     main heap, as free() does on its own); true when some memory was released, false without glibc.
//   v8MemoryPressure(level): V8's own memory reduction for this isolate: 'low' is Isolate::LowMemoryNotification()
//     (full collections until nothing more is freed, compaction, empty pages released), 'critical' is
//     MemoryPressureNotification(kCritical) (a full collection that also drops code caches and flushes bytecode).
// (mallopt(M_ARENA_MAX) called at berthd's start was measured and not kept: docs/host-notes.md "berthd's memory".)
#include <napi.h>
#include <v8.h>

#include <string>

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

Napi::Value V8MemoryPressure(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsString()) {
    Napi::TypeError::New(env, "v8MemoryPressure: level must be 'low' or 'critical'").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  const std::string level = info[0].As<Napi::String>().Utf8Value();
  v8::Isolate* isolate = v8::Isolate::GetCurrent();
  if (level == "low") {
    isolate->LowMemoryNotification();
  } else if (level == "critical") {
    isolate->MemoryPressureNotification(v8::MemoryPressureLevel::kCritical);
    // the notification only asks: back to none, or V8 keeps running as under pressure (smaller heap growth)
    isolate->MemoryPressureNotification(v8::MemoryPressureLevel::kNone);
  } else {
    Napi::TypeError::New(env, "v8MemoryPressure: level must be 'low' or 'critical', not '" + level + "'")
        .ThrowAsJavaScriptException();
  }
  return env.Undefined();
}

berth::ExportRegistrar reg([](Napi::Env env, Napi::Object exports) {
  exports.Set("mallocTrim", Napi::Function::New(env, MallocTrim, "mallocTrim"));
  exports.Set("v8MemoryPressure", Napi::Function::New(env, V8MemoryPressure, "v8MemoryPressure"));
});

}  // namespace
