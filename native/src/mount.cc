// Host-side filesystem calls Node does not offer: mount(2)/umount2(2) for the
// graphdrivers' own mounts, a mount run with another working directory (overlay's
// relative lowerdir paths), mknod(2) for devices and whiteouts, and the l*xattr calls.
//
// None of these changes the Node process's namespaces. mountAt() must not chdir the
// (multi-threaded) Node process, so it clones a child that shares the address space
// (CLONE_VM|CLONE_VFORK: the parent sleeps until the child exits), and that child
// runs only chdir(2), mount(2) and _exit(2) before the parent reads its errno.
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <memory>
#include <string>
#include <vector>

#include "exports.h"
#include "throw-errno.h"

namespace {

using berth::ThrowErrno;

// An optional string argument: undefined/null → has = false.
struct OptString {
  bool has = false;
  std::string value;
  const char* c_str() const { return has ? value.c_str() : nullptr; }
};

bool ReadOptString(const Napi::CallbackInfo& info, size_t i, OptString* out) {
  if (i >= info.Length() || info[i].IsUndefined() || info[i].IsNull()) return true;
  if (!info[i].IsString()) return false;
  out->has = true;
  out->value = info[i].As<Napi::String>().Utf8Value();
  return true;
}

bool ReadString(const Napi::CallbackInfo& info, size_t i, std::string* out) {
  if (i >= info.Length() || !info[i].IsString()) return false;
  *out = info[i].As<Napi::String>().Utf8Value();
  return true;
}

bool ReadUint(const Napi::CallbackInfo& info, size_t i, unsigned long* out) {
  if (i >= info.Length() || info[i].IsUndefined()) {
    *out = 0;
    return true;
  }
  if (!info[i].IsNumber()) return false;
  double d = info[i].As<Napi::Number>().DoubleValue();
  if (d < 0) return false;
  *out = static_cast<unsigned long>(d);
  return true;
}

Napi::Value TypeError(Napi::Env env, const char* what) {
  Napi::TypeError::New(env, what).ThrowAsJavaScriptException();
  return env.Undefined();
}

// mount(source|null, target, fstype|null, flags, data|null): void
Napi::Value Mount(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  OptString source, fstype, data;
  std::string target;
  unsigned long flags = 0;
  if (!ReadOptString(info, 0, &source) || !ReadString(info, 1, &target) || !ReadOptString(info, 2, &fstype) ||
      !ReadUint(info, 3, &flags) || !ReadOptString(info, 4, &data)) {
    return TypeError(env, "mount(source, target, fstype, flags, data): bad arguments");
  }
  if (mount(source.c_str(), target.c_str(), fstype.c_str(), flags, data.c_str()) != 0) {
    ThrowErrno(env, errno, "mount", target);
  }
  return env.Undefined();
}

// umount2(target, flags): void
Napi::Value Umount2(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string target;
  unsigned long flags = 0;
  if (!ReadString(info, 0, &target) || !ReadUint(info, 1, &flags)) {
    return TypeError(env, "umount2(target, flags): bad arguments");
  }
  if (umount2(target.c_str(), static_cast<int>(flags)) != 0) ThrowErrno(env, errno, "umount2", target);
  return env.Undefined();
}

struct MountAtArgs {
  const char* dir;
  const char* source;
  const char* target;
  const char* fstype;
  unsigned long flags;
  const char* data;
  int err;  // written by the child; the parent reads it after the child exits
};

// Runs in the cloned child (shared memory, parent suspended): syscalls only.
int MountAtChild(void* p) {
  MountAtArgs* a = static_cast<MountAtArgs*>(p);
  if (chdir(a->dir) != 0) {
    a->err = errno;
    _exit(1);
  }
  if (mount(a->source, a->target, a->fstype, a->flags, a->data) != 0) {
    a->err = errno;
    _exit(1);
  }
  a->err = 0;
  _exit(0);
}

// mountAt(dir, source|null, target, fstype|null, flags, data|null): void
// Like mount(), with relative paths resolved against dir, without changing the
// Node process's cwd. Costs one clone+wait (tens of µs with CLONE_VM).
Napi::Value MountAt(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string dir, target;
  OptString source, fstype, data;
  unsigned long flags = 0;
  if (!ReadString(info, 0, &dir) || !ReadOptString(info, 1, &source) || !ReadString(info, 2, &target) ||
      !ReadOptString(info, 3, &fstype) || !ReadUint(info, 4, &flags) || !ReadOptString(info, 5, &data)) {
    return TypeError(env, "mountAt(dir, source, target, fstype, flags, data): bad arguments");
  }
  MountAtArgs args{dir.c_str(), source.c_str(), target.c_str(), fstype.c_str(), flags, data.c_str(), -1};
  constexpr size_t kStack = 64 * 1024;
  std::unique_ptr<char[]> stack(new char[kStack]);
  // All signals blocked across the clone: the child inherits the mask, so no handler
  // of the Node process can run on its shared memory; the parent's mask is restored
  // once the child has exited (CLONE_VFORK returns only then).
  sigset_t all, old;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &old);
  // The stack grows down on every architecture Node supports here.
  pid_t pid = clone(MountAtChild, stack.get() + kStack, CLONE_VM | CLONE_VFORK | SIGCHLD, &args);
  int clone_errno = errno;
  pthread_sigmask(SIG_SETMASK, &old, nullptr);
  if (pid < 0) {
    ThrowErrno(env, clone_errno, "clone", dir);
    return env.Undefined();
  }
  int status = 0;
  while (waitpid(pid, &status, 0) < 0) {
    if (errno != EINTR) {
      ThrowErrno(env, errno, "waitpid", dir);
      return env.Undefined();
    }
  }
  if (args.err != 0) {
    ThrowErrno(env, args.err < 0 ? EIO : args.err, "mount", dir + "/" + target);
  }
  return env.Undefined();
}

