// Throws a JS Error shaped like Node's system errors (code 'EINVAL', errno,
// syscall, path), for the addon calls that act on one path.
#pragma once
#include <errno.h>
#include <string.h>

#include <string>

#include <napi.h>

namespace berth {

inline void ThrowErrno(Napi::Env env, int err, const char* syscall, const std::string& path) {
  const char* name = strerrorname_np(err);
  std::string code = name != nullptr ? name : "EUNKNOWN";
  std::string msg = code + ": " + strerror(err) + ", " + syscall + " '" + path + "'";
  Napi::Error e = Napi::Error::New(env, msg);
  e.Value().Set("code", Napi::String::New(env, code));
  e.Value().Set("errno", Napi::Number::New(env, -err));
  e.Value().Set("syscall", Napi::String::New(env, syscall));
  e.Value().Set("path", Napi::String::New(env, path));
  e.ThrowAsJavaScriptException();
}

}  // namespace berth
