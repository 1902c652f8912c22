// A readable name for the kind of machine a run was made on, from the same fields as
// the host fingerprint: committed baselines are filed under it.
import type { HostInfo } from '../results/document.js';

/**
 * `x64-2cpu-24gib-ext4-cgroup-hybrid`: arch, logical CPUs, memory rounded to GiB, the
 * data root's filesystem and the cgroup layout, lower-case, `[a-z0-9.-]` only. Two
 * hosts of one class may still differ in CPU model or kernel (the fingerprint tells);
 * compare warns then. Pure.
 */
export function hostClass(host: HostInfo): string {
  const gib = Math.round(host.memoryBytes / 2 ** 30);
  return [host.arch, `${host.cpu.cores}cpu`, `${gib}gib`, host.dataRoot.filesystem, 'cgroup', host.cgroup.version]
    .join('-')
    .toLowerCase()
    .replace(/[^a-z0-9.-]+/g, '-');
}

/** Where the baseline of a run's host class and profile lives, relative to the repository root. */
export function baselinePath(host: HostInfo, profile: string): string {
  return `results/baselines/${hostClass(host)}/${profile}.json`;
}
