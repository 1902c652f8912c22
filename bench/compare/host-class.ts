// A readable name for the kind of machine a run was made on, from the same fields as
// the host fingerprint: committed baselines are filed under it.
import { invalidArgument } from '../../engine/errdefs/errors.js';
import type { HostInfo } from '../results/document.js';

/**
 * `x64-2cpu-24gib-ext4-cgroup-hybrid`: arch, logical CPUs, memory rounded to GiB, the
 * data root's filesystem and the cgroup layout, lower-case, `[a-z0-9.-]` only. Two
 * hosts of one class may still differ in CPU model or kernel (the fingerprint tells);
 * compare warns then. Fails with INVALID_ARGUMENT when the core count is unknown
 * (null): such a run belongs to no class and is never filed as a baseline. Pure.
 */
export function hostClass(host: HostInfo): string {
  if (host.cpu.cores === null)
    throw invalidArgument(
      `host ${host.hostname}: core count unknown, so the run has no host class (it cannot be a baseline)`,
    );
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
