#!/usr/bin/env bash
# Fills DIR with links to the commands a fresh Debian host has — those of packages of
# priority required or important, plus node, npm and the native build's compilers
# (README "Requirements") — so `PATH=DIR` runs the tests as such a host would, with
# every optional tool (docker, crun, iperf3, skopeo, chromium, …) out of sight.
# Usage: scripts/base-path.sh DIR
set -euo pipefail
dir=${1:?usage: base-path.sh DIR}
mkdir -p "$dir"
mapfile -t base < <(dpkg-query -W -f='${Package} ${Priority}\n' | awk '$2 == "required" || $2 == "important" { print $1 }')
dpkg-query -L "${base[@]}" 2>/dev/null | grep -E '^(/usr)?/s?bin/[^/]+$' | sort -u | while read -r f; do
  if [ -x "$f" ] && [ ! -d "$f" ]; then ln -sfn "$f" "$dir/${f##*/}"; fi
done
for cmd in node npm npx gcc cc g++ c++ make python3; do
  p=$(command -v "$cmd" || true)
  if [ -n "$p" ]; then ln -sfn "$p" "$dir/$cmd"; fi
done
