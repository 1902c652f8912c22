// User resolution against passwd/group contents, and reading them inside a rootfs
// whose symlinks point outside it.
import { mkdtemp, mkdir, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { isBerthError } from '../errdefs/errors.js';
import { readFileInRoot, resolveInRoot } from './secure-path.js';
import { resolveUser, resolveUserFrom } from './user.js';

const passwd = [
  'root:x:0:0:root:/root:/bin/sh',
  'app:x:1000:1001:App:/home/app:/bin/sh',
  'broken line',
  'nobody:x:65534:65534::/nonexistent:/bin/false',
].join('\n');
const group = ['root:x:0:', 'wheel:x:10:root,app', 'appgrp:x:1001:', 'extra:x:2000:app', 'nogroup:x:65534:'].join('\n');

describe('resolveUserFrom', () => {
  it.each([
    ['', { uid: 0, gid: 0, additionalGids: [10], home: '/root' }],
    ['root', { uid: 0, gid: 0, additionalGids: [10], home: '/root' }],
    ['app', { uid: 1000, gid: 1001, additionalGids: [10, 2000], home: '/home/app' }],
    ['1000', { uid: 1000, gid: 1001, additionalGids: [10, 2000], home: '/home/app' }],
    ['app:nogroup', { uid: 1000, gid: 65534, additionalGids: [], home: '/home/app' }],
    ['1000:42', { uid: 1000, gid: 42, additionalGids: [], home: '/home/app' }],
    ['4242', { uid: 4242, gid: 0, additionalGids: [], home: '/' }],
    ['4242:4343', { uid: 4242, gid: 4343, additionalGids: [], home: '/' }],
  ])('%j', (user, want) => {
    expect(resolveUserFrom(user, passwd, group)).toEqual(want);
  });

  it('adds GroupAdd by name or id', () => {
    expect(resolveUserFrom('4242', passwd, group, ['wheel', '77']).additionalGids).toEqual([10, 77]);
  });

  it('resolves numeric ids without any passwd file', () => {
    expect(resolveUserFrom('5:6', undefined, undefined)).toEqual({ uid: 5, gid: 6, additionalGids: [], home: '/' });
  });

  it.each([
    ['ghost', /unable to find user ghost/],
    ['app:ghosts', /unable to find group ghosts/],
    ['99999999999', /out of range/],
    [':5', /expected user\[:group\]/],
    ['app:', /expected user\[:group\]/],
  ])('fails INVALID_ARGUMENT for %j', (user, message) => {
    let err: unknown;
    try {
      resolveUserFrom(user, passwd, group);
    } catch (e) {
      err = e;
    }
    expect(isBerthError(err, 'INVALID_ARGUMENT')).toBe(true);
    expect((err as Error).message).toMatch(message);
  });
});

describe('files inside a rootfs', () => {
  let dir: string | undefined;
  afterEach(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
    dir = undefined;
  });

  it('follows symlinks as if the rootfs were /, never out of it', async () => {
    dir = await mkdtemp(join(tmpdir(), 'berth-user-'));
    const root = join(dir, 'rootfs');
    await mkdir(join(root, 'etc'), { recursive: true });
    await mkdir(join(dir, 'etc'), { recursive: true });
    // the host-side file the links would reach if followed naively
    await writeFile(join(dir, 'etc', 'passwd'), 'evil:x:0:0::/:/bin/sh\n');
    await writeFile(join(root, 'etc', 'real-passwd'), 'inner:x:7:8::/home/inner:/bin/sh\n');
    await symlink('../../../etc/real-passwd', join(root, 'etc', 'passwd'));
    await symlink('/etc', join(root, 'abs'));
    expect(await resolveInRoot(root, '/etc/passwd')).toBe(join(root, 'etc', 'real-passwd'));
    expect(await resolveInRoot(root, '/abs/../../../etc/passwd')).toBe(join(root, 'etc', 'real-passwd'));
    expect(await resolveUser(root, 'inner')).toEqual({ uid: 7, gid: 8, additionalGids: [], home: '/home/inner' });
    await expect(resolveUser(root, 'evil')).rejects.toThrow(/unable to find user evil/);
  });

  it('refuses a non-regular file and a symlink loop, and reads a missing file as absent', async () => {
    dir = await mkdtemp(join(tmpdir(), 'berth-user-'));
    await mkdir(join(dir, 'etc', 'group'), { recursive: true });
    await symlink('/loop-b', join(dir, 'loop-a'));
    await symlink('/loop-a', join(dir, 'loop-b'));
    await expect(readFileInRoot(dir, '/etc/group')).rejects.toThrow(/not a regular file/);
    await expect(resolveInRoot(dir, '/loop-a')).rejects.toThrow(/too many levels of symbolic links/);
    expect(await readFileInRoot(dir, '/etc/passwd')).toBeUndefined();
  });
});
