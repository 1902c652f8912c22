// Reads the JS spawn config (native/index.ts: NativeSpawnConfig, built by
// engine/execdriver/native-config.ts) into the flat ChildConfig the cloned child
// reads. Runs in the parent, before clone: all allocation happens here.
#include <fcntl.h>
#include <sched.h>
#include <string.h>
#include <sys/mount.h>
#include <unistd.h>

#include <cerrno>
#include <string>

#include "container-config.h"

namespace berth {

ContainerConfig::~ContainerConfig() {
  for (int fd : owned_fds) close(fd);
}

namespace {

// Collects the first type error; later reads return defaults.
struct Reader {
  Napi::Env env;
  std::string error;

  bool fail(const std::string& field, const char* want) {
    if (error.empty()) error = "container config: " + field + ": expected " + want;
    return false;
  }
  Napi::Value get(Napi::Object o, const char* key) { return o.Get(key); }
  std::string str(Napi::Object o, const char* key, const std::string& field, bool optional = false) {
    Napi::Value v = o.Get(key);
    if (optional && (v.IsUndefined() || v.IsNull())) return std::string();
    if (!v.IsString()) {
      fail(field, "a string");
      return std::string();
    }
    std::string s = v.As<Napi::String>().Utf8Value();
    if (s.find('\0') != std::string::npos) fail(field, "a string without NUL");
    return s;
  }
  bool has(Napi::Object o, const char* key) {
    Napi::Value v = o.Get(key);
    return !v.IsUndefined() && !v.IsNull();
  }
  double num(Napi::Object o, const char* key, const std::string& field, double dflt = 0) {
    Napi::Value v = o.Get(key);
    if (v.IsUndefined() || v.IsNull()) return dflt;
    if (!v.IsNumber()) {
      fail(field, "a number");
      return dflt;
    }
    return v.As<Napi::Number>().DoubleValue();
  }
  uint64_t big(Napi::Value v, const std::string& field) {
    if (v.IsBigInt()) {
      bool lossless = true;
      uint64_t r = v.As<Napi::BigInt>().Uint64Value(&lossless);
      if (!lossless) fail(field, "a 64-bit unsigned bigint");
      return r;
    }
    if (v.IsNumber()) {
      double d = v.As<Napi::Number>().DoubleValue();
      if (d < 0) return ~0ull;
      if (d >= 18446744073709551615.0) return ~0ull;
      return static_cast<uint64_t>(d);
    }
    fail(field, "a bigint");
    return 0;
  }
  bool boolean(Napi::Object o, const char* key) {
    Napi::Value v = o.Get(key);
    return v.IsBoolean() && v.As<Napi::Boolean>().Value();
  }
  Napi::Array arr(Napi::Object o, const char* key, const std::string& field) {
    Napi::Value v = o.Get(key);
    if (v.IsUndefined() || v.IsNull()) return Napi::Array::New(env, 0);
    if (!v.IsArray()) {
      fail(field, "an array");
      return Napi::Array::New(env, 0);
    }
    return v.As<Napi::Array>();
  }
  Napi::Object obj(Napi::Value v, const std::string& field) {
    if (!v.IsObject()) {
      fail(field, "an object");
      return Napi::Object::New(env);
    }
    return v.As<Napi::Object>();
  }
};

int namespace_flag(const std::string& type) {
  if (type == "pid") return CLONE_NEWPID;
  if (type == "network") return CLONE_NEWNET;
  if (type == "mount") return CLONE_NEWNS;
  if (type == "ipc") return CLONE_NEWIPC;
  if (type == "uts") return CLONE_NEWUTS;
  if (type == "user") return CLONE_NEWUSER;
  if (type == "cgroup") return CLONE_NEWCGROUP;
  return 0;
}

std::string id_map(Reader& r, Napi::Array maps, const std::string& field) {
  std::string out;
  for (uint32_t i = 0; i < maps.Length(); i++) {
    std::string f = field + "[" + std::to_string(i) + "]";
    Napi::Object m = r.obj(maps.Get(i), f);
    out += std::to_string(static_cast<uint64_t>(r.num(m, "containerID", f + ".containerID"))) + " " +
           std::to_string(static_cast<uint64_t>(r.num(m, "hostID", f + ".hostID"))) + " " +
           std::to_string(static_cast<uint64_t>(r.num(m, "size", f + ".size"))) + "\n";
  }
  return out;
}

}  // namespace

std::unique_ptr<ContainerConfig> parse_container_config(Napi::Env env, Napi::Object o) {
  auto cfg = std::make_unique<ContainerConfig>();
  ChildConfig& c = cfg->child;
  Reader r{env, {}};

  // Namespaces: new ones are clone flags (the cgroup namespace is unshared by the
  // child after the parent placed it in its cgroup); joined ones are fds opened here.
  Napi::Array nss = r.arr(o, "namespaces", "namespaces");
  int fresh = 0;
  bool join_user = false;
  bool join_mount = false;
  for (uint32_t i = 0; i < nss.Length(); i++) {
    std::string f = "namespaces[" + std::to_string(i) + "]";
    Napi::Object ns = r.obj(nss.Get(i), f);
    std::string type = r.str(ns, "type", f + ".type");
    int flag = namespace_flag(type);
    if (flag == 0 && r.error.empty()) r.error = "container config: " + f + ".type: unknown namespace type \"" + type + "\"";
    std::string path = r.str(ns, "path", f + ".path", true);
    if (!r.error.empty()) break;
    if (path.empty()) {
      fresh |= flag;
      continue;
    }
    int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
      int err = errno;
      Napi::Error e = Napi::Error::New(env, "namespace " + type + " " + path + ": " + strerrorname_np(err) + " (" + strerror(err) + ")");
      e.Set("code", Napi::String::New(env, strerrorname_np(err)));
      e.ThrowAsJavaScriptException();
      return nullptr;
    }
    cfg->owned_fds.push_back(fd);
    if (flag == CLONE_NEWPID) {
      cfg->join_pid_fd = fd;
    } else {
      if (flag == CLONE_NEWUSER) join_user = true;
      if (flag == CLONE_NEWNS) join_mount = true;
      NsJoin j{fd, flag, cfg->keep(path)};
      if (flag == CLONE_NEWUSER) cfg->joins.insert(cfg->joins.begin(), j);
      else cfg->joins.push_back(j);
    }
  }
  if (join_user && (fresh & CLONE_NEWUSER)) r.error = "container config: namespaces: both a new and a joined user namespace";
  int cloned = fresh & ~CLONE_NEWCGROUP;
  if (join_user) cloned &= CLONE_NEWPID;  // the rest is created inside the joined user namespace
  c.clone_flags = cloned;
  c.unshare_flags = (fresh & ~cloned);
  c.userns_new = (fresh & CLONE_NEWUSER) != 0;
  c.host_mount_ns = (fresh & CLONE_NEWNS) == 0 && !join_mount;
  c.joins = cfg->joins.data();
  c.njoins = static_cast<int>(cfg->joins.size());

