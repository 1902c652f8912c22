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
#include <linux/capability.h>
#include <sys/fsuid.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <memory>
#include <vector>

#include "exports.h"
#include "throw-errno.h"

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

// What overlay_child builds: an overlayfs over idmapped layers, attached on `target`.
struct OverlayArgs {
  const char* userns;               // /proc/<holder>/ns/user
  std::vector<const char*> lowers;  // top first
  const char* layer;                // holds `upper` and `work` (one mount: overlayfs wants them on the same)
  const char* upper;
  const char* work;
  std::vector<std::pair<const char*, const char*>> options;  // key, value (null: a flag)
  const char* target;
  uid_t fsuid;  // the mapping's root on the host: the overlay's creator writes through the idmapped upper as it
  gid_t fsgid;
  // Room the parent allocates: the helper never touches the heap (another thread of the parent may hold its lock).
  int* fds;  // every fd the helper opened (it closes them before it exits)
  size_t nfds;
  int* lower_fds;  // one per lower
  const char* step;      // written by the helper: the call that failed
  int err;
  char log[512];  // the filesystem context's messages, when fsconfig failed
};

int ovl_fail(OverlayArgs* a, const char* step, int err) {
  a->step = step;
  a->err = err;
  for (size_t i = 0; i < a->nfds; i++) close(a->fds[i]);
  _exit(1);
}

int ovl_open(OverlayArgs* a, int fd) {
  if (fd >= 0) a->fds[a->nfds++] = fd;
  return fd;
}

// An idmapped, detached copy of the single mount at path (submounts left out).
int ovl_layer(OverlayArgs* a, int userns, const char* path) {
  int tree = ovl_open(a, static_cast<int>(syscall(SYS_open_tree, AT_FDCWD, path, OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC)));
  if (tree < 0) ovl_fail(a, "open_tree", errno);
  struct mount_attr attr;
  memset(&attr, 0, sizeof attr);
  attr.attr_set = MOUNT_ATTR_IDMAP;
  attr.userns_fd = static_cast<uint64_t>(userns);
  if (syscall(SYS_mount_setattr, tree, "", AT_EMPTY_PATH, &attr, sizeof attr) < 0) ovl_fail(a, "mount_setattr", errno);
  return tree;
}

void ovl_config(OverlayArgs* a, int fs, unsigned cmd, const char* key, const char* value, int aux, const char* step) {
  if (syscall(SYS_fsconfig, fs, cmd, key, value, aux) == 0) return;
  int err = errno;
  ssize_t n = read(fs, a->log, sizeof a->log - 1);
  a->log[n > 0 ? n : 0] = '\0';
  ovl_fail(a, step, err);
}

