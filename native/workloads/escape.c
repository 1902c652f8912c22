/* Static `escape` for berth's isolation tests: tries, from inside a container, what
 * Docker's defaults must refuse, and prints one JSON object on stdout naming each
 * attempt with its result (ok, or the errno name):
 *   mount          mount a tmpfs on a fresh directory under /tmp
 *   mount-bind     bind-mount / onto it
 *   unshare-user   unshare(CLONE_NEWUSER), as `unshare -U` does
 *   unshare-mount  unshare(CLONE_NEWNS)
 *   init_module    load a (garbage) module image: EPERM when refused, ENOEXEC/EINVAL when the kernel looked at it
 *   finit_module   the same from an fd (/dev/null)
 *   delete_module  remove a module that does not exist: EPERM when refused, ENOENT when the kernel looked
 * Arguments add attempts:
 *   procexe        every other process in sight: readlink of /proc/<pid>/exe, open of it for reading and for writing
 *   open-w:PATH    open PATH for writing (no create, no write)
 *   mknod:MAJ:MIN  make a block device node of the host's device MAJ:MIN under /tmp ("mknod MAJ:MIN"), open it
 *                  for reading ("open-dev MAJ:MIN", only when made) and remove it again
 * Nothing here changes anything lasting, refused or not: the module images are garbage, the mounts go onto a
 * directory this program made and are undone at once.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/syscall.h>
#include <unistd.h>

static int first = 1;

static void json_str(const char *s) {
  putchar('"');
  for (; *s; s++) {
    unsigned char c = (unsigned char)*s;
    if (c == '"' || c == '\\') printf("\\%c", c);
    else if (c < 0x20) printf("\\u%04x", c);
    else putchar(c);
  }
  putchar('"');
}

/* One attempt: its name, whether the call succeeded, and its errno name when not. */
static void report(const char *name, long rc, int err) {
  printf("%s{\"name\":", first ? "" : ",");
  first = 0;
  json_str(name);
  printf(",\"ok\":%s,\"errno\":", rc < 0 ? "false" : "true");
  if (rc < 0) {
    const char *e = strerrorname_np(err);
    json_str(e ? e : "E?");
  } else {
    fputs("null", stdout);
  }
  putchar('}');
}

static void try_open(const char *label, const char *path, int flags) {
  errno = 0;
  int fd = open(path, flags | O_CLOEXEC);
  int err = errno;
  char name[300];
  snprintf(name, sizeof name, "%s %s", label, path);
  report(name, fd, err);
  if (fd >= 0) close(fd);
}

static void proc_exe(void) {
  DIR *d = opendir("/proc");
  if (!d) {
    report("procexe /proc", -1, errno);
    return;
  }
  pid_t self = getpid();
  struct dirent *e;
  while ((e = readdir(d)) != NULL) {
    if (e->d_name[0] < '0' || e->d_name[0] > '9' || atoi(e->d_name) == self) continue;
    char path[300], link[4096], name[4500];
    snprintf(path, sizeof path, "/proc/%s/exe", e->d_name);
    errno = 0;
    ssize_t n = readlink(path, link, sizeof link - 1);
    int err = errno;
    link[n > 0 ? n : 0] = '\0';
    snprintf(name, sizeof name, "readlink %s -> %s", path, link);
    report(name, n, err);
    try_open("open-r", path, O_RDONLY);
    try_open("open-w", path, O_WRONLY);
  }
  closedir(d);
}

static void attempt(const char *name, long (*call)(void)) {
  errno = 0;
  long rc = call();
  report(name, rc, errno);
}

static char dir[] = "/tmp/escape-XXXXXX";

static long do_mount(void) {
  long rc = mount("none", dir, "tmpfs", 0, "size=1m");
  if (rc == 0) umount2(dir, MNT_DETACH);
  return rc;
}

static long do_bind(void) {
  long rc = mount("/", dir, NULL, MS_BIND, NULL);
  if (rc == 0) umount2(dir, MNT_DETACH);
  return rc;
}

static long do_unshare_user(void) { return unshare(CLONE_NEWUSER); }
static long do_unshare_mount(void) { return unshare(CLONE_NEWNS); }

static long do_init_module(void) {
  static const char garbage[64] = "not a module";
  return syscall(SYS_init_module, garbage, sizeof garbage, "");
}

static long do_finit_module(void) {
  int null = open("/dev/null", O_RDONLY | O_CLOEXEC);
  if (null < 0) return -1;
  long rc = syscall(SYS_finit_module, null, "", 0);
  int err = errno;
  close(null);
  errno = err;
  return rc;
}

static long do_delete_module(void) { return syscall(SYS_delete_module, "berth_escape_no_such_module", O_NONBLOCK); }

static void try_mknod(const char *spec) {
  unsigned maj = 0, min = 0;
  char name[300], node[] = "/tmp/escape-dev-XXXXXX";
  snprintf(name, sizeof name, "mknod %s", spec);
  if (sscanf(spec, "%u:%u", &maj, &min) != 2) {
    report(name, -1, EINVAL);
    return;
  }
  int tmp = mkstemp(node);
  if (tmp < 0) {
    report(name, -1, errno);
    return;
  }
  close(tmp);
  unlink(node);
  errno = 0;
  long rc = mknod(node, S_IFBLK | 0600, makedev(maj, min));
  report(name, rc, errno);
  if (rc == 0) {
    snprintf(name, sizeof name, "open-dev %s", spec);
    errno = 0;
    int fd = open(node, O_RDONLY | O_CLOEXEC);
    report(name, fd, errno);
    if (fd >= 0) close(fd);
    unlink(node);
  }
}

int main(int argc, char **argv) {
  printf("{\"attempts\":[");
  if (mkdtemp(dir) == NULL) {
    report("mkdtemp /tmp/escape-XXXXXX", -1, errno);
  } else {
    attempt("mount", do_mount);
    attempt("mount-bind", do_bind);
    rmdir(dir);
  }
  attempt("unshare-user", do_unshare_user);
  attempt("unshare-mount", do_unshare_mount);
  attempt("init_module", do_init_module);
  attempt("finit_module", do_finit_module);
  attempt("delete_module", do_delete_module);
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "procexe") == 0) proc_exe();
    else if (strncmp(argv[i], "open-w:", 7) == 0) try_open("open-w", argv[i] + 7, O_WRONLY);
    else if (strncmp(argv[i], "mknod:", 6) == 0) try_mknod(argv[i] + 6);
  }
  printf("]}\n");
  fflush(stdout);
  return 0;
}
