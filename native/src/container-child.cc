// The container's cloned child: everything between clone(2) and execve(2) — sync
// with the parent, mounts, pivot_root, masked and read-only paths, hostname,
// rlimits, capabilities, user, stdio. It shares Node's memory (CLONE_VM | CLONE_VFORK
// from a spawn thread that waits, suspended, until the execve or exit; its stack is
// that thread's), so it runs only async-signal-safe code: raw syscalls, no malloc, no
// locks, no V8, no static buffers (other children run beside it), and the setuid
// family through syscall(2) because glibc's wrappers would signal Node's threads.
// errno is the suspended spawn thread's. Protocol: container-protocol.h.
#include <alloca.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <limits.h>
#include <sched.h>
#include <signal.h>
#include <string.h>
#include <linux/filter.h>
#include <linux/openat2.h>
#include <linux/seccomp.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "clock.h"
#include "container-config.h"
#include "container-protocol.h"
#include "send-fd.h"

#ifndef CLOSE_RANGE_CLOEXEC
#define CLOSE_RANGE_CLOEXEC (1U << 2)
#endif
#ifndef TIOCGPTPEER
#define TIOCGPTPEER _IO('T', 0x41)
#endif
#ifndef PR_CAP_AMBIENT
#define PR_CAP_AMBIENT 47
#define PR_CAP_AMBIENT_RAISE 2
#define PR_CAP_AMBIENT_CLEAR_ALL 4
#endif

