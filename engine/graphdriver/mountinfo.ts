// Reads /proc/self/mountinfo: which mounts lie under a path (clean-up checks),
// whether a path is a mount point, and the filesystem a path lives on.
import { readFile, realpath } from 'node:fs/promises';

export interface MountEntry {
  mountPoint: string;
  fsType: string;
  source: string;
  options: string;
}

/** Octal escapes in mountinfo fields (\040 for a space, …). */
function unescape(s: string): string {
  return s.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));
}

/** All mounts of this process's mount namespace, in mount order. Cost: one read of mountinfo. */
export async function readMounts(): Promise<MountEntry[]> {
  const text = await readFile('/proc/self/mountinfo', 'utf8');
  const out: MountEntry[] = [];
  for (const line of text.split('\n')) {
    if (line === '') continue;
    const [left, right] = line.split(' - ');
    const f = left.split(' ');
    const r = (right ?? '').split(' ');
    out.push({
      mountPoint: unescape(f[4]),
      fsType: r[0] ?? '',
      source: unescape(r[1] ?? ''),
      options: `${f[5]},${r[2] ?? ''}`,
    });
  }
  return out;
}

/** Mount points at or below `dir` (resolved), deepest first (the unmount order). */
export async function mountsUnder(dir: string): Promise<string[]> {
  const real = await realpath(dir).catch(() => dir);
  const prefix = real.endsWith('/') ? real : `${real}/`;
  const points = (await readMounts()).map((m) => m.mountPoint).filter((p) => p === real || p.startsWith(prefix));
  return [...new Set(points)].sort((a, b) => b.length - a.length);
}

/** Whether `path` (resolved) is a mount point. */
export async function isMountPoint(path: string): Promise<boolean> {
  const real = await realpath(path).catch(() => path);
  return (await readMounts()).some((m) => m.mountPoint === real);
}

/** The mount `path` lives on (the longest mount point prefix of its real path). */
export async function backingMount(path: string): Promise<MountEntry> {
  const real = await realpath(path);
  let best: MountEntry | undefined;
  for (const m of await readMounts()) {
    const p = m.mountPoint;
    if (real === p || real.startsWith(p === '/' ? '/' : `${p}/`)) {
      if (best === undefined || p.length >= best.mountPoint.length) best = m;
    }
  }
  if (best === undefined) throw new Error(`no mount found for ${path}`);
  return best;
}
