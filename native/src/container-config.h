// The flat description of one container process that the parent prepares before
// clone(2) and the child only reads: every string and array is allocated up front
// (the child may not allocate), owned by ContainerConfig's storage.
#pragma once
#include <napi.h>
#include <sys/types.h>

#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <vector>

namespace berth {

enum MountKind : int {
  kMountGeneric = 0,  // mount(source, target, type, flags, data)
  kMountBind = 1,     // bind (MS_REC when rbind), then remount for ro/nosuid/…
  kMountDev = 2,      // a tmpfs on /dev, then the device nodes and symlinks
  kMountCgroup = 3,   // the container's own cgroups (ChildConfig::cgroups), read-only as asked
};

// One cgroup hierarchy of the host, for a kMountCgroup mount. Without a new cgroup
// namespace the child binds `source` + its own path in that hierarchy (the `key` line of
// /proc/self/cgroup) on `name` under the mount's destination; with one it mounts a fresh
// cgroupfs there (`data`: the v1 controllers), whose root is the namespace's.
struct CgroupHierarchy {
  const char* source;       // the host's mount point, "/sys/fs/cgroup/memory"
  const char* name;         // below the destination; "" for the only (v2) hierarchy: the destination itself
  const char* key;          // controllers as /proc/self/cgroup lists them, "cpu,cpuacct"; "" for v2
  const char* data;         // v1 mount data, "none,name=systemd"; nullptr for v2
  bool v2;
  const char* const* links; // other names for a co-mounted hierarchy ("cpu" → "cpu,cpuacct")
  int nlinks;
};

struct MountEntry {
  const char* source;
  const char* destination;  // path inside the container, absolute
  const char* fstype;
  const char* data;         // nullptr when none
  unsigned long flags;      // MS_* for the mount itself
  unsigned long propagation[4];
  int npropagation;
  int kind;
  bool target_is_file;      // a bind of a file: the target is created as a file
  // An idmapped bind: the parent makes the tree (idmap.h) and sends it before kSyncSetup
  // (kSyncMountTree), in slot order; the child attaches it with move_mount. -1: none.
  int idmap_slot;
};

// The most idmapped mounts one container may have (each tree fd is held by the child
// until its mount step).
constexpr int kMaxIdmapMounts = 32;

// How the parent makes the tree of an idmapped mount.
struct IdmapMount {
  int index;                 // in mounts
  std::string uid_map;       // "" = the container's own user namespace
  std::string gid_map;
  bool clone_recursive;      // rbind: the submounts come along
  bool attr_recursive;       // ridmap: they are idmapped too
};

// A device node from linux.devices, made in the rootfs after the mounts.
struct DeviceEntry {
  const char* path;         // absolute, inside the container
  unsigned mode;            // S_IFCHR / S_IFBLK / S_IFIFO | permission bits
  unsigned major, minor;
  uint32_t uid, gid;
};

struct NsJoin {
  int fd;                   // opened by the parent (O_CLOEXEC), inherited by the child
  int nstype;               // CLONE_NEW*
  const char* path;
};

struct RlimitEntry {
  int resource;
  uint64_t soft;
  uint64_t hard;
};

struct ChildConfig {
  int clone_flags = 0;        // the CLONE_NEW* passed to clone(2)
  int unshare_flags = 0;      // CLONE_NEW* unshared by the child (joins + cgroup ns)
  bool userns_new = false;
  NsJoin* joins = nullptr;    // user namespace first
  int njoins = 0;

  const char* rootfs = nullptr;
  unsigned long root_propagation = 0;
  bool readonly_root = false;
  // The rootfs is the idmapped tree the parent sends (kSyncRootfsTree), not a bind.
  bool idmap_rootfs = false;
  // The rootfs is this detached mount (a copy of the runtime's fd, close-on-exec), attached over `rootfs` in the
  // child's own mount namespace, not a bind: the runtime's mount table holds nothing of the container (-1: none).
  int rootfs_fd = -1;
  // No mount namespace of its own (none new, none joined): the mounts are made in the
  // runtime's namespace under a private bind of the rootfs, and the root is a chroot.
  bool host_mount_ns = false;
  MountEntry* mounts = nullptr;
  int nmounts = 0;
  const CgroupHierarchy* cgroups = nullptr;  // for kMountCgroup mounts
  int ncgroups = 0;
  // cgroup v1 `tasks` files the child writes "0" into after kSyncSetup: it joins its
  // cgroups itself, which spares the kernel's global threadgroup lock that a pid
  // written by another process takes (one RCU grace period per write).
  const char* const* cgroup_tasks = nullptr;
  int ncgroup_tasks = 0;
  // A new network namespace: the child brings its lo up (as runc does).
  bool loopback_up = false;
  DeviceEntry* devices = nullptr;
  int ndevices = 0;
  const char* const* masked = nullptr;
  int nmasked = 0;
  const char* const* readonly = nullptr;
  int nreadonly = 0;
  const char* const* sysctl_paths = nullptr;  // "/proc/sys/net/ipv4/ip_forward"
  const char* const* sysctl_values = nullptr;
  int nsysctl = 0;