namespace berth {
namespace {

// The most fds the child keeps across a close_except: its sockets and stdio, and the idmapped trees.
constexpr int kMaxKeep = kMaxIdmapMounts + 16;

// ── small async-signal-safe string helpers ──────────────────────────────────────

struct Buf {
  char* p;
  size_t cap;
  size_t len;
};

void bput(Buf& b, const char* s) {
  while (s != nullptr && *s != '\0' && b.len + 1 < b.cap) b.p[b.len++] = *s++;
  b.p[b.len] = '\0';
}

void bput_uint(Buf& b, unsigned long v) {
  char tmp[24];
  int n = 0;
  do {
    tmp[n++] = static_cast<char>('0' + v % 10);
    v /= 10;
  } while (v != 0);
  while (n > 0 && b.len + 1 < b.cap) b.p[b.len++] = tmp[--n];
  b.p[b.len] = '\0';
}

// "/proc/self/fd/<fd>": how the child names an fd it resolved safely.
void fd_path(char (&out)[40], int fd) {
  Buf b{out, sizeof out, 0};
  bput(b, "/proc/self/fd/");
  bput_uint(b, static_cast<unsigned long>(fd));
}

const char* errno_name(int err) {
  switch (err) {
    case EPERM: return "EPERM";
    case ENOENT: return "ENOENT";
    case EACCES: return "EACCES";
    case ENOTDIR: return "ENOTDIR";
    case EISDIR: return "EISDIR";
    case EINVAL: return "EINVAL";
    case ENOEXEC: return "ENOEXEC";
    case ELOOP: return "ELOOP";
    case E2BIG: return "E2BIG";
    case ENOMEM: return "ENOMEM";
    case ETXTBSY: return "ETXTBSY";
    case EXDEV: return "EXDEV";
    case EROFS: return "EROFS";
    case EBUSY: return "EBUSY";
    case ENAMETOOLONG: return "ENAMETOOLONG";
    default: return "errno";
  }
}

// ── the child's state, on its own stack ────────────────────────────────────────

struct Child {
  const ChildConfig* cfg;
  ChildMessage msg;
  int devnull = -1;
  bool created = false;  // kSyncCreated was sent (detached: nobody reads the socket any more)
  bool in_userns = false;
  int rootfs_tree = -1;  // the detached rootfs tree: idmap_rootfs's (sent by the parent) or rootfs_fd
  int mount_trees[kMaxIdmapMounts];  // the idmapped binds' trees, by slot; -1 once attached
  int nmount_trees = 0;
};

void record(Child& c, Step step, int index, uint64_t start) {
  if (c.msg.nsteps >= static_cast<uint32_t>(kMaxSteps)) return;
  StepRecord& r = c.msg.steps[c.msg.nsteps++];
  r.step = step;
  r.index = index;
  r.start_ns = start;
  r.end_ns = monotonic_ns();
}

void send_msg(Child& c, uint32_t type) {
  c.msg.type = type;
  ssize_t n;
  do {
    n = send(c.cfg->sync_fd, &c.msg, sizeof c.msg, MSG_NOSIGNAL);
  } while (n < 0 && errno == EINTR);
}

// Reports a failed step (detail names the subject: "proc on /proc") and exits.
[[noreturn]] void fail(Child& c, Step step, int err, const char* d1, const char* d2 = nullptr,
                       const char* d3 = nullptr) {
  Buf b{c.msg.detail, sizeof c.msg.detail, 0};
  bput(b, d1);
  bput(b, d2);
  bput(b, d3);
  c.msg.step = step;
  c.msg.err = err;
  if (c.created && c.cfg->detached) {
    // Nobody reads the socket any more: tell the container's stderr.
    char line[kMaxDetail + 128];
    Buf l{line, sizeof line, 0};
    bput(l, "berth: ");
    bput(l, kStepNames[step]);
    bput(l, " ");
    bput(l, c.msg.detail);
    bput(l, ": ");
    bput(l, errno_name(err));
    bput(l, "\n");
    ssize_t ignored = write(2, line, l.len);
    (void)ignored;
  } else {
    send_msg(c, kSyncError);
  }
  // The shell's convention (and Docker's): 127 command not found, 126 found but not executable.
  _exit(step != kStepExecve ? 1 : err == ENOENT || err == ENOTDIR ? 127 : 126);
}

// Blocks until the parent sends `expected`; a closed socket ends the child.
void wait_for(Child& c, uint32_t expected) {
  uint32_t type = 0;
  ssize_t n;
  do {
    n = read(c.cfg->sync_fd, &type, sizeof type);
  } while (n < 0 && errno == EINTR);
  if (n != static_cast<ssize_t>(sizeof type) || type != expected) _exit(1);
}

// Receives an idmapped tree (a message of type `expected` with one fd); anything else ends the child.
int receive_tree(Child& c, uint32_t expected) {
  uint32_t type = 0;
  struct iovec iov;
  iov.iov_base = &type;
  iov.iov_len = sizeof type;
  alignas(struct cmsghdr) char control[CMSG_SPACE(sizeof(int))];
  struct msghdr mh;
  memset(&mh, 0, sizeof mh);
  mh.msg_iov = &iov;
  mh.msg_iovlen = 1;
  mh.msg_control = control;
  mh.msg_controllen = sizeof control;
  ssize_t n;
  do {
    n = recvmsg(c.cfg->sync_fd, &mh, MSG_CMSG_CLOEXEC);
  } while (n < 0 && errno == EINTR);
  struct cmsghdr* cm = n == static_cast<ssize_t>(sizeof type) ? CMSG_FIRSTHDR(&mh) : nullptr;
  if (type != expected || cm == nullptr || cm->cmsg_type != SCM_RIGHTS) _exit(1);
  int fd;
  memcpy(&fd, CMSG_DATA(cm), sizeof fd);
  // Above 0–2, which setup_stdio fills.
  int high = fcntl(fd, F_DUPFD_CLOEXEC, 10);
  close(fd);
  if (high < 0) _exit(1);
  return high;
}

// ── resolving a path inside the rootfs ─────────────────────────────────────────

enum Create { kNoCreate, kCreateDirs, kCreateFile };
enum Links { kFollowInRoot, kRefuseLinks };

// Walks `path` from rootfd one component at a time (O_PATH|O_NOFOLLOW), following
// symlinks itself: an absolute link restarts at the rootfs, a ".." above the rootfs
// fails with EXDEV (the path would escape). With kRefuseLinks a symlink anywhere on
// the way fails with ELOOP instead. Missing components are created as directories
// (and the last one as an empty file with kCreateFile). Returns an O_PATH fd of the
// target, or -1 with errno set. Cost: one openat per component.
int resolve_in_root(int rootfd, const char* path, Create create, Links links_mode = kFollowInRoot) {
  constexpr int kMaxDepth = 128;
  char work[PATH_MAX * 2];
  char next[PATH_MAX * 2];
  char link[PATH_MAX];
  int fds[kMaxDepth];
  int depth = 0;
  int links = 0;
  fds[0] = rootfd;
  size_t len = strlen(path);
  if (len >= sizeof work) {
    errno = ENAMETOOLONG;
    return -1;
  }
  memcpy(work, path, len + 1);
  size_t pos = 0;
  auto unwind = [&](int err) {
    while (depth > 0) close(fds[depth--]);
    errno = err;
    return -1;
  };
  for (;;) {
    while (work[pos] == '/') pos++;
    if (work[pos] == '\0') break;
    size_t start = pos;
    while (work[pos] != '\0' && work[pos] != '/') pos++;
    size_t clen = pos - start;
    if (clen > NAME_MAX) return unwind(ENAMETOOLONG);
    char comp[NAME_MAX + 1];
    memcpy(comp, work + start, clen);
    comp[clen] = '\0';
    size_t rest = pos;
    while (work[rest] == '/') rest++;
    bool last = work[rest] == '\0';
    if (strcmp(comp, ".") == 0) continue;
    if (strcmp(comp, "..") == 0) {
      if (depth == 0) return unwind(EXDEV);
      close(fds[depth--]);
      continue;
    }
    int dir = fds[depth];
    int fd = openat(dir, comp, O_PATH | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0 && errno == ENOENT && create != kNoCreate) {
      if (last && create == kCreateFile) {
        int f = openat(dir, comp, O_CREAT | O_EXCL | O_WRONLY | O_NOFOLLOW | O_CLOEXEC, 0644);
        if (f < 0 && errno != EEXIST) return unwind(errno);
        if (f >= 0) close(f);
      } else if (mkdirat(dir, comp, 0755) < 0 && errno != EEXIST) {
        return unwind(errno);
      }
      fd = openat(dir, comp, O_PATH | O_NOFOLLOW | O_CLOEXEC);
    }
    if (fd < 0) return unwind(errno);
    struct stat st;
    if (fstat(fd, &st) < 0) {
      int err = errno;
      close(fd);
      return unwind(err);
    }
    if (S_ISLNK(st.st_mode)) {
      if (links_mode == kRefuseLinks || ++links > 40) {
        close(fd);
        return unwind(ELOOP);
      }
      ssize_t n = readlinkat(fd, "", link, sizeof link - 1);
      int err = errno;
      close(fd);
      if (n < 0) return unwind(err);
      link[n] = '\0';
      size_t restlen = strlen(work + pos);
      if (static_cast<size_t>(n) + restlen + 2 > sizeof next) return unwind(ENAMETOOLONG);
      memcpy(next, link, static_cast<size_t>(n));
      next[n] = '/';
      memcpy(next + n + 1, work + pos, restlen + 1);
      memcpy(work, next, static_cast<size_t>(n) + restlen + 2);
      pos = 0;
      if (link[0] == '/') {
        while (depth > 0) close(fds[depth--]);
      }
      continue;
    }
    if (!last && !S_ISDIR(st.st_mode)) {
      close(fd);
      return unwind(ENOTDIR);
    }
    if (depth + 1 >= kMaxDepth) {
      close(fd);
      return unwind(ENAMETOOLONG);
    }
    fds[++depth] = fd;
  }
  if (depth == 0) {
    int fd = fcntl(rootfd, F_DUPFD_CLOEXEC, 3);
    return fd < 0 ? -1 : fd;
  }
  int target = fds[depth];
  while (depth > 1) close(fds[--depth]);
  return target;
}

// Whether `dest` is /proc, /sys or /dev or lies beneath one of them. The kernel's
// filesystems go there, and masks and read-only binds follow on top: an image that
// plants a symlink there (/proc -> /etc, /dev -> /) would move them onto its own
// files, so those targets are resolved with kRefuseLinks (as runc refuses a /proc
// or /sys that is a symlink).
bool kernel_tree(const char* dest) {
  const char* p = dest;
  for (;;) {
    while (*p == '/') p++;
    if (p[0] == '.' && (p[1] == '/' || p[1] == '\0')) {
      p++;
      continue;
    }
    break;
  }
  for (const char* top : {"proc", "sys", "dev"}) {
    size_t n = strlen(top);
    if (strncmp(p, top, n) == 0 && (p[n] == '/' || p[n] == '\0')) return true;
  }
  return false;
}

// The mount of `m` goes on a target resolved without following symlinks: a kernel
// tree destination, or procfs or sysfs anywhere.
Links mount_links(const MountEntry& m) {
  if (kernel_tree(m.destination)) return kRefuseLinks;
  if (m.kind != kMountBind && m.fstype != nullptr && (strcmp(m.fstype, "proc") == 0 || strcmp(m.fstype, "sysfs") == 0)) {
    return kRefuseLinks;
  }
  return kFollowInRoot;
}

// MS_* flags that a bind remount must keep (the kernel locks them in a user
// namespace), read from the mount at `path`.
unsigned long locked_flags(const char* path) {
  struct statfs sfs;
  if (statfs(path, &sfs) != 0) return 0;
  unsigned long f = 0;
  if (sfs.f_flags & ST_NOSUID) f |= MS_NOSUID;
  if (sfs.f_flags & ST_NODEV) f |= MS_NODEV;
  if (sfs.f_flags & ST_NOEXEC) f |= MS_NOEXEC;
  if (sfs.f_flags & ST_NOATIME) f |= MS_NOATIME;
  if (sfs.f_flags & ST_NODIRATIME) f |= MS_NODIRATIME;
  if (sfs.f_flags & ST_RELATIME) f |= MS_RELATIME;
  return f;
}

// ── /dev ───────────────────────────────────────────────────────────────────────

struct DevNode {
  const char* name;
  unsigned major;
  unsigned minor;
};
constexpr DevNode kDevNodes[] = {
    {"null", 1, 3}, {"zero", 1, 5}, {"full", 1, 7}, {"random", 1, 8}, {"urandom", 1, 9}, {"tty", 5, 0},
};
struct DevLink {
  const char* target;
  const char* name;
};
constexpr DevLink kDevLinks[] = {
    {"/proc/self/fd", "fd"},     {"/proc/self/fd/0", "stdin"}, {"/proc/self/fd/1", "stdout"},
    {"/proc/self/fd/2", "stderr"}, {"pts/ptmx", "ptmx"},        {"/proc/kcore", "core"},
};

// Fills the tmpfs mounted on `dest` (resolved in rootfd) with the standard device
// nodes — mknod, or a bind from the host's /dev in a user namespace — and links.
void populate_dev(Child& c, int rootfd, const char* dest) {
  uint64_t t0 = monotonic_ns();
  int devfd = resolve_in_root(rootfd, dest, kNoCreate, kernel_tree(dest) ? kRefuseLinks : kFollowInRoot);
  if (devfd < 0) fail(c, kStepDevices, errno, dest);
  char devpath[40];
  fd_path(devpath, devfd);
  int dir = open(devpath, O_DIRECTORY | O_CLOEXEC);
  if (dir < 0) fail(c, kStepDevices, errno, dest);
  for (const DevNode& n : kDevNodes) {
    if (!c.in_userns) {
      if (mknodat(dir, n.name, S_IFCHR | 0666, makedev(n.major, n.minor)) < 0 && errno != EEXIST) {
        fail(c, kStepDevices, errno, "mknod ", dest, n.name);
      }
      continue;
    }
    int f = openat(dir, n.name, O_CREAT | O_WRONLY | O_NOFOLLOW | O_CLOEXEC, 0666);
    if (f < 0) fail(c, kStepDevices, errno, "create ", n.name);
    close(f);
    int target = openat(dir, n.name, O_PATH | O_NOFOLLOW | O_CLOEXEC);
    if (target < 0) fail(c, kStepDevices, errno, "open ", n.name);
    char host[32];
    Buf hb{host, sizeof host, 0};
    bput(hb, "/dev/");
    bput(hb, n.name);
    char tp[40];
    fd_path(tp, target);
    if (mount(host, tp, nullptr, MS_BIND, nullptr) < 0) fail(c, kStepDevices, errno, "bind ", host);
    close(target);
  }
  for (const DevLink& l : kDevLinks) {
    if (symlinkat(l.target, dir, l.name) < 0 && errno != EEXIST) fail(c, kStepDevices, errno, "symlink ", l.name);
  }
  close(dir);
  close(devfd);
  record(c, kStepDevices, -1, t0);
}

// ── the container's cgroups (a "cgroup" mount) ─────────────────────────────────

// Copies the path of the /proc/self/cgroup line whose controllers are `key` into out.
bool own_cgroup_path(const char* table, const char* key, Buf& out) {
  const char* line = table;
  while (*line != '\0') {
    const char* end = line;
    while (*end != '\0' && *end != '\n') end++;
    const char* k = line;
    while (k < end && *k != ':') k++;  // past the hierarchy id
    if (k < end) {
      k++;
      size_t n = 0;
      while (key[n] != '\0' && k + n < end && k[n] == key[n]) n++;
      if (key[n] == '\0' && k + n < end && k[n] == ':') {
        for (const char* p = k + n + 1; p < end && out.len + 1 < out.cap; p++) out.p[out.len++] = *p;
        out.p[out.len] = '\0';
        return true;
      }
    }
    line = *end == '\n' ? end + 1 : end;
  }
  return false;
}

// Mounts hierarchy h on `target` (an fd path): a fresh cgroupfs inside a cgroup namespace
// of the container's, else a bind of the container's own cgroup in the host's hierarchy;
// then the mount's flags (ro, nosuid, …) on it.
void mount_hierarchy(Child& c, const MountEntry& m, const CgroupHierarchy& h, const char* table, int rootfd,
                     const char* dest) {
  char target[40];
  const Links links = kernel_tree(dest) ? kRefuseLinks : kFollowInRoot;
  int fd = resolve_in_root(rootfd, dest, kCreateDirs, links);
  if (fd < 0) fail(c, kStepMount, errno, "cgroup on ", dest);
  fd_path(target, fd);
  unsigned long flags = m.flags & ~(MS_BIND | MS_REC | MS_REMOUNT);
  if (table == nullptr) {
    if (mount(h.v2 ? "cgroup2" : "cgroup", target, h.v2 ? "cgroup2" : "cgroup", flags, h.data) < 0) {
      fail(c, kStepMount, errno, "cgroup ", h.v2 ? "cgroup2" : h.data, dest);
    }
    close(fd);
    return;
  }
  char src[1024];
  Buf sb{src, sizeof src, 0};
  bput(sb, h.source);
  if (!own_cgroup_path(table, h.key, sb)) fail(c, kStepMount, ENOENT, "cgroup: not in /proc/self/cgroup: ", h.v2 ? "0::" : h.key);
  if (mount(src, target, nullptr, MS_BIND, nullptr) < 0) fail(c, kStepMount, errno, "cgroup bind ", src, dest);
  close(fd);
  fd = resolve_in_root(rootfd, dest, kNoCreate, links);
  if (fd < 0) fail(c, kStepMount, errno, "cgroup on ", dest);
  fd_path(target, fd);
  if (mount(nullptr, target, nullptr, MS_BIND | MS_REMOUNT | flags | locked_flags(target), nullptr) < 0) {
    fail(c, kStepMount, errno, "cgroup remount ", dest);
  }
  close(fd);
}

// runc's and crun's "cgroup" mount: the container sees its own cgroups, read-only unless
// asked otherwise. One v2 hierarchy goes on the destination itself; v1 hierarchies (and a
// hybrid host's unified one) go in a tmpfs there, with links for co-mounted controllers.
void mount_cgroups(Child& c, int rootfd, const MountEntry& m) {
  const ChildConfig& cfg = *c.cfg;
  bool own_ns = (cfg.unshare_flags & CLONE_NEWCGROUP) != 0;
  for (int i = 0; i < cfg.njoins; i++) own_ns = own_ns || cfg.joins[i].nstype == CLONE_NEWCGROUP;
  char table[8192];
  const char* tp = nullptr;
  if (!own_ns) {
    int fd = open("/proc/self/cgroup", O_RDONLY | O_CLOEXEC);
    if (fd < 0) fail(c, kStepMount, errno, "/proc/self/cgroup");
    ssize_t n = 0, got;
    while (n < static_cast<ssize_t>(sizeof table) - 1 && (got = read(fd, table + n, sizeof table - 1 - n)) > 0) n += got;
    close(fd);
    table[n > 0 ? n : 0] = '\0';
    tp = table;
  }
  if (cfg.ncgroups == 1 && cfg.cgroups[0].name[0] == '\0') {
    mount_hierarchy(c, m, cfg.cgroups[0], tp, rootfd, m.destination);
    return;
  }
  char target[40];
  const Links links = mount_links(m);
  int fd = resolve_in_root(rootfd, m.destination, kCreateDirs, links);
  if (fd < 0) fail(c, kStepMount, errno, "tmpfs on ", m.destination);
  fd_path(target, fd);
  unsigned long tflags = m.flags & (MS_NOSUID | MS_NODEV | MS_NOEXEC | MS_RELATIME | MS_NOATIME);
  if (mount("tmpfs", target, "tmpfs", tflags, "mode=755") < 0) fail(c, kStepMount, errno, "tmpfs on ", m.destination);
  close(fd);
  char sub[1024];
  for (int i = 0; i < cfg.ncgroups; i++) {
    const CgroupHierarchy& h = cfg.cgroups[i];
    Buf b{sub, sizeof sub, 0};
    bput(b, m.destination);
    bput(b, "/");
    bput(b, h.name);
    mount_hierarchy(c, m, h, tp, rootfd, sub);
  }
  fd = resolve_in_root(rootfd, m.destination, kNoCreate, links);
  if (fd < 0) fail(c, kStepMount, errno, "tmpfs on ", m.destination);
  fd_path(target, fd);
  int dir = open(target, O_DIRECTORY | O_CLOEXEC);
  if (dir < 0) fail(c, kStepMount, errno, "tmpfs on ", m.destination);
  for (int i = 0; i < cfg.ncgroups; i++) {
    for (int k = 0; k < cfg.cgroups[i].nlinks; k++) {
      if (symlinkat(cfg.cgroups[i].name, dir, cfg.cgroups[i].links[k]) < 0 && errno != EEXIST) {
        fail(c, kStepMount, errno, "cgroup link ", cfg.cgroups[i].links[k]);
      }
    }
  }
  close(dir);
  if ((m.flags & MS_RDONLY) != 0 && mount(nullptr, target, nullptr, MS_REMOUNT | MS_RDONLY | tflags, "mode=755") < 0) {
    fail(c, kStepMount, errno, "remount ro ", m.destination);
  }
  close(fd);
}

// Makes the linux.devices nodes under rootfd: mknod with the spec's mode and owner, or
// in a user namespace (where mknod is refused) a bind of the host's node at the same
// path, as runc does. An existing node is left as it is.
void create_devices(Child& c, int rootfd) {
  const ChildConfig& cfg = *c.cfg;
  uint64_t t0 = monotonic_ns();
  for (int i = 0; i < cfg.ndevices; i++) {
    const DeviceEntry& d = cfg.devices[i];
    char dir[PATH_MAX];
    size_t len = strlen(d.path);
    if (len >= sizeof dir) fail(c, kStepDevices, ENAMETOOLONG, d.path);
    memcpy(dir, d.path, len + 1);
    char* slash = strrchr(dir, '/');
    if (slash == nullptr || slash[1] == '\0') fail(c, kStepDevices, EINVAL, d.path);
    const char* name = d.path + (slash - dir) + 1;
    if (slash == dir) slash[1] = '\0';
    else *slash = '\0';
    int pfd = resolve_in_root(rootfd, dir, kCreateDirs, kernel_tree(dir) ? kRefuseLinks : kFollowInRoot);
    if (pfd < 0) fail(c, kStepDevices, errno, d.path);
    char ppath[40];
    fd_path(ppath, pfd);
    int dfd = open(ppath, O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0) fail(c, kStepDevices, errno, d.path);
    if (!c.in_userns) {
      if (mknodat(dfd, name, d.mode, makedev(d.major, d.minor)) < 0) {
        if (errno != EEXIST) fail(c, kStepDevices, errno, "mknod ", d.path);
      } else {
        if (fchmodat(dfd, name, d.mode & 07777, 0) < 0) fail(c, kStepDevices, errno, "chmod ", d.path);
        if (fchownat(dfd, name, d.uid, d.gid, AT_SYMLINK_NOFOLLOW) < 0) fail(c, kStepDevices, errno, "chown ", d.path);
      }
    } else {
      int f = openat(dfd, name, O_CREAT | O_WRONLY | O_NOFOLLOW | O_CLOEXEC, 0666);
      if (f < 0) fail(c, kStepDevices, errno, "create ", d.path);
      close(f);
      int target = openat(dfd, name, O_PATH | O_NOFOLLOW | O_CLOEXEC);
      if (target < 0) fail(c, kStepDevices, errno, "open ", d.path);
      char tp[40];
      fd_path(tp, target);
      if (mount(d.path, tp, nullptr, MS_BIND, nullptr) < 0) fail(c, kStepDevices, errno, "bind ", d.path);
      close(target);
    }
    close(dfd);
    close(pfd);
  }
  record(c, kStepDevices, -1, t0);
}

// ── the steps ──────────────────────────────────────────────────────────────────

void do_mount(Child& c, int rootfd, int index) {
  const MountEntry& m = c.cfg->mounts[index];
  uint64_t t0 = monotonic_ns();
  if (m.kind == kMountCgroup) {
    mount_cgroups(c, rootfd, m);
    record(c, kStepMount, index, t0);
    return;
  }
  const char* what = m.kind == kMountBind ? m.source : (m.fstype != nullptr ? m.fstype : m.source);
  const Links links = mount_links(m);
  int fd = resolve_in_root(rootfd, m.destination, m.target_is_file ? kCreateFile : kCreateDirs, links);
  if (fd < 0) fail(c, kStepMount, errno, what, " on ", m.destination);
  char target[40];
  fd_path(target, fd);
  if (m.kind == kMountBind && m.idmap_slot >= 0) {
    // The idmapped tree the parent made of the source goes on the target made above: no path is looked up again.
    int& tree = c.mount_trees[m.idmap_slot];
    if (syscall(SYS_move_mount, tree, "", fd, "", MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH) < 0) {
      fail(c, kStepMount, errno, what, " (idmapped) on ", m.destination);
    }
    close(tree);
    tree = -1;
  } else if (m.kind == kMountBind) {
    unsigned long bind = MS_BIND | (m.flags & MS_REC);
    if (mount(m.source, target, nullptr, bind, nullptr) < 0) fail(c, kStepMount, errno, what, " on ", m.destination);
  } else {
    if (mount(m.source, target, m.fstype, m.flags, m.data) < 0) fail(c, kStepMount, errno, what, " on ", m.destination);
  }
  close(fd);
  unsigned long extra = m.flags & ~(MS_BIND | MS_REC);
  bool remount = m.kind == kMountBind && extra != 0;
  if (remount || m.npropagation > 0) {
    // The fd above names the directory under the new mount: look the target up again.
    fd = resolve_in_root(rootfd, m.destination, kNoCreate, links);
    if (fd < 0) fail(c, kStepMount, errno, what, " on ", m.destination);
    fd_path(target, fd);
    if (remount && mount(nullptr, target, nullptr, MS_BIND | MS_REMOUNT | extra | locked_flags(target), nullptr) < 0) {
      fail(c, kStepMount, errno, "remount ", m.destination);
    }
    for (int i = 0; i < m.npropagation; i++) {
      if (mount(nullptr, target, nullptr, m.propagation[i], nullptr) < 0) {
        fail(c, kStepMount, errno, "propagation of ", m.destination);
      }
    }
    close(fd);
  }
  record(c, kStepMount, index, t0);
  if (m.kind == kMountDev) populate_dev(c, rootfd, m.destination);
}

void setup_rootfs(Child& c) {
  const ChildConfig& cfg = *c.cfg;
  uint64_t t0 = monotonic_ns();
  // pivot_root refuses a shared parent, and an unbindable "/" cannot give the rootfs
  // bind below: for those the tree is made a slave now and the requested propagation
  // is applied to the new root after pivot_root (as runc does), in this namespace only.
  // In the runtime's own mount namespace the host's propagation is left alone: the
  // rootfs bind is made private instead, so the container's mounts reach no other
  // namespace, and removing that one bind (berth-runtime delete) removes them all.
  const bool after_pivot = (cfg.root_propagation & (MS_SHARED | MS_UNBINDABLE)) != 0;
  const unsigned long before = after_pivot ? (MS_SLAVE | MS_REC) : cfg.root_propagation;
  if (!cfg.host_mount_ns) {
    if (mount(nullptr, "/", nullptr, before, nullptr) < 0) fail(c, kStepPropagation, errno, "/");
    record(c, kStepPropagation, -1, t0);
  }

  t0 = monotonic_ns();
  if (c.rootfs_tree >= 0) {
    // The tree is the rootfs (an idmapped copy, or the detached mount of its layers): attach it over the rootfs
    // path, in this namespace only (its propagation was made slave or private above).
    if (syscall(SYS_move_mount, c.rootfs_tree, "", AT_FDCWD, cfg.rootfs, MOVE_MOUNT_F_EMPTY_PATH) < 0) {
      fail(c, kStepRootfsBind, errno, cfg.idmap_rootfs ? "idmapped " : "detached ", cfg.rootfs);
    }
    close(c.rootfs_tree);
    c.rootfs_tree = -1;
  } else if (mount(cfg.rootfs, cfg.rootfs, nullptr, MS_BIND | MS_REC, nullptr) < 0) {
    fail(c, kStepRootfsBind, errno, cfg.rootfs);
  }
  if (cfg.host_mount_ns && mount(nullptr, cfg.rootfs, nullptr, MS_PRIVATE | MS_REC, nullptr) < 0) {
    fail(c, kStepRootfsBind, errno, "private ", cfg.rootfs);
  }
  int rootfd = open(cfg.rootfs, O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (rootfd < 0) fail(c, kStepRootfsBind, errno, cfg.rootfs);
  record(c, kStepRootfsBind, -1, t0);

  t0 = monotonic_ns();
  for (int i = 0; i < cfg.nmounts; i++) do_mount(c, rootfd, i);
  record(c, kStepMounts, -1, t0);
  if (cfg.ndevices > 0) create_devices(c, rootfd);

  // createContainer hooks: the mounts are in place, the old root still visible.
  if (cfg.hooks_sync) {
    send_msg(c, kSyncHooks);
    c.msg.nsteps = 0;
    t0 = monotonic_ns();
    wait_for(c, kSyncResume);
    record(c, kStepWaitHooks, -1, t0);
  }

  // pivot_root(".", ".") stacks the old root on top of the new one; detaching it
  // leaves the new root alone, with no put_old directory to create in the rootfs.
  t0 = monotonic_ns();
  if (fchdir(rootfd) < 0) fail(c, kStepPivotRoot, errno, cfg.rootfs);
  if (cfg.host_mount_ns) {
    // pivot_root here would move the root of every process of the host's namespace
    if (chroot(".") < 0) fail(c, kStepPivotRoot, errno, "chroot ", cfg.rootfs);
    if (chdir("/") < 0) fail(c, kStepPivotRoot, errno, "/");
    close(rootfd);
    record(c, kStepPivotRoot, -1, t0);
    return;
  }
  if (syscall(SYS_pivot_root, ".", ".") < 0) fail(c, kStepPivotRoot, errno, cfg.rootfs);
  if (mount(nullptr, ".", nullptr, MS_SLAVE | MS_REC, nullptr) < 0) fail(c, kStepPivotRoot, errno, "old root");
  if (umount2(".", MNT_DETACH) < 0) fail(c, kStepPivotRoot, errno, "detach old root");
  if (chdir("/") < 0) fail(c, kStepPivotRoot, errno, "/");
  close(rootfd);
  if (after_pivot && mount(nullptr, "/", nullptr, cfg.root_propagation, nullptr) < 0) fail(c, kStepPropagation, errno, "new root");
  record(c, kStepPivotRoot, -1, t0);
}

// After pivot_root: the container's root is "/" and no path can leave it.
void finish_rootfs(Child& c) {
  const ChildConfig& cfg = *c.cfg;
  uint64_t t0 = monotonic_ns();
  for (int i = 0; i < cfg.nsysctl; i++) {
    int fd = open(cfg.sysctl_paths[i], O_WRONLY | O_TRUNC | O_CLOEXEC);
    if (fd < 0) fail(c, kStepSysctl, errno, cfg.sysctl_paths[i]);
    size_t n = strlen(cfg.sysctl_values[i]);
    if (write(fd, cfg.sysctl_values[i], n) != static_cast<ssize_t>(n)) fail(c, kStepSysctl, errno, cfg.sysctl_paths[i]);
    close(fd);
  }
  if (cfg.nsysctl > 0) record(c, kStepSysctl, -1, t0);

  // Masked and read-only paths are resolved from the new root without following a
  // symlink (ELOOP names the path): an image could otherwise point one at a file of its
  // own (or, when /proc is not procfs, anywhere in the rootfs) and have that masked or
  // made read-only instead. The mount then names the resolved fd, not the path again;
  // without a procfs at /proc (no /proc/self/fd) it names the path just checked.
  int slash = open("/", O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (slash < 0 && (cfg.nmasked > 0 || cfg.nreadonly > 0)) fail(c, kStepMaskedPaths, errno, "/");
  const bool fd_paths = access("/proc/self/fd", F_OK) == 0;
  char target[40];
  auto target_of = [&](int fd, const char* p) { return fd_paths ? (fd_path(target, fd), target) : p; };

  t0 = monotonic_ns();
  // A file is masked by a bind of the null device, opened once without following a
  // symlink and checked to be char 1:3: the container's /dev may be a volume in which
  // "null" is a symlink to a file the mask would otherwise expose writable (a
  // /proc/sys file, say). The old root is detached by now, so the host's node cannot
  // be the source.
  int null_fd = -1;
  char devnull[40];
  for (int i = 0; i < cfg.nmasked; i++) {
    const char* p = cfg.masked[i];
    int fd = resolve_in_root(slash, p, kNoCreate, kRefuseLinks);
    if (fd < 0) {
      if (errno == ENOENT) continue;
      fail(c, kStepMaskedPaths, errno, p);
    }
    struct stat st;
    if (fstat(fd, &st) < 0) fail(c, kStepMaskedPaths, errno, p);
    if (!S_ISDIR(st.st_mode) && null_fd < 0) {
      null_fd = open("/dev/null", O_PATH | O_NOFOLLOW | O_CLOEXEC);
      struct stat ns;
      if (null_fd < 0 || fstat(null_fd, &ns) < 0) fail(c, kStepMaskedPaths, errno, "mask source /dev/null");
      if (!S_ISCHR(ns.st_mode) || ns.st_rdev != makedev(1, 3)) {
        fail(c, kStepMaskedPaths, EINVAL, "mask source /dev/null: not the null device (a symlink or another file)");
      }
      fd_path(devnull, null_fd);
    }
    const char* to = target_of(fd, p);
    int rc = S_ISDIR(st.st_mode) ? mount("tmpfs", to, "tmpfs", MS_RDONLY, nullptr)
                                 : mount(fd_paths ? devnull : "/dev/null", to, nullptr, MS_BIND, nullptr);
    if (rc < 0) fail(c, kStepMaskedPaths, errno, p);
    close(fd);
  }
  if (null_fd >= 0) close(null_fd);
  if (cfg.nmasked > 0) record(c, kStepMaskedPaths, -1, t0);

  t0 = monotonic_ns();
  for (int i = 0; i < cfg.nreadonly; i++) {
    const char* p = cfg.readonly[i];
    int fd = resolve_in_root(slash, p, kNoCreate, kRefuseLinks);
    if (fd < 0) {
      if (errno == ENOENT) continue;
      fail(c, kStepReadonlyPaths, errno, p);
    }
    const char* to = target_of(fd, p);
    if (mount(to, to, nullptr, MS_BIND | MS_REC, nullptr) < 0) fail(c, kStepReadonlyPaths, errno, p);
    close(fd);
    // The fd names what lies under the new bind: look the path up again for the remount.
    fd = resolve_in_root(slash, p, kNoCreate, kRefuseLinks);
    if (fd < 0) fail(c, kStepReadonlyPaths, errno, p);
    to = target_of(fd, p);
    if (mount(nullptr, to, nullptr, MS_BIND | MS_REMOUNT | MS_RDONLY | locked_flags(to), nullptr) < 0) {
      fail(c, kStepReadonlyPaths, errno, p);
    }
    close(fd);
  }
  if (cfg.nreadonly > 0) record(c, kStepReadonlyPaths, -1, t0);
  if (slash >= 0) close(slash);

  if (cfg.readonly_root) {
    t0 = monotonic_ns();
    if (mount(nullptr, "/", nullptr, MS_BIND | MS_REMOUNT | MS_RDONLY | locked_flags("/"), nullptr) < 0) {
      fail(c, kStepReadonlyRoot, errno, "/");
    }
    record(c, kStepReadonlyRoot, -1, t0);
  }
}

// Sends the pty master to the parent (kSyncTerminal, the fd as SCM_RIGHTS).
void send_master(Child& c, int master) {
  c.msg.type = kSyncTerminal;
  if (send_with_fd(c.cfg->sync_fd, &c.msg, sizeof c.msg, master) < 0) fail(c, kStepTerminal, errno, "send pty master");
}

// process.terminal: a new pty from the container's own devpts (after pivot_root,
// so /dev/pts is the container's instance); its peer becomes the controlling
// terminal of a new session and fds 0–2; the master goes to the parent.
void setup_terminal(Child& c) {
  const ChildConfig& cfg = *c.cfg;
  uint64_t t0 = monotonic_ns();
  int master = open("/dev/pts/ptmx", O_RDWR | O_NOCTTY | O_CLOEXEC);
  if (master < 0) fail(c, kStepTerminal, errno, "/dev/pts/ptmx");
  int unlock = 0;
  if (ioctl(master, TIOCSPTLCK, &unlock) < 0) fail(c, kStepTerminal, errno, "unlock pty");
  if (cfg.console_rows != 0 || cfg.console_cols != 0) {
    struct winsize ws;
    memset(&ws, 0, sizeof ws);
    ws.ws_row = cfg.console_rows;
    ws.ws_col = cfg.console_cols;
    if (ioctl(master, TIOCSWINSZ, &ws) < 0) fail(c, kStepTerminal, errno, "consoleSize");
  }
  // TIOCGPTPEER (Linux 4.13) opens the peer through the master, never by a path
  // that could name another file; older kernels: /dev/pts/<n>.
  int peer = ioctl(master, TIOCGPTPEER, O_RDWR | O_NOCTTY | O_CLOEXEC);
  if (peer < 0 && (errno == EINVAL || errno == ENOTTY)) {
    unsigned int n = 0;
    if (ioctl(master, TIOCGPTN, &n) < 0) fail(c, kStepTerminal, errno, "pty number");
    char path[40];
    Buf b{path, sizeof path, 0};
    bput(b, "/dev/pts/");
    bput_uint(b, n);
    peer = open(path, O_RDWR | O_NOCTTY | O_CLOEXEC);
  }
  if (peer < 0) fail(c, kStepTerminal, errno, "pty peer");
  // The process's user owns its terminal (as it would own its login tty).
  if (fchown(peer, cfg.uid, static_cast<gid_t>(-1)) < 0) fail(c, kStepTerminal, errno, "chown pty peer");
  if (setsid() < 0) fail(c, kStepTerminal, errno, "setsid");
  if (ioctl(peer, TIOCSCTTY, 0) < 0) fail(c, kStepTerminal, errno, "TIOCSCTTY");
  for (int i = 0; i < 3; i++) {
    if (dup2(peer, i) < 0) fail(c, kStepTerminal, errno, "dup2 pty peer");
  }
  if (peer > 2) close(peer);
  send_master(c, master);
  close(master);
  record(c, kStepTerminal, -1, t0);
}

int capset_sets(uint64_t effective, uint64_t permitted, uint64_t inheritable) {
  struct __user_cap_header_struct hdr = {_LINUX_CAPABILITY_VERSION_3, 0};
  struct __user_cap_data_struct data[2];
  data[0].effective = static_cast<uint32_t>(effective);
  data[1].effective = static_cast<uint32_t>(effective >> 32);
  data[0].permitted = static_cast<uint32_t>(permitted);
  data[1].permitted = static_cast<uint32_t>(permitted >> 32);
  data[0].inheritable = static_cast<uint32_t>(inheritable);
  data[1].inheritable = static_cast<uint32_t>(inheritable >> 32);
  return static_cast<int>(syscall(SYS_capset, &hdr, data));
}

// Loads the seccomp filter the parent built. Without no_new_privs this needs
// CAP_SYS_ADMIN (so it runs before the capability step: kSeccompBeforeUser).
void install_seccomp(Child& c, int stage) {
  const ChildConfig& cfg = *c.cfg;
  if (cfg.seccomp_len == 0 || cfg.seccomp_stage != stage) return;
  uint64_t t0 = monotonic_ns();
  struct sock_fprog prog;
  prog.len = cfg.seccomp_len;
  prog.filter = static_cast<struct sock_filter*>(const_cast<void*>(cfg.seccomp_filter));
  long rc = cfg.seccomp_flags != 0 ? syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, cfg.seccomp_flags, &prog)
                                   : prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog, 0, 0);
  if (rc != 0) fail(c, kStepSeccomp, rc < 0 ? errno : ESRCH, "filter");
  record(c, kStepSeccomp, -1, t0);
}

void setup_process(Child& c) {
  const ChildConfig& cfg = *c.cfg;
  uint64_t t0;
  if (cfg.hostname != nullptr || cfg.domainname != nullptr) {
    t0 = monotonic_ns();
    if (cfg.hostname != nullptr && sethostname(cfg.hostname, strlen(cfg.hostname)) < 0) {
      fail(c, kStepHostname, errno, cfg.hostname);
    }
    if (cfg.domainname != nullptr && setdomainname(cfg.domainname, strlen(cfg.domainname)) < 0) {
      fail(c, kStepHostname, errno, "domainname ", cfg.domainname);
    }
    record(c, kStepHostname, -1, t0);
  }
  if (cfg.nrlimits > 0) {
    t0 = monotonic_ns();
    for (int i = 0; i < cfg.nrlimits; i++) {
      struct rlimit rl;
      rl.rlim_cur = cfg.rlimits[i].soft;
      rl.rlim_max = cfg.rlimits[i].hard;
      if (setrlimit(static_cast<__rlimit_resource>(cfg.rlimits[i].resource), &rl) < 0) {
        char num[24];
        Buf nb{num, sizeof num, 0};
        bput_uint(nb, static_cast<unsigned long>(cfg.rlimits[i].resource));
        fail(c, kStepRlimits, errno, "resource ", num);
      }
    }
    record(c, kStepRlimits, -1, t0);
  }
  if (cfg.no_new_privs) {
    t0 = monotonic_ns();
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) fail(c, kStepNoNewPrivs, errno, "prctl");
    record(c, kStepNoNewPrivs, -1, t0);
  }
  if (cfg.set_caps) {
    t0 = monotonic_ns();
    for (int cap = 0; cap <= cfg.cap_last; cap++) {
      if ((cfg.cap_bounding >> cap) & 1) continue;
      if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) < 0 && errno != EINVAL) fail(c, kStepCapBounding, errno, "PR_CAPBSET_DROP");
    }
    record(c, kStepCapBounding, -1, t0);
  }

  // The user, umask and working directory are set before a stage-0 filter loads, so
  // a profile may deny setgroups/setres[ug]id/umask/chdir; after the filter only the
  // capability sets (capset, ambient raise) and the start handshake remain.
  // The directory is entered as root first (a cwd the container user cannot reach
  // still works, as with runc), and again as the user when root was refused it.
  t0 = monotonic_ns();
  bool cwd_done = chdir(cfg.cwd) == 0;
  if (!cwd_done && errno != EACCES && errno != EPERM) fail(c, kStepCwd, errno, cfg.cwd);
  if (cwd_done) record(c, kStepCwd, -1, t0);

  t0 = monotonic_ns();
  if (prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) < 0) fail(c, kStepUser, errno, "PR_SET_KEEPCAPS");
  // In a user namespace whose setgroups is denied, an empty list is all we can ask.
  if (syscall(SYS_setgroups, static_cast<size_t>(cfg.ngroups), cfg.groups) < 0 &&
      !(errno == EPERM && c.in_userns && cfg.ngroups == 0)) {
    fail(c, kStepUser, errno, "setgroups");
  }
  if (syscall(SYS_setresgid, cfg.gid, cfg.gid, cfg.gid) < 0) fail(c, kStepUser, errno, "setresgid");
  if (syscall(SYS_setresuid, cfg.uid, cfg.uid, cfg.uid) < 0) fail(c, kStepUser, errno, "setresuid");
  if (prctl(PR_SET_KEEPCAPS, 0, 0, 0, 0) < 0) fail(c, kStepUser, errno, "PR_SET_KEEPCAPS");
  record(c, kStepUser, -1, t0);

  umask(static_cast<mode_t>(cfg.umask >= 0 ? cfg.umask : 022));
  if (!cwd_done) {
    t0 = monotonic_ns();
    if (chdir(cfg.cwd) < 0) fail(c, kStepCwd, errno, cfg.cwd);
    record(c, kStepCwd, -1, t0);
  }
  // A cwd reached through a /proc/self/fd link of an fd opened outside the root (runc's
  // CVE-2024-21626) has no path from "/": the kernel then reports it "(unreachable)".
  char where[PATH_MAX];
  if (syscall(SYS_getcwd, where, sizeof where) < 0 || where[0] != '/') {
    fail(c, kStepCwd, EXDEV, "outside the container's root: ", cfg.cwd);
  }

  if (cfg.set_caps && prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0 && errno != EINVAL) {
    fail(c, kStepCapabilities, errno, "ambient clear");
  }
  if (cfg.seccomp_len != 0 && cfg.seccomp_stage == kSeccompBeforeUser) {
    // Leaving uid 0 emptied the effective set; loading a filter without no_new_privs
    // needs CAP_SYS_ADMIN in it, so raise effective back to the kept permitted set.
    struct __user_cap_header_struct hdr = {_LINUX_CAPABILITY_VERSION_3, 0};
    struct __user_cap_data_struct data[2];
    if (syscall(SYS_capget, &hdr, data) < 0) fail(c, kStepSeccomp, errno, "capget");
    if (data[0].effective != data[0].permitted || data[1].effective != data[1].permitted) {
      data[0].effective = data[0].permitted;
      data[1].effective = data[1].permitted;
      if (syscall(SYS_capset, &hdr, data) < 0) fail(c, kStepSeccomp, errno, "capset");
    }
  }
  install_seccomp(c, kSeccompBeforeUser);

  if (cfg.set_caps) {
    t0 = monotonic_ns();
    if (capset_sets(cfg.cap_effective, cfg.cap_permitted, cfg.cap_inheritable) < 0) {
      fail(c, kStepCapabilities, errno, "capset");
    }
    for (int cap = 0; cap <= cfg.cap_last; cap++) {
      if (((cfg.cap_ambient >> cap) & 1) == 0) continue;
      if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, cap, 0, 0) < 0) fail(c, kStepCapabilities, errno, "ambient raise");
    }
    record(c, kStepCapabilities, -1, t0);
  }
}