// The helper (CLONE_VM | CLONE_VFORK | CLONE_FILES, C only): the fds it opens land in the parent's table, so it
// closes each before it exits. Its credentials are its own: the fsuid it takes does not reach the parent.
int overlay_child(void* p) {
  OverlayArgs* a = static_cast<OverlayArgs*>(p);
  int userns = ovl_open(a, open(a->userns, O_RDONLY | O_CLOEXEC));
  if (userns < 0) ovl_fail(a, "open user namespace", errno);
  for (size_t i = 0; i < a->lowers.size(); i++) a->lower_fds[i] = ovl_layer(a, userns, a->lowers[i]);
  int layer = ovl_layer(a, userns, a->layer);
  int upper = ovl_open(a, openat(layer, a->upper, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  if (upper < 0) ovl_fail(a, "open upper dir", errno);
  int work = ovl_open(a, openat(layer, a->work, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  if (work < 0) ovl_fail(a, "open work dir", errno);
  int fs = ovl_open(a, static_cast<int>(syscall(SYS_fsopen, "overlay", FSOPEN_CLOEXEC)));
  if (fs < 0) ovl_fail(a, "fsopen overlay", errno);
  for (size_t i = 0; i < a->lowers.size(); i++) {
    ovl_config(a, fs, FSCONFIG_SET_FD, "lowerdir+", nullptr, a->lower_fds[i], "fsconfig lowerdir+");
  }
  ovl_config(a, fs, FSCONFIG_SET_FD, "upperdir", nullptr, upper, "fsconfig upperdir");
  ovl_config(a, fs, FSCONFIG_SET_FD, "workdir", nullptr, work, "fsconfig workdir");
  for (const auto& [key, value] : a->options) {
    ovl_config(a, fs, value != nullptr ? FSCONFIG_SET_STRING : FSCONFIG_SET_FLAG, key, value, 0, "fsconfig option");
  }
  // overlayfs keeps its creator's credentials for work dir entries and copy-ups: with the host's root as fsuid it
  // could not write through the idmapped upper (EOVERFLOW, and the mount turns read-only). The mapping's root can;
  // setfsuid drops the file capabilities from the effective set, so they are raised again from the permitted one.
  setfsgid(a->fsgid);
  setfsuid(a->fsuid);
  if (static_cast<uid_t>(setfsuid(static_cast<uid_t>(-1))) != a->fsuid) ovl_fail(a, "setfsuid", EPERM);
  struct __user_cap_header_struct head = {_LINUX_CAPABILITY_VERSION_3, 0};
  struct __user_cap_data_struct caps[2];
  if (syscall(SYS_capget, &head, caps) < 0) ovl_fail(a, "capget", errno);
  caps[0].effective = caps[0].permitted;
  caps[1].effective = caps[1].permitted;
  if (syscall(SYS_capset, &head, caps) < 0) ovl_fail(a, "capset", errno);
  ovl_config(a, fs, FSCONFIG_CMD_CREATE, nullptr, nullptr, 0, "fsconfig create");
  int mnt = ovl_open(a, static_cast<int>(syscall(SYS_fsmount, fs, FSMOUNT_CLOEXEC, 0)));
  if (mnt < 0) ovl_fail(a, "fsmount", errno);
  // What was mounted on target (the plain overlay) goes first: two overlays must never share an upper dir.
  if (umount2(a->target, MNT_DETACH) < 0 && errno != EINVAL) ovl_fail(a, "umount2", errno);
  if (syscall(SYS_move_mount, mnt, "", AT_FDCWD, a->target, MOVE_MOUNT_F_EMPTY_PATH) < 0) {
    ovl_fail(a, "move_mount", errno);
  }
  for (size_t i = 0; i < a->nfds; i++) close(a->fds[i]);
  a->err = 0;
  _exit(0);
}

// Runs fn(arg) in a child that shares this process's memory and descriptor table (CLONE_VM | CLONE_VFORK |
// CLONE_FILES) on a stack of its own, with every signal blocked across the clone so that no handler of Node's runs
// on the shared memory, and reaps it. Returns 0, or the clone's errno.
int run_shared_child(int (*fn)(void*), void* arg, size_t stack_size) {
  std::unique_ptr<char[]> stack(new char[stack_size]);
  sigset_t all, old;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &old);
  pid_t pid = clone(fn, stack.get() + stack_size, CLONE_VM | CLONE_VFORK | CLONE_FILES | SIGCHLD, arg);
  int clone_err = errno;
  pthread_sigmask(SIG_SETMASK, &old, nullptr);
  if (pid < 0) return clone_err;
  int status;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  return 0;
}

bool read_strings(const Napi::Value& v, std::vector<std::string>* out) {
  if (!v.IsArray()) return false;
  Napi::Array arr = v.As<Napi::Array>();
  for (uint32_t i = 0; i < arr.Length(); i++) {
    Napi::Value x = arr.Get(i);
    if (!x.IsString()) return false;
    out->push_back(x.As<Napi::String>().Utf8Value());
  }
  return true;
}

// overlayIdmapped(target, lowers, layer, upper, work, options, uidMap, gidMap): mounts an overlayfs on target over
// idmapped copies of the lower dirs and of `layer` (upper and work below it), mapped through a user namespace with the
// given maps ("0 100000 65536\n"), replacing what was mounted there. The helper runs as the maps' root (fsuid).
Napi::Value OverlayIdmapped(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::vector<std::string> lowers, options;
  bool ok = info.Length() == 8 && info[0].IsString() && read_strings(info[1], &lowers) && info[2].IsString() &&
            info[3].IsString() && info[4].IsString() && read_strings(info[5], &options) && info[6].IsString() &&
            info[7].IsString() && !lowers.empty();
  if (!ok) {
    Napi::TypeError::New(env, "overlayIdmapped(target, lowers, layer, upper, work, options, uidMap, gidMap)")
        .ThrowAsJavaScriptException();
    return env.Undefined();
  }
  std::string target = info[0].As<Napi::String>().Utf8Value();
  std::string layer = info[2].As<Napi::String>().Utf8Value();
  std::string upper = info[3].As<Napi::String>().Utf8Value();
  std::string work = info[4].As<Napi::String>().Utf8Value();
  std::string uid_map = info[6].As<Napi::String>().Utf8Value();
  std::string gid_map = info[7].As<Napi::String>().Utf8Value();
  unsigned long fsuid = 0, fsgid = 0;
  if (sscanf(uid_map.c_str(), "0 %lu", &fsuid) != 1 || sscanf(gid_map.c_str(), "0 %lu", &fsgid) != 1) {
    Napi::TypeError::New(env, "overlayIdmapped: the maps must map 0 first").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  std::vector<std::string> keys, values;
  OverlayArgs args{};
  args.layer = layer.c_str();
  args.upper = upper.c_str();
  args.work = work.c_str();
  args.target = target.c_str();
  args.fsuid = static_cast<uid_t>(fsuid);
  args.fsgid = static_cast<gid_t>(fsgid);
  args.step = "clone";
  args.err = EIO;
  for (const std::string& l : lowers) args.lowers.push_back(l.c_str());
  for (std::string& o : options) {
    size_t eq = o.find('=');
    if (eq != std::string::npos) o[eq] = '\0';
    args.options.emplace_back(o.c_str(), eq != std::string::npos ? o.c_str() + eq + 1 : nullptr);
  }
  // Each lower's tree, the layer's tree, upper, work, the user namespace, the context and the mount.
  std::vector<int> fd_room(lowers.size() + 8), lower_room(lowers.size());
  args.fds = fd_room.data();
  args.nfds = 0;
  args.lower_fds = lower_room.data();
  int release = -1;
  int err = 0;
  pid_t holder = userns_holder(uid_map, gid_map, &release, &err);
  if (holder < 0) {
    ThrowErrno(env, err, "user namespace for idmapped layers", target);
    return env.Undefined();
  }
  std::string userns = "/proc/" + std::to_string(holder) + "/ns/user";
  args.userns = userns.c_str();
  int clone_err = run_shared_child(overlay_child, &args, 256 * 1024);
  if (clone_err != 0) args.err = clone_err;
  close(release);
  int status;
  while (waitpid(holder, &status, 0) < 0 && errno == EINTR) {
  }
  if (args.err != 0) {
    std::string log(args.log);
    while (!log.empty() && log.back() == '\n') log.pop_back();
    ThrowErrno(env, args.err, args.step, log.empty() ? target : target + " (" + log + ")");
  }
  return env.Undefined();
}

ExportRegistrar reg([](Napi::Env env, Napi::Object exports) {
  exports.Set("idmapProbe", Napi::Function::New(env, IdmapProbe, "idmapProbe"));
  exports.Set("overlayIdmapped", Napi::Function::New(env, OverlayIdmapped, "overlayIdmapped"));
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
  int clone_err = run_shared_child(tree_child, &args, 64 * 1024);
  if (clone_err != 0) {
    *err = clone_err;
    return -1;
  }
  if (args.fd < 0) *err = args.err;
  return args.fd;
}

}  // namespace berth
