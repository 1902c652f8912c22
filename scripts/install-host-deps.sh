#!/usr/bin/env bash
# Installs the Debian packages berth's tests and benchmarks use. Each is optional
# for berth itself; what each unlocks is listed in README.md ("Requirements").
set -euo pipefail
packages=(
  iproute2 iptables util-linux kmod   # networkdriver, loop devices, mounts
  openssl curl                         # token-auth certificates, HTTP workload checks
  btrfs-progs xfsprogs e2fsprogs       # btrfs graphdriver, loop-mounted backing stores
  skopeo umoci docker-registry         # registry interop tests and pull peers
  zstd tar gcc libc6-dev linux-libc-dev  # zstd layers, GNU tar reference, static workloads, syscall table
  docker.io runc crun                  # peer engines and runtimes
  podman                               # third engine of the pull and workload suites
  netavark                             # podman's bridge network (published ports, density)
  busybox-static                       # a small real userland for runtime lifecycle tests
  iperf3 hyperfine                     # network throughput, CLI timing
  chromium                             # notebook rendering check
  debootstrap                          # realistic base layers for the corpus
  strace                               # the atomic writer's fsync order test
)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ "${#missing[@]}" -eq 0 ]; then
  echo "host packages: all present"
  exit 0
fi
echo "host packages: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}"
