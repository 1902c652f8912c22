// berthd's `--userns-remap`: which subordinate ids a remapped daemon's containers run
// as (the first range of the user in /etc/subuid and of the group in /etc/subgid, as
// dockerd reads them), and what that changes in a container's OCI spec.
import { readFileSync } from 'node:fs';
import { lchown, lstat, readdir } from 'node:fs/promises';
import { isAbsolute, join, relative } from 'node:path';
import { invalidArgument } from '../errdefs/errors.js';
import type { Spec } from '../execdriver/spec/types.js';
import { ROOTFS_IDMAP_ANNOTATION } from '../execdriver/native-config.js';

/** The user `--userns-remap=default` names, as dockerd's `dockremap`. */
export const DEFAULT_REMAP_USER = 'berthremap';

export interface IdRange {
  /** The first host id: the container's 0. */
  hostID: number;
  size: number;
}

export interface UsernsRemap {
  /** The user and group as the flag named them (`berthremap:berthremap` for `default`). */
  user: string;
  group: string;
  uid: IdRange;
  gid: IdRange;
}

/** Where the ranges and names are read; the defaults are the host's files. */
export interface SubidFiles {
  subuid: string;
  subgid: string;
  passwd: string;
  group: string;
}

export const HOST_SUBID_FILES: SubidFiles = {
  subuid: '/etc/subuid',
  subgid: '/etc/subgid',
  passwd: '/etc/passwd',
  group: '/etc/group',
};

const NAME = /^[A-Za-z0-9_][A-Za-z0-9_.-]*\$?$/;

/** `name|uid[:group|gid]` or `default`, as the flag gives it. Throws INVALID_ARGUMENT naming the flag. */
export function parseRemapFlag(value: string): { user: string; group: string } {
  if (value === 'default') return { user: DEFAULT_REMAP_USER, group: DEFAULT_REMAP_USER };
  const [user, group, extra] = value.split(':');
  if (extra !== undefined || !NAME.test(user ?? '') || (group !== undefined && !NAME.test(group))) {
    throw invalidArgument(
      `--userns-remap ${JSON.stringify(value)}: expected default, or a user name or uid with an optional :group or :gid`,
    );
  }
  return { user: user!, group: group ?? user! };
}

/** The name and the numeric id of `who` in a passwd- or group-style file (either may be unknown). */
function aliases(file: string, who: string): string[] {
  let text = '';
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    return [who];
  }
  for (const line of text.split('\n')) {
    const [name, , id] = line.split(':');
    if (name === undefined || id === undefined) continue;
    if (name === who || id === who) return [name, id];
  }
  return [who];
}

/** The first range of `who` (by name or id) in a subuid/subgid file. Throws INVALID_ARGUMENT naming file and user. */
function firstRange(file: string, names: string[], what: string): IdRange {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw invalidArgument(`--userns-remap: ${file}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`, {
      cause: err,
    });
  }
  for (const [i, line] of text.split('\n').entries()) {
    const t = line.trim();
    if (t === '' || t.startsWith('#')) continue;
    const [name, start, count] = t.split(':');
    if (!names.includes(name!)) continue;
    const hostID = Number(start);
    const size = Number(count);
    if (!/^\d+$/.test(start ?? '') || !/^\d+$/.test(count ?? '') || size < 1 || hostID + size > 2 ** 32 - 1) {
      throw invalidArgument(`--userns-remap: ${file} line ${i + 1}: malformed range ${JSON.stringify(t)}`);
    }
    if (hostID === 0)
      throw invalidArgument(`--userns-remap: ${file} line ${i + 1}: a range starting at 0 maps host root`);
    return { hostID, size };
  }
  throw invalidArgument(
    `--userns-remap: no subordinate ${what} range for ${names.join(' / ')} in ${file}` +
      (names[0] === DEFAULT_REMAP_USER
        ? ` (berthd does not create ${DEFAULT_REMAP_USER}'s entries: add a line such as ` +
          `"${DEFAULT_REMAP_USER}:100000:65536" there)`
        : ''),
  );
}

