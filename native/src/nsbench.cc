// nsBench: the measurement primitive of the `namespaces` bench suite. It times
// namespace creation without ever changing the Node process's own namespaces.
//
// JS: nsBench({clone: string[], unshare: string[], threads?, perThread?})
//       → Promise<{baseNs: bigint, wallNs, ops: [{thread, startNs, cloneNs,
//                  childStartNs, unshareNs, childExitNs, reapedNs}]}>
//
// One op, all on a worker thread (never the JS thread):
//   parent: pipe2 → t0 → clone(flags of `clone`) → t1 → read the child's record
//           → waitpid(that pid) → t_reaped
//   child:  started → unshare(flags of `unshare`) timed → one write() of its
//           CLOCK_MONOTONIC timestamps → _exit(0)
// The clone is fork-like (no CLONE_VM: the child gets its own copy of the address
// space, as a runtime's child does) with no exit signal, so the event loop's
// SIGCHLD handler never sees it; every signal is blocked around the clone, so no
// handler of the Node process ever runs in the child. The child makes only
// async-signal-safe calls (clock_gettime, unshare, write, _exit). Each child is
// reaped by pid before the op ends, and nothing else holds its namespaces, so
// they die with it (a network namespace's teardown finishes in a kernel worker).
//
// With threads > 1, that many threads each run perThread ops back to back,
// released together; wallNs spans the release to the end of the last op.
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <string>
#include <vector>

#include <napi.h>

#include "clock.h"
#include "exports.h"

namespace {

struct NsKind {
  const char* name;
  int flag;
};

// The names the JS side uses (the kind names of /proc/<pid>/ns, `mnt` for mount).
constexpr NsKind kKinds[] = {
    {"mnt", CLONE_NEWNS},   {"uts", CLONE_NEWUTS},   {"ipc", CLONE_NEWIPC},       {"pid", CLONE_NEWPID},
    {"net", CLONE_NEWNET},  {"user", CLONE_NEWUSER}, {"cgroup", CLONE_NEWCGROUP},
};

constexpr uint32_t kMaxThreads = 64;
constexpr uint32_t kMaxOps = 100000;
constexpr size_t kStackSize = 64 * 1024;

// What the child sends up its pipe: one record, smaller than PIPE_BUF, so one
// atomic write.
struct ChildRecord {
  uint64_t started;
  uint64_t unshare_begin;
  uint64_t unshare_end;
  uint64_t exiting;
  int32_t err;  // errno of a failed unshare, else 0
  int32_t pad;
};

struct ChildArgs {
  int unshare_flags;
  int write_fd;
};

int child_main(void* p) {
  const ChildArgs* a = static_cast<const ChildArgs*>(p);
  ChildRecord r;
  memset(&r, 0, sizeof r);
  r.started = berth::monotonic_ns();
  r.unshare_begin = berth::monotonic_ns();
  // syscall(), not unshare(): its PLT slot was bound in the parent (see run_ops),
  // so the timed call includes no lazy symbol resolution.
  if (a->unshare_flags != 0 && syscall(SYS_unshare, a->unshare_flags) != 0) r.err = errno;
  r.unshare_end = berth::monotonic_ns();
  r.exiting = berth::monotonic_ns();
  const char* buf = reinterpret_cast<const char*>(&r);
  size_t left = sizeof r;
  while (left > 0) {
    ssize_t n = write(a->write_fd, buf, left);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    buf += n;
    left -= static_cast<size_t>(n);
  }
  _exit(r.err == 0 ? 0 : 1);
  return 1;
}

// One measured op, as the parent saw it.
struct OpResult {
  uint32_t thread;
  uint64_t t0;
  uint64_t cloned;
  uint64_t reaped;
  ChildRecord rec;
};

// A failure: which step, its errno.
struct Failure {
  const char* step = nullptr;
  int err = 0;
};

// Runs one op; false with *fail filled on a failure (the child, if any, is reaped).
bool run_op(int clone_flags, int unshare_flags, char* stack_top, OpResult* out, Failure* fail) {
  int p[2];
  if (pipe2(p, O_CLOEXEC) != 0) {
    *fail = {"pipe2", errno};
    return false;
  }
  ChildArgs args{unshare_flags, p[1]};
  sigset_t all, saved;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &saved);
  out->t0 = berth::monotonic_ns();
  int pid = clone(child_main, stack_top, clone_flags, &args);
  int clone_err = pid < 0 ? errno : 0;
  out->cloned = berth::monotonic_ns();
  pthread_sigmask(SIG_SETMASK, &saved, nullptr);
  close(p[1]);
  if (pid < 0) {
    close(p[0]);
    *fail = {"clone", clone_err};
    return false;
  }
  size_t have = 0;
  char* dst = reinterpret_cast<char*>(&out->rec);
  while (have < sizeof out->rec) {
    ssize_t n = read(p[0], dst + have, sizeof out->rec - have);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    have += static_cast<size_t>(n);
  }
  close(p[0]);
  int status = 0;
  while (waitpid(pid, &status, __WALL) < 0 && errno == EINTR) {
  }
  out->reaped = berth::monotonic_ns();
  if (have == sizeof out->rec && out->rec.err != 0) {
    *fail = {"unshare", out->rec.err};
    return false;
  }
  if (have != sizeof out->rec || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    *fail = {"child", WIFSIGNALED(status) ? EINTR : ECHILD};
    return false;
  }
  return true;
}

