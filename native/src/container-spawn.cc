// The parent's side of a container process: clone the child with its namespace
// flags (from a spawn thread, sharing this process's memory until its execve), write
// its id maps, talk to it over the sync socket, and watch, signal and reap it through
// a pidfd — all without blocking Node's event loop (uv_poll on the socket and on the
// pidfd). Protocol and steps: container-protocol.h.
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <linux/sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>
#include <uv.h>

#include <atomic>
#include <memory>
#include <string>

#include "clock.h"
#include "container-config.h"
#include "container-protocol.h"
#include "idmap.h"
#include "send-fd.h"
#include "exports.h"

#ifndef CLONE_PIDFD
#define CLONE_PIDFD 0x00001000
#endif
#ifndef P_PIDFD
#define P_PIDFD 3
#endif

namespace berth {
namespace {

constexpr size_t kChildStack = 512 * 1024;  // the container child's, in its spawn thread's frame

Napi::Value throw_errno(Napi::Env env, int err, const std::string& subject) {
  const char* name = strerrorname_np(err);
  Napi::Error e = Napi::Error::New(env, subject + ": " + (name ? name : "errno") + " (" + strerror(err) + ")");
  e.Set("code", Napi::String::New(env, name ? name : "EUNKNOWN"));
  e.Set("errno", Napi::Number::New(env, err));
  e.ThrowAsJavaScriptException();
  return env.Undefined();
}

bool write_file(const std::string& path, const std::string& data, int* err) {
  int fd = open(path.c_str(), O_WRONLY | O_CLOEXEC);
  if (fd < 0) {
    *err = errno;
    return false;
  }
  ssize_t n = write(fd, data.data(), data.size());
  *err = errno;
  close(fd);
  return n == static_cast<ssize_t>(data.size());
}

// containerSend(syncFd, 'setup' | 'resume' | 'start'): one message to the child.
// Throws EPIPE when the child is gone.
Napi::Value Send(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 2 || !info[0].IsNumber() || !info[1].IsString()) {
    Napi::TypeError::New(env, "containerSend(fd, 'setup' | 'resume' | 'start')").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  std::string what = info[1].As<Napi::String>().Utf8Value();
  uint32_t type = 0;
  if (what == "setup") type = kSyncSetup;
  if (what == "start") type = kSyncStart;
  if (what == "resume") type = kSyncResume;
  if (type == 0) {
    Napi::TypeError::New(env, "containerSend: unknown message " + what).ThrowAsJavaScriptException();
    return env.Undefined();
  }
  ssize_t n;
  do {
    n = send(info[0].As<Napi::Number>().Int32Value(), &type, sizeof type, MSG_NOSIGNAL | MSG_DONTWAIT);
  } while (n < 0 && errno == EINTR);
  if (n < 0) return throw_errno(env, errno, "send " + what);
  return env.Undefined();
}

// One uv_poll on an fd until one event is handled, then the handle closes itself.
// Live watches are listed per environment: when the environment tears down
// (process.exit, a worker ending) a cleanup hook closes them, so no callback ever
// runs into an environment that can no longer run JavaScript.
struct Watch {
  uv_poll_t handle;
  Napi::FunctionReference callback;
  napi_env env;
  int fd;
  bool (*on_ready)(Watch* w, Napi::Env env, Napi::Value* err, Napi::Value* result);
  std::shared_ptr<void> data;  // what on_ready needs besides the fd (a spawn's state)
  bool close_fd = false;       // on_ready asks for fd to be closed once the poll stopped
  Watch* prev = nullptr;
  Watch* next = nullptr;
};

// The live watches of one environment (a doubly linked list; the main thread of
// that environment is the only one that touches it).
struct WatchList {
  Watch* head = nullptr;
  bool closing = false;
};

void unlink_watch(WatchList* list, Watch* w) {
  if (w->prev != nullptr) w->prev->next = w->next; else if (list->head == w) list->head = w->next;
  if (w->next != nullptr) w->next->prev = w->prev;
  w->prev = w->next = nullptr;
}

WatchList* watch_list(napi_env env) {
  void* data = nullptr;
  if (napi_get_instance_data(env, &data) == napi_ok && data != nullptr) return static_cast<WatchList*>(data);
  return nullptr;
}

void close_watch(Watch* w) {
  if (WatchList* list = watch_list(w->env)) unlink_watch(list, w);
  uv_poll_stop(&w->handle);
  uv_close(reinterpret_cast<uv_handle_t*>(&w->handle), [](uv_handle_t* h) {
    delete static_cast<Watch*>(h->data);
  });
}

// Environment teardown: drop every pending callback and close the handles.
void close_all_watches(void* arg) {
  WatchList* list = static_cast<WatchList*>(arg);
  list->closing = true;
  while (list->head != nullptr) {
    Watch* w = list->head;
    unlink_watch(list, w);
    w->callback.Reset();
    uv_poll_stop(&w->handle);
    uv_close(reinterpret_cast<uv_handle_t*>(&w->handle), [](uv_handle_t* h) {
      delete static_cast<Watch*>(h->data);
    });
  }
}

void on_poll(uv_poll_t* handle, int status, int events) {
  (void)events;
  Watch* w = static_cast<Watch*>(handle->data);
  Napi::Env env(w->env);
  Napi::HandleScope scope(env);
  Napi::Value err = env.Null();
  Napi::Value result = env.Null();
  if (status < 0) {
    Napi::Error e = Napi::Error::New(env, std::string("poll: ") + uv_strerror(status));
    err = e.Value();
  } else if (!w->on_ready(w, env, &err, &result)) {
    return;  // spurious wake-up: keep polling
  }
  Napi::FunctionReference cb = std::move(w->callback);
  int fd_to_close = w->close_fd ? w->fd : -1;
  close_watch(w);  // uv_poll_stop takes the fd out of epoll at once
  if (fd_to_close >= 0) close(fd_to_close);
  WatchList* list = watch_list(env);
  if (list != nullptr && list->closing) return;
  // The C call, not Napi's MakeCallback: a failure here (an exception the callback
  // threw, or an environment that stopped running JavaScript) stays with Node as a
  // pending exception instead of aborting the process.
  napi_value argv[2] = {err, result};
  napi_value ret;
  napi_make_callback(env, nullptr, env.Global(), cb.Value(), 2, argv, &ret);
}

// Polls fd until on_ready handled an event, then calls callback(err, result) once. A failure throws in JS.
bool begin_watch(Napi::Env env, int fd, Napi::Function callback,
                 bool (*on_ready)(Watch*, Napi::Env, Napi::Value*, Napi::Value*), bool unref, std::shared_ptr<void> data,
                 const char* name) {
  uv_loop_t* loop = nullptr;
  if (napi_get_uv_event_loop(env, &loop) != napi_ok || loop == nullptr) {
    Napi::Error::New(env, std::string(name) + ": no event loop").ThrowAsJavaScriptException();
    return false;
  }
  Watch* w = new Watch();
  w->env = env;
  w->fd = fd;
  w->on_ready = on_ready;
  w->data = std::move(data);
  w->callback = Napi::Persistent(callback);
  int rc = uv_poll_init(loop, &w->handle, w->fd);
  if (rc < 0) {
    delete w;
    Napi::Error::New(env, std::string(name) + ": " + uv_strerror(rc)).ThrowAsJavaScriptException();
    return false;
  }
  w->handle.data = w;
  if (WatchList* list = watch_list(env)) {
    w->next = list->head;
    if (list->head != nullptr) list->head->prev = w;
    list->head = w;
  }
  rc = uv_poll_start(&w->handle, UV_READABLE | UV_DISCONNECT, on_poll);
  if (rc < 0) {
    close_watch(w);
    Napi::Error::New(env, std::string(name) + ": " + uv_strerror(rc)).ThrowAsJavaScriptException();
    return false;
  }
  // unref: the watch alone does not keep the event loop (the process) alive.
  if (unref) uv_unref(reinterpret_cast<uv_handle_t*>(&w->handle));
  return true;
}

Napi::Value start_watch(const Napi::CallbackInfo& info, const char* name,
                        bool (*on_ready)(Watch*, Napi::Env, Napi::Value*, Napi::Value*)) {
  Napi::Env env = info.Env();
  if (info.Length() < 2 || !info[0].IsNumber() || !info[1].IsFunction()) {
    Napi::TypeError::New(env, std::string(name) + "(fd, callback)").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  bool unref = info.Length() > 2 && info[2].IsBoolean() && info[2].As<Napi::Boolean>().Value();
  begin_watch(env, info[0].As<Napi::Number>().Int32Value(), info[1].As<Napi::Function>(), on_ready, unref, nullptr,
              name);
  return env.Undefined();
}

const char* message_type(uint32_t type) {
  switch (type) {
    case kSyncCreated: return "created";
    case kSyncError: return "error";
    case kSyncHooks: return "hooks";
    case kSyncTerminal: return "terminal";
    default: return "unknown";
  }
}

bool read_message(Watch* w, Napi::Env env, Napi::Value* err, Napi::Value* result) {
  ChildMessage msg;
  struct iovec iov;
  iov.iov_base = &msg;
  iov.iov_len = sizeof msg;
  alignas(struct cmsghdr) char control[CMSG_SPACE(sizeof(int) * 4)];
  struct msghdr mh;
  memset(&mh, 0, sizeof mh);
  mh.msg_iov = &iov;
  mh.msg_iovlen = 1;
  mh.msg_control = control;
  mh.msg_controllen = sizeof control;
  ssize_t n;
  do {
    n = recvmsg(w->fd, &mh, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
  } while (n < 0 && errno == EINTR);
  // An fd passed along (SCM_RIGHTS): kept for a terminal message, closed otherwise.
  int passed = -1;
  if (n > 0) {
    for (struct cmsghdr* cm = CMSG_FIRSTHDR(&mh); cm != nullptr; cm = CMSG_NXTHDR(&mh, cm)) {
      if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS) continue;
      size_t count = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);
      for (size_t i = 0; i < count; i++) {
        int fd;
        memcpy(&fd, CMSG_DATA(cm) + i * sizeof(int), sizeof fd);
        if (passed < 0) passed = fd; else close(fd);
      }
    }
    if (passed >= 0 && (static_cast<size_t>(n) != sizeof msg || msg.type != kSyncTerminal)) {
      close(passed);
      passed = -1;
    }
  }
  if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return false;
  if (n < 0) {
    int e = errno;
    Napi::Error x = Napi::Error::New(env, std::string("recv: ") + strerrorname_np(e));
    x.Set("code", Napi::String::New(env, strerrorname_np(e)));
    *err = x.Value();
    return true;
  }
  if (n == 0) return true;  // EOF: result stays null
  if (static_cast<size_t>(n) != sizeof msg) {
    *err = Napi::Error::New(env, "recv: short message from the container child").Value();
    return true;
  }
  Napi::Object o = Napi::Object::New(env);
  o.Set("type", Napi::String::New(env, message_type(msg.type)));
  if (passed >= 0) o.Set("terminalFd", Napi::Number::New(env, passed));
  uint32_t nsteps = msg.nsteps > kMaxSteps ? kMaxSteps : msg.nsteps;
  Napi::Array steps = Napi::Array::New(env, nsteps);
  for (uint32_t i = 0; i < nsteps; i++) {
    const StepRecord& s = msg.steps[i];
    Napi::Object so = Napi::Object::New(env);
    so.Set("name", Napi::String::New(env, s.step < kStepCount ? kStepNames[s.step] : "unknown"));
    so.Set("index", Napi::Number::New(env, s.index));
    so.Set("startNs", Napi::BigInt::New(env, s.start_ns));
    so.Set("endNs", Napi::BigInt::New(env, s.end_ns));
    steps.Set(i, so);
  }
  o.Set("steps", steps);
  if (msg.type == kSyncError) {
    msg.detail[kMaxDetail - 1] = '\0';
    const char* name = strerrorname_np(msg.err);
    o.Set("step", Napi::String::New(env, msg.step < kStepCount ? kStepNames[msg.step] : "unknown"));
    o.Set("errno", Napi::Number::New(env, msg.err));
    o.Set("code", Napi::String::New(env, name ? name : "EUNKNOWN"));
    o.Set("strerror", Napi::String::New(env, strerror(msg.err)));
    o.Set("detail", Napi::String::New(env, msg.detail));
  }
  *result = o;
  return true;
}

// containerRecv(syncFd, cb(err, message | null)): the next message from the child,
// or null at EOF (the child exec'd or died). One outstanding call per fd.
Napi::Value Recv(const Napi::CallbackInfo& info) { return start_watch(info, "containerRecv", read_message); }

// The pid a pidfd refers to (its fdinfo's "Pid:" line), -1 when unknown.
int pid_of_pidfd(int pidfd) {
  char path[64], buf[512];
  snprintf(path, sizeof path, "/proc/self/fdinfo/%d", pidfd);
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return -1;
  ssize_t n = read(fd, buf, sizeof buf - 1);
  close(fd);
  if (n <= 0) return -1;
  buf[n] = '\0';
  const char* p = strstr(buf, "\nPid:");
  return p != nullptr ? atoi(p + 5) : -1;
}

// One spawn: the config the child runs on and what the clone tells the parent. Shared by
// the spawn thread (until the child execve'd or exited) and the parent's first watch.
struct SpawnState {
  std::unique_ptr<ContainerConfig> cfg;
  int sync_child = -1;     // the child's end: the spawn thread closes it once the child is gone from its memory
  int pidfd = -1;          // written by the kernel (CLONE_PIDFD) before the child runs
  int pid = -1;            // written by the kernel (CLONE_PARENT_SETTID)
  bool into_cgroup = false;
  uint64_t clone_start = 0;
  uint64_t child_started = 0;  // stamped by the child before kSyncCloned
  SpawnFailure failure{};      // the spawn thread's report, passed on at EOF (once it closed its end)
  // Once the child runs, this process's copies of its socket end and of the config's fds (the child has its own)
  // are closed by whichever comes first: the parent on kSyncCloned (usually: so a failed create leaves no fd once it
  // fails), or the spawn thread once the child is gone.
  std::atomic<bool> released{false};
  void release_parent_copies() {
    if (released.exchange(true)) return;
    close(sync_child);
    for (int fd : cfg->owned_fds) close(fd);
    cfg->owned_fds.clear();
  }
};

#if defined(__x86_64__)
// clone3 whose child calls fn(arg) on the stack in args and exits with its result
// (glibc has no public clone3 wrapper; a child on a stack of its own cannot return
// from syscall(2)). Returns the child's pid, or -errno.
extern "C" long berth_clone3_call(struct clone_args* args, size_t size, int (*fn)(void*), void* arg);
asm(".text\n"
    ".globl berth_clone3_call\n"
    ".type berth_clone3_call,@function\n"
    "berth_clone3_call:\n"
    "  mov %rdx, %r8\n"          // fn, kept across the syscall (which clobbers rcx and r11)
    "  mov %rcx, %r9\n"          // arg
    "  mov $435, %eax\n"         // SYS_clone3
    "  syscall\n"
    "  test %rax, %rax\n"
    "  jnz 1f\n"
    "  xor %ebp, %ebp\n"         // the child, on its own stack (16-byte aligned top)
    "  mov %r9, %rdi\n"
    "  call *%r8\n"
    "  mov %eax, %edi\n"
    "  mov $60, %eax\n"          // SYS_exit
    "  syscall\n"
    "  hlt\n"
    "1: ret\n"
    ".size berth_clone3_call, .-berth_clone3_call\n");
#endif

// The child's stack: on the spawn thread's own stack, which is idle while the child runs (CLONE_VFORK).
constexpr size_t kSpawnThreadStack = kChildStack + 256 * 1024;

void send_failure(int fd, uint32_t stage, int err) {
  SpawnFailure f{kSyncCloneFailed, stage, err};
  ssize_t n;
  do {
    n = send(fd, &f, sizeof f, MSG_NOSIGNAL);
  } while (n < 0 && errno == EINTR);
}

// The spawn thread: clones the child sharing this process's memory (no page tables
// copied, no copy-on-write faults in Node afterwards, an execve with no copy to tear
// down) and stays suspended until the child execve'd or exited (CLONE_VFORK), so the
// child may use this thread's stack and errno. Every signal is blocked here (and so in
// the child until it resets them). Node's event loop never waits for the clone.
void* spawn_thread(void* arg) {
  std::shared_ptr<SpawnState> st = std::move(*static_cast<std::shared_ptr<SpawnState>*>(arg));
  delete static_cast<std::shared_ptr<SpawnState>*>(arg);
  ContainerConfig& cfg = *st->cfg;
  alignas(16) char stack[kChildStack];
  // exec into a container: its pid namespace is the one children of this thread get (the thread ends after).
  if (cfg.join_pid_fd >= 0 && setns(cfg.join_pid_fd, CLONE_NEWPID) < 0) {
    int err = errno;
    st->cfg.reset();
    send_failure(st->sync_child, 1, err);
    close(st->sync_child);
    return nullptr;
  }
  const uint64_t flags = static_cast<uint64_t>(cfg.child.clone_flags) | CLONE_VM | CLONE_VFORK | CLONE_PIDFD |
                         CLONE_PARENT_SETTID;
  st->clone_start = monotonic_ns();
  long r = -ENOSYS;
#if defined(__x86_64__)
  struct clone_args args;
  memset(&args, 0, sizeof args);
  args.flags = flags;
  args.pidfd = reinterpret_cast<uint64_t>(&st->pidfd);
  args.parent_tid = reinterpret_cast<uint64_t>(&st->pid);
  args.exit_signal = SIGCHLD;
  args.stack = reinterpret_cast<uint64_t>(stack);
  args.stack_size = sizeof stack;
  if (cfg.cgroup_fd >= 0) {
    // The child starts in the cgroup2 directory as it is made, so no pid is written to
    // cgroup.procs afterwards (each such write waits for an RCU grace period under the
    // kernel's global threadgroup lock).
    args.flags |= CLONE_INTO_CGROUP;
    args.cgroup = static_cast<uint64_t>(cfg.cgroup_fd);
    st->into_cgroup = true;
  }
  r = berth_clone3_call(&args, sizeof args, container_child_main, &cfg.child);
  if (r < 0) st->into_cgroup = false;
#endif
  // No clone3 (or CLONE_INTO_CGROUP) here: glibc's clone, and the caller attaches the pid.
  // It takes the pidfd's and the tid's pointer in one place: the pid is read from the pidfd.
  int err = r < 0 ? static_cast<int>(-r) : 0;
  if (r < 0 && (err == ENOSYS || err == E2BIG)) {
    r = clone(container_child_main, stack + sizeof stack, static_cast<int>(flags & ~uint64_t{CLONE_PARENT_SETTID}) | SIGCHLD,
              &cfg.child, &st->pidfd);
    err = r < 0 ? errno : 0;
  }
  // Here the child has execve'd or exited (or was never made).
  if (r > 0) {
    st->release_parent_copies();
    return nullptr;
  }
  int sync_child = st->sync_child;
  st->cfg.reset();  // its fds closed before the parent hears of the failure (which never reads cfg then)
  send_failure(sync_child, 0, err);
  close(sync_child);
  return nullptr;
}

Napi::Value errno_error(Napi::Env env, int err, const std::string& subject) {
  const char* name = strerrorname_np(err);
  Napi::Error e = Napi::Error::New(env, subject + ": " + (name ? name : "errno") + " (" + strerror(err) + ")");
  e.Set("code", Napi::String::New(env, name ? name : "EUNKNOWN"));
  e.Set("errno", Napi::Number::New(env, err));
  return e.Value();
}

// After kSyncCloned, on the main thread: the user namespace's maps and the idmapped
// trees, as the child waits for kSyncSetup. Returns the error, or undefined.
Napi::Value finish_spawn(Napi::Env env, SpawnState& st, int sync_parent) {
  ContainerConfig* cfg = st.cfg.get();
  pid_t pid = st.pid;
  int pidfd = st.pidfd;
  std::string proc = "/proc/" + std::to_string(pid);
  int err = 0;
  const char* failed = nullptr;
  if (!cfg->uid_map.empty() && !write_file(proc + "/uid_map", cfg->uid_map, &err)) failed = "uid_map";
  if (failed == nullptr && !cfg->gid_map.empty() && !write_file(proc + "/gid_map", cfg->gid_map, &err)) failed = "gid_map";
  std::string subject = std::string("write ") + (failed != nullptr ? failed : "");
  if (failed == nullptr && cfg->child.idmap_rootfs) {
    int tree = idmapped_tree(cfg->child.rootfs, proc + "/ns/user", &err);
    uint32_t type = kSyncRootfsTree;
    if (tree < 0 || send_with_fd(sync_parent, &type, sizeof type, tree) < 0) {
      if (tree >= 0) err = errno;
      failed = "idmapped mount";
      subject = std::string("idmapped mount of ") + cfg->child.rootfs;
    }
    if (tree >= 0) close(tree);
  }
  for (size_t i = 0; failed == nullptr && i < cfg->idmap_mounts.size(); i++) {
    const IdmapMount& im = cfg->idmap_mounts[i];
    const MountEntry& m = cfg->mounts[static_cast<size_t>(im.index)];
    std::string userns = proc + "/ns/user";
    int release = -1;
    pid_t holder = -1;
    if (!im.uid_map.empty()) {
      holder = userns_holder(im.uid_map, im.gid_map, &release, &err);
      userns = "/proc/" + std::to_string(holder) + "/ns/user";
    }
    int tree = -1;
    if (holder >= 0 || im.uid_map.empty()) {
      tree = idmapped_tree(m.source, userns, &err, im.clone_recursive, im.attr_recursive);
    }
    if (holder >= 0) {
      close(release);
      int status;
      while (waitpid(holder, &status, 0) < 0 && errno == EINTR) {
      }
    }
    uint32_t type = kSyncMountTree;
    if (tree < 0 || send_with_fd(sync_parent, &type, sizeof type, tree) < 0) {
      if (tree >= 0) err = errno;
      failed = "idmapped mount";
      subject = "mounts[" + std::to_string(im.index) + "]: idmapped mount of " + m.source + " on " + m.destination;
      if (holder < 0 && !im.uid_map.empty()) subject += ": a user namespace with its mappings";
      else if (tree < 0 && err == EINVAL) subject += " (its filesystem cannot be idmapped)";
    }
    if (tree >= 0) close(tree);
  }
  if (failed == nullptr) return env.Undefined();
  syscall(SYS_pidfd_send_signal, pidfd, SIGKILL, nullptr, 0);
  siginfo_t si;
  waitid(static_cast<idtype_t>(P_PIDFD), static_cast<id_t>(pidfd), &si, WEXITED);
  return errno_error(env, err, subject);
}

bool read_spawned(Watch* w, Napi::Env env, Napi::Value* err, Napi::Value* result);

// containerSpawn(config, cb(err, {pid, pidfd, syncFd, intoCgroup, cloneStartNs, cloneEndNs})).
// A bad config throws at once; the clone runs on a thread of its own and cb is called
// on the event loop once the child runs and waits at sync point 1 (before any setup).
Napi::Value Spawn(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsObject()) {
    Napi::TypeError::New(env, "containerSpawn: expected a config object").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  std::unique_ptr<ContainerConfig> cfg = parse_container_config(env, info[0].As<Napi::Object>());
  if (!cfg) return env.Undefined();
  if (info.Length() < 2 || !info[1].IsFunction()) {
    Napi::TypeError::New(env, "containerSpawn(config, callback): expected a callback").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  int sv[2];
  if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0) return throw_errno(env, errno, "socketpair");
  auto st = std::make_shared<SpawnState>();
  cfg->child.sync_fd = sv[1];
  cfg->child.started_ns = &st->child_started;
  st->cfg = std::move(cfg);
  st->sync_child = sv[1];

  // The watch first: once the thread runs, the child exists and only the watch reaps it on failure.
  if (!begin_watch(env, sv[0], info[1].As<Napi::Function>(), read_spawned, false, st, "containerSpawn")) {
    close(sv[0]);
    close(sv[1]);
    return env.Undefined();
  }
  pthread_attr_t attr;
  pthread_attr_init(&attr);
  pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
  pthread_attr_setstacksize(&attr, kSpawnThreadStack);
  // The thread starts with every signal blocked, so none of Node's handlers runs in it or in the child.
  sigset_t all, old;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &old);
  pthread_t thread;
  auto* arg = new std::shared_ptr<SpawnState>(st);
  int rc = pthread_create(&thread, &attr, spawn_thread, arg);
  pthread_sigmask(SIG_SETMASK, &old, nullptr);
  pthread_attr_destroy(&attr);
  if (rc != 0) {
    delete arg;
    send_failure(sv[1], 0, rc);  // the watch reports it
    close(sv[1]);
  }
  return env.Undefined();
}


// The spawn's first event on the parent's end: kSyncCloned (the child runs: finish and
// hand over its pid, pidfd and socket), a SpawnFailure, or EOF. On failure nothing is
// left open and no child is left behind.
bool read_spawned(Watch* w, Napi::Env env, Napi::Value* err, Napi::Value* result) {
  SpawnState& st = *static_cast<SpawnState*>(w->data.get());
  SpawnFailure f{};
  ssize_t n;
  do {
    n = recv(w->fd, &f, sizeof f, MSG_DONTWAIT);
  } while (n < 0 && errno == EINTR);
  if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return false;
  if (n >= static_cast<ssize_t>(sizeof(uint32_t)) && f.type == kSyncCloned) {
    if (st.pid <= 0) st.pid = pid_of_pidfd(st.pidfd);
    st.release_parent_copies();
    Napi::Value failed = finish_spawn(env, st, w->fd);
    if (failed.IsUndefined()) {
      Napi::Object out = Napi::Object::New(env);
      out.Set("pid", Napi::Number::New(env, st.pid));
      out.Set("pidfd", Napi::Number::New(env, st.pidfd));
      out.Set("syncFd", Napi::Number::New(env, w->fd));
      out.Set("intoCgroup", Napi::Boolean::New(env, st.into_cgroup));
      out.Set("cloneStartNs", Napi::BigInt::New(env, st.clone_start));
      out.Set("cloneEndNs", Napi::BigInt::New(env, st.child_started));
      *result = out;
      return true;
    }
    *err = failed;
  } else if (n == static_cast<ssize_t>(sizeof f) && f.type == kSyncCloneFailed) {
    st.failure = f;
    return false;  // reported at EOF: the thread closes its end right after
  } else if (n == 0 && st.failure.type == kSyncCloneFailed) {
    *err = errno_error(env, st.failure.err, st.failure.stage == 1 ? "setns pid" : "clone");
  } else {
    // The child died before it said it runs: reap it.
    if (st.pidfd >= 0) {
      siginfo_t si;
      waitid(static_cast<idtype_t>(P_PIDFD), static_cast<id_t>(st.pidfd), &si, WEXITED);
    }
    *err = errno_error(env, n < 0 ? errno : ECHILD, "clone: the child ended before it ran");
  }
  if (st.pidfd >= 0) close(st.pidfd);
  st.pidfd = -1;
  w->close_fd = true;
  return true;
}

bool reap(Watch* w, Napi::Env env, Napi::Value* err, Napi::Value* result) {
  siginfo_t si;
  memset(&si, 0, sizeof si);
  int rc;
  do {
    rc = waitid(static_cast<idtype_t>(P_PIDFD), static_cast<id_t>(w->fd), &si, WEXITED | WNOHANG);
  } while (rc < 0 && errno == EINTR);
  Napi::Object o = Napi::Object::New(env);
  if (rc < 0) {
    if (errno != ECHILD) {
      int e = errno;
      Napi::Error x = Napi::Error::New(env, std::string("waitid: ") + strerrorname_np(e));
      x.Set("code", Napi::String::New(env, strerrorname_np(e)));
      *err = x.Value();
      return true;
    }
    // Not our child (a pidfd from pidfdOpen): it exited, its status went to its parent.
    o.Set("exitCode", env.Null());
    o.Set("signal", env.Null());
    *result = o;
    return true;
  }
  if (si.si_pid == 0) return false;
  if (si.si_code == CLD_EXITED) {
    o.Set("exitCode", Napi::Number::New(env, si.si_status));
    o.Set("signal", env.Null());
  } else {
    o.Set("exitCode", env.Null());
    o.Set("signal", Napi::Number::New(env, si.si_status));
  }
  *result = o;
  return true;
}

// pidfdWait(pidfd, cb(err, {exitCode, signal}), unref?): reaps exactly that child
// when it exits (waitid P_PIDFD); for a process that is not our child both are null.
// With unref the wait does not keep the Node process alive.
Napi::Value PidfdWait(const Napi::CallbackInfo& info) { return start_watch(info, "pidfdWait", reap); }

// pidfdSendSignal(pidfd, signal): immune to pid reuse. Throws ESRCH when gone.
Napi::Value PidfdSendSignal(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 2 || !info[0].IsNumber() || !info[1].IsNumber()) {
    Napi::TypeError::New(env, "pidfdSendSignal(pidfd, signal)").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  if (syscall(SYS_pidfd_send_signal, info[0].As<Napi::Number>().Int32Value(), info[1].As<Napi::Number>().Int32Value(),
              nullptr, 0) < 0) {
    return throw_errno(env, errno, "pidfd_send_signal");
  }
  return env.Undefined();
}

// pidfdOpen(pid) → a pidfd (close-on-exec). Throws ESRCH when no such process.
Napi::Value PidfdOpen(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsNumber()) {
    Napi::TypeError::New(env, "pidfdOpen(pid)").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  long fd = syscall(SYS_pidfd_open, info[0].As<Napi::Number>().Int32Value(), 0);
  if (fd < 0) return throw_errno(env, errno, "pidfd_open");
  return Napi::Number::New(env, static_cast<double>(fd));
}

// sendFd(socketPath, fd, name): connects to the unix stream socket at socketPath and
// sends fd (SCM_RIGHTS) with name as the payload — runc's --console-socket protocol.
// Blocking (a connect and one sendmsg on a local socket); throws with code = errno
// name, the subject naming the socket. The caller keeps (and closes) fd.
Napi::Value SendFd(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 3 || !info[0].IsString() || !info[1].IsNumber() || !info[2].IsString()) {
    Napi::TypeError::New(env, "sendFd(socketPath, fd, name)").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  std::string path = info[0].As<Napi::String>().Utf8Value();
  int fd = info[1].As<Napi::Number>().Int32Value();
  std::string name = info[2].As<Napi::String>().Utf8Value();
  std::string subject = "console socket " + path;
  struct sockaddr_un addr;
  memset(&addr, 0, sizeof addr);
  addr.sun_family = AF_UNIX;
  if (path.empty() || path.size() >= sizeof addr.sun_path) return throw_errno(env, ENAMETOOLONG, subject);
  memcpy(addr.sun_path, path.c_str(), path.size() + 1);
  int sock = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (sock < 0) return throw_errno(env, errno, subject);
  int rc;
  do {
    rc = connect(sock, reinterpret_cast<struct sockaddr*>(&addr), sizeof addr);
  } while (rc < 0 && errno == EINTR);
  if (rc < 0) {
    int e = errno;
    close(sock);
    return throw_errno(env, e, subject + ": connect");
  }
  char empty = '\0';
  ssize_t n = name.empty() ? send_with_fd(sock, &empty, 1, fd) : send_with_fd(sock, name.data(), name.size(), fd);
  int e = errno;
  close(sock);
  if (n < 0) return throw_errno(env, e, subject + ": sendmsg");
  return env.Undefined();
}

// ptyName(masterFd) → "/dev/pts/<n>", the peer's name inside the container's devpts.
Napi::Value PtyName(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsNumber()) {
    Napi::TypeError::New(env, "ptyName(masterFd)").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  unsigned int n = 0;
  if (ioctl(info[0].As<Napi::Number>().Int32Value(), TIOCGPTN, &n) < 0) return throw_errno(env, errno, "pty number");
  return Napi::String::New(env, "/dev/pts/" + std::to_string(n));
}

// ptyResize(masterFd, rows, cols): sets the terminal's window size (TIOCSWINSZ); the
// foreground process group gets SIGWINCH from the kernel.
Napi::Value PtyResize(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 3 || !info[0].IsNumber() || !info[1].IsNumber() || !info[2].IsNumber()) {
    Napi::TypeError::New(env, "ptyResize(masterFd, rows, cols)").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  double rows = info[1].As<Napi::Number>().DoubleValue();
  double cols = info[2].As<Napi::Number>().DoubleValue();
  if (!(rows >= 0 && rows <= 65535 && cols >= 0 && cols <= 65535)) {
    Napi::RangeError::New(env, "ptyResize: rows and cols must be 0-65535").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  struct winsize ws;
  memset(&ws, 0, sizeof ws);
  ws.ws_row = static_cast<unsigned short>(rows);
  ws.ws_col = static_cast<unsigned short>(cols);
  if (ioctl(info[0].As<Napi::Number>().Int32Value(), TIOCSWINSZ, &ws) < 0) return throw_errno(env, errno, "pty resize");
  return env.Undefined();
}

// containerPipe() → [readFd, writeFd], both close-on-exec.
Napi::Value Pipe(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) < 0) return throw_errno(env, errno, "pipe2");
  Napi::Array a = Napi::Array::New(env, 2);
  a.Set(0u, Napi::Number::New(env, fds[0]));
  a.Set(1u, Napi::Number::New(env, fds[1]));
  return a;
}

