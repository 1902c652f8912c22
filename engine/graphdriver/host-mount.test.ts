// Host-side mounts through the native core: relative paths resolved against the
// given dir without touching the Node process's cwd, errors naming their subject.
import { mkdir, mkdtemp, rm, writeFile, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { isBerthError } from '../errdefs/errors.js';
import { MNT_DETACH, mountFs, mountFsAt, unmount } from './host-mount.js';
import { isMountPoint, mountsUnder } from './mountinfo.js';
import { needs, root } from '../../testkit/needs.js';

needs(root()).describe('host mounts', () => {
  let base: string;
  beforeEach(async () => {
    base = await mkdtemp(join(tmpdir(), `berth-hm-${process.pid}-`));
  });
  afterEach(async () => {
    const left = await mountsUnder(base);
    for (const m of left) unmount('test', m, MNT_DETACH);
    await rm(base, { recursive: true, force: true });
    expect(left).toEqual([]);
  });

  it('mountFsAt resolves relative overlay paths against its dir, Node cwd unchanged', async () => {
    for (const d of ['lo', 'up', 'wk', 'mnt']) await mkdir(join(base, d));
    await writeFile(join(base, 'lo/f'), 'lower');
    const cwd = process.cwd();
    mountFsAt('test overlay', base, 'overlay', 'mnt', 'overlay', 0, 'lowerdir=lo,upperdir=up,workdir=wk');
    expect(process.cwd()).toBe(cwd);
    expect(await isMountPoint(join(base, 'mnt'))).toBe(true);
    expect(await readFile(join(base, 'mnt/f'), 'utf8')).toBe('lower');
    unmount('test overlay', join(base, 'mnt'));
    expect(await isMountPoint(join(base, 'mnt'))).toBe(false);
    unmount('test overlay', join(base, 'mnt')); // not mounted: no error
  });

  it('names the subject and keeps the errno in a failed mount', () => {
    let err: unknown;
    try {
      mountFsAt('overlay2 get c0ffee', base, 'overlay', 'nowhere', 'overlay', 0, 'lowerdir=missing');
    } catch (e) {
      err = e;
    }
    expect(isBerthError(err)).toBe(true);
    expect((err as Error).message).toMatch(/^overlay2 get c0ffee: mount: ENOENT/);
    let err2: unknown;
    try {
      mountFs('tmpfs probe', 'tmpfs', join(base, 'none'), 'tmpfs', 0, '');
    } catch (e) {
      err2 = e;
    }
    expect((err2 as Error).message).toMatch(/^tmpfs probe: mount: ENOENT/);
  });
});
