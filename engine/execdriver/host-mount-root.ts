// A container without a mount namespace of its own shares the runtime's: its init
// binds the rootfs onto itself (privately), mounts the spec's mounts under it and
// chroots. Those mounts stay in the host's namespace after the init is gone, so the one
// who deletes the container removes the bind (and with it everything under it).
import { readFileSync, realpathSync } from 'node:fs';
import { isAbsolute, resolve } from 'node:path';
import { wrap } from '../errdefs/errors.js';
import { native } from '../../native/index.js';
import type { Spec } from './spec/types.js';

const MNT_DETACH = 2;

/** Where a container sharing the runtime's mount namespace binds its rootfs, and what was stacked there before. */
export interface HostMountRoot {
  /** The rootfs's real path (as /proc/self/mountinfo names it). */
  path: string;
  /** Mounts with that mount point before the container's init made its bind. */
  below: number;
}

/** Octal escapes in mountinfo fields (\040 for a space, …). */
function unescape(s: string): string {
  return s.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));
}

/** How many mounts of `mountinfo` (the text of /proc/<pid>/mountinfo) have `path` as their mount point. */
export function mountsStackedOn(mountinfo: string, path: string): number {
  let n = 0;
  for (const line of mountinfo.split('\n')) {
    const point = line.split(' ')[4];
    if (point !== undefined && unescape(point) === path) n++;
  }
  return n;
}

/**
 * For a spec with no mount namespace in linux.namespaces: the rootfs's real path and the
 * mounts stacked on it now (before the init runs); undefined for a spec with one.
 */
export function hostMountRoot(spec: Spec, bundleDir: string): HostMountRoot | undefined {
  if (spec.root === undefined || (spec.linux?.namespaces ?? []).some((ns) => ns.type === 'mount')) return undefined;
  const rootfs = isAbsolute(spec.root.path) ? spec.root.path : resolve(bundleDir, spec.root.path);
  let path = rootfs;
  try {
    path = realpathSync(rootfs);
  } catch {
    // a missing rootfs is refused by the spawn config, which names it
  }
  return { path, below: mountsStackedOn(readFileSync('/proc/self/mountinfo', 'utf8'), path) };
}

/**
 * Removes the rootfs bind the container's init made (lazily: MNT_DETACH takes the mounts
 * under it along) when it is still there, that is when more mounts are stacked on the
 * rootfs than before the container. Call it once the container's processes are gone.
 * Idempotent; an error names the subject and the path.
 */
export function releaseHostMountRoot(subject: string, root: HostMountRoot): void {
  const now = mountsStackedOn(readFileSync('/proc/self/mountinfo', 'utf8'), root.path);
  if (now <= root.below) return;
  try {
    native().umount2(root.path, MNT_DETACH);
  } catch (err) {
    throw wrap(err, `${subject}: unmount the rootfs bind ${root.path}`);
  }
}