/** Resolves the flag's user and group to their first subordinate ranges. */
export function resolveRemap(value: string, files: SubidFiles = HOST_SUBID_FILES): UsernsRemap {
  const { user, group } = parseRemapFlag(value);
  const uid = firstRange(files.subuid, aliases(files.passwd, user), 'uid');
  const gid = firstRange(files.subgid, aliases(files.group, group), 'gid');
  return { user, group, uid, gid };
}

/**
 * Puts the container in a new user namespace with the remap's ranges (container root = the first subordinate id) and,
 * when `idmapRootfs`, asks for its rootfs as an idmapped mount. A container that joins another's namespaces is
 * refused: sharing the other's user namespace is not done yet.
 */
export function remapSpec(spec: Spec, remap: UsernsRemap, idmapRootfs: boolean, subject: string): void {
  const linux = (spec.linux ??= {});
  const namespaces = (linux.namespaces ??= []);
  if (namespaces.some((n) => n.path !== undefined)) {
    throw invalidArgument(
      `${subject}: joining another container's or the host's namespaces is not supported with --userns-remap`,
    );
  }
  if (!namespaces.some((n) => n.type === 'network')) {
    throw invalidArgument(`${subject}: the host's network namespace cannot be used with --userns-remap`);
  }
  if (!namespaces.some((n) => n.type === 'user')) namespaces.push({ type: 'user' });
  linux.uidMappings = [{ containerID: 0, hostID: remap.uid.hostID, size: remap.uid.size }];
  linux.gidMappings = [{ containerID: 0, hostID: remap.gid.hostID, size: remap.gid.size }];
  if (idmapRootfs) spec.annotations = { ...spec.annotations, [ROOTFS_IDMAP_ANNOTATION]: 'true' };
}

/**
 * Checks the binds a user asked to have idmapped (`-v host:ctr:idmap`): through the container's user namespace the
 * host's ids are then the container's own on them (a host root's file is the container root's, what the container root
 * writes is stored as the host root's), as without a remap. Every other bind stays plain, as Docker's are under a
 * remap: the host's files are nobody's in the container, which is what keeps the remap's protection on them — so an
 * idmapped bind is the user's choice, never a default. A requested bind whose filesystem cannot be idmapped
 * (`idmappable(source)` false) is refused naming it (INVALID_ARGUMENT), never silently made plain.
 */
export function checkIdmappedBinds(spec: Spec, idmappable: (source: string) => boolean, why = ''): void {
  for (const m of spec.mounts ?? []) {
    const options = m.options ?? [];
    if (m.source === undefined || !(options.includes('idmap') || options.includes('ridmap'))) continue;
    if (!idmappable(m.source))
      throw invalidArgument(
        `bind ${m.source}:${m.destination}: idmap asked for, but its filesystem cannot be idmapped here${why}`,
      );
  }
}

/** Refuses an idmapped bind in a container without a user namespace (berthd without --userns-remap). */
export function refuseIdmappedBinds(spec: Spec): void {
  for (const m of spec.mounts ?? []) {
    const options = m.options ?? [];
    if (m.source !== undefined && (options.includes('idmap') || options.includes('ridmap')))
      throw invalidArgument(
        `bind ${m.source}:${m.destination}: idmap needs a user namespace (berthd --userns-remap); without one the ` +
          "host's ids are the container's already",
      );
  }
}

/**
 * Shifts the owner of `dir` and everything below it from the container's ids into the remap's ranges (a symlink's own
 * owner, not its target's). An owner with an id beyond its range is left as it is: no container id stands for it.
 */
export async function shiftOwners(dir: string, remap: UsernsRemap): Promise<void> {
  const shift = async (path: string): Promise<void> => {
    const st = await lstat(path);
    if (st.uid < remap.uid.size && st.gid < remap.gid.size)
      await lchown(path, remap.uid.hostID + st.uid, remap.gid.hostID + st.gid);
    if (!st.isDirectory()) return;
    for (const name of await readdir(path)) await shift(join(path, name));
  };
  await shift(dir);
}
