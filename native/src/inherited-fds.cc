// The fds a daemon inherited from whatever started it, made close-on-exec:
//   cloexecInherited(): every fd from 3 up gets FD_CLOEXEC (close_range with CLOSE_RANGE_CLOEXEC, or, before Linux
//     5.11, fcntl on each fd listed in /proc/self/fd).
// Node and libuv open every fd of their own O_CLOEXEC, but an fd the parent left open without the flag (a shell's
// pipe, a supervisor's socket) stays inheritable, and every program the daemon runs (iptables, mount helpers) would get
// it. The daemon keeps using such an fd; only its children lose it. Containers never see one either way: their child
// closes what it inherits (container-child.cc close_except).
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <napi.h>

#include "exports.h"
#include "throw-errno.h"

#ifndef CLOSE_RANGE_CLOEXEC
#define CLOSE_RANGE_CLOEXEC (1U << 2)
#endif

namespace {

// Returns 0, or the errno of the first fd that could not be marked.
int cloexec_from(int lowest) {
  if (syscall(SYS_close_range, static_cast<unsigned>(lowest), ~0U, CLOSE_RANGE_CLOEXEC) == 0) return 0;
  DIR* d = opendir("/proc/self/fd");
  if (d == nullptr) return errno;
  int self = dirfd(d);
  int err = 0;
  while (struct dirent* e = readdir(d)) {
    char* end = nullptr;
    long fd = strtol(e->d_name, &end, 10);
    if (end == e->d_name || *end != '\0' || fd < lowest || fd == self) continue;
    int flags = fcntl(static_cast<int>(fd), F_GETFD);
    if (flags < 0) continue;  // closed meanwhile
    if ((flags & FD_CLOEXEC) == 0 && fcntl(static_cast<int>(fd), F_SETFD, flags | FD_CLOEXEC) < 0 && err == 0)
      err = errno;
  }
  closedir(d);
  return err;
}

Napi::Value CloexecInherited(const Napi::CallbackInfo& info) {
  int err = cloexec_from(3);
  if (err != 0) berth::ThrowErrno(info.Env(), err, "fcntl", "/proc/self/fd");
  return info.Env().Undefined();
}

berth::ExportRegistrar reg([](Napi::Env env, Napi::Object exports) {
  exports.Set("cloexecInherited", Napi::Function::New(env, CloexecInherited, "cloexecInherited"));
});

}  // namespace