void close_range_or_loop(unsigned lo, unsigned hi) {
  if (syscall(SYS_close_range, lo, hi, 0U) == 0) return;
  // Before Linux 5.11: close each possibly open fd.
  struct rlimit rl;
  unsigned max = getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < 65536 ? static_cast<unsigned>(rl.rlim_cur) : 65536;
  for (unsigned fd = lo; fd <= hi && fd < max; fd++) close(static_cast<int>(fd));
}

// Closes every fd from 3 up except those in keep (at most kMaxKeep; -1 entries ignored).
void close_except(const int* keep, int n) {
  int sorted[kMaxKeep];
  int m = 0;
  for (int i = 0; i < n && m < kMaxKeep; i++) {
    if (keep[i] < 3) continue;
    int j = m++;
    while (j > 0 && sorted[j - 1] > keep[i]) {
      sorted[j] = sorted[j - 1];
      j--;
    }
    sorted[j] = keep[i];
  }
  unsigned lo = 3;
  for (int i = 0; i < m; i++) {
    unsigned k = static_cast<unsigned>(sorted[i]);
    if (k < lo) continue;
    if (k > lo) close_range_or_loop(lo, k - 1);
    lo = k + 1;
  }
  close_range_or_loop(lo, ~0U);
}

// Moves this (single-threaded) process into one cgroup v1 hierarchy: "0" written to
// `tasks` names the writer's own thread, which the kernel moves without its global
// threadgroup lock (a pid written by another process takes it).
void join_cgroup(Child& c, const char* tasks) {
  int fd = open(tasks, O_WRONLY | O_CLOEXEC);
  if (fd < 0) fail(c, kStepCgroupJoin, errno, tasks);
  if (write(fd, "0", 1) != 1) fail(c, kStepCgroupJoin, errno, tasks);
  close(fd);
}

