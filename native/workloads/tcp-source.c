/* Static TCP source for berth's network benchmarks: `tcp-source HOST PORT BYTES`
 * connects to the IPv4 address HOST and writes BYTES bytes, then closes. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

int main(int argc, char **argv) {
  if (argc < 4) {
    fprintf(stderr, "usage: tcp-source HOST PORT BYTES\n");
    return 2;
  }
  struct sockaddr_in addr;
  memset(&addr, 0, sizeof addr);
  addr.sin_family = AF_INET;
  int port = atoi(argv[2]);
  char *end;
  unsigned long long left = strtoull(argv[3], &end, 10);
  if (inet_pton(AF_INET, argv[1], &addr.sin_addr) != 1 || port <= 0 || port > 65535 || *end != '\0') {
    fprintf(stderr, "tcp-source: bad address, port or byte count\n");
    return 2;
  }
  addr.sin_port = htons((unsigned short)port);
  signal(SIGPIPE, SIG_IGN);
  int s = socket(AF_INET, SOCK_STREAM, 0);
  if (s < 0 || connect(s, (struct sockaddr *)&addr, sizeof addr) < 0) {
    perror("tcp-source: connect");
    return 1;
  }
  static char buf[1 << 16];
  memset(buf, 'z', sizeof buf);
  while (left > 0) {
    size_t n = left < sizeof buf ? (size_t)left : sizeof buf;
    ssize_t w = write(s, buf, n);
    if (w < 0) {
      if (errno == EINTR) continue;
      perror("tcp-source: write");
      return 1;
    }
    left -= (unsigned long long)w;
  }
  if (close(s) < 0) {
    perror("tcp-source: close");
    return 1;
  }
  return 0;
}
