// Finds the host's cgroup layout from /proc/self/mountinfo: v1 controllers and where
// each is mounted, and the cgroup2 mount, so the manager can pick its backend once.
import { readFileSync } from 'node:fs';
import { unavailable } from '../../errdefs/errors.js';
import type { CgroupMode } from './types.js';

export interface CgroupLayout {
  mode: CgroupMode;
  /** v1 controller name → its hierarchy's mount point (co-mounted controllers share one). */
  v1: Map<string, string>;
  /** The cgroup2 mount point, if any. */
  unified: string | undefined;
}

/** Parses mountinfo text (one line per mount; fields per proc(5)). */
export function parseLayout(mountinfo: string): CgroupLayout {
  const v1 = new Map<string, string>();
  let unified: string | undefined;
  for (const line of mountinfo.split('\n')) {
    const sep = line.indexOf(' - ');
    if (sep < 0) continue;
    const left = line.slice(0, sep).split(' ');
    const [fstype, , superOptions = ''] = line.slice(sep + 3).split(' ');
    const mountPoint = (left[4] ?? '').replace(/\\040/g, ' ');
    if (fstype === 'cgroup2') {
      if (unified === undefined || mountPoint === '/sys/fs/cgroup') unified = mountPoint;
    } else if (fstype === 'cgroup') {
      for (const opt of superOptions.split(',')) {
        if (
          opt === 'rw' ||
          opt === 'ro' ||
          opt.includes('=') ||
          opt === 'clone_children' ||
          opt === 'noprefix' ||
          opt === 'xattr'
        )
          continue;
        if (!v1.has(opt)) v1.set(opt, mountPoint);
      }
    }
  }
  const mode: CgroupMode = v1.size > 0 ? (unified !== undefined ? 'hybrid' : 'v1') : 'v2';
  return { mode, v1, unified };
}

/** One mounted cgroup hierarchy, as a container's "cgroup" mount shows it. */
export interface CgroupHierarchy {
  /** Where the host mounts it. */
  mountPoint: string;
  /** Its controllers as /proc/<pid>/cgroup lists them ("cpu,cpuacct", "name=systemd"); "" for cgroup2. */
  key: string;
  v2: boolean;
}

/** Every cgroup hierarchy in mountinfo text, once each (the first mount of it), v1 first. */
export function parseHierarchies(mountinfo: string): CgroupHierarchy[] {
  const out: CgroupHierarchy[] = [];
  const seen = new Set<string>();
  for (const line of mountinfo.split('\n')) {
    const sep = line.indexOf(' - ');
    if (sep < 0) continue;
    const left = line.slice(0, sep).split(' ');
    const [fstype, , superOptions = ''] = line.slice(sep + 3).split(' ');
    if (fstype !== 'cgroup' && fstype !== 'cgroup2') continue;
    // Only a hierarchy's root mount: a bind of a subtree would show a container a wrong root.
    if (left[3] !== '/') continue;
    const v2 = fstype === 'cgroup2';
    const key = v2
      ? ''
      : superOptions
          .split(',')
          .filter(
            (o) => !['rw', 'ro', 'clone_children', 'noprefix', 'xattr'].includes(o) && !o.startsWith('release_agent='),
          )
          .join(',');
    if (seen.has(key)) continue;
    seen.add(key);
    out.push({ mountPoint: (left[4] ?? '').replace(/\\040/g, ' '), key, v2 });
  }
  return out.sort((a, b) => Number(a.v2) - Number(b.v2));
}

/** This host's layout (one procfs read). Fails UNAVAILABLE when no cgroup is mounted at all. */
export function detectLayout(): CgroupLayout {
  const layout = parseLayout(readFileSync('/proc/self/mountinfo', 'utf8'));
  if (layout.v1.size === 0 && layout.unified === undefined)
    throw unavailable('cgroups: no cgroup or cgroup2 filesystem is mounted on this host');
  return layout;
}