// Brings lo up in the network namespace the clone made (its only interface, down).
void loopback_up(Child& c) {
  int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (s < 0) fail(c, kStepLoopback, errno, "socket");
  struct ifreq ifr;
  memset(&ifr, 0, sizeof ifr);
  memcpy(ifr.ifr_name, "lo", 3);
  if (ioctl(s, SIOCGIFFLAGS, &ifr) < 0) fail(c, kStepLoopback, errno, "lo: SIOCGIFFLAGS");
  if ((ifr.ifr_flags & IFF_UP) == 0) {
    ifr.ifr_flags = static_cast<short>(ifr.ifr_flags | IFF_UP);
    if (ioctl(s, SIOCSIFFLAGS, &ifr) < 0) fail(c, kStepLoopback, errno, "lo: SIOCSIFFLAGS");
  }
  close(s);
}

void setup_stdio(Child& c) {
  uint64_t t0 = monotonic_ns();
  int high[3];
  for (int i = 0; i < 3; i++) {
    int src = c.cfg->stdio[i] >= 0 ? c.cfg->stdio[i] : c.devnull;
    // Copy above 0–2 first so one source may feed several targets or sit on one.
    high[i] = fcntl(src, F_DUPFD_CLOEXEC, 10);
    if (high[i] < 0) fail(c, kStepStdio, errno, "fd ", i == 0 ? "0" : i == 1 ? "1" : "2");
  }
  for (int i = 0; i < 3; i++) {
    if (dup2(high[i], i) < 0) fail(c, kStepStdio, errno, "dup2");
  }
  // Only the sync socket, the exec FIFO and the idmapped trees stay open past this point.
  int keep[kMaxKeep];
  int n = 0;
  keep[n++] = c.cfg->sync_fd;
  keep[n++] = c.cfg->fifo_fd;
  keep[n++] = c.rootfs_tree;
  for (int i = 0; i < c.nmount_trees; i++) keep[n++] = c.mount_trees[i];
  close_except(keep, n);
  c.devnull = -1;
  record(c, kStepStdio, -1, t0);
}

