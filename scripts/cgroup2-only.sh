#!/usr/bin/env bash
# Runs a command as on a host whose only cgroup mount is cgroup2 at /sys/fs/cgroup (the
# v2-only layout), leaving the host as it is: in a private mount namespace the v1 and
# hybrid mounts under /sys/fs/cgroup are replaced, there only, by one cgroup2 mount.
# Which controllers that hierarchy has is the host's matter (a controller bound to a v1
# hierarchy stays there); tests that need a missing one skip and say so. Needs root.
# Usage: scripts/cgroup2-only.sh COMMAND [ARG...]
set -euo pipefail
if [ "$#" -eq 0 ]; then
  echo "usage: cgroup2-only.sh COMMAND [ARG...]" >&2
  exit 2
fi
exec unshare --mount --propagation private -- bash -c '
  set -euo pipefail
  if mountpoint -q /sys/fs/cgroup; then umount -R /sys/fs/cgroup; fi
  mount -t cgroup2 -o nosuid,nodev,noexec cgroup2 /sys/fs/cgroup
  exec "$@"
' cgroup2-only "$@"
