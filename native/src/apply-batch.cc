// Batched entry creation for the layer applier, on a threadpool thread.
//
// applyEntries(ops): Promise<{done, blocked, error?, warnings}> creates regular files
// and symlinks, in order, each named by a directory handle (dirFd, an O_PATH handle
// the applier opened beneath the layer root) and one path component (name: no '/',
// not "." or ".."). Every call acts relative to that handle, never through a path
// re-resolved from the root:
//   - whatever non-directory is at name is unlinked (unlinkat, after creation failed
//     EEXIST); a directory there stops the batch before that op (blocked: true,
//     done = its index) so the applier removes it with its own bookkeeping and sends
//     the rest again;
//   - a file is created openat(O_WRONLY|O_CREAT|O_EXCL|O_NOFOLLOW, 0600), its
//     chunks written with writev, then fchown, fchmod, fsetxattr and futimens on
//     that fd, then closed;
//   - a symlink is made with symlinkat, then fchownat, lsetxattr (through the
//     parent's handle, last component not followed) and utimensat with
//     AT_SYMLINK_NOFOLLOW: the link's own attributes, never its target's.
// An xattr the file system refuses (ENOTSUP, EOPNOTSUPP, EPERM) is reported in
// warnings and the op goes on; any other failure stops the batch with error
// {index, code, errno, syscall, path}: the ops before it are done, that one may be
// half made (the applier discards the layer then). The Buffers of the ops are kept
// alive by a reference to the array until the promise settles.
//
// One threadpool job per batch instead of several synchronous calls per entry on the
// event loop: decompression, hashing and tar parsing go on while the files are made.
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <cmath>
#include <string>
#include <vector>

#include "exports.h"