void close_fds(Child& c) {
  uint64_t t0 = monotonic_ns();
  if (syscall(SYS_close_range, 3U, ~0U, CLOSE_RANGE_CLOEXEC) < 0) {
    // Before Linux 5.11: mark each possibly open fd close-on-exec.
    struct rlimit rl;
    unsigned long max = getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < 65536 ? rl.rlim_cur : 65536;
    for (unsigned long fd = 3; fd < max; fd++) fcntl(static_cast<int>(fd), F_SETFD, FD_CLOEXEC);
  }
  record(c, kStepCloseFds, -1, t0);
}

// Until execve returns, this process runs Node's binary, the host's. A path through a
// /proc magic link (/proc/self/exe, /proc/<pid>/exe, /proc/self/fd/N) resolved by this
// process would start that host file inside the container, where the container could
// then reach it for writing (runc's CVE-2019-5736). The program is therefore opened
// here with RESOLVE_NO_MAGICLINKS (a path that only resolves through a magic link is
// refused with ELOOP, naming it) and that same fd is what gets executed (execveat with
// AT_EMPTY_PATH), so nothing can swap the path between the check and the exec. A
// script's "#!" line is read from the fd and handled here as the kernel's binfmt_script
// would ("interpreter [arg] path argv[1..]", up to five levels), each interpreter
// opened the same way, so the fd finally executed is never a script whose interpreter
// the kernel would look up by path again. Without openat2 (an old kernel, or a seccomp
// profile loaded already that denies it) the path is opened plainly and refused when it
// is this process's own binary.

