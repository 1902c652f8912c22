/*
 * nsloop: the namespace micro-cases of the bench, timed by a small static process of its own
 * (not the bench process, not the native addon), as an outside cross-check.
 *
 *   nsloop unshare KINDS COUNT   per op: fork a child; the child reads CLOCK_MONOTONIC around
 *                                one unshare(KINDS) and reports the difference, then _exits
 *   nsloop clone KINDS COUNT     per op: the time this process spends inside clone(KINDS|SIGCHLD)
 *                                (fork-like, no CLONE_VM); the child _exits and is reaped
 *
 * KINDS is a comma-separated list of mnt, uts, ipc, pid, net, user, cgroup ("none" for no flag).
 * One op runs first as a warm-up; then COUNT lines, one per op, each the op's time in ns.
 * Exits 1 with a message naming the op on any failure, 2 on bad arguments.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static int64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int parse_kinds(const char *text, int *flags) {
  static const struct {
    const char *name;
    int flag;
  } kinds[] = {{"mnt", CLONE_NEWNS},   {"uts", CLONE_NEWUTS},   {"ipc", CLONE_NEWIPC},      {"pid", CLONE_NEWPID},
               {"net", CLONE_NEWNET},  {"user", CLONE_NEWUSER}, {"cgroup", CLONE_NEWCGROUP}};
  *flags = 0;
  if (strcmp(text, "none") == 0) return 0;
  char buf[256];
  if (strlen(text) >= sizeof buf) return -1;
  strcpy(buf, text);
  for (char *save = NULL, *tok = strtok_r(buf, ",", &save); tok != NULL; tok = strtok_r(NULL, ",", &save)) {
    size_t i;
    for (i = 0; i < sizeof kinds / sizeof kinds[0]; i++)
      if (strcmp(tok, kinds[i].name) == 0) break;
    if (i == sizeof kinds / sizeof kinds[0]) return -1;
    *flags |= kinds[i].flag;
  }
  return 0;
}

static int reap(pid_t pid, const char *what) {
  int status;
  while (waitpid(pid, &status, 0) < 0) {
    if (errno != EINTR) {
      fprintf(stderr, "nsloop: %s: waitpid: %s\n", what, strerror(errno));
      return -1;
    }
  }
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    fprintf(stderr, "nsloop: %s: child ended with status %d\n", what, status);
    return -1;
  }
  return 0;
}

/* One unshare op: the child's own time inside unshare(2), or -1. */
static int64_t op_unshare(int flags) {
  int fds[2];
  if (pipe(fds) < 0) {
    fprintf(stderr, "nsloop: unshare: pipe: %s\n", strerror(errno));
    return -1;
  }
  pid_t pid = fork();
  if (pid < 0) {
    fprintf(stderr, "nsloop: unshare: fork: %s\n", strerror(errno));
    close(fds[0]);
    close(fds[1]);
    return -1;
  }
  if (pid == 0) {
    close(fds[0]);
    int64_t t0 = now_ns();
    int rc = unshare(flags);
    int64_t d = now_ns() - t0;
    if (rc < 0) d = -(int64_t)errno;
    _exit(write(fds[1], &d, sizeof d) == (ssize_t)sizeof d ? 0 : 3);
  }
  close(fds[1]);
  int64_t d = 0;
  ssize_t got = read(fds[0], &d, sizeof d);
  close(fds[0]);
  if (reap(pid, "unshare") < 0) return -1;
  if (got != (ssize_t)sizeof d) {
    fprintf(stderr, "nsloop: unshare: the child reported nothing\n");
    return -1;
  }
  if (d < 0) {
    fprintf(stderr, "nsloop: unshare: %s\n", strerror((int)-d));
    return -1;
  }
  return d;
}

/* One clone op: this process's time inside clone(2), or -1. */
static int64_t op_clone(int flags) {
  int64_t t0 = now_ns();
  long pid = syscall(SYS_clone, (unsigned long)flags | SIGCHLD, 0UL, NULL, NULL, 0UL);
  int64_t d = now_ns() - t0;
  if (pid == 0) _exit(0);
  if (pid < 0) {
    fprintf(stderr, "nsloop: clone: %s\n", strerror(errno));
    return -1;
  }
  return reap((pid_t)pid, "clone") < 0 ? -1 : d;
}

int main(int argc, char **argv) {
  int flags;
  char *end;
  long count = argc == 4 ? strtol(argv[3], &end, 10) : 0;
  int is_clone = argc == 4 && strcmp(argv[1], "clone") == 0;
  if (argc != 4 || (!is_clone && strcmp(argv[1], "unshare") != 0) || parse_kinds(argv[2], &flags) < 0 ||
      *end != '\0' || count < 1 || count > 1000000) {
    fprintf(stderr, "usage: nsloop unshare|clone KINDS COUNT (KINDS: mnt,uts,ipc,pid,net,user,cgroup or none)\n");
    return 2;
  }
  for (long i = 0; i <= count; i++) {
    int64_t d = is_clone ? op_clone(flags) : op_unshare(flags);
    if (d < 0) return 1;
    if (i > 0) printf("%lld\n", (long long)d);
  }
  return fflush(stdout) == 0 ? 0 : 1;
}
