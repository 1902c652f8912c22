// Each native source file registers the functions it exports with one line:
//   static berth::ExportRegistrar reg([](Napi::Env env, Napi::Object exports) { ... });
// so adding a part of the core never edits a shared list.
#pragma once
#include <napi.h>

#include <vector>

namespace berth {

using ExportInit = void (*)(Napi::Env env, Napi::Object exports);

std::vector<ExportInit>& export_inits();

struct ExportRegistrar {
  explicit ExportRegistrar(ExportInit init) { export_inits().push_back(init); }
};

}  // namespace berth
