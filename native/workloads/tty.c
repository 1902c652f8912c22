/* Static `tty` for berth's terminal tests: prints one JSON line saying whether fds
 * 0-2 are terminals, the name and owner of fd 0's terminal, the window size and
 * whether fd 0 is the controlling terminal of this process's session; then echoes
 * argv[1] if given. */
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <termios.h>
#include <unistd.h>

int main(int argc, char **argv) {
  char name[256];
  ssize_t n = readlink("/proc/self/fd/0", name, sizeof name - 1);
  name[n < 0 ? 0 : n] = '\0';
  struct winsize ws;
  memset(&ws, 0, sizeof ws);
  int has_size = ioctl(0, TIOCGWINSZ, &ws) == 0;
  pid_t fg = tcgetpgrp(0);
  struct stat st;
  long owner = fstat(0, &st) == 0 ? (long)st.st_uid : -1;
  printf("{\"isatty\":[%d,%d,%d],\"name\":\"%s\",\"rows\":%d,\"cols\":%d,\"ctty\":%d,\"sid\":%d,\"pid\":%d,\"uid\":%d,\"owner\":%ld}\n",
         isatty(0), isatty(1), isatty(2), name, has_size ? ws.ws_row : -1, has_size ? ws.ws_col : -1,
         fg == getpgrp(), (int)getsid(0), (int)getpid(), (int)getuid(), owner);
  if (argc > 1) printf("%s\n", argv[1]);
  fflush(stdout);
  return 0;
}