constexpr int kMaxInterp = 5;  // the kernel's limit on nested interpreters
constexpr size_t kLineMax = 256;  // BINPRM_BUF_SIZE: the most of a "#!" line the kernel reads

struct ExecPlan {
  int fd = -1;         // the fd to execveat
  int head = 0;        // argv is out[head..]
  const char* shown = nullptr;  // the path errors name
};

// openat2 with RESOLVE_NO_MAGICLINKS: the fd, -1 with errno, or -2 for a path that only
// resolves through a magic link.
int open_exec_beneath(const char* path, bool& readable) {
  struct open_how how;
  memset(&how, 0, sizeof how);
  how.flags = O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC;
  how.resolve = RESOLVE_NO_MAGICLINKS;
  readable = true;
  int fd = static_cast<int>(syscall(SYS_openat2, AT_FDCWD, path, &how, sizeof how));
  if (fd < 0 && errno == EACCES) {
    how.flags = O_PATH | O_CLOEXEC;
    readable = false;
    fd = static_cast<int>(syscall(SYS_openat2, AT_FDCWD, path, &how, sizeof how));
  }
  if (fd < 0 && errno == ELOOP) {
    // A symlink loop fails the same way; only a path that opens without the flag went through a magic link.
    int plain = open(path, O_PATH | O_CLOEXEC);
    if (plain >= 0) {
      close(plain);
      return -2;
    }
    errno = ELOOP;
  }
  return fd;
}