struct Plan {
  int clone_flags;
  int unshare_flags;
  uint32_t per_thread;
};

// One thread's share of the work: a stack for its children, its slice of results.
struct ThreadJob {
  const Plan* plan;
  uint32_t index;
  OpResult* results;
  uint32_t done = 0;
  Failure fail;
  // The start gate shared by all threads.
  pthread_mutex_t* mu;
  pthread_cond_t* cv;
  uint32_t* ready;
  bool* go;
};

void run_ops(ThreadJob* job) {
  void* stack = mmap(nullptr, kStackSize, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
  if (stack == MAP_FAILED) {
    job->fail = {"mmap", errno};
    return;
  }
  char* top = static_cast<char*>(stack) + kStackSize;
  // Binds syscall()'s PLT slot now; the children inherit the bound slot.
  syscall(SYS_gettid);
  for (uint32_t k = 0; k < job->plan->per_thread; k++) {
    OpResult* r = &job->results[k];
    r->thread = job->index;
    if (!run_op(job->plan->clone_flags, job->plan->unshare_flags, top, r, &job->fail)) break;
    job->done++;
  }
  munmap(stack, kStackSize);
}

void* thread_main(void* p) {
  ThreadJob* job = static_cast<ThreadJob*>(p);
  pthread_mutex_lock(job->mu);
  (*job->ready)++;
  pthread_cond_broadcast(job->cv);
  while (!*job->go) pthread_cond_wait(job->cv, job->mu);
  pthread_mutex_unlock(job->mu);
  run_ops(job);
  return nullptr;
}

std::string flag_names(int flags) {
  std::string s;
  for (const NsKind& k : kKinds) {
    if ((flags & k.flag) == 0) continue;
    if (!s.empty()) s += "|";
    s += k.name;
  }
  return s.empty() ? "none" : s;
}

class BenchWorker : public Napi::AsyncWorker {
 public:
  BenchWorker(Napi::Env env, Plan plan, uint32_t threads)
      : Napi::AsyncWorker(env, "berth:nsBench"),
        deferred_(Napi::Promise::Deferred::New(env)),
        plan_(plan),
        threads_(threads),
        results_(static_cast<size_t>(threads) * plan.per_thread) {}

  Napi::Promise Promise() { return deferred_.Promise(); }

  void Execute() override {
    pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
    pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
    uint32_t ready = 0;
    bool go = false;
    std::vector<ThreadJob> jobs(threads_);
    for (uint32_t t = 0; t < threads_; t++) {
      jobs[t].plan = &plan_;
      jobs[t].index = t;
      jobs[t].results = &results_[static_cast<size_t>(t) * plan_.per_thread];
      jobs[t].mu = &mu;
      jobs[t].cv = &cv;
      jobs[t].ready = &ready;
      jobs[t].go = &go;
    }
    if (threads_ == 1) {
      wall_start_ = berth::monotonic_ns();
      run_ops(&jobs[0]);
    } else {
      std::vector<pthread_t> ids(threads_);
      uint32_t started = 0;
      for (; started < threads_; started++) {
        int err = pthread_create(&ids[started], nullptr, thread_main, &jobs[started]);
        if (err != 0) {
          fail_ = {"pthread_create", err};
          break;
        }
      }
      pthread_mutex_lock(&mu);
      while (ready < started) pthread_cond_wait(&cv, &mu);
      wall_start_ = berth::monotonic_ns();
      go = true;
      pthread_cond_broadcast(&cv);
      pthread_mutex_unlock(&mu);
      for (uint32_t t = 0; t < started; t++) pthread_join(ids[t], nullptr);
    }
    wall_end_ = berth::monotonic_ns();
    pthread_mutex_destroy(&mu);
    pthread_cond_destroy(&cv);
    for (const ThreadJob& j : jobs) {
      if (fail_.step == nullptr && j.fail.step != nullptr) fail_ = j.fail;
    }
  }

  void OnOK() override {
    Napi::Env env = Env();
    if (fail_.step != nullptr) {
      const char* ename = strerrorname_np(fail_.err);
      std::string code = ename != nullptr ? ename : "errno " + std::to_string(fail_.err);
      std::string msg = "nsBench clone(" + flag_names(plan_.clone_flags) + ") unshare(" + flag_names(plan_.unshare_flags) +
                        "): " + fail_.step + ": " + code + " (" + strerror(fail_.err) + ")";
      Napi::Error e = Napi::Error::New(env, msg);
      e.Set("code", Napi::String::New(env, code));
      e.Set("errno", Napi::Number::New(env, fail_.err));
      e.Set("step", Napi::String::New(env, fail_.step));
      deferred_.Reject(e.Value());
      return;
    }
    Napi::Object result = Napi::Object::New(env);
    result.Set("baseNs", Napi::BigInt::New(env, wall_start_));
    result.Set("wallNs", static_cast<double>(wall_end_ - wall_start_));
    Napi::Array ops = Napi::Array::New(env, results_.size());
    auto rel = [](uint64_t t, uint64_t from) { return static_cast<double>(static_cast<int64_t>(t - from)); };
    for (size_t i = 0; i < results_.size(); i++) {
      const OpResult& r = results_[i];
      Napi::Object o = Napi::Object::New(env);
      o.Set("thread", r.thread);
      o.Set("startNs", rel(r.t0, wall_start_));
      o.Set("cloneNs", rel(r.cloned, r.t0));
      o.Set("childStartNs", rel(r.rec.started, r.t0));
      o.Set("unshareNs", rel(r.rec.unshare_end, r.rec.unshare_begin));
      o.Set("childExitNs", rel(r.rec.exiting, r.t0));
      o.Set("reapedNs", rel(r.reaped, r.t0));
      ops.Set(static_cast<uint32_t>(i), o);
    }
    result.Set("ops", ops);
    deferred_.Resolve(result);
  }

  void OnError(const Napi::Error& e) override { deferred_.Reject(e.Value()); }

 private:
  Napi::Promise::Deferred deferred_;
  Plan plan_;
  uint32_t threads_;
  std::vector<OpResult> results_;
  Failure fail_;
  uint64_t wall_start_ = 0;
  uint64_t wall_end_ = 0;
};

// Namespace names (an array of strings) → CLONE_NEW* flags; "" on success, else why not.
std::string parse_kinds(Napi::Object opts, const char* field, int* flags) {
  *flags = 0;
  Napi::Value v = opts.Get(field);
  if (v.IsUndefined()) return std::string();
  if (!v.IsArray()) return std::string(field) + " must be an array of namespace names";
  Napi::Array arr = v.As<Napi::Array>();
  for (uint32_t i = 0; i < arr.Length(); i++) {
    Napi::Value e = arr.Get(i);
    std::string name = e.IsString() ? e.As<Napi::String>().Utf8Value() : std::string();
    int flag = 0;
    for (const NsKind& k : kKinds) {
      if (name == k.name) flag = k.flag;
    }
    if (flag == 0) {
      return std::string(field) + "[" + std::to_string(i) + "]: unknown namespace " +
             (e.IsString() ? "\"" + name + "\"" : std::string("(not a string)")) + " (mnt, uts, ipc, pid, net, user, cgroup)";
    }
    *flags |= flag;
  }
  return std::string();
}

// Reads a positive integer option (default 1) no larger than max.
std::string parse_count(Napi::Object opts, const char* field, uint32_t max, uint32_t* out) {
  Napi::Value v = opts.Get(field);
  *out = 1;
  if (v.IsUndefined()) return std::string();
  double d = v.IsNumber() ? v.As<Napi::Number>().DoubleValue() : -1;
  if (!(d >= 1 && d <= max) || d != static_cast<double>(static_cast<uint32_t>(d))) {
    return std::string(field) + " must be an integer from 1 to " + std::to_string(max);
  }
  *out = static_cast<uint32_t>(d);
  return std::string();
}

Napi::Value NsBench(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsObject()) {
    Napi::TypeError::New(env, "nsBench: options must be an object").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  Napi::Object opts = info[0].As<Napi::Object>();
  Plan plan{0, 0, 1};
  uint32_t threads = 1;
  std::string err = parse_kinds(opts, "clone", &plan.clone_flags);
  if (err.empty()) err = parse_kinds(opts, "unshare", &plan.unshare_flags);
  if (err.empty()) err = parse_count(opts, "threads", kMaxThreads, &threads);
  if (err.empty()) err = parse_count(opts, "perThread", kMaxOps, &plan.per_thread);
  if (err.empty() && static_cast<uint64_t>(threads) * plan.per_thread > kMaxOps) {
    err = "threads × perThread must be at most " + std::to_string(kMaxOps);
  }
  if (!err.empty()) {
    Napi::TypeError::New(env, "nsBench: " + err).ThrowAsJavaScriptException();
    return env.Undefined();
  }
  BenchWorker* worker = new BenchWorker(env, plan, threads);
  Napi::Promise promise = worker->Promise();
  worker->Queue();
  return promise;
}

berth::ExportRegistrar reg([](Napi::Env env, Napi::Object exports) {
  exports.Set("nsBench", Napi::Function::New(env, NsBench, "nsBench"));
});

}  // namespace