ExportRegistrar reg([](Napi::Env env, Napi::Object exports) {
  // One watch list per environment, closed by the environment's cleanup hook and
  // freed with it.
  WatchList* list = new WatchList();
  napi_set_instance_data(env, list, [](napi_env, void* data, void*) { delete static_cast<WatchList*>(data); }, nullptr);
  napi_add_env_cleanup_hook(env, close_all_watches, list);
  exports.Set("containerSpawn", Napi::Function::New(env, Spawn, "containerSpawn"));
  exports.Set("containerSend", Napi::Function::New(env, Send, "containerSend"));
  exports.Set("containerRecv", Napi::Function::New(env, Recv, "containerRecv"));
  exports.Set("containerPipe", Napi::Function::New(env, Pipe, "containerPipe"));
  exports.Set("sendFd", Napi::Function::New(env, SendFd, "sendFd"));
  exports.Set("ptyName", Napi::Function::New(env, PtyName, "ptyName"));
  exports.Set("ptyResize", Napi::Function::New(env, PtyResize, "ptyResize"));
  exports.Set("pidfdWait", Napi::Function::New(env, PidfdWait, "pidfdWait"));
  exports.Set("pidfdSendSignal", Napi::Function::New(env, PidfdSendSignal, "pidfdSendSignal"));
  exports.Set("pidfdOpen", Napi::Function::New(env, PidfdOpen, "pidfdOpen"));
});

}  // namespace
}  // namespace berth
