// Docker's `User` field (`name`, `uid`, `name:group`, `uid:gid`, …) resolved to
// the numeric ids the process runs with, through the image's /etc/passwd and
// /etc/group read safely inside its rootfs (secure-path.ts).
import { invalidArgument } from '../errdefs/errors.js';
import { readFileInRoot } from './secure-path.js';

export interface ResolvedUser {
  uid: number;
  gid: number;
  /** Supplementary groups: those listing the user as a member, then GroupAdd. */
  additionalGids: number[];
  /** The user's home from passwd, '/' when unknown. */
  home: string;
}

export interface PasswdEntry {
  name: string;
  uid: number;
  gid: number;
  home: string;
}

export interface GroupEntry {
  name: string;
  gid: number;
  members: string[];
}

const MAX_ID = 2 ** 31 - 1;

function parseId(text: string): number | undefined {
  if (!/^\d+$/.test(text)) return undefined;
  const n = Number(text);
  return n <= MAX_ID ? n : undefined;
}

/** Lines of passwd(5); malformed lines are skipped, as libc does. */
function parsePasswd(text: string): PasswdEntry[] {
  const out: PasswdEntry[] = [];
  for (const line of text.split('\n')) {
    if (line.trim() === '' || line.startsWith('#')) continue;
    const f = line.split(':');
    const uid = parseId(f[2] ?? '');
    const gid = parseId(f[3] ?? '');
    if (f.length < 7 || uid === undefined || gid === undefined || f[0] === '') continue;
    out.push({ name: f[0]!, uid, gid, home: f[5] || '/' });
  }
  return out;
}

/** Lines of group(5); malformed lines are skipped. */
function parseGroup(text: string): GroupEntry[] {
  const out: GroupEntry[] = [];
  for (const line of text.split('\n')) {
    if (line.trim() === '' || line.startsWith('#')) continue;
    const f = line.split(':');
    const gid = parseId(f[2] ?? '');
    if (f.length < 4 || gid === undefined || f[0] === '') continue;
    out.push({ name: f[0]!, gid, members: f[3]!.split(',').filter((m) => m !== '') });
  }
  return out;
}

/**
 * Resolves `user` against passwd and group contents (undefined: the file is
 * absent). Numeric ids need no entry; names must exist. Fails INVALID_ARGUMENT
 * naming the user or group that cannot be found or is malformed.
 */
export function resolveUserFrom(
  user: string,
  passwd: string | undefined,
  group: string | undefined,
  groupAdd: readonly string[] = [],
): ResolvedUser {
  const users = parsePasswd(passwd ?? '');
  const groups = parseGroup(group ?? '');
  const spec = user === '' ? '0' : user;
  const colon = spec.indexOf(':');
  const userPart = colon < 0 ? spec : spec.slice(0, colon);
  const groupPart = colon < 0 ? undefined : spec.slice(colon + 1);
  if (userPart === '' || groupPart === '')
    throw invalidArgument(`user ${JSON.stringify(user)}: invalid, expected user[:group]`);

  const uidNum = parseId(userPart);
  const entry = uidNum !== undefined ? users.find((u) => u.uid === uidNum) : users.find((u) => u.name === userPart);
  if (uidNum === undefined && entry === undefined) {
    if (/^-?\d+$/.test(userPart)) throw invalidArgument(`user ${JSON.stringify(user)}: uid ${userPart} out of range`);
    throw invalidArgument(
      `user ${JSON.stringify(user)}: unable to find user ${userPart}: no matching entries in passwd file`,
    );
  }
  const uid = uidNum ?? entry!.uid;
  let gid = entry?.gid ?? 0;
  if (groupPart !== undefined) gid = resolveGroup(user, groupPart, groups);
  const name = entry?.name;
  const additional =
    groupPart === undefined && name !== undefined
      ? groups.filter((g) => g.members.includes(name) && g.gid !== gid).map((g) => g.gid)
      : [];
  for (const g of groupAdd) {
    const id = resolveGroup(`group-add ${g}`, g, groups);
    if (!additional.includes(id)) additional.push(id);
  }
  return { uid, gid, additionalGids: additional, home: entry?.home ?? '/' };
}

function resolveGroup(subject: string, text: string, groups: GroupEntry[]): number {
  const n = parseId(text);
  if (n !== undefined) return n;
  const g = groups.find((x) => x.name === text);
  if (g === undefined)
    throw invalidArgument(
      `user ${JSON.stringify(subject)}: unable to find group ${text}: no matching entries in group file`,
    );
  return g.gid;
}

/** resolveUserFrom with passwd and group read from the rootfs at `rootfs`. */
export async function resolveUser(
  rootfs: string,
  user: string,
  groupAdd: readonly string[] = [],
): Promise<ResolvedUser> {
  const [passwd, group] = await Promise.all([
    readFileInRoot(rootfs, '/etc/passwd'),
    readFileInRoot(rootfs, '/etc/group'),
  ]);
  return resolveUserFrom(user, passwd, group, groupAdd);
}
