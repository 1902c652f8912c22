/* Static TCP sink for berth's network benchmarks: `tcp-sink PORT [ADDR]` accepts one
 * connection on ADDR (an IPv4 address, 127.0.0.1 by default; 0.0.0.0 inside a
 * container's namespace), reads and discards until the peer closes, then prints
 * "BYTES SECONDS" (seconds from accept to end of stream). Prints "listening PORT" once ready. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

int main(int argc, char **argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: tcp-sink PORT [ADDR]\n");
    return 2;
  }
  int port = atoi(argv[1]);
  if (port <= 0 || port > 65535) {
    fprintf(stderr, "tcp-sink: bad port %s\n", argv[1]);
    return 2;
  }
  int s = socket(AF_INET, SOCK_STREAM, 0);
  int one = 1;
  setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  struct sockaddr_in addr;
  memset(&addr, 0, sizeof addr);
  addr.sin_family = AF_INET;
  addr.sin_port = htons((unsigned short)port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (argc > 2 && inet_pton(AF_INET, argv[2], &addr.sin_addr) != 1) {
    fprintf(stderr, "tcp-sink: bad address %s\n", argv[2]);
    return 2;
  }
  if (s < 0 || bind(s, (struct sockaddr *)&addr, sizeof addr) < 0 || listen(s, 1) < 0) {
    perror("tcp-sink: listen");
    return 1;
  }
  printf("listening %d\n", port);
  fflush(stdout);
  int c;
  while ((c = accept(s, NULL, NULL)) < 0) {
    if (errno != EINTR) {
      perror("tcp-sink: accept");
      return 1;
    }
  }
  struct timespec t0, t1;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  static char buf[1 << 16];
  unsigned long long total = 0;
  for (;;) {
    ssize_t r = read(c, buf, sizeof buf);
    if (r == 0) break;
    if (r < 0) {
      if (errno == EINTR) continue;
      perror("tcp-sink: read");
      return 1;
    }
    total += (unsigned long long)r;
  }
  clock_gettime(CLOCK_MONOTONIC, &t1);
  double secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
  printf("%llu %.6f\n", total, secs);
  return 0;
}