namespace {

enum Kind { kFile = 0, kSymlink = 1 };

struct Xattr {
  std::string name;
  const char* data;
  size_t len;
};

struct Op {
  Kind kind = kFile;
  int dirFd = -1;
  std::string name;
  uid_t uid = 0;
  gid_t gid = 0;
  mode_t mode = 0644;
  struct timespec mtime = {0, 0};
  std::vector<Xattr> xattrs;
  std::vector<struct iovec> data;
  std::string target;
};

struct Warning {
  size_t index;
  std::string attr;
  int err;
};

struct Failure {
  size_t index = 0;
  int err = 0;
  const char* syscall = nullptr;
};

std::string ErrCode(int err) {
  const char* name = strerrorname_np(err);
  return name != nullptr ? name : "EUNKNOWN";
}

bool XattrRefused(int err) { return err == ENOTSUP || err == EOPNOTSUPP || err == EPERM; }

bool WriteAll(int fd, std::vector<struct iovec>& iov) {
  size_t i = 0;
  while (i < iov.size()) {
    if (iov[i].iov_len == 0) {
      i++;
      continue;
    }
    int n = static_cast<int>(std::min<size_t>(iov.size() - i, IOV_MAX));
    ssize_t w = writev(fd, &iov[i], n);
    if (w < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    size_t left = static_cast<size_t>(w);
    while (left > 0 && i < iov.size()) {
      if (left >= iov[i].iov_len) {
        left -= iov[i].iov_len;
        iov[i].iov_len = 0;
        i++;
      } else {
        iov[i].iov_base = static_cast<char*>(iov[i].iov_base) + left;
        iov[i].iov_len -= left;
        left = 0;
      }
    }
  }
  return true;
}

class ApplyWorker : public Napi::AsyncWorker {
 public:
  ApplyWorker(Napi::Env env, Napi::Array ops, std::vector<Op> parsed)
      : Napi::AsyncWorker(env, "berth:applyEntries"),
        deferred_(Napi::Promise::Deferred::New(env)),
        keep_(Napi::Persistent(ops)),
        ops_(std::move(parsed)) {}

  Napi::Promise Promise() { return deferred_.Promise(); }

  void Execute() override {
    for (size_t i = 0; i < ops_.size(); i++) {
      int r = Run(i);
      if (r < 0) return;  // failure_ filled
      if (r == 0) {       // a directory in the way
        blocked_ = true;
        done_ = i;
        return;
      }
      done_ = i + 1;
    }
  }

  void OnOK() override {
    Napi::Env env = Env();
    Napi::Object out = Napi::Object::New(env);
    out.Set("done", Napi::Number::New(env, static_cast<double>(done_)));
    out.Set("blocked", Napi::Boolean::New(env, blocked_));
    Napi::Array warnings = Napi::Array::New(env, warnings_.size());
    for (size_t i = 0; i < warnings_.size(); i++) {
      Napi::Object w = Napi::Object::New(env);
      w.Set("index", Napi::Number::New(env, static_cast<double>(warnings_[i].index)));
      w.Set("attr", Napi::String::New(env, warnings_[i].attr));
      w.Set("code", Napi::String::New(env, ErrCode(warnings_[i].err)));
      warnings.Set(i, w);
    }
    out.Set("warnings", warnings);
    if (failure_.err != 0) {
      const Op& op = ops_[failure_.index];
      std::string code = ErrCode(failure_.err);
      Napi::Object e = Napi::Object::New(env);
      e.Set("index", Napi::Number::New(env, static_cast<double>(failure_.index)));
      e.Set("code", Napi::String::New(env, code));
      e.Set("errno", Napi::Number::New(env, -failure_.err));
      e.Set("syscall", Napi::String::New(env, failure_.syscall));
      e.Set("path", Napi::String::New(env, op.name));
      e.Set("message", Napi::String::New(env, code + ": " + strerror(failure_.err) + ", " + failure_.syscall + " '" +
                                                  op.name + "'"));
      out.Set("error", e);
    }
    keep_.Reset();
    deferred_.Resolve(out);
  }

 private:
  int Fail(size_t i, const char* syscall) {
    failure_ = {i, errno, syscall};
    return -1;
  }

  // After an EEXIST: 1 when the non-directory at op's name was unlinked, 0 when a directory is there, -1 on failure.
  int MakeRoom(size_t i, const Op& op) {
    struct stat st;
    if (fstatat(op.dirFd, op.name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
      if (errno == ENOENT) return 1;  // gone meanwhile
      return Fail(i, "fstatat");
    }
    if (S_ISDIR(st.st_mode)) return 0;
    if (unlinkat(op.dirFd, op.name.c_str(), 0) != 0 && errno != ENOENT) return Fail(i, "unlinkat");
    return 1;
  }

  // 1: done; 0: a directory is in the way (nothing changed); -1: failed. Creation is tried first (a new
  // layer rarely holds the name already); on EEXIST whatever is there is replaced, once.
  int Run(size_t i) {
    Op& op = ops_[i];
    struct timespec ts[2] = {op.mtime, op.mtime};
    if (op.kind == kSymlink) {
      int made = symlinkat(op.target.c_str(), op.dirFd, op.name.c_str());
      if (made != 0 && errno == EEXIST) {
        int room = MakeRoom(i, op);
        if (room <= 0) return room;
        made = symlinkat(op.target.c_str(), op.dirFd, op.name.c_str());
      }
      if (made != 0) return Fail(i, "symlinkat");
      if (fchownat(op.dirFd, op.name.c_str(), op.uid, op.gid, AT_SYMLINK_NOFOLLOW) != 0) return Fail(i, "fchownat");
      if (!op.xattrs.empty()) {
        std::string at = "/proc/self/fd/" + std::to_string(op.dirFd) + "/" + op.name;
        for (const Xattr& x : op.xattrs) {
          if (lsetxattr(at.c_str(), x.name.c_str(), x.data, x.len, 0) == 0) continue;
          if (!XattrRefused(errno)) return Fail(i, "lsetxattr");
          warnings_.push_back({i, x.name, errno});
        }
      }
      if (utimensat(op.dirFd, op.name.c_str(), ts, AT_SYMLINK_NOFOLLOW) != 0) return Fail(i, "utimensat");
      return 1;
    }
    const int flags = O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC;
    int fd = openat(op.dirFd, op.name.c_str(), flags, 0600);
    if (fd < 0 && errno == EEXIST) {
      int room = MakeRoom(i, op);
      if (room <= 0) return room;
      fd = openat(op.dirFd, op.name.c_str(), flags, 0600);
    }
    if (fd < 0) return Fail(i, "openat");
    int r = 1;
    if (!WriteAll(fd, op.data)) r = Fail(i, "write");
    else if (fchown(fd, op.uid, op.gid) != 0) r = Fail(i, "fchown");
    else if (fchmod(fd, op.mode) != 0) r = Fail(i, "fchmod");
    if (r == 1) {
      for (const Xattr& x : op.xattrs) {
        if (fsetxattr(fd, x.name.c_str(), x.data, x.len, 0) == 0) continue;
        if (!XattrRefused(errno)) {
          r = Fail(i, "fsetxattr");
          break;
        }
        warnings_.push_back({i, x.name, errno});
      }
    }
    if (r == 1 && futimens(fd, ts) != 0) r = Fail(i, "futimens");
    if (close(fd) != 0 && r == 1) r = Fail(i, "close");
    return r;
  }

  Napi::Promise::Deferred deferred_;
  Napi::Reference<Napi::Array> keep_;
  std::vector<Op> ops_;
  std::vector<Warning> warnings_;
  Failure failure_;
  size_t done_ = 0;
  bool blocked_ = false;
};

bool ValidName(const std::string& name) {
  return !name.empty() && name != "." && name != ".." && name.find('/') == std::string::npos &&
         name.find('\0') == std::string::npos;
}

bool Uint(Napi::Value v, double max, double* out) {
  if (!v.IsNumber()) return false;
  double d = v.As<Napi::Number>().DoubleValue();
  if (!(d >= 0 && d <= max) || std::floor(d) != d) return false;
  *out = d;
  return true;
}

// The op at ops[i], or an error sentence.
std::string ParseOp(Napi::Object o, Op* op) {
  Napi::Value kind = o.Get("kind");
  if (kind.IsString() && kind.As<Napi::String>().Utf8Value() == "file") op->kind = kFile;
  else if (kind.IsString() && kind.As<Napi::String>().Utf8Value() == "symlink") op->kind = kSymlink;
  else return "kind must be 'file' or 'symlink'";
  double n;
  if (!Uint(o.Get("dirFd"), INT_MAX, &n)) return "dirFd must be a file descriptor";
  op->dirFd = static_cast<int>(n);
  Napi::Value name = o.Get("name");
  if (!name.IsString()) return "name must be a string";
  op->name = name.As<Napi::String>().Utf8Value();
  if (!ValidName(op->name)) return "name must be one path component";
  if (!Uint(o.Get("uid"), 4294967294.0, &n)) return "uid must be an id";
  op->uid = static_cast<uid_t>(n);
  if (!Uint(o.Get("gid"), 4294967294.0, &n)) return "gid must be an id";
  op->gid = static_cast<gid_t>(n);
  if (!Uint(o.Get("mode"), 07777, &n)) return "mode must be a permission number (0 to 0o7777)";
  op->mode = static_cast<mode_t>(n);
  Napi::Value mtime = o.Get("mtimeMs");
  if (!mtime.IsNumber() || !std::isfinite(mtime.As<Napi::Number>().DoubleValue())) return "mtimeMs must be a number";
  double ms = mtime.As<Napi::Number>().DoubleValue();
  double sec = std::floor(ms / 1000);
  op->mtime.tv_sec = static_cast<time_t>(sec);
  op->mtime.tv_nsec = static_cast<long>(std::llround((ms - sec * 1000) * 1e6));
  if (op->mtime.tv_nsec >= 1000000000L) op->mtime.tv_nsec = 999999999L;
  Napi::Value xattrs = o.Get("xattrs");
  if (!xattrs.IsUndefined()) {
    if (!xattrs.IsArray()) return "xattrs must be an array of [name, Buffer]";
    Napi::Array arr = xattrs.As<Napi::Array>();
    for (uint32_t k = 0; k < arr.Length(); k++) {
      Napi::Value pair = arr.Get(k);
      if (!pair.IsArray()) return "xattrs must be an array of [name, Buffer]";
      Napi::Value xn = pair.As<Napi::Array>().Get(0u);
      Napi::Value xv = pair.As<Napi::Array>().Get(1u);
      if (!xn.IsString() || !xv.IsBuffer()) return "xattrs must be an array of [name, Buffer]";
      Napi::Buffer<char> b = xv.As<Napi::Buffer<char>>();
      op->xattrs.push_back({xn.As<Napi::String>().Utf8Value(), b.Data(), b.Length()});
    }
  }
  if (op->kind == kSymlink) {
    Napi::Value target = o.Get("target");
    if (!target.IsString()) return "a symlink's target must be a string";
    op->target = target.As<Napi::String>().Utf8Value();
    if (op->target.empty() || op->target.find('\0') != std::string::npos) return "a symlink's target must be non-empty";
    return "";
  }
  Napi::Value data = o.Get("data");
  if (!data.IsArray()) return "a file's data must be an array of Buffers";
  Napi::Array chunks = data.As<Napi::Array>();
  op->data.reserve(chunks.Length());
  for (uint32_t k = 0; k < chunks.Length(); k++) {
    Napi::Value c = chunks.Get(k);
    if (!c.IsBuffer()) return "a file's data must be an array of Buffers";
    Napi::Buffer<char> b = c.As<Napi::Buffer<char>>();
    op->data.push_back({b.Data(), b.Length()});
  }
  return "";
}

Napi::Value ApplyEntries(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsArray()) {
    Napi::TypeError::New(env, "applyEntries: ops must be an array").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  Napi::Array arr = info[0].As<Napi::Array>();
  std::vector<Op> ops(arr.Length());
  for (uint32_t i = 0; i < arr.Length(); i++) {
    Napi::Value v = arr.Get(i);
    std::string why = v.IsObject() ? ParseOp(v.As<Napi::Object>(), &ops[i]) : "must be an object";
    if (!why.empty()) {
      Napi::TypeError::New(env, "applyEntries: ops[" + std::to_string(i) + "]: " + why).ThrowAsJavaScriptException();
      return env.Undefined();
    }
  }
  ApplyWorker* worker = new ApplyWorker(env, arr, std::move(ops));
  Napi::Promise promise = worker->Promise();
  worker->Queue();
  return promise;
}

berth::ExportRegistrar reg([](Napi::Env env, Napi::Object exports) {
  exports.Set("applyEntries", Napi::Function::New(env, ApplyEntries, "applyEntries"));
});

}  // namespace
