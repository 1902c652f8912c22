// Idmapped mount trees (idmap.h) and idmapProbe(path), which tells whether the
// kernel and the filesystem under a path allow one.
#include "idmap.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/mount.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <memory>

#include "exports.h"

#ifndef MOUNT_ATTR_IDMAP
#define MOUNT_ATTR_IDMAP 0x00100000
#endif

namespace berth {
namespace {

struct TreeArgs {
  const char* path;
  const char* userns;
  bool clone_recursive;
  bool attr_recursive;
  int fd;   // written by the helper
  int err;  // written by the helper
};

// The helper: shares the parent's memory and fd table, runs syscalls only.
int tree_child(void* p) {
  TreeArgs* a = static_cast<TreeArgs*>(p);
  int userns = open(a->userns, O_RDONLY | O_CLOEXEC);
  if (userns < 0) {
    a->err = errno;
    _exit(1);
  }
  unsigned clone_flags = OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | (a->clone_recursive ? AT_RECURSIVE : 0);
  int tree = static_cast<int>(syscall(SYS_open_tree, AT_FDCWD, a->path, clone_flags));
  if (tree < 0) {
    a->err = errno;
    close(userns);
    _exit(1);
  }
  struct mount_attr attr;
  memset(&attr, 0, sizeof attr);
  attr.attr_set = MOUNT_ATTR_IDMAP;
  attr.userns_fd = static_cast<uint64_t>(userns);
  unsigned attr_flags = AT_EMPTY_PATH | (a->attr_recursive ? AT_RECURSIVE : 0);
  if (syscall(SYS_mount_setattr, tree, "", attr_flags, &attr, sizeof attr) < 0) {
    a->err = errno;
    close(tree);
    close(userns);
    _exit(1);
  }
  close(userns);
  a->fd = tree;
  a->err = 0;
  _exit(0);
}

// A process in a user namespace of its own that maps root to `base`; it waits
// until its pipe closes. Fork-like clone: it shares nothing with Node.
int hold_userns(void* p) {
  const int* fds = static_cast<const int*>(p);
  close(fds[1]);  // its own copy of the write end would keep the pipe open
  int rd = fds[0];
  char b;
  ssize_t n;
  do {
    n = read(rd, &b, 1);
  } while (n < 0 && errno == EINTR);
  _exit(0);
}

bool write_map(pid_t pid, const char* file, const char* map, int* err) {
  char path[64];
  snprintf(path, sizeof path, "/proc/%d/%s", pid, file);
  int fd = open(path, O_WRONLY | O_CLOEXEC);
  if (fd < 0) {
    *err = errno;
    return false;
  }
  ssize_t n = write(fd, map, strlen(map));
  *err = errno;
  close(fd);
  return n == static_cast<ssize_t>(strlen(map));
}

// idmapProbe(path): null when an idmapped mount of path's tree can be made, else the
// errno name the kernel answered with ("EINVAL": the filesystem refuses, "ENOSYS").
Napi::Value IdmapProbe(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsString()) {
    Napi::TypeError::New(env, "idmapProbe(path): expected a path").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  std::string path = info[0].As<Napi::String>().Utf8Value();
  int err = 0;
  int fd = -1;
  int release = -1;
  // Any unprivileged range will do: the probe asks only whether the mount is allowed.
  pid_t pid = userns_holder("0 4000000000 1\n", "0 4000000000 1\n", &release, &err);
  if (pid >= 0) {
    fd = idmapped_tree(path, "/proc/" + std::to_string(pid) + "/ns/user", &err);
    close(release);
    int status;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
  }
  if (fd >= 0) {
    close(fd);
    return env.Null();
  }
  const char* name = strerrorname_np(err);
  return Napi::String::New(env, name != nullptr ? name : "EUNKNOWN");
}

ExportRegistrar reg([](Napi::Env env, Napi::Object exports) {
  exports.Set("idmapProbe", Napi::Function::New(env, IdmapProbe, "idmapProbe"));
});

}  // namespace

pid_t userns_holder(const std::string& uid_map, const std::string& gid_map, int* release, int* err) {
  int pipefd[2];
  if (pipe2(pipefd, O_CLOEXEC) < 0) {
    *err = errno;
    return -1;
  }
  constexpr size_t kStack = 64 * 1024;
  void* stack = mmap(nullptr, kStack, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
  if (stack == MAP_FAILED) {
    *err = errno;
    close(pipefd[0]);
    close(pipefd[1]);
    return -1;
  }
  sigset_t all, old;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &old);
  pid_t pid = clone(hold_userns, static_cast<char*>(stack) + kStack, CLONE_NEWUSER | SIGCHLD, pipefd);
  int clone_err = errno;
  pthread_sigmask(SIG_SETMASK, &old, nullptr);
  munmap(stack, kStack);
  close(pipefd[0]);
  if (pid < 0) {
    close(pipefd[1]);
    *err = clone_err;
    return -1;
  }
  if (!write_map(pid, "uid_map", uid_map.c_str(), err) || !write_map(pid, "gid_map", gid_map.c_str(), err)) {
    close(pipefd[1]);
    int status;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    return -1;
  }
  *release = pipefd[1];
  return pid;
}

int idmapped_tree(const std::string& path, const std::string& userns_path, int* err, bool clone_recursive,
                  bool attr_recursive) {
  TreeArgs args{path.c_str(), userns_path.c_str(), clone_recursive, attr_recursive, -1, EIO};
  constexpr size_t kStack = 64 * 1024;
  std::unique_ptr<char[]> stack(new char[kStack]);
  // Every signal blocked across the clone: no handler of Node's can run on the shared memory.
  sigset_t all, old;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &old);
  pid_t pid = clone(tree_child, stack.get() + kStack, CLONE_VM | CLONE_VFORK | CLONE_FILES | SIGCHLD, &args);
  int clone_err = errno;
  pthread_sigmask(SIG_SETMASK, &old, nullptr);
  if (pid < 0) {
    *err = clone_err;
    return -1;
  }
  int status;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (args.fd < 0) *err = args.err;
  return args.fd;
}

}  // namespace berth
