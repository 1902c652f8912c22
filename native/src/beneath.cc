// Confined opens for the layer applier: a path below a directory fd is opened
// without following any symlink and without leaving that directory, so every
// later call on the returned fd acts on an inode that lies inside the layer root.
//
// openBeneath(dirFd, rel, flags, mode): fd uses openat2(2) with RESOLVE_BENEATH |
// RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS; on kernels without openat2 (ENOSYS,
// before 5.6) it walks the components itself with openat(O_PATH|O_NOFOLLOW|
// O_DIRECTORY) and refuses "..". A symlink anywhere fails ELOOP (the last component
// with O_PATH|O_NOFOLLOW gives a handle on the symlink itself, as openat2 does).
// O_CLOEXEC is always added.
//
// setxattr(path, name, value): the following form of lsetxattr, for a
// "/proc/self/fd/N" path of an O_PATH handle: the magic link leads to that inode
// (a symlink included) and no further.
#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <string>

#include "exports.h"
#include "throw-errno.h"

namespace {

using berth::ThrowErrno;

// Closes an fd when it goes out of scope unless released.
struct Fd {
  int fd = -1;
  explicit Fd(int f) : fd(f) {}
  ~Fd() {
    if (fd >= 0) close(fd);
  }
  int release() {
    int f = fd;
    fd = -1;
    return f;
  }
};

// The openat2-less form: one openat per component, never following a symlink.
int WalkBeneath(int dirfd, const std::string& rel, int flags, mode_t mode) {
  if (rel.empty() || rel == ".") return openat(dirfd, ".", flags | O_CLOEXEC, mode);
  Fd cur(-1);
  int at = dirfd;
  size_t start = 0;
  while (true) {
    size_t slash = rel.find('/', start);
    std::string part = rel.substr(start, slash == std::string::npos ? std::string::npos : slash - start);
    if (part == "..") {
      errno = EXDEV;
      return -1;
    }
    if (slash == std::string::npos) return openat(at, part.c_str(), flags | O_NOFOLLOW | O_CLOEXEC, mode);
    if (!part.empty() && part != ".") {
      int next = openat(at, part.c_str(), O_PATH | O_NOFOLLOW | O_DIRECTORY | O_CLOEXEC);
      if (next < 0) {
        // O_PATH|O_NOFOLLOW on a symlink gives ENOTDIR with O_DIRECTORY: report it as openat2 does.
        if (errno == ENOTDIR) {
          struct stat st;
          if (fstatat(at, part.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISLNK(st.st_mode)) errno = ELOOP;
          else errno = ENOTDIR;
        }
        return -1;
      }
      Fd n(next);
      if (cur.fd >= 0) close(cur.release());
      cur.fd = n.release();
      at = cur.fd;
    }
    start = slash + 1;
  }
}

// openBeneath(dirFd, rel, flags, mode): number; openBeneathWalk: the same through the walk alone.
Napi::Value Open(const Napi::CallbackInfo& info, bool walk_only) {
  Napi::Env env = info.Env();
  if (info.Length() < 3 || !info[0].IsNumber() || !info[1].IsString() || !info[2].IsNumber() ||
      (info.Length() > 3 && !info[3].IsUndefined() && !info[3].IsNumber())) {
    Napi::TypeError::New(env, "openBeneath(dirFd, rel, flags, mode): bad arguments").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  int dirfd = info[0].As<Napi::Number>().Int32Value();
  std::string rel = info[1].As<Napi::String>().Utf8Value();
  int flags = info[2].As<Napi::Number>().Int32Value();
  mode_t mode = info.Length() > 3 && info[3].IsNumber() ? static_cast<mode_t>(info[3].As<Napi::Number>().Uint32Value()) : 0;
  if (rel.find('\0') != std::string::npos || (!rel.empty() && rel[0] == '/')) {
    ThrowErrno(env, EXDEV, "openat2", rel);
    return env.Undefined();
  }
  struct open_how how;
  memset(&how, 0, sizeof(how));
  how.flags = static_cast<unsigned long long>(flags | O_CLOEXEC);
  how.mode = (flags & (O_CREAT | O_TMPFILE)) != 0 ? mode : 0;
  how.resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS;
  const char* path = rel.empty() ? "." : rel.c_str();
  int fd = -1;
  errno = ENOSYS;
  while (!walk_only) {
    fd = static_cast<int>(syscall(SYS_openat2, dirfd, path, &how, sizeof(how)));
    if (fd >= 0 || (errno != EINTR && errno != EAGAIN)) break;
  }
  if (fd < 0 && errno == ENOSYS) fd = WalkBeneath(dirfd, rel, flags, how.mode);
  if (fd < 0) {
    ThrowErrno(env, errno, "openat2", rel);
    return env.Undefined();
  }
  return Napi::Number::New(env, fd);
}

Napi::Value OpenBeneath(const Napi::CallbackInfo& info) { return Open(info, false); }
Napi::Value OpenBeneathWalk(const Napi::CallbackInfo& info) { return Open(info, true); }

// setxattr(path, name, value: Buffer): void — follows the last component.
Napi::Value Setxattr(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 3 || !info[0].IsString() || !info[1].IsString() || !info[2].IsBuffer()) {
    Napi::TypeError::New(env, "setxattr(path, name, value: Buffer): bad arguments").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  std::string path = info[0].As<Napi::String>().Utf8Value();
  std::string name = info[1].As<Napi::String>().Utf8Value();
  Napi::Buffer<char> value = info[2].As<Napi::Buffer<char>>();
  if (setxattr(path.c_str(), name.c_str(), value.Data(), value.Length(), 0) != 0) ThrowErrno(env, errno, "setxattr", path);
  return env.Undefined();
}

void Register(Napi::Env env, Napi::Object exports) {
  exports.Set("openBeneath", Napi::Function::New(env, OpenBeneath, "openBeneath"));
  exports.Set("openBeneathWalk", Napi::Function::New(env, OpenBeneathWalk, "openBeneathWalk"));
  exports.Set("setxattr", Napi::Function::New(env, Setxattr, "setxattr"));
  exports.Set("O_PATH", Napi::Number::New(env, O_PATH));
}

static berth::ExportRegistrar reg(Register);

}  // namespace
