// The cache of checked and compiled seccomp profiles in berth-runtime's state root: what it answers, and every reason
// it refuses to (another build, another profile, a changed filter, a directory or file others could write).
import {
  chmodSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  symlinkSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { dockerDefaultProfile } from '../execdriver/seccomp/docker-default.js';
import { nativeSeccomp, profileKnownGood, useProfileFactStore } from '../execdriver/seccomp/native-filter.js';
import type { Seccomp } from '../execdriver/spec/types.js';
import { filterSum, keyName, SECCOMP_CACHE_DIR, SeccompDiskCache, useSeccompCache } from './seccomp-cache.js';

let root: string;
const profile = dockerDefaultProfile(['CAP_CHOWN']);
const json = JSON.stringify(profile);

/** One cache file's path and parsed content (the only file in the cache). */
function entry(): { path: string; value: Record<string, unknown> } {
  const dir = join(root, SECCOMP_CACHE_DIR);
  const [name] = readdirSync(dir).filter((f) => f.endsWith('.json'));
  const path = join(dir, name!);
  return { path, value: JSON.parse(readFileSync(path, 'utf8')) as Record<string, unknown> };
}

/** Fills the cache the way a first `berth-runtime run` does: nativeSeccomp with the store in use. */
function fill(build = 'b1'): ReturnType<typeof nativeSeccomp> {
  useProfileFactStore(new SeccompDiskCache(root, build));
  return nativeSeccomp(profile, true);
}

beforeEach(() => {
  root = mkdtempSync(join(tmpdir(), 'berth-seccomp-cache-'));
});

afterEach(() => {
  useProfileFactStore(undefined);
  rmSync(root, { recursive: true, force: true });
});

describe('SeccompDiskCache', () => {
  it('keeps a profile’s facts in a directory only this user may use, and answers them in a later process', () => {
    const first = fill();
    expect(statSync(join(root, SECCOMP_CACHE_DIR)).mode & 0o777).toBe(0o700);
    const { path, value } = entry();
    expect(statSync(path).mode & 0o777).toBe(0o600);
    expect(value.profile).toBe(json);
    const facts = new SeccompDiskCache(root, 'b1').get(json);
    expect(facts?.filter.equals(first.filter)).toBe(true);
    expect(facts?.flags).toBe(first.flags);
    // a later process: its memory is empty, the store answers, validateSpec skips the profile check
    useProfileFactStore(new SeccompDiskCache(root, 'b1'));
    expect(profileKnownGood(profile)).toBe(true);
    expect(nativeSeccomp(profile, true)).toEqual(first);
    expect(nativeSeccomp(profile, false).stage).toBe(0);
  });

  it('answers only for the same build and the same profile text', () => {
    fill();
    expect(new SeccompDiskCache(root, 'b2').get(json)).toBeUndefined();
    const other: Seccomp = { ...profile, defaultErrnoRet: 38 };
    expect(new SeccompDiskCache(root, 'b1').get(JSON.stringify(other))).toBeUndefined();
    // a file of the same name holding another profile (names hash only part of the text) is a miss
    const { path, value } = entry();
    writeFileSync(path, JSON.stringify({ ...value, profile: `${json} ` }), { mode: 0o600 });
    expect(new SeccompDiskCache(root, 'b1').get(json)).toBeUndefined();
  });

  it('refuses a filter that does not match its checksum, and malformed entries', () => {
    fill();
    const { path, value } = entry();
    const filter = Buffer.from(value.filter as string, 'base64');
    filter[filter.length - 1] ^= 1;
    writeFileSync(path, JSON.stringify({ ...value, filter: filter.toString('base64') }), { mode: 0o600 });
    expect(new SeccompDiskCache(root, 'b1').get(json)).toBeUndefined();
    writeFileSync(path, JSON.stringify({ ...value, filter: filter.toString('base64'), sum: filterSum(filter) }));
    expect(new SeccompDiskCache(root, 'b1').get(json)?.filter.equals(filter)).toBe(true);
    for (const bad of [{ stage: 1, deniedAfterSetup: 'x' }, { flags: 8 }, { execveDenied: 'no' }, { filter: 'AAAA' }]) {
      writeFileSync(path, JSON.stringify({ ...value, ...bad }), { mode: 0o600 });
      expect(new SeccompDiskCache(root, 'b1').get(json)).toBeUndefined();
    }
    writeFileSync(path, '{"format":1,', { mode: 0o600 });
    expect(new SeccompDiskCache(root, 'b1').get(json)).toBeUndefined();
  });

  it('uses neither a directory nor a file that others could write, nor a symlink in its place', () => {
    fill();
    const dir = join(root, SECCOMP_CACHE_DIR);
    const { path } = entry();
    chmodSync(path, 0o666);
    expect(new SeccompDiskCache(root, 'b1').get(json)).toBeUndefined();
    chmodSync(path, 0o600);
    expect(new SeccompDiskCache(root, 'b1').get(json)).toBeDefined();
    chmodSync(dir, 0o755);
    expect(new SeccompDiskCache(root, 'b1').get(json)).toBeUndefined();
    chmodSync(dir, 0o700);
    // a symlink to a directory that passes every other check
    const linkRoot = join(root, 'link-root');
    mkdirSync(linkRoot);
    symlinkSync(dir, join(linkRoot, SECCOMP_CACHE_DIR));
    expect(new SeccompDiskCache(linkRoot, 'b1').get(json)).toBeUndefined();
    new SeccompDiskCache(linkRoot, 'b1').set(json, new SeccompDiskCache(root, 'b1').get(json)!);
    expect(readdirSync(dir)).toHaveLength(1);
  });

  it('stores nothing where the directory is unusable, and the profile is compiled as before', () => {
    writeFileSync(join(root, SECCOMP_CACHE_DIR), '');
    useProfileFactStore(new SeccompDiskCache(root, 'b1'));
    expect(profileKnownGood(profile)).toBe(false);
    expect(nativeSeccomp(profile, true).stage).toBe(1);
    expect(readFileSync(join(root, SECCOMP_CACHE_DIR), 'utf8')).toBe('');
  });

  it('a refused profile is refused with its message every time, and never stored', () => {
    const denies: Seccomp = {
      defaultAction: 'SCMP_ACT_ALLOW',
      syscalls: [{ names: ['capset'], action: 'SCMP_ACT_ERRNO' }],
    };
    for (let i = 0; i < 2; i++) {
      useProfileFactStore(new SeccompDiskCache(root, 'b1'));
      expect(() => nativeSeccomp(denies, false)).toThrow(/denies capset \(allow them or set noNewPrivileges\)/);
    }
    // the profile itself passes the check; only its use without noNewPrivileges is refused
    expect(nativeSeccomp(denies, true).stage).toBe(1);
    useProfileFactStore(new SeccompDiskCache(root, 'b1'));
    expect(() => nativeSeccomp(denies, false)).toThrow(/denies capset/);
    const execve: Seccomp = { defaultAction: 'SCMP_ACT_ERRNO' };
    expect(() => nativeSeccomp(execve, true)).toThrow(/denies execve/);
    useProfileFactStore(new SeccompDiskCache(root, 'b1'));
    expect(() => nativeSeccomp(execve, true)).toThrow(/denies execve/);
  });

  it('removes the files of other builds when it stores one', () => {
    fill('b1');
    fill('b2');
    expect(readdirSync(join(root, SECCOMP_CACHE_DIR))).toEqual([`b2-${keyName(json)}.json`]);
  });

  it('keeps the most recently used entries of its build: a hit counts as a use, a store removes the oldest', () => {
    fill();
    const facts = new SeccompDiskCache(root, 'b1').get(json)!;
    const dir = join(root, SECCOMP_CACHE_DIR);
    const cache = new SeccompDiskCache(root, 'b1', 3);
    // keys of different lengths: file names hash only part of a key
    const key = (n: number) => `${json.slice(0, -1)},"n":"${'x'.repeat(n)}"}`;
    const file = (n: number) => join(dir, `b1-${keyName(key(n))}.json`);
    rmSync(entry().path);
    for (const n of [1, 2, 3]) cache.set(key(n), facts);
    // used 300, 200 and 100 s ago; then 1 is read again
    const now = Date.now() / 1000;
    for (const n of [1, 2, 3]) utimesSync(file(n), now - 400 + 100 * n, now - 400 + 100 * n);
    expect(cache.get(key(1))?.filter.equals(facts.filter)).toBe(true);
    expect(statSync(file(1)).mtimeMs / 1000).toBeGreaterThan(now - 60);
    cache.set(key(4), facts);
    expect(readdirSync(dir).sort()).toEqual([1, 3, 4].map((n) => `b1-${keyName(key(n))}.json`).sort());
    expect(cache.get(key(2))).toBeUndefined();
    for (const n of [1, 3, 4]) expect(cache.get(key(n))).toBeDefined();
    // a store again at the bound keeps it there
    cache.set(key(5), facts);
    expect(readdirSync(dir)).toHaveLength(3);
    expect(cache.get(key(5))).toBeDefined();
  });

  it('a store removes temporary files of writers that died, not one being written', () => {
    fill();
    const facts = new SeccompDiskCache(root, 'b1').get(json)!;
    const dir = join(root, SECCOMP_CACHE_DIR);
    const stale = join(dir, `.b1-x.json.${process.pid + 1}.tmp`);
    const fresh = join(dir, `.b1-y.json.${process.pid + 2}.tmp`);
    writeFileSync(stale, '');
    writeFileSync(fresh, '');
    const old = Date.now() / 1000 - 600;
    utimesSync(stale, old, old);
    new SeccompDiskCache(root, 'b1').set(`${json} `, facts);
    expect(readdirSync(dir).filter((f) => f.endsWith('.tmp'))).toEqual([`.b1-y.json.${process.pid + 2}.tmp`]);
    expect(readdirSync(dir).filter((f) => f.endsWith('.json'))).toHaveLength(2);
  });

  it('is off without a build (berth-runtime run from its TypeScript)', () => {
    useSeccompCache({ root });
    nativeSeccomp(profile, true);
    expect(profileKnownGood(profile)).toBe(false);
    expect(readdirSync(root)).toEqual([]);
  });
});
