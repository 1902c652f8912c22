// Small state files written atomically in one threadpool job.
//
// writeFilesAtomic([{path, data, mode, sync, syncDir}]) writes each file through a
// temp file in its directory (open O_EXCL, write, fsync when sync, close, rename over
// path, fsync of the directory when syncDir), so a reader sees the old or the new
// content, never a part; with sync and syncDir the new content also survives a
// power cut once the promise resolves. Node's fs.promises
// needs five threadpool round trips per file (open, write, sync, close, rename);
// under load each one waits for a free thread and for the event loop, which made a
// small state write cost many times its syscalls (fsync included). Here the whole
// batch is one job.
//
// Files are written in order; on the first failure the temp file is unlinked and
// the promise rejects with a Node-style system error (code, errno, syscall, path);
// files before it stay written (each is atomic on its own, not the batch).
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <string>
#include <vector>

#include "exports.h"

namespace {

struct FileJob {
  std::string path;
  std::string data;
  mode_t mode = 0600;
  bool sync = false;
  bool syncDir = false;
};

struct Failure {
  int err = 0;
  const char* syscall = nullptr;
  std::string path;
};

// Temp name next to path: "<dir>/.<base>.<pid>.<counter>" (unique within this process and across processes).
std::string TempName(const std::string& path, unsigned long counter) {
  size_t slash = path.rfind('/');
  std::string dir = slash == std::string::npos ? "" : path.substr(0, slash + 1);
  std::string base = slash == std::string::npos ? path : path.substr(slash + 1);
  char suffix[48];
  snprintf(suffix, sizeof(suffix), ".%ld.%lu", static_cast<long>(getpid()), counter);
  return dir + "." + base + suffix;
}

bool WriteAll(int fd, const std::string& data) {
  size_t off = 0;
  while (off < data.size()) {
    ssize_t n = write(fd, data.data() + off, data.size() - off);
    if (n < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    off += static_cast<size_t>(n);
  }
  return true;
}

// fsyncs the directory holding path, so the rename into it is durable. A file system
// that cannot sync a directory (EINVAL) is not an error: there is nothing more to do.
bool SyncDir(const std::string& path, Failure* f) {
  size_t slash = path.rfind('/');
  std::string dir = slash == std::string::npos ? "." : slash == 0 ? "/" : path.substr(0, slash);
  int fd = open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) {
    *f = {errno, "open", dir};
    return false;
  }
  bool ok = fsync(fd) == 0 || errno == EINVAL;
  int err = errno;
  close(fd);
  if (!ok) *f = {err, "fsync", dir};
  return ok;
}

// Gives the open file `fd` the job's mode (the umask must not narrow it), writes the data, fsyncs when asked and
// closes it; false with *f naming `path` on failure.
bool FillAndClose(int fd, const FileJob& job, const std::string& path, Failure* f) {
  const char* failed = nullptr;
  if (fchmod(fd, job.mode) != 0) failed = "fchmod";
  else if (!WriteAll(fd, job.data)) failed = "write";
  else if (job.sync && fsync(fd) != 0) failed = "fsync";
  int err = errno;
  if (close(fd) != 0 && failed == nullptr) {
    failed = "close";
    err = errno;
  }
  if (failed != nullptr) *f = {err, failed, path};
  return failed == nullptr;
}

// One file; false with *f filled on failure (the temp file is gone then).
bool WriteOne(const FileJob& job, unsigned long counter, Failure* f) {
  std::string tmp = TempName(job.path, counter);
  int fd = open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, job.mode);
  if (fd < 0) {
    *f = {errno, "open", tmp};
    return false;
  }
  if (!FillAndClose(fd, job, tmp, f)) {
    unlink(tmp.c_str());
    return false;
  }
  if (rename(tmp.c_str(), job.path.c_str()) != 0) {
    *f = {errno, "rename", job.path};
    unlink(tmp.c_str());
    return false;
  }
  return !job.syncDir || SyncDir(job.path, f);
}

class WriteFilesWorker : public Napi::AsyncWorker {
 public:
  WriteFilesWorker(Napi::Env env, std::vector<FileJob> jobs)
      : Napi::AsyncWorker(env, "berth:writeFilesAtomic"), deferred_(Napi::Promise::Deferred::New(env)), jobs_(std::move(jobs)) {}

