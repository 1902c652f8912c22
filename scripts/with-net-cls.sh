#!/usr/bin/env bash
# Runs a command as on a v1 or hybrid host that mounts the net_cls and net_prio
# controllers (this kind of host enables both in the kernel but mounts neither): in a
# private mount namespace, /sys/fs/cgroup is replaced, there only, by a tmpfs holding
# binds of the host's hierarchies plus a net_cls,net_prio hierarchy with net_cls and
# net_prio links to it, as a v1 host lays them out. The hierarchy itself is the
# kernel's, shared by every process while it exists: at the end the cgroups left in it
# are removed (deepest first) and it is unmounted, so the kernel can free it. Needs root.
# Usage: scripts/with-net-cls.sh COMMAND [ARG...]
set -euo pipefail
if [ "$#" -eq 0 ]; then
  echo "usage: with-net-cls.sh COMMAND [ARG...]" >&2
  exit 2
fi
if ! grep -qE '^net_cls\s+0\s' /proc/cgroups || ! grep -qE '^net_prio\s+0\s' /proc/cgroups; then
  echo "with-net-cls.sh: net_cls and net_prio must be enabled and not mounted already (/proc/cgroups)" >&2
  exit 1
fi
exec unshare --mount --propagation private -- bash -c '
  set -uo pipefail
  stage=$(mktemp -d /tmp/berth-net-cls-XXXXXX)
  mount -t tmpfs -o mode=755 berth-net-cls "$stage"
  for c in /sys/fs/cgroup/*; do
    name=$(basename "$c")
    mkdir "$stage/$name"
    mount --bind "$c" "$stage/$name"
  done
  mkdir "$stage/net_cls,net_prio"
  mount -t cgroup -o net_cls,net_prio berth-net-cls "$stage/net_cls,net_prio"
  ln -s net_cls,net_prio "$stage/net_cls"
  ln -s net_cls,net_prio "$stage/net_prio"
  mount --move "$stage" /sys/fs/cgroup
  rmdir "$stage"
  "$@"
  status=$?
  h=/sys/fs/cgroup/net_cls,net_prio
  find "$h" -mindepth 1 -depth -type d -exec rmdir {} \; 2>/dev/null
  left=$(find "$h" -mindepth 1 -type d)
  if [ -n "$left" ]; then echo "with-net-cls.sh: cgroups still in use, left: $left" >&2; fi
  umount "$h"
  # The kernel frees an unmounted hierarchy only when it is unmounted with no cgroup left
  # but its root, removed ones included (they die asynchronously): mount and unmount again
  # until /proc/cgroups shows net_cls unbound.
  again=$(mktemp -d /tmp/berth-net-cls-XXXXXX)
  for _ in $(seq 1 40); do
    grep -qE "^net_cls\s+0\s" /proc/cgroups && break
    sleep 0.25
    mount -t cgroup -o net_cls,net_prio berth-net-cls "$again" && umount "$again"
  done
  rmdir "$again"
  grep -qE "^net_cls\s+0\s" /proc/cgroups || echo "with-net-cls.sh: the net_cls,net_prio hierarchy is still bound" >&2
  exit $status
' with-net-cls "$@"
