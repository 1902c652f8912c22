/* Static `sleep` for berth's test images: sleeps argv[1] seconds (fractions allowed),
 * forever without an argument. */
#include <stdlib.h>
#include <time.h>

int main(int argc, char **argv) {
  double secs = argc > 1 ? strtod(argv[1], NULL) : -1;
  struct timespec ts;
  for (;;) {
    if (secs < 0) {
      ts.tv_sec = 3600;
      ts.tv_nsec = 0;
    } else {
      ts.tv_sec = (time_t)secs;
      ts.tv_nsec = (long)((secs - (double)ts.tv_sec) * 1e9);
    }
    while (nanosleep(&ts, &ts) != 0) {
    }
    if (secs >= 0) return 0;
  }
}