// Whether fd is this process's own binary (the host's Node), by device and inode. False
// when that cannot be told: without a procfs no magic link leads to it either.
bool is_own_binary(int fd) {
  struct stat self;
  struct stat st;
  if (stat("/proc/self/exe", &self) < 0 || fstat(fd, &st) < 0) return false;
  return self.st_dev == st.st_dev && self.st_ino == st.st_ino;
}

// Opens `path` for execveat without crossing a magic link: O_RDONLY so a "#!" line can be
// read, O_PATH when the file is execute-only. Returns the fd; -1 with errno; -2 when the
// path resolves only through a magic link. Without openat2 (ENOSYS, or EPERM: denied by
// a seccomp stage that is loaded already) it opens the path plainly and refuses the one
// file a magic link could bring that matters here, this process's own binary.
int open_exec(const char* path, bool& readable) {
  int fd = open_exec_beneath(path, readable);
  if (fd != -1 || (errno != ENOSYS && errno != EPERM)) return fd;
  readable = true;
  fd = open(path, O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
  if (fd < 0 && errno == EACCES) {
    readable = false;
    fd = open(path, O_PATH | O_CLOEXEC);
  }
  if (fd >= 0 && is_own_binary(fd)) {
    close(fd);
    return -2;
  }
  return fd;
}

// Plans the exec of `file` with cfg.argv into out (capacity: argc + 3 * kMaxInterp + 1
// pointers). Returns 0; -1 with errno (execve's errors); -2 with the refused path in
// `refused` when the program or an interpreter is reached only through a magic link.
int plan_exec(const Child& c, const char* file, char** out, int cap, ExecPlan& plan, char* refused, size_t rcap,
              char (*lines)[kLineMax]) {
  char* const* argv = c.cfg->argv;
  int argc = 0;
  while (argv[argc] != nullptr) argc++;
  int end = cap - 1;
  out[end] = nullptr;
  int head = end;
  for (int i = argc - 1; i >= 1; i--) out[--head] = argv[i];
  char* argv0 = argc > 0 ? argv[0] : const_cast<char*>(file);
  const char* path = file;
  plan.shown = file;
  for (int level = 0;; level++) {
    bool readable = false;
    int fd = open_exec(path, readable);
    if (fd == -2) {
      size_t n = strlen(path) < rcap - 1 ? strlen(path) : rcap - 1;
      memcpy(refused, path, n);
      refused[n] = '\0';
      return -2;
    }
    if (fd < 0) return -1;
    struct stat st;
    // (a profile that denies fstat leaves that to execveat)
    int err = fstat(fd, &st) < 0 ? errno : 0;
    if (err == EPERM || err == ENOSYS) err = 0;
    // execve's answer for a directory, a device or a file without an x bit
    else if (err == 0 && (!S_ISREG(st.st_mode) || (st.st_mode & 0111) == 0)) err = EACCES;
    if (err != 0) {
      close(fd);
      errno = err;
      return -1;
    }
    char* line = lines[level < kMaxInterp ? level : kMaxInterp - 1];
    ssize_t n = readable ? read(fd, line, kLineMax - 1) : 0;  // read, not pread: the calls a profile must allow
    if (n < 2 || line[0] != '#' || line[1] != '!') {
      plan.fd = fd;
      plan.head = head;
      out[--plan.head] = argv0;
      plan.shown = path;
      return 0;
    }
    close(fd);
    if (level == kMaxInterp) {
      errno = ELOOP;
      return -1;
    }
    line[n] = '\0';
    char* nl = strchr(line + 2, '\n');
    if (nl != nullptr) *nl = '\0';
    char* p = line + 2;
    while (*p == ' ' || *p == '\t') p++;
    char* name = p;
    while (*p != '\0' && *p != ' ' && *p != '\t') p++;
    if (p == name) {
      errno = ENOEXEC;
      return -1;
    }
    char* arg = nullptr;
    if (*p != '\0') {
      *p++ = '\0';
      while (*p == ' ' || *p == '\t') p++;
      char* e = p + strlen(p);
      while (e > p && (e[-1] == ' ' || e[-1] == '\t')) *--e = '\0';
      if (*p != '\0') arg = p;
    }
    // binfmt_script: argv becomes "name [arg] path argv[1..]"
    if (head < 3) {
      errno = E2BIG;
      return -1;
    }
    out[--head] = const_cast<char*>(path);
    if (arg != nullptr) out[--head] = arg;
    argv0 = name;
    path = name;
  }
}

[[noreturn]] void exec_args(Child& c) {
  const ChildConfig& cfg = *c.cfg;
  sigset_t none;
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, nullptr);
  const char* file = cfg.argv[0];
  const char* path = cfg.path_env != nullptr ? cfg.path_env : "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
  int argc = 0;
  while (cfg.argv[argc] != nullptr) argc++;
  const int cap = argc + 3 * kMaxInterp + 2;
  char** out = static_cast<char**>(alloca(sizeof(char*) * static_cast<size_t>(cap)));
  // On this stack, not static: the child shares its memory with Node and with other children being set up.
  char full[PATH_MAX];
  char lines[kMaxInterp][kLineMax];  // the "#!" lines the planned argv points into
  char refused[PATH_MAX];
  ExecPlan plan;
  // The program is opened and its "#!" lines read before the last seccomp stage, which may deny openat2 and read.
  int rc;
  if (strchr(file, '/') != nullptr) {
    rc = plan_exec(c, file, out, cap, plan, refused, sizeof refused, lines);
    if (rc == -2) fail(c, kStepExecve, ELOOP, "through a magic link: ", refused);
    if (rc < 0) fail(c, kStepExecve, errno, file);
  } else {
    // execvp's search: the first candidate that opens and is executable; EACCES
    // remembered, ENOENT and ENOTDIR passed over, any other error final.
    int err = ENOENT;
    bool denied = false;
    rc = -1;
    for (const char* p = path;;) {
      const char* end = strchr(p, ':');
      size_t dlen = end != nullptr ? static_cast<size_t>(end - p) : strlen(p);
      size_t flen = strlen(file);
      if (dlen + flen + 2 <= sizeof full) {
        size_t n = dlen == 0 ? 1 : dlen;
        memcpy(full, dlen == 0 ? "." : p, n);
        full[n++] = '/';
        memcpy(full + n, file, flen + 1);
        rc = plan_exec(c, full, out, cap, plan, refused, sizeof refused, lines);
        if (rc == -2) fail(c, kStepExecve, ELOOP, "through a magic link: ", refused);
        if (rc == 0) break;
        err = errno;
        if (err == EACCES) denied = true;
        if (err != ENOENT && err != ENOTDIR && err != EACCES) fail(c, kStepExecve, err, full);
      }
      if (end == nullptr) break;
      p = end + 1;
    }
    if (rc != 0) fail(c, kStepExecve, denied ? EACCES : err, file);
  }
  install_seccomp(c, kSeccompBeforeExecve);
  char* const* argv = out + plan.head;
  syscall(SYS_execveat, plan.fd, "", argv, cfg.envp, AT_EMPTY_PATH);
  int err = errno;
  // A seccomp profile may allow execve and not execveat (the calls it must allow name
  // execve): the same fd then, by its /proc/self/fd name. Without a procfs that fails
  // with ENOENT, and execveat's error is the one to report.
  char fdp[40];
  fd_path(fdp, plan.fd);
  execve(fdp, argv, cfg.envp);
  if (errno != ENOENT) err = errno;
  fail(c, kStepExecve, err, plan.shown);
}

}  // namespace