  Napi::Promise Promise() { return deferred_.Promise(); }

  void Execute() override {
    static std::atomic<unsigned long> counter{0};
    for (const FileJob& job : jobs_) {
      if (!WriteOne(job, counter.fetch_add(1), &failure_)) return;
    }
  }

  void OnOK() override {
    Napi::Env env = Env();
    if (failure_.err == 0) {
      deferred_.Resolve(env.Undefined());
      return;
    }
    const char* name = strerrorname_np(failure_.err);
    std::string code = name != nullptr ? name : "EUNKNOWN";
    std::string msg = code + ": " + strerror(failure_.err) + ", " + failure_.syscall + " '" + failure_.path + "'";
    Napi::Error e = Napi::Error::New(env, msg);
    e.Value().Set("code", Napi::String::New(env, code));
    e.Value().Set("errno", Napi::Number::New(env, -failure_.err));
    e.Value().Set("syscall", Napi::String::New(env, failure_.syscall));
    e.Value().Set("path", Napi::String::New(env, failure_.path));
    deferred_.Reject(e.Value());
  }

 private:
  Napi::Promise::Deferred deferred_;
  std::vector<FileJob> jobs_;
  Failure failure_;
};

Napi::Value WriteFilesAtomic(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsArray()) {
    Napi::TypeError::New(env, "writeFilesAtomic: files must be an array").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  Napi::Array arr = info[0].As<Napi::Array>();
  std::vector<FileJob> jobs;
  jobs.reserve(arr.Length());
  for (uint32_t i = 0; i < arr.Length(); i++) {
    Napi::Value v = arr.Get(i);
    std::string where = "writeFilesAtomic: files[" + std::to_string(i) + "]";
    if (!v.IsObject()) {
      Napi::TypeError::New(env, where + " must be an object").ThrowAsJavaScriptException();
      return env.Undefined();
    }
    Napi::Object o = v.As<Napi::Object>();
    FileJob job;
    Napi::Value path = o.Get("path");
    if (!path.IsString() || path.As<Napi::String>().Utf8Value().empty()) {
      Napi::TypeError::New(env, where + ".path must be a non-empty string").ThrowAsJavaScriptException();
      return env.Undefined();
    }
    job.path = path.As<Napi::String>().Utf8Value();
    if (job.path.find('\0') != std::string::npos) {
      Napi::TypeError::New(env, where + ".path contains a NUL byte").ThrowAsJavaScriptException();
      return env.Undefined();
    }
    Napi::Value data = o.Get("data");
    if (data.IsString()) {
      job.data = data.As<Napi::String>().Utf8Value();
    } else if (data.IsBuffer()) {
      Napi::Buffer<char> b = data.As<Napi::Buffer<char>>();
      job.data.assign(b.Data(), b.Length());
    } else {
      Napi::TypeError::New(env, where + ".data must be a string or a Buffer").ThrowAsJavaScriptException();
      return env.Undefined();
    }
    Napi::Value mode = o.Get("mode");
    if (!mode.IsUndefined()) {
      if (!mode.IsNumber() || mode.As<Napi::Number>().Int64Value() < 0 || mode.As<Napi::Number>().Int64Value() > 07777) {
        Napi::TypeError::New(env, where + ".mode must be a permission number (0 to 0o7777)").ThrowAsJavaScriptException();
        return env.Undefined();
      }
      job.mode = static_cast<mode_t>(mode.As<Napi::Number>().Int64Value());
    }
    job.sync = o.Get("sync").ToBoolean().Value();
    job.syncDir = o.Get("syncDir").ToBoolean().Value();
    jobs.push_back(std::move(job));
  }
  WriteFilesWorker* worker = new WriteFilesWorker(env, std::move(jobs));
  Napi::Promise promise = worker->Promise();
  worker->Queue();
  return promise;
}

berth::ExportRegistrar reg([](Napi::Env env, Napi::Object exports) {
  exports.Set("writeFilesAtomic", Napi::Function::New(env, WriteFilesAtomic, "writeFilesAtomic"));
});

}  // namespace