  cfg->uid_map = id_map(r, r.arr(o, "uidMappings", "uidMappings"), "uidMappings");
  cfg->gid_map = id_map(r, r.arr(o, "gidMappings", "gidMappings"), "gidMappings");

  c.rootfs = cfg->keep(r.str(o, "rootfs", "rootfs"));
  c.root_propagation = static_cast<unsigned long>(r.num(o, "rootPropagation", "rootPropagation", MS_SLAVE | MS_REC));
  c.readonly_root = r.boolean(o, "readonlyRoot");
  c.idmap_rootfs = r.boolean(o, "idmapRootfs");
  if (c.idmap_rootfs && (!c.userns_new || c.host_mount_ns) && r.error.empty()) {
    r.error = "container config: idmapRootfs: needs a new user namespace and a mount namespace of its own";
  }
  if (r.has(o, "rootfsMount") && r.error.empty()) {
    double fd = r.num(o, "rootfsMount", "rootfsMount");
    if (c.host_mount_ns || c.idmap_rootfs) {
      r.error = "container config: rootfsMount: needs a mount namespace of its own and no idmapped rootfs";
    } else if (r.error.empty()) {
      // A copy above the stdio slots (setup_stdio fills 0-2), closed by the parent once the child exec'd or exited.
      int dup = fd >= 0 && fd <= 1 << 30 ? fcntl(static_cast<int>(fd), F_DUPFD_CLOEXEC, 10) : -1;
      if (dup < 0) {
        int err = fd >= 0 ? errno : EBADF;
        std::string what = "rootfsMount " + std::to_string(static_cast<long>(fd)) + ": ";
        Napi::Error e = Napi::Error::New(env, what + strerrorname_np(err) + " (" + strerror(err) + ")");
        e.Set("code", Napi::String::New(env, strerrorname_np(err)));
        e.ThrowAsJavaScriptException();
        return nullptr;
      }
      cfg->owned_fds.push_back(dup);
      c.rootfs_fd = dup;
    }
  }

