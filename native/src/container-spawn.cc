// The parent's side of a container process: clone the child with its namespace
// flags, write its id maps, talk to it over the sync socket, and watch, signal and
// reap it through a pidfd — all without blocking Node's event loop (uv_poll on the
// socket and on the pidfd). Protocol and steps: container-protocol.h.
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <linux/sched.h>
#include <signal.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>
#include <uv.h>

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

constexpr size_t kChildStack = 512 * 1024;

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

// containerSpawn(config) → {pid, pidfd, syncFd, cloneStartNs, cloneEndNs}.
// The child waits at sync point 1 (before any setup) when this returns.
Napi::Value Spawn(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsObject()) {
    Napi::TypeError::New(env, "containerSpawn: expected a config object").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  std::unique_ptr<ContainerConfig> cfg = parse_container_config(env, info[0].As<Napi::Object>());
  if (!cfg) return env.Undefined();

  int sv[2];
  if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0) return throw_errno(env, errno, "socketpair");
  cfg->child.sync_fd = sv[1];
  void* stack = mmap(nullptr, kChildStack, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
  if (stack == MAP_FAILED) {
    int err = errno;
    close(sv[0]);
    close(sv[1]);
    return throw_errno(env, err, "container stack");
  }

  int own_pidns = -1;
  if (cfg->join_pid_fd >= 0) {
    own_pidns = open("/proc/thread-self/ns/pid", O_RDONLY | O_CLOEXEC);
    if (own_pidns < 0 || setns(cfg->join_pid_fd, CLONE_NEWPID) < 0) {
      int err = errno;
      if (own_pidns >= 0) close(own_pidns);
      munmap(stack, kChildStack);
      close(sv[0]);
      close(sv[1]);
      return throw_errno(env, err, "setns pid");
    }
  }

  // The child starts with every signal blocked, so none of Node's handlers can
  // run in it before it resets them to SIG_DFL.
  sigset_t all, old;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &old);
  uint64_t start = monotonic_ns();
  int pidfd = -1;
  pid_t pid = -1;
  int clone_err = 0;
  bool into_cgroup = false;
  if (cfg->cgroup_fd >= 0) {
    // clone3 places the child in the cgroup2 directory as it is made, so no pid is
    // written to cgroup.procs afterwards (each such write waits for an RCU grace
    // period under the kernel's global threadgroup lock). Without CLONE_VM and with
    // no stack given, the child runs on a copy-on-write image of this thread's stack,
    // as after fork, and never returns from here.
    struct clone_args args;
    memset(&args, 0, sizeof args);
    args.flags = static_cast<uint64_t>(cfg->child.clone_flags) | CLONE_PIDFD | CLONE_INTO_CGROUP;
    args.pidfd = reinterpret_cast<uint64_t>(&pidfd);
    args.exit_signal = SIGCHLD;
    args.cgroup = static_cast<uint64_t>(cfg->cgroup_fd);
    long r = syscall(SYS_clone3, &args, sizeof args);
    if (r == 0) _exit(container_child_main(&cfg->child));
    pid = static_cast<pid_t>(r);
    clone_err = r < 0 ? errno : 0;
    into_cgroup = r > 0;
  }
  // A kernel without clone3 or CLONE_INTO_CGROUP: a plain clone, and the caller attaches.
  if (cfg->cgroup_fd < 0 || (pid < 0 && (clone_err == ENOSYS || clone_err == E2BIG))) {
    pid = clone(container_child_main, static_cast<char*>(stack) + kChildStack,
                cfg->child.clone_flags | CLONE_PIDFD | SIGCHLD, &cfg->child, &pidfd);
    clone_err = errno;
  }
  uint64_t end = monotonic_ns();
  pthread_sigmask(SIG_SETMASK, &old, nullptr);
  if (own_pidns >= 0) {
    setns(own_pidns, CLONE_NEWPID);
    close(own_pidns);
  }
  munmap(stack, kChildStack);
  close(sv[1]);
  if (pid < 0) {
    close(sv[0]);
    return throw_errno(env, clone_err, "clone");
  }

  std::string proc = "/proc/" + std::to_string(pid);
  int err = 0;
  const char* failed = nullptr;
  if (!cfg->uid_map.empty() && !write_file(proc + "/uid_map", cfg->uid_map, &err)) failed = "uid_map";
  if (failed == nullptr && !cfg->gid_map.empty() && !write_file(proc + "/gid_map", cfg->gid_map, &err)) failed = "gid_map";
  std::string subject = std::string("write ") + (failed != nullptr ? failed : "");
  if (failed == nullptr && cfg->child.idmap_rootfs) {
    int tree = idmapped_tree(cfg->child.rootfs, proc + "/ns/user", &err);
    uint32_t type = kSyncRootfsTree;
    if (tree < 0 || send_with_fd(sv[0], &type, sizeof type, tree) < 0) {
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
    if (tree < 0 || send_with_fd(sv[0], &type, sizeof type, tree) < 0) {
      if (tree >= 0) err = errno;
      failed = "idmapped mount";
      subject = "mounts[" + std::to_string(im.index) + "]: idmapped mount of " + m.source + " on " + m.destination;
      if (holder < 0 && !im.uid_map.empty()) subject += ": a user namespace with its mappings";
      else if (tree < 0 && err == EINVAL) subject += " (its filesystem cannot be idmapped)";
    }
    if (tree >= 0) close(tree);
  }
  if (failed != nullptr) {
    syscall(SYS_pidfd_send_signal, pidfd, SIGKILL, nullptr, 0);
    siginfo_t si;
    waitid(static_cast<idtype_t>(P_PIDFD), static_cast<id_t>(pidfd), &si, WEXITED);
    close(pidfd);
    close(sv[0]);
    return throw_errno(env, err, subject);
  }

  Napi::Object out = Napi::Object::New(env);
  out.Set("pid", Napi::Number::New(env, pid));
  out.Set("pidfd", Napi::Number::New(env, pidfd));
  out.Set("syncFd", Napi::Number::New(env, sv[0]));
  out.Set("intoCgroup", Napi::Boolean::New(env, into_cgroup));
  out.Set("cloneStartNs", Napi::BigInt::New(env, start));
  out.Set("cloneEndNs", Napi::BigInt::New(env, end));
  return out;
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
  close_watch(w);
  WatchList* list = watch_list(env);
  if (list != nullptr && list->closing) return;
  // The C call, not Napi's MakeCallback: a failure here (an exception the callback
  // threw, or an environment that stopped running JavaScript) stays with Node as a
  // pending exception instead of aborting the process.
  napi_value argv[2] = {err, result};
  napi_value ret;
  napi_make_callback(env, nullptr, env.Global(), cb.Value(), 2, argv, &ret);
}

