/* berth's container init (`--init`, HostConfig.Init): a static pid 1 that runs
 * the container's command as its child, forwards every signal it gets to that
 * child, reaps every process that ends up reparented to it (so no zombie piles
 * up), and exits with the child's status: its exit code, or 128 + the signal
 * that killed it, as Docker's docker-init (tini) does.
 *   usage: init [--] COMMAND [ARG...]
 * All signals stay blocked in pid 1 and are taken with sigwaitinfo, so no handler
 * runs and no signal is lost between a wait and the next one.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

int main(int argc, char **argv) {
  int first = 1;
  if (first < argc && strcmp(argv[first], "--") == 0) first++;
  if (first >= argc) {
    fprintf(stderr, "init: usage: init [--] COMMAND [ARG...]\n");
    return 2;
  }
  sigset_t all, old;
  sigfillset(&all);
  if (sigprocmask(SIG_BLOCK, &all, &old) < 0) {
    fprintf(stderr, "init: sigprocmask: %s\n", strerror(errno));
    return 1;
  }
  pid_t child = fork();
  if (child < 0) {
    fprintf(stderr, "init: fork: %s\n", strerror(errno));
    return 1;
  }
  if (child == 0) {
    /* the command gets the signal mask and dispositions pid 1 was started with */
    sigprocmask(SIG_SETMASK, &old, NULL);
    execvp(argv[first], argv + first);
    int err = errno;
    fprintf(stderr, "init: exec %s: %s\n", argv[first], strerror(err));
    _exit(err == ENOENT || err == ENOTDIR ? 127 : 126);
  }
  for (;;) {
    siginfo_t info;
    int sig = sigwaitinfo(&all, &info);
    if (sig < 0) {
      if (errno == EINTR) continue;
      fprintf(stderr, "init: sigwaitinfo: %s\n", strerror(errno));
      return 1;
    }
    if (sig != SIGCHLD) {
      /* the child may be gone already (ESRCH): then its SIGCHLD is pending */
      kill(child, sig);
      continue;
    }
    for (;;) {
      int status;
      pid_t p = waitpid(-1, &status, WNOHANG);
      if (p <= 0) break;
      if (p != child) continue;
      if (WIFEXITED(status)) return WEXITSTATUS(status);
      if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
    }
  }
}