  Napi::Array mounts = r.arr(o, "mounts", "mounts");
  cfg->mounts.reserve(mounts.Length());
  for (uint32_t i = 0; i < mounts.Length(); i++) {
    std::string f = "mounts[" + std::to_string(i) + "]";
    Napi::Object m = r.obj(mounts.Get(i), f);
    MountEntry e{};
    e.destination = cfg->keep(r.str(m, "destination", f + ".destination"));
    e.source = cfg->keep(r.str(m, "source", f + ".source"));
    std::string type = r.str(m, "type", f + ".type", true);
    e.fstype = type.empty() ? nullptr : cfg->keep(type);
    std::string data = r.str(m, "data", f + ".data", true);
    e.data = data.empty() ? nullptr : cfg->keep(data);
    e.flags = static_cast<unsigned long>(r.num(m, "flags", f + ".flags"));
    Napi::Array prop = r.arr(m, "propagation", f + ".propagation");
    for (uint32_t k = 0; k < prop.Length() && k < 4; k++) {
      Napi::Value p = prop.Get(k);
      e.propagation[k] = p.IsNumber() ? static_cast<unsigned long>(p.As<Napi::Number>().DoubleValue()) : 0;
      e.npropagation++;
    }
    std::string kind = r.str(m, "kind", f + ".kind");
    if (kind == "bind") e.kind = kMountBind;
    else if (kind == "dev") e.kind = kMountDev;
    else if (kind == "generic") e.kind = kMountGeneric;
    else if (kind == "cgroup") e.kind = kMountCgroup;
    else if (r.error.empty()) r.error = "container config: " + f + ".kind: unknown \"" + kind + "\"";
    e.target_is_file = r.boolean(m, "targetIsFile");
    e.idmap_slot = -1;
    if (r.has(m, "idmap") && r.error.empty()) {
      Napi::Object im = r.obj(m.Get("idmap"), f + ".idmap");
      IdmapMount x;
      x.index = static_cast<int>(i);
      x.uid_map = id_map(r, r.arr(im, "uidMappings", f + ".idmap.uidMappings"), f + ".idmap.uidMappings");
      x.gid_map = id_map(r, r.arr(im, "gidMappings", f + ".idmap.gidMappings"), f + ".idmap.gidMappings");
      x.clone_recursive = (e.flags & MS_REC) != 0;
      x.attr_recursive = r.boolean(im, "recursive");
      // The container's own mappings: its user namespace serves, no other is made.
      if (c.userns_new && x.uid_map == cfg->uid_map && x.gid_map == cfg->gid_map) x.uid_map = x.gid_map = "";
      if (!r.error.empty()) {
      } else if (e.kind != kMountBind) {
        r.error = "container config: " + f + ".idmap: only a bind mount can be idmapped";
      } else if (x.uid_map.empty() != x.gid_map.empty()) {
        r.error = "container config: " + f + ".idmap: uidMappings and gidMappings go together";
      } else if (c.host_mount_ns) {
        r.error = "container config: " + f + ".idmap: an idmapped mount needs a mount namespace of its own";
      } else if (x.uid_map.empty() && !c.userns_new) {
        r.error = "container config: " + f + ".idmap: without mappings of its own it takes the container's, " +
                  "which needs a new user namespace";
      } else if (cfg->idmap_mounts.size() >= static_cast<size_t>(kMaxIdmapMounts)) {
        r.error = "container config: " + f + ".idmap: at most " + std::to_string(kMaxIdmapMounts) + " idmapped mounts";
      } else {
        e.idmap_slot = static_cast<int>(cfg->idmap_mounts.size());
        cfg->idmap_mounts.push_back(std::move(x));
      }
    }
    cfg->mounts.push_back(e);
  }
  c.mounts = cfg->mounts.data();
  c.nmounts = static_cast<int>(cfg->mounts.size());