// mknod(path, mode, major, minor): void — mode includes the file type bits.
Napi::Value Mknod(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string path;
  unsigned long mode = 0, major = 0, minor = 0;
  if (!ReadString(info, 0, &path) || !ReadUint(info, 1, &mode) || !ReadUint(info, 2, &major) ||
      !ReadUint(info, 3, &minor)) {
    return TypeError(env, "mknod(path, mode, major, minor): bad arguments");
  }
  if (mknod(path.c_str(), static_cast<mode_t>(mode), makedev(major, minor)) != 0) {
    ThrowErrno(env, errno, "mknod", path);
  }
  return env.Undefined();
}

// lsetxattr(path, name, value: Buffer): void
Napi::Value Lsetxattr(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string path, name;
  if (!ReadString(info, 0, &path) || !ReadString(info, 1, &name) || info.Length() < 3 || !info[2].IsBuffer()) {
    return TypeError(env, "lsetxattr(path, name, value: Buffer): bad arguments");
  }
  Napi::Buffer<char> value = info[2].As<Napi::Buffer<char>>();
  if (lsetxattr(path.c_str(), name.c_str(), value.Data(), value.Length(), 0) != 0) {
    ThrowErrno(env, errno, "lsetxattr", path);
  }
  return env.Undefined();
}

// lgetxattr(path, name): Buffer | undefined (undefined when the attribute is absent)
Napi::Value Lgetxattr(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string path, name;
  if (!ReadString(info, 0, &path) || !ReadString(info, 1, &name)) {
    return TypeError(env, "lgetxattr(path, name): bad arguments");
  }
  for (int attempt = 0; attempt < 4; attempt++) {
    ssize_t n = lgetxattr(path.c_str(), name.c_str(), nullptr, 0);
    if (n < 0) {
      if (errno == ENODATA) return env.Undefined();
      ThrowErrno(env, errno, "lgetxattr", path);
      return env.Undefined();
    }
    std::vector<char> buf(static_cast<size_t>(n) + 1);
    ssize_t m = lgetxattr(path.c_str(), name.c_str(), buf.data(), buf.size());
    if (m >= 0) return Napi::Buffer<char>::Copy(env, buf.data(), static_cast<size_t>(m));
    if (errno == ENODATA) return env.Undefined();
    if (errno != ERANGE) {
      ThrowErrno(env, errno, "lgetxattr", path);
      return env.Undefined();
    }
  }
  ThrowErrno(env, ERANGE, "lgetxattr", path);
  return env.Undefined();
}

// llistxattr(path): string[]
Napi::Value Llistxattr(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string path;
  if (!ReadString(info, 0, &path)) return TypeError(env, "llistxattr(path): bad arguments");
  for (int attempt = 0; attempt < 4; attempt++) {
    ssize_t n = llistxattr(path.c_str(), nullptr, 0);
    if (n < 0) {
      if (errno == ENOTSUP) return Napi::Array::New(env, 0);
      ThrowErrno(env, errno, "llistxattr", path);
      return env.Undefined();
    }
    std::vector<char> buf(static_cast<size_t>(n) + 1);
    ssize_t m = llistxattr(path.c_str(), buf.data(), buf.size());
    if (m < 0) {
      if (errno == ERANGE) continue;
      ThrowErrno(env, errno, "llistxattr", path);
      return env.Undefined();
    }
    Napi::Array out = Napi::Array::New(env);
    uint32_t k = 0;
    for (ssize_t i = 0; i < m;) {
      size_t len = strnlen(buf.data() + i, static_cast<size_t>(m - i));
      if (len > 0) out.Set(k++, Napi::String::New(env, buf.data() + i, len));
      i += static_cast<ssize_t>(len) + 1;
    }
    return out;
  }
  ThrowErrno(env, ERANGE, "llistxattr", path);
  return env.Undefined();
}

// lremovexattr(path, name): void (absent attribute is not an error)
Napi::Value Lremovexattr(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string path, name;
  if (!ReadString(info, 0, &path) || !ReadString(info, 1, &name)) {
    return TypeError(env, "lremovexattr(path, name): bad arguments");
  }
  if (lremovexattr(path.c_str(), name.c_str()) != 0 && errno != ENODATA) ThrowErrno(env, errno, "lremovexattr", path);
  return env.Undefined();
}

void Register(Napi::Env env, Napi::Object exports) {
  exports.Set("mount", Napi::Function::New(env, Mount, "mount"));
  exports.Set("umount2", Napi::Function::New(env, Umount2, "umount2"));
  exports.Set("mountAt", Napi::Function::New(env, MountAt, "mountAt"));
  exports.Set("mknod", Napi::Function::New(env, Mknod, "mknod"));
  exports.Set("lsetxattr", Napi::Function::New(env, Lsetxattr, "lsetxattr"));
  exports.Set("lgetxattr", Napi::Function::New(env, Lgetxattr, "lgetxattr"));
  exports.Set("llistxattr", Napi::Function::New(env, Llistxattr, "llistxattr"));
  exports.Set("lremovexattr", Napi::Function::New(env, Lremovexattr, "lremovexattr"));
}

static berth::ExportRegistrar reg(Register);

}  // namespace
