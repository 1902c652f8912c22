/* Static `echo` for berth's test images: prints its arguments separated by
 * spaces and a newline, like /bin/echo without options. */
#include <string.h>
#include <unistd.h>

static int put(const char *s, size_t n) {
  while (n > 0) {
    ssize_t w = write(1, s, n);
    if (w < 0) return -1;
    s += w;
    n -= (size_t)w;
  }
  return 0;
}

int main(int argc, char **argv) {
  for (int i = 1; i < argc; i++) {
    if (i > 1 && put(" ", 1) < 0) return 1;
    if (put(argv[i], strlen(argv[i])) < 0) return 1;
  }
  return put("\n", 1) < 0 ? 1 : 0;
}