  if (r.has(o, "cgroupHierarchies")) {
    Napi::Array hs = r.arr(o, "cgroupHierarchies", "cgroupHierarchies");
    for (uint32_t i = 0; i < hs.Length(); i++) {
      std::string f = "cgroupHierarchies[" + std::to_string(i) + "]";
      Napi::Object h = r.obj(hs.Get(i), f);
      CgroupHierarchy e{};
      e.source = cfg->keep(r.str(h, "source", f + ".source"));
      e.name = cfg->keep(r.str(h, "name", f + ".name", true));
      e.key = cfg->keep(r.str(h, "key", f + ".key", true));
      e.v2 = r.boolean(h, "v2");
      std::string data = r.str(h, "data", f + ".data", true);
      e.data = data.empty() ? nullptr : cfg->keep(data);
      std::vector<const char*>& links = cfg->cgroup_links.emplace_back();
      Napi::Array ls = r.arr(h, "links", f + ".links");
      for (uint32_t k = 0; k < ls.Length(); k++) {
        Napi::Value v = ls.Get(k);
        if (v.IsString()) links.push_back(cfg->keep(v.As<Napi::String>().Utf8Value()));
      }
      e.links = links.data();
      e.nlinks = static_cast<int>(links.size());
      cfg->cgroups.push_back(e);
    }
  }
  c.cgroups = cfg->cgroups.data();
  c.ncgroups = static_cast<int>(cfg->cgroups.size());
  for (const MountEntry& m : cfg->mounts) {
    if (m.kind == kMountCgroup && c.ncgroups == 0 && r.error.empty()) r.error = "container config: a cgroup mount needs cgroupHierarchies";
  }

  auto strings = [&](const char* key, std::vector<const char*>& out) {
    Napi::Array a = r.arr(o, key, key);
    for (uint32_t i = 0; i < a.Length(); i++) {
      Napi::Value v = a.Get(i);
      if (!v.IsString()) {
        r.fail(std::string(key) + "[" + std::to_string(i) + "]", "a string");
        continue;
      }
      out.push_back(cfg->keep(v.As<Napi::String>().Utf8Value()));
    }
  };
  if (r.has(o, "devices")) {
    Napi::Array devs = r.arr(o, "devices", "devices");
    for (uint32_t i = 0; i < devs.Length(); i++) {
      std::string f = "devices[" + std::to_string(i) + "]";
      Napi::Object d = r.obj(devs.Get(i), f);
      DeviceEntry e{};
      e.path = cfg->keep(r.str(d, "path", f + ".path"));
      e.mode = static_cast<unsigned>(r.num(d, "mode", f + ".mode"));
      e.major = static_cast<unsigned>(r.num(d, "major", f + ".major"));
      e.minor = static_cast<unsigned>(r.num(d, "minor", f + ".minor"));
      e.uid = static_cast<uint32_t>(r.num(d, "uid", f + ".uid"));
      e.gid = static_cast<uint32_t>(r.num(d, "gid", f + ".gid"));
      cfg->devices.push_back(e);
    }
  }
  c.devices = cfg->devices.data();
  c.ndevices = static_cast<int>(cfg->devices.size());

