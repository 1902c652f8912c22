/* Static HTTP/1.1 server for berth's run and network benchmarks:
 * `http-server PORT [BODY_BYTES]` listens on all addresses of the container's
 * network namespace and answers GET / with BODY_BYTES bytes of 'x' (default 2),
 * keeping connections alive; other paths get 404. Prints "listening PORT" once ready.
 * A response leaves in one segment where it fits: the head is sent with MSG_MORE when a
 * body follows, and TCP_NODELAY is set, so that a kept-alive client does not wait for a
 * delayed ACK (Nagle's algorithm holding the body behind the head's unacknowledged segment). */
#define _GNU_SOURCE
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

static char *body;
static long body_len;

static int send_all(int fd, const char *p, size_t n, int flags) {
  while (n > 0) {
    ssize_t w = send(fd, p, n, flags);
    if (w < 0) {
      if (errno == EINTR) continue;
      return -1;
    }
    p += w;
    n -= (size_t)w;
  }
  return 0;
}

/* Serves requests on one connection until the peer closes or asks to close. */
static void serve(int fd) {
  char buf[8192];
  size_t have = 0;
  for (;;) {
    char *end = NULL;
    while ((end = memmem(buf, have, "\r\n\r\n", 4)) == NULL) {
      if (have == sizeof buf) return;
      ssize_t r = read(fd, buf + have, sizeof buf - have);
      if (r <= 0) return;
      have += (size_t)r;
    }
    size_t head = (size_t)(end - buf) + 4;
    int root = strncmp(buf, "GET / ", 6) == 0 || strncmp(buf, "HEAD / ", 7) == 0;
    int is_head = strncmp(buf, "HEAD ", 5) == 0;
    int close_after = memmem(buf, head, "Connection: close", 17) != NULL || memmem(buf, head, "connection: close", 17) != NULL;
    char hdr[256];
    long len = root ? body_len : 10;
    int n = snprintf(hdr, sizeof hdr, "HTTP/1.1 %s\r\nContent-Type: text/plain\r\nContent-Length: %ld\r\n%s\r\n", root ? "200 OK" : "404 Not Found", len,
                     close_after ? "Connection: close\r\n" : "");
    int more = !is_head && len > 0 ? MSG_MORE : 0;
    if (send_all(fd, hdr, (size_t)n, more) < 0) return;
    if (!is_head && send_all(fd, root ? body : "not found\n", (size_t)len, 0) < 0) return;
    if (close_after) return;
    memmove(buf, buf + head, have - head);
    have -= head;
  }
}

int main(int argc, char **argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: http-server PORT [BODY_BYTES]\n");
    return 2;
  }
  int port = atoi(argv[1]);
  body_len = argc > 2 ? atol(argv[2]) : 2;
  if (port <= 0 || port > 65535 || body_len < 0) {
    fprintf(stderr, "http-server: bad port or body size\n");
    return 2;
  }
  body = malloc((size_t)body_len + 1);
  if (body == NULL) return 1;
  memset(body, 'x', (size_t)body_len);
  if (body_len > 0) body[body_len - 1] = '\n';
  signal(SIGPIPE, SIG_IGN);
  signal(SIGCHLD, SIG_IGN);
  int s = socket(AF_INET, SOCK_STREAM, 0);
  int one = 1;
  setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  struct sockaddr_in addr;
  memset(&addr, 0, sizeof addr);
  addr.sin_family = AF_INET;
  addr.sin_port = htons((unsigned short)port);
  addr.sin_addr.s_addr = htonl(INADDR_ANY);
  if (s < 0 || bind(s, (struct sockaddr *)&addr, sizeof addr) < 0 || listen(s, 128) < 0) {
    perror("http-server: listen");
    return 1;
  }
  printf("listening %d\n", port);
  fflush(stdout);
  for (;;) {
    int c = accept(s, NULL, NULL);
    if (c < 0) {
      if (errno == EINTR) continue;
      perror("http-server: accept");
      return 1;
    }
    setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    pid_t pid = fork();
    if (pid == 0) {
      close(s);
      serve(c);
      _exit(0);
    }
    close(c);
  }
}