Napi::Value start_watch(const Napi::CallbackInfo& info, const char* name,
                        bool (*on_ready)(Watch*, Napi::Env, Napi::Value*, Napi::Value*)) {
  Napi::Env env = info.Env();
  if (info.Length() < 2 || !info[0].IsNumber() || !info[1].IsFunction()) {
    Napi::TypeError::New(env, std::string(name) + "(fd, callback)").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  uv_loop_t* loop = nullptr;
  if (napi_get_uv_event_loop(env, &loop) != napi_ok || loop == nullptr) {
    Napi::Error::New(env, std::string(name) + ": no event loop").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  Watch* w = new Watch();
  w->env = env;
  w->fd = info[0].As<Napi::Number>().Int32Value();
  w->on_ready = on_ready;
  w->callback = Napi::Persistent(info[1].As<Napi::Function>());
  int rc = uv_poll_init(loop, &w->handle, w->fd);
  if (rc < 0) {
    delete w;
    Napi::Error::New(env, std::string(name) + ": " + uv_strerror(rc)).ThrowAsJavaScriptException();
    return env.Undefined();
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
    return env.Undefined();
  }
  // unref: the watch alone does not keep the event loop (the process) alive.
  if (info.Length() > 2 && info[2].IsBoolean() && info[2].As<Napi::Boolean>().Value()) {
    uv_unref(reinterpret_cast<uv_handle_t*>(&w->handle));
  }
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