  const char* hostname = nullptr;
  const char* domainname = nullptr;
  RlimitEntry* rlimits = nullptr;
  int nrlimits = 0;
  bool no_new_privs = false;
  bool set_caps = false;
  uint64_t cap_bounding = 0, cap_effective = 0, cap_permitted = 0, cap_inheritable = 0, cap_ambient = 0;
  int cap_last = 40;
  uint32_t uid = 0, gid = 0;
  const uint32_t* groups = nullptr;
  int ngroups = 0;
  int umask = -1;
  const char* cwd = "/";
  char* const* argv = nullptr;
  char* const* envp = nullptr;
  const char* path_env = nullptr;  // PATH from envp, for args[0] without a slash
  int stdio[3] = {-1, -1, -1};     // parent fds; -1 = /dev/null
  int oom_score_adj = 0;
  bool set_oom_score_adj = false;
  int fifo_fd = -1;                // detached mode: O_PATH fd of the exec FIFO
  bool detached = false;
  int sync_fd = -1;                // the child's end of the socketpair
  // Where the child stamps its first instant (monotonic ns) before it says kSyncCloned: memory it shares with the
  // spawn thread that cloned it (CLONE_VM), read by the parent once the message arrived.
  uint64_t* started_ns = nullptr;
  // Stop after the mounts, before pivot_root, for the parent's createContainer hooks
  // (kSyncHooks / kSyncResume); false: no extra round trip.
  bool hooks_sync = false;
  // Exec: a new process in an existing container. Every namespace is joined, so the
  // child makes no mounts, no pivot_root and no rootfs changes: after setns(mnt) its
  // root is already the container's; the rest of the process setup runs as usual.
  bool exec_mode = false;
  // process.terminal: a pty from the container's devpts becomes the controlling
  // terminal on 0–2; its master goes to the parent with kSyncCreated (SCM_RIGHTS).
  bool terminal = false;
  unsigned short console_rows = 0, console_cols = 0;  // consoleSize; 0 = leave as is
  // A seccomp filter (struct sock_filter[], built in the parent) or none (len 0).
  const void* seccomp_filter = nullptr;
  unsigned short seccomp_len = 0;
  unsigned seccomp_flags = 0;      // SECCOMP_FILTER_FLAG_*; 0 → prctl(PR_SET_SECCOMP)
  int seccomp_stage = -1;          // kSeccompBeforeUser / kSeccompEndOfSetup / kSeccompBeforeExecve
};

// Where the child loads the seccomp filter (engine/execdriver/seccomp/native-filter.ts).
enum SeccompStage : int {
  kSeccompBeforeUser = 0,    // no no_new_privs: while CAP_SYS_ADMIN is still held
  kSeccompEndOfSetup = 1,    // after close-fds, reported with the "created" steps
  kSeccompBeforeExecve = 2,  // the profile denies calls the handshake still makes
};

// Owns a ChildConfig and everything it points into.
struct ContainerConfig {
  ChildConfig child;
  std::deque<std::string> strings;
  std::vector<MountEntry> mounts;
  std::vector<IdmapMount> idmap_mounts;  // slot order
  std::vector<CgroupHierarchy> cgroups;
  std::deque<std::vector<const char*>> cgroup_links;
  std::vector<DeviceEntry> devices;
  std::vector<NsJoin> joins;
  std::vector<RlimitEntry> rlimits;
  std::vector<const char*> cgroup_tasks, masked, readonly, sysctl_paths, sysctl_values;
  std::vector<char*> argv, envp;
  std::vector<uint32_t> groups;
  std::vector<uint64_t> seccomp_filter;  // 8-byte sock_filter entries, aligned
  std::vector<int> owned_fds;       // opened here, closed by the parent after clone
  std::string uid_map, gid_map;     // "0 100000 65536\n…" written by the parent
  int join_pid_fd = -1;             // a pid namespace to join: setns in the parent around clone
  int cgroup_fd = -1;               // a cgroup2 directory the clone starts in (CLONE_INTO_CGROUP)
  const char* keep(std::string s) {
    strings.push_back(std::move(s));
    return strings.back().c_str();
  }
  ~ContainerConfig();
};

// Reads the config object (native-config.ts: NativeSpawnConfig) into a
// ContainerConfig. On bad input throws a JS Error (returns nullptr) whose message
// names the field.
std::unique_ptr<ContainerConfig> parse_container_config(Napi::Env env, Napi::Object obj);

// The child's entry point (container-child.cc): never returns.
int container_child_main(void* arg);

}  // namespace berth
