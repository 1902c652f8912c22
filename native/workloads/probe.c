/* Static `probe` for berth's tests: prints, as one JSON object on stdout, what a
 * container test checks from the inside — hostname, pid, ids, capability sets,
 * open fds, mountinfo, env, cwd — and runs the checks named in its arguments:
 *   read:PATH   try to read PATH      write:PATH  try to write PATH
 *   alloc:MIB   touch MIB MiB         fork:N      fork N children, count successes
 *   sys:NAME[:ARG]  make one system call (mkdir, unshare, personality, getppid) with
 *               ARG as its flags/argument, print its return value and errno
 *   execfn      print the name the kernel was given to run this program (AT_EXECFN):
 *               the path, or /dev/fd/N when it was executed from an fd
 *   exit:CODE   exit with CODE after printing
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/mman.h>
#include <sched.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

static void json_str(const char *s) {
  putchar('"');
  for (; *s; s++) {
    unsigned char c = (unsigned char)*s;
    if (c == '"' || c == '\\') printf("\\%c", c);
    else if (c == '\n') fputs("\\n", stdout);
    else if (c == '\t') fputs("\\t", stdout);
    else if (c < 0x20) printf("\\u%04x", c);
    else putchar(c);
  }
  putchar('"');
}

static char *slurp(const char *path) {
  static char buf[1 << 20];
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return NULL;
  size_t len = 0;
  ssize_t n;
  while (len + 1 < sizeof buf && (n = read(fd, buf + len, sizeof buf - 1 - len)) > 0) len += (size_t)n;
  close(fd);
  buf[len] = '\0';
  return buf;
}

static void status_field(const char *status, const char *key) {
  const char *p = status ? strstr(status, key) : NULL;
  if (!p) {
    fputs("null", stdout);
    return;
  }
  p += strlen(key);
  while (*p == ':' || *p == '\t' || *p == ' ') p++;
  char val[128];
  size_t i = 0;
  while (p[i] && p[i] != '\n' && i + 1 < sizeof val) {
    val[i] = p[i];
    i++;
  }
  val[i] = '\0';
  json_str(val);
}

static void errno_field(int err) {
  const char *name = strerrorname_np(err);
  json_str(name ? name : "E?");
}

static void check_sys(const char *spec) {
  char name[32];
  const char *colon = strchr(spec, ':');
  size_t n = colon ? (size_t)(colon - spec) : strlen(spec);
  if (n >= sizeof name) n = sizeof name - 1;
  memcpy(name, spec, n);
  name[n] = '\0';
  unsigned long arg = colon ? strtoul(colon + 1, NULL, 0) : 0;
  long rc = -1;
  int err = ENOSYS;
  errno = 0;
  if (strcmp(name, "mkdir") == 0) {
    rc = mkdir("/dev/shm/probe-sys-mkdir", 0755);
    err = errno;
    if (rc == 0) rmdir("/dev/shm/probe-sys-mkdir");
  } else if (strcmp(name, "unshare") == 0) {
    rc = unshare((int)arg);
    err = errno;
  } else if (strcmp(name, "personality") == 0) {
    rc = syscall(SYS_personality, arg);
    err = errno;
  } else if (strcmp(name, "getppid") == 0) {
    rc = syscall(SYS_getppid);
    err = errno;
  }
  printf("{\"op\":\"sys\",\"name\":");
  json_str(name);
  printf(",\"ret\":%ld,\"ok\":%s,\"errno\":", rc, rc < 0 ? "false" : "true");
  if (rc < 0) errno_field(err);
  else fputs("null", stdout);
  putchar('}');
}

static void check_read(const char *path) {
  printf("{\"op\":\"read\",\"path\":");
  json_str(path);
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    int err = errno;
    printf(",\"ok\":false,\"errno\":");
    errno_field(err);
    putchar('}');
    return;
  }
  char buf[4096], text[257];
  ssize_t total = 0, n;
  while ((n = read(fd, buf, sizeof buf)) > 0) {
    if (total < 256) memcpy(text + total, buf, (size_t)(n < 256 - total ? n : 256 - total));
    total += n;
  }
  int err = errno;
  close(fd);
  text[total < 256 ? total : 256] = '\0';
  if (n < 0) {
    printf(",\"ok\":false,\"errno\":");
    errno_field(err);
  } else {
    printf(",\"ok\":true,\"bytes\":%zd,\"text\":", total);
    json_str(text);
  }
  putchar('}');
}

static void check_write(const char *path) {
  printf("{\"op\":\"write\",\"path\":");
  json_str(path);
  int fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
  int err = errno;
  ssize_t n = -1;
  if (fd >= 0) {
    n = write(fd, "1", 1);
    err = errno;
    close(fd);
  }
  if (n == 1) {
    printf(",\"ok\":true}");
  } else {
    printf(",\"ok\":false,\"errno\":");
    errno_field(err);
    putchar('}');
  }
}

static void check_alloc(long mib) {
  size_t len = (size_t)mib << 20;
  char *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) {
    printf("{\"op\":\"alloc\",\"ok\":false}");
    return;
  }
  for (size_t i = 0; i < len; i += 4096) p[i] = 1;
  printf("{\"op\":\"alloc\",\"ok\":true,\"mib\":%ld}", mib);
}

static void check_fork(long n) {
  long ok = 0;
  int err = 0;
  pid_t pids[4096];
  for (long i = 0; i < n && i < 4096; i++) {
    pid_t pid = fork();
    if (pid == 0) {
      pause();
      _exit(0);
    }
    if (pid < 0) {
      err = errno;
      break;
    }
    pids[ok++] = pid;
  }
  for (long i = 0; i < ok; i++) kill(pids[i], SIGKILL);
  for (long i = 0; i < ok; i++) waitpid(pids[i], NULL, 0);
  printf("{\"op\":\"fork\",\"forked\":%ld,\"errno\":", ok);
  if (err) errno_field(err);
  else fputs("null", stdout);
  putchar('}');
}

static void check_execfn(void) {
  const char *fn = (const char *)getauxval(AT_EXECFN);
  printf("{\"op\":\"execfn\",\"ok\":%s,\"text\":", fn != NULL ? "true" : "false");
  json_str(fn != NULL ? fn : "");
  putchar('}');
}

int main(int argc, char **argv) {
  int code = 0;
  /* Checks may print between fields: run them into a buffer first. */
  char *checks = NULL;
  size_t checks_len = 0;
  FILE *real = stdout;
  stdout = open_memstream(&checks, &checks_len);
  int first = 1;
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    if (!first && strncmp(a, "exit:", 5) != 0) putchar(',');
    if (strncmp(a, "read:", 5) == 0) check_read(a + 5);
    else if (strncmp(a, "write:", 6) == 0) check_write(a + 6);
    else if (strncmp(a, "alloc:", 6) == 0) check_alloc(atol(a + 6));
    else if (strncmp(a, "fork:", 5) == 0) check_fork(atol(a + 5));
    else if (strncmp(a, "sys:", 4) == 0) check_sys(a + 4);
    else if (strcmp(a, "execfn") == 0) check_execfn();
    else if (strncmp(a, "exit:", 5) == 0) {
      code = atoi(a + 5);
      continue;
    } else {
      printf("{\"op\":\"unknown\",\"arg\":");
      json_str(a);
      putchar('}');
    }
    first = 0;
  }
  fclose(stdout);
  stdout = real;

  /* fds first, before this program opens anything else. */
  char fds[512] = "";
  DIR *d = opendir("/proc/self/fd");
  if (d) {
    struct dirent *e;
    int dirfd_ = dirfd(d);
    size_t n = 0;
    while ((e = readdir(d)) != NULL) {
      if (e->d_name[0] == '.') continue;
      if (atoi(e->d_name) == dirfd_) continue;
      n += (size_t)snprintf(fds + n, sizeof fds - n, "%s%s", n ? "," : "", e->d_name);
      if (n >= sizeof fds) break;
    }
    closedir(d);
  }

  char host[256] = "";
  gethostname(host, sizeof host);
  char dom[256] = "";
  getdomainname(dom, sizeof dom);
  char cwd[4096] = "";
  if (!getcwd(cwd, sizeof cwd)) strcpy(cwd, "?");
  gid_t groups[256];
  int ng = getgroups(256, groups);

  printf("{\"hostname\":");
  json_str(host);
  printf(",\"domainname\":");
  json_str(dom);
  printf(",\"pid\":%d,\"ppid\":%d,\"uid\":%d,\"gid\":%d,\"euid\":%d,\"egid\":%d,\"groups\":[", getpid(), getppid(),
         getuid(), getgid(), geteuid(), getegid());
  for (int i = 0; i < ng; i++) printf("%s%d", i ? "," : "", groups[i]);
  printf("],\"fds\":[%s],\"cwd\":", fds);
  json_str(cwd);
  char *status = slurp("/proc/self/status");
  const char *keys[] = {"CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb", "NoNewPrivs", "Umask", "Seccomp"};
  for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
    printf(",\"%s\":", keys[i]);
    char key[32];
    snprintf(key, sizeof key, "\n%s:", keys[i]);
    status_field(status, key);
  }
  struct rlimit rl;
  getrlimit(RLIMIT_NOFILE, &rl);
  printf(",\"nofile\":[%llu,%llu]", (unsigned long long)rl.rlim_cur, (unsigned long long)rl.rlim_max);
  printf(",\"env\":[");
  for (char **e = environ; *e; e++) {
    if (e != environ) putchar(',');
    json_str(*e);
  }
  printf("],\"args\":[");
  for (int i = 0; i < argc; i++) {
    if (i) putchar(',');
    json_str(argv[i]);
  }
  printf("],\"ns\":{");
  const char *nss[] = {"net", "uts", "ipc", "mnt", "pid", "user", "cgroup"};
  for (size_t i = 0; i < sizeof nss / sizeof nss[0]; i++) {
    char path[64], link[128];
    snprintf(path, sizeof path, "/proc/self/ns/%s", nss[i]);
    ssize_t n = readlink(path, link, sizeof link - 1);
    link[n > 0 ? n : 0] = '\0';
    printf("%s\"%s\":", i ? "," : "", nss[i]);
    json_str(link);
  }
  printf("},\"mountinfo\":");
  char *mi = slurp("/proc/self/mountinfo");
  if (mi) json_str(mi);
  else fputs("null", stdout);
  printf(",\"checks\":[%s]}\n", checks ? checks : "");
  fflush(stdout);
  return code;
}