  if (r.has(o, "cloneIntoCgroup")) {
    std::string dir = r.str(o, "cloneIntoCgroup", "cloneIntoCgroup");
    int fd = open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) {
      int err = errno;
      Napi::Error e = Napi::Error::New(env, "cgroup " + dir + ": " + strerrorname_np(err) + " (" + strerror(err) + ")");
      e.Set("code", Napi::String::New(env, strerrorname_np(err)));
      e.ThrowAsJavaScriptException();
      return nullptr;
    }
    cfg->owned_fds.push_back(fd);
    cfg->cgroup_fd = fd;
  }
  strings("cgroupTasks", cfg->cgroup_tasks);
  c.cgroup_tasks = cfg->cgroup_tasks.data();
  c.ncgroup_tasks = static_cast<int>(cfg->cgroup_tasks.size());
  c.loopback_up = r.boolean(o, "loopbackUp");

  strings("maskedPaths", cfg->masked);
  strings("readonlyPaths", cfg->readonly);
  c.masked = cfg->masked.data();
  c.nmasked = static_cast<int>(cfg->masked.size());
  c.readonly = cfg->readonly.data();
  c.nreadonly = static_cast<int>(cfg->readonly.size());

  Napi::Array sysctl = r.arr(o, "sysctl", "sysctl");
  for (uint32_t i = 0; i < sysctl.Length(); i++) {
    std::string f = "sysctl[" + std::to_string(i) + "]";
    Napi::Object kv = r.obj(sysctl.Get(i), f);
    cfg->sysctl_paths.push_back(cfg->keep(r.str(kv, "path", f + ".path")));
    cfg->sysctl_values.push_back(cfg->keep(r.str(kv, "value", f + ".value")));
  }
  c.sysctl_paths = cfg->sysctl_paths.data();
  c.sysctl_values = cfg->sysctl_values.data();
  c.nsysctl = static_cast<int>(cfg->sysctl_paths.size());

  if (r.has(o, "hostname")) c.hostname = cfg->keep(r.str(o, "hostname", "hostname"));
  if (r.has(o, "domainname")) c.domainname = cfg->keep(r.str(o, "domainname", "domainname"));

  Napi::Array rl = r.arr(o, "rlimits", "rlimits");
  for (uint32_t i = 0; i < rl.Length(); i++) {
    std::string f = "rlimits[" + std::to_string(i) + "]";
    Napi::Object l = r.obj(rl.Get(i), f);
    RlimitEntry e{};
    e.resource = static_cast<int>(r.num(l, "resource", f + ".resource"));
    e.soft = r.big(l.Get("soft"), f + ".soft");
    e.hard = r.big(l.Get("hard"), f + ".hard");
    cfg->rlimits.push_back(e);
  }
  c.rlimits = cfg->rlimits.data();
  c.nrlimits = static_cast<int>(cfg->rlimits.size());

  c.no_new_privs = r.boolean(o, "noNewPrivileges");
  if (r.has(o, "capabilities")) {
    Napi::Object caps = r.obj(o.Get("capabilities"), "capabilities");
    c.set_caps = true;
    c.cap_bounding = r.big(caps.Get("bounding"), "capabilities.bounding");
    c.cap_effective = r.big(caps.Get("effective"), "capabilities.effective");
    c.cap_permitted = r.big(caps.Get("permitted"), "capabilities.permitted");
    c.cap_inheritable = r.big(caps.Get("inheritable"), "capabilities.inheritable");
    c.cap_ambient = r.big(caps.Get("ambient"), "capabilities.ambient");
  }
  c.cap_last = 40;
  int fd = open("/proc/sys/kernel/cap_last_cap", O_RDONLY | O_CLOEXEC);
  if (fd >= 0) {
    char buf[16] = {0};
    if (read(fd, buf, sizeof buf - 1) > 0) c.cap_last = atoi(buf);
    close(fd);
  }

  c.uid = static_cast<uint32_t>(r.num(o, "uid", "uid"));
  c.gid = static_cast<uint32_t>(r.num(o, "gid", "gid"));
  Napi::Array groups = r.arr(o, "additionalGids", "additionalGids");
  for (uint32_t i = 0; i < groups.Length(); i++) {
    Napi::Value v = groups.Get(i);
    cfg->groups.push_back(v.IsNumber() ? static_cast<uint32_t>(v.As<Napi::Number>().DoubleValue()) : 0);
  }
  c.groups = cfg->groups.data();
  c.ngroups = static_cast<int>(cfg->groups.size());
  c.umask = static_cast<int>(r.num(o, "umask", "umask", -1));
  c.cwd = cfg->keep(r.str(o, "cwd", "cwd"));

  Napi::Array args = r.arr(o, "args", "args");
  for (uint32_t i = 0; i < args.Length(); i++) {
    Napi::Value v = args.Get(i);
    if (!v.IsString()) r.fail("args[" + std::to_string(i) + "]", "a string");
    else cfg->argv.push_back(const_cast<char*>(cfg->keep(v.As<Napi::String>().Utf8Value())));
  }
  if (cfg->argv.empty() && r.error.empty()) r.error = "container config: args: must not be empty";
  cfg->argv.push_back(nullptr);
  Napi::Array envs = r.arr(o, "env", "env");
  for (uint32_t i = 0; i < envs.Length(); i++) {
    Napi::Value v = envs.Get(i);
    if (!v.IsString()) {
      r.fail("env[" + std::to_string(i) + "]", "a string");
      continue;
    }
    const char* s = cfg->keep(v.As<Napi::String>().Utf8Value());
    cfg->envp.push_back(const_cast<char*>(s));
    if (strncmp(s, "PATH=", 5) == 0) c.path_env = s + 5;
  }
  cfg->envp.push_back(nullptr);
  c.argv = cfg->argv.data();
  c.envp = cfg->envp.data();

  Napi::Array stdio = r.arr(o, "stdio", "stdio");
  for (uint32_t i = 0; i < 3; i++) {
    Napi::Value v = i < stdio.Length() ? stdio.Get(i) : env.Undefined();
    c.stdio[i] = v.IsNumber() ? v.As<Napi::Number>().Int32Value() : -1;
  }
  if (r.has(o, "oomScoreAdj")) {
    c.set_oom_score_adj = true;
    c.oom_score_adj = static_cast<int>(r.num(o, "oomScoreAdj", "oomScoreAdj"));
  }
  if (r.has(o, "execFifo")) {
    std::string fifo = r.str(o, "execFifo", "execFifo");
    if (r.error.empty()) {
      int ffd = open(fifo.c_str(), O_PATH | O_CLOEXEC);
      if (ffd < 0) {
        int err = errno;
        Napi::Error e = Napi::Error::New(env, "exec fifo " + fifo + ": " + strerrorname_np(err) + " (" + strerror(err) + ")");
        e.Set("code", Napi::String::New(env, strerrorname_np(err)));
        e.ThrowAsJavaScriptException();
        return nullptr;
      }
      cfg->owned_fds.push_back(ffd);
      c.fifo_fd = ffd;
      c.detached = true;
    }
  }

  c.hooks_sync = r.boolean(o, "createContainerHooks");
  c.exec_mode = r.boolean(o, "exec");
  if (c.exec_mode && (c.clone_flags != 0 || c.unshare_flags != 0 || !cfg->mounts.empty() || c.hooks_sync) && r.error.empty()) {
    r.error = "container config: exec: joins every namespace and makes no mounts (no new namespaces, mounts or hooks)";
  }
  if (r.has(o, "terminal")) {
    Napi::Object t = r.obj(o.Get("terminal"), "terminal");
    c.terminal = true;
    double rows = r.num(t, "rows", "terminal.rows");
    double cols = r.num(t, "cols", "terminal.cols");
    if ((rows < 0 || rows > 65535 || cols < 0 || cols > 65535) && r.error.empty()) {
      r.error = "container config: terminal: rows and cols must be 0-65535";
    }
    c.console_rows = static_cast<unsigned short>(rows);
    c.console_cols = static_cast<unsigned short>(cols);
  }

  if (r.has(o, "seccomp") && r.error.empty()) {
    Napi::Object sc = r.obj(o.Get("seccomp"), "seccomp");
    Napi::Value f = sc.Get("filter");
    if (!f.IsTypedArray() || f.As<Napi::TypedArray>().TypedArrayType() != napi_uint8_array) {
      r.fail("seccomp.filter", "a Buffer (struct sock_filter[])");
    } else {
      Napi::Uint8Array bytes = f.As<Napi::Uint8Array>();
      size_t n = bytes.ByteLength();
      if (n == 0 || n % 8 != 0 || n / 8 > 4096) {
        r.error = "container config: seccomp.filter: expected 1-4096 instructions of 8 bytes, got " + std::to_string(n) + " bytes";
      } else {
        cfg->seccomp_filter.resize(n / 8);
        memcpy(cfg->seccomp_filter.data(), bytes.Data(), n);
        c.seccomp_filter = cfg->seccomp_filter.data();
        c.seccomp_len = static_cast<unsigned short>(n / 8);
      }
    }
    c.seccomp_flags = static_cast<unsigned>(r.num(sc, "flags", "seccomp.flags"));
    double stage = r.num(sc, "stage", "seccomp.stage", kSeccompEndOfSetup);
    if (stage != kSeccompBeforeUser && stage != kSeccompEndOfSetup && stage != kSeccompBeforeExecve && r.error.empty()) {
      r.error = "container config: seccomp.stage: expected 0, 1 or 2";
    }
    c.seccomp_stage = static_cast<int>(stage);
  }

  if (!r.error.empty()) {
    Napi::TypeError::New(env, r.error).ThrowAsJavaScriptException();
    return nullptr;
  }
  return cfg;
}

}  // namespace berth
