// overlayDetached(): an overlayfs made with the new mount API (fsopen, fsconfig, fsmount) and left detached: it
// belongs to no mount namespace until a container's child attaches it (move_mount) in its own, so berthd's mount
// table does not grow with the containers it runs. The caller reaches the tree through /proc/self/fd/<fd>.
#include <errno.h>
#include <fcntl.h>
#include <linux/mount.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <string>
#include <vector>

#include "exports.h"
#include "throw-errno.h"

namespace berth {
namespace {

struct Fds {
  std::vector<int> fds;
  int add(int fd) {
    if (fd >= 0) fds.push_back(fd);
    return fd;
  }
  ~Fds() {
    for (int fd : fds) close(fd);
  }
};

bool read_strings(const Napi::Value& v, std::vector<std::string>* out) {
  if (!v.IsArray()) return false;
  Napi::Array a = v.As<Napi::Array>();
  for (uint32_t i = 0; i < a.Length(); i++) {
    Napi::Value s = a.Get(i);
    if (!s.IsString()) return false;
    out->push_back(s.As<Napi::String>().Utf8Value());
  }
  return true;
}

// Throws naming the call, with the filesystem context's own message when it left one (overlayfs explains refusals).
void throw_fs(Napi::Env env, int fs, int err, const char* step, const std::string& subject) {
  std::string path = subject;
  if (fs >= 0) {
    char log[512];
    ssize_t n = read(fs, log, sizeof log - 1);
    if (n > 0) {
      while (n > 0 && log[n - 1] == '\n') n--;
      path += " (" + std::string(log, static_cast<size_t>(n)) + ")";
    }
  }
  ThrowErrno(env, err, step, path);
}

// overlayDetached(home, lowers, upper, work, options): fd. lowers, upper and work are paths relative to home (lowers
// topmost first; a lower may be a symlink to its dir); options are "key=value" or "key" flags. The fd is
// close-on-exec; closing it (with the tree attached nowhere) unmounts the overlay.
Napi::Value OverlayDetached(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::vector<std::string> lowers, options;
  bool ok = info.Length() == 5 && info[0].IsString() && read_strings(info[1], &lowers) && info[2].IsString() &&
            info[3].IsString() && read_strings(info[4], &options) && !lowers.empty();
  if (!ok) {
    Napi::TypeError::New(env, "overlayDetached(home, lowers, upper, work, options)").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  std::string home = info[0].As<Napi::String>().Utf8Value();
  std::string upper = info[2].As<Napi::String>().Utf8Value();
  std::string work = info[3].As<Napi::String>().Utf8Value();
  Fds held;
  int dir = held.add(open(home.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
  if (dir < 0) {
    ThrowErrno(env, errno, "open", home);
    return env.Undefined();
  }
  auto open_at = [&](const std::string& rel) {
    return held.add(openat(dir, rel.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
  };
  int fs = held.add(static_cast<int>(syscall(SYS_fsopen, "overlay", FSOPEN_CLOEXEC)));
  if (fs < 0) {
    ThrowErrno(env, errno, "fsopen", "overlay");
    return env.Undefined();
  }
  // By fd, one lower a call: no page limit on the options and no path resolved against a working directory.
  for (const std::string& l : lowers) {
    int fd = open_at(l);
    if (fd < 0) {
      ThrowErrno(env, errno, "open", home + "/" + l);
      return env.Undefined();
    }
    if (syscall(SYS_fsconfig, fs, FSCONFIG_SET_FD, "lowerdir+", nullptr, fd) < 0) {
      throw_fs(env, fs, errno, "fsconfig lowerdir+", home + "/" + l);
      return env.Undefined();
    }
  }
  const std::pair<const char*, const std::string*> dirs[] = {{"upperdir", &upper}, {"workdir", &work}};
  for (const auto& [key, rel] : dirs) {
    int fd = open_at(*rel);
    if (fd < 0) {
      ThrowErrno(env, errno, "open", home + "/" + *rel);
      return env.Undefined();
    }
    if (syscall(SYS_fsconfig, fs, FSCONFIG_SET_FD, key, nullptr, fd) < 0) {
      throw_fs(env, fs, errno, (std::string("fsconfig ") + key).c_str(), home + "/" + *rel);
      return env.Undefined();
    }
  }
  for (std::string& o : options) {
    size_t eq = o.find('=');
    if (eq != std::string::npos) o[eq] = '\0';
    const char* value = eq != std::string::npos ? o.c_str() + eq + 1 : nullptr;
    unsigned cmd = value != nullptr ? FSCONFIG_SET_STRING : FSCONFIG_SET_FLAG;
    if (syscall(SYS_fsconfig, fs, cmd, o.c_str(), value, 0) < 0) {
      throw_fs(env, fs, errno, "fsconfig", o);
      return env.Undefined();
    }
  }
  if (syscall(SYS_fsconfig, fs, FSCONFIG_CMD_CREATE, nullptr, nullptr, 0) < 0) {
    throw_fs(env, fs, errno, "fsconfig create", home + "/" + upper);
    return env.Undefined();
  }
  int mnt = static_cast<int>(syscall(SYS_fsmount, fs, FSMOUNT_CLOEXEC, 0));
  if (mnt < 0) {
    throw_fs(env, fs, errno, "fsmount", home + "/" + upper);
    return env.Undefined();
  }
  return Napi::Number::New(env, mnt);
}

ExportRegistrar reg([](Napi::Env env, Napi::Object exports) {
  exports.Set("overlayDetached", Napi::Function::New(env, OverlayDetached, "overlayDetached"));
});

}  // namespace
}  // namespace berth
