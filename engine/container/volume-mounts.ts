// Which volumes a container uses and how its HostConfig reads once they are
// resolved to host directories: `-v name:/path[:opts]` in Binds (a source that is
// not an absolute path names a volume), `--mount type=volume` in Mounts (an empty
// Source is an anonymous volume, named at create), and VolumesFrom (the other
// container's binds and volumes at the same paths, read-only with `:ro`). Pure.
import type { HostConfig, MountSpec } from '../api/types.js';
import { invalidArgument } from '../errdefs/errors.js';

export interface VolumeUse {
  name: string;
  target: string;
  readOnly: boolean;
  /** `nocopy` / VolumeOptions.NoCopy: the image's content at target is not copied in. */
  noCopy: boolean;
}

/** A bind whose source is a volume name: its parts; undefined for a host path. */
export function volumeBind(bind: string): { name: string; target: string; options: string[] } | undefined {
  const [source, target, mode = ''] = bind.split(':') as [string, string?, string?];
  if (source === '' || source.startsWith('/') || target === undefined) return undefined;
  return { name: source, target, options: mode.split(',').filter((o) => o !== '') };
}

/** The volumes of a HostConfig's Binds and Mounts (not VolumesFrom: those are the other container's). */
export function volumeUses(hc: HostConfig): VolumeUse[] {
  const uses: VolumeUse[] = [];
  for (const b of hc.Binds ?? []) {
    const v = volumeBind(b);
    if (v !== undefined)
      uses.push({
        name: v.name,
        target: v.target,
        readOnly: v.options.includes('ro'),
        noCopy: v.options.includes('nocopy'),
      });
  }
  for (const m of hc.Mounts ?? []) {
    if (m.Type === 'volume' && m.Source)
      uses.push({
        name: m.Source,
        target: m.Target ?? '',
        readOnly: m.ReadOnly === true,
        noCopy: m.VolumeOptions?.NoCopy === true,
      });
  }
  return uses;
}

/** `container[:ro|rw]` → its parts. INVALID_ARGUMENT naming the entry. */
export function parseVolumesFrom(entry: string): { container: string; mode?: 'ro' | 'rw' } {
  const m = /^([^:]+)(?::(ro|rw))?$/.exec(entry);
  if (m === null) throw invalidArgument(`VolumesFrom ${JSON.stringify(entry)}: expected container[:ro|rw]`);
  return { container: m[1]!, ...(m[2] ? { mode: m[2] as 'ro' | 'rw' } : {}) };
}

/**
 * The binds and mounts another container lends through VolumesFrom: its Binds and
 * its bind and volume Mounts, each read-only or read-write when mode says so.
 */
export function lentMounts(other: HostConfig, mode: 'ro' | 'rw' | undefined): { binds: string[]; mounts: MountSpec[] } {
  const binds = (other.Binds ?? []).map((b) => {
    if (mode === undefined) return b;
    const [source, target, opts = ''] = b.split(':') as [string, string, string?];
    const kept = opts.split(',').filter((o) => o !== '' && o !== 'ro' && o !== 'rw');
    return `${source}:${target}:${[mode, ...kept].join(',')}`;
  });
  const mounts = (other.Mounts ?? [])
    .filter((m) => m.Type === 'volume' || m.Type === 'bind')
    .map((m) => (mode === undefined ? { ...m } : { ...m, ReadOnly: mode === 'ro' }));
  return { binds, mounts };
}

/** hc with every volume replaced by a bind of its host directory (mountpoint(name)). */
export function resolveVolumes(hc: HostConfig, mountpoint: (name: string) => string): HostConfig {
  const binds = (hc.Binds ?? []).map((b) => {
    const v = volumeBind(b);
    if (v === undefined) return b;
    const opts = v.options.filter((o) => o !== 'nocopy');
    return `${mountpoint(v.name)}:${v.target}${opts.length > 0 ? `:${opts.join(',')}` : ''}`;
  });
  const mounts = (hc.Mounts ?? []).map((m): MountSpec =>
    m.Type === 'volume'
      ? { Type: 'bind', Source: mountpoint(m.Source ?? ''), Target: m.Target ?? '', ReadOnly: m.ReadOnly === true }
      : m,
  );
  return { ...hc, Binds: binds, Mounts: mounts };
}
