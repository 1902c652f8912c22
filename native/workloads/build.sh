#!/bin/sh
# Builds berth's tiny static workload binaries (true, sleep, probe, echo, escape,
# http-server, tcp-sink, tcp-source, tty, init) into native/workloads/bin/, for test and
# benchmark root filesystems, and two host tools that are not copied into root filesystems:
# nsloop, the namespaces suite's outside cross-check, and netns-floor, the network suite's
# kernel reference. Needs gcc and the static libc (Debian: libc6-dev).
# Run by the package's install step.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
out="$here/bin"
mkdir -p "$out"
cc=${CC:-gcc}
for name in true sleep probe echo http-server tcp-sink tcp-source tty init escape nsloop netns-floor; do
  "$cc" -static -O2 -s -Wall -Wextra -o "$out/$name.tmp" "$here/$name.c"
  mv -f "$out/$name.tmp" "$out/$name"
done