int container_child_main(void* arg) {
  Child c;
  c.cfg = static_cast<const ChildConfig*>(arg);
  const ChildConfig& cfg = *c.cfg;
  // First: tell the parent this process runs (its pid and pidfd are set by now).
  if (cfg.started_ns != nullptr) *cfg.started_ns = monotonic_ns();
  {
    uint32_t cloned = kSyncCloned;
    ssize_t n;
    do {
      n = send(cfg.sync_fd, &cloned, sizeof cloned, MSG_NOSIGNAL);
    } while (n < 0 && errno == EINTR);
    if (n < 0) _exit(1);
  }
  c.msg.nsteps = 0;
  c.msg.detail[0] = '\0';
  c.in_userns = cfg.userns_new;

  // Node's handlers must never run here; the parent blocked every signal before clone.
  struct sigaction dfl;
  memset(&dfl, 0, sizeof dfl);
  dfl.sa_handler = SIG_DFL;
  for (int sig = 1; sig < NSIG; sig++) {
    if (sig != SIGKILL && sig != SIGSTOP) sigaction(sig, &dfl, nullptr);
  }
  umask(0);
  // Not dumpable until execve (which makes a plain program dumpable again): while this
  // process runs the host's Node binary, a process of the container it joins or shares
  // a pid namespace with must not open /proc/<pid>/exe, /proc/<pid>/fd or /proc/<pid>/mem.
  // The flag belongs to the memory it shares with Node: the Node process stays undumpable too (as runc makes itself).
  prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);

  // Drop the fds inherited from Node at once — the parent's end of this socket
  // first (so a parent that goes away is seen as EOF), other containers' pipes and
  // sockets too — keeping what the setup still needs.
  int keep[16];
  int nkeep = 0;
  keep[nkeep++] = cfg.sync_fd;
  keep[nkeep++] = cfg.fifo_fd;
  keep[nkeep++] = cfg.rootfs_fd;
  for (int i = 0; i < 3; i++) keep[nkeep++] = cfg.stdio[i];
  for (int i = 0; i < cfg.njoins && nkeep < 16; i++) keep[nkeep++] = cfg.joins[i].fd;
  close_except(keep, nkeep);

  uint64_t t0 = monotonic_ns();
  for (int i = 0; i < cfg.njoins; i++) {
    if (setns(cfg.joins[i].fd, cfg.joins[i].nstype) < 0) fail(c, kStepSetns, errno, cfg.joins[i].path);
    if (cfg.joins[i].nstype == CLONE_NEWUSER) c.in_userns = true;
  }
  if (cfg.njoins > 0) record(c, kStepSetns, -1, t0);

  if (cfg.idmap_rootfs) c.rootfs_tree = receive_tree(c, kSyncRootfsTree);
  else if (cfg.rootfs_fd >= 0) c.rootfs_tree = cfg.rootfs_fd;
  for (int i = 0; i < cfg.nmounts; i++) {
    if (cfg.mounts[i].idmap_slot >= 0) c.mount_trees[c.nmount_trees++] = receive_tree(c, kSyncMountTree);
  }
  t0 = monotonic_ns();
  wait_for(c, kSyncSetup);
  record(c, kStepWaitSetup, -1, t0);

  // Before the cgroup namespace below: its root is the cgroup the child is in when it unshares.
  if (cfg.ncgroup_tasks > 0) {
    t0 = monotonic_ns();
    for (int i = 0; i < cfg.ncgroup_tasks; i++) join_cgroup(c, cfg.cgroup_tasks[i]);
    record(c, kStepCgroupJoin, -1, t0);
  }
  if (cfg.userns_new) {
    t0 = monotonic_ns();
    if (syscall(SYS_setresgid, 0, 0, 0) < 0) fail(c, kStepUsernsRoot, errno, "setresgid 0");
    if (syscall(SYS_setresuid, 0, 0, 0) < 0) fail(c, kStepUsernsRoot, errno, "setresuid 0");
    record(c, kStepUsernsRoot, -1, t0);
  }
  if (cfg.loopback_up) {
    t0 = monotonic_ns();
    loopback_up(c);
    record(c, kStepLoopback, -1, t0);
  }
  if (cfg.unshare_flags != 0) {
    t0 = monotonic_ns();
    if (unshare(cfg.unshare_flags) < 0) fail(c, kStepUnshareCgroup, errno, "unshare");
    record(c, kStepUnshareCgroup, -1, t0);
  }

  c.devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
  if (c.devnull < 0) fail(c, kStepStdio, errno, "/dev/null");
  setup_stdio(c);

  if (cfg.set_oom_score_adj) {
    t0 = monotonic_ns();
    int fd = open("/proc/self/oom_score_adj", O_WRONLY | O_CLOEXEC);
    char num[24];
    Buf nb{num, sizeof num, 0};
    if (cfg.oom_score_adj < 0) bput(nb, "-");
    bput_uint(nb, static_cast<unsigned long>(cfg.oom_score_adj < 0 ? -cfg.oom_score_adj : cfg.oom_score_adj));
    if (fd < 0 || write(fd, num, nb.len) < 0) fail(c, kStepOomScoreAdj, errno, "/proc/self/oom_score_adj");
    close(fd);
    record(c, kStepOomScoreAdj, -1, t0);
  }

  if (!cfg.exec_mode) {
    setup_rootfs(c);
    finish_rootfs(c);
  }
  if (cfg.terminal) setup_terminal(c);
  // Before setup_process: a filter loaded there may deny close_range (the fallback
  // loop would then touch every possible fd); setup_process opens no fd.
  close_fds(c);
  setup_process(c);
  install_seccomp(c, kSeccompEndOfSetup);

  send_msg(c, kSyncCreated);
  c.created = true;
  c.msg.nsteps = 0;
  if (cfg.detached) {
    setsid();
    char fifo[40];
    fd_path(fifo, cfg.fifo_fd);
    int fd = open(fifo, O_WRONLY | O_CLOEXEC);
    if (fd < 0) fail(c, kStepExecFifo, errno, "exec fifo");
    char zero = '0';
    if (write(fd, &zero, 1) != 1) fail(c, kStepExecFifo, errno, "exec fifo");
    close(fd);
  } else {
    wait_for(c, kSyncStart);
  }
  exec_args(c);
}

}  // namespace berth
