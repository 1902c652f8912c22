// The conformance suite against overlay2, plus what only overlay2 has: the on-disk
// layout, the depth limit, whiteout translation in its native diff, init refusals.
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, readlink, rm, symlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { isBerthError } from '../errdefs/errors.js';
import { getXattr } from '../graph/tar-fs.js';
import { buildTar, tarStream } from '../graph/tar-fixtures.js';
import { background } from '../trace/context.js';
import { graphdriverSuite } from './driver-suite.js';
import { mountFs, unmount } from './host-mount.js';
import { isMountPoint, mountsUnder } from './mountinfo.js';
import { MAX_DEPTH, Overlay2Driver } from './overlay2.js';

const isRoot = process.getuid?.() === 0;
const skip = isRoot ? {} : { skip: 'needs root (mounts)' };

graphdriverSuite('overlay2', async (ctx, base) => ({ driver: await Overlay2Driver.init(ctx, { root: base }), root: base }), skip);

describe.skipIf(!isRoot)('overlay2 specifics', () => {
  const ctx = background();
  let base: string;
  let d: Overlay2Driver;
  let inited: Overlay2Driver | undefined;

  beforeEach(async () => {
    base = await mkdtemp(join(tmpdir(), `berth-ov-${process.pid}-`));
    inited = undefined;
    d = await Overlay2Driver.init(ctx, { root: base });
    inited = d;
  });

  afterEach(async () => {
    let left: string[] = [];
    try {
      await inited?.cleanup(ctx);
    } finally {
      left = await mountsUnder(base);
      for (const m of left) unmount('test', m, 2);
      await rm(base, { recursive: true, force: true });
    }
    expect(left).toEqual([]);
  });

  it("lays layers out as Docker does: diff/, link, lower, l/<short> -> ../<id>/diff", async () => {
    await d.create(ctx, 'a', undefined);
    await d.create(ctx, 'b', 'a');
    const la = await d.linkOf(ctx, 'a');
    const lb = await d.linkOf(ctx, 'b');
    expect(la).toMatch(/^[A-Z2-7]{26}$/);
    expect(await readlink(`${d.home}/l/${la}`)).toBe('../a/diff');
    expect(await readFile(`${d.home}/b/lower`, 'utf8')).toBe(`l/${la}`);
    await d.create(ctx, 'c', 'b');
    expect(await readFile(`${d.home}/c/lower`, 'utf8')).toBe(`l/${lb}:l/${la}`);
    expect(await d.mountOptions(ctx, 'c')).toMatch(new RegExp(`^lowerdir=l/${lb}:l/${la},upperdir=c/diff,workdir=c/work`));
    await d.remove(ctx, 'c');
    await expect(readlink(`${d.home}/l/${la}`)).resolves.toBe('../a/diff');
  });

  it(`refuses a layer deeper than ${MAX_DEPTH} lowers with FAILED_PRECONDITION`, async () => {
    let parent: string | undefined;
    for (let i = 0; i <= MAX_DEPTH; i++) {
      await d.create(ctx, `d${i}`, parent);
      parent = `d${i}`;
    }
    const err = await d.create(ctx, 'too-deep', parent).catch((e: unknown) => e);
    expect(isBerthError(err, 'FAILED_PRECONDITION')).toBe(true);
    expect((err as Error).message).toContain('too-deep');
    expect(await d.exists(ctx, 'too-deep')).toBe(false);
  });

  it('keeps whiteouts as 0/0 devices in diff/ and exports them as .wh. entries', async () => {
    await d.create(ctx, 'a', undefined);
    await d.applyDiff(ctx, 'a', undefined, tarStream(await buildTar([{ name: 'x', content: 'x' }, { name: 'o/', type: 'directory' }, { name: 'o/y', content: 'y' }])));
    await d.create(ctx, 'b', 'a');
    await d.applyDiff(ctx, 'b', 'a', tarStream(await buildTar([{ name: '.wh.x' }, { name: 'o/', type: 'directory' }, { name: 'o/.wh..wh..opq' }])));
    expect(getXattr(`${d.home}/b/diff/o`, 'trusted.overlay.opaque')?.toString()).toBe('y');
    const names: string[] = [];
    const tar = (await import('tar-stream')).default.extract();
    const done = (async () => {
      for await (const e of tar) {
        names.push(e.header.name);
        e.resume();
      }
    })();
    (await d.diff(ctx, 'b', 'a')).pipe(tar as unknown as NodeJS.WritableStream);
    await done;
    expect(names.sort()).toEqual(['.wh.x', 'o/', 'o/.wh..wh..opq'].sort());
  });

  it('recovers at init: leftover mounts, interrupted creates and dangling links are cleaned', async () => {
    await d.create(ctx, 'a', undefined);
    await d.create(ctx, 'b', 'a');
    await d.get(ctx, 'b'); // a mount the "crashed" daemon never put
    await mkdir(`${d.home}/.tmp-ghost/diff`, { recursive: true });
    await symlink('../ghost/diff', `${d.home}/l/GHOSTGHOSTGHOSTGHOSTGHOST2`);
    const again = await Overlay2Driver.init(ctx, { root: base });
    expect(await mountsUnder(base)).toEqual([]);
    expect(existsSync(`${d.home}/.tmp-ghost`)).toBe(false);
    expect(existsSync(`${d.home}/l/GHOSTGHOSTGHOSTGHOSTGHOST2`)).toBe(false);
    expect(await again.exists(ctx, 'b')).toBe(true);
    const dir = await again.get(ctx, 'b');
    expect(await isMountPoint(dir)).toBe(true);
    await again.put(ctx, 'b');
  });

  it('works on a tmpfs home (trusted.* xattrs as root)', async () => {
    const t = join(base, 'tmpfs');
    await mkdir(t);
    mountFs('test', 'tmpfs', t, 'tmpfs', 0, 'size=64m');
    try {
      const td = await Overlay2Driver.init(ctx, { root: t });
      expect((await td.status(ctx))['Backing Filesystem']).toBe('tmpfs');
      await td.create(ctx, 'a', undefined);
      await td.applyDiff(ctx, 'a', undefined, tarStream(await buildTar([{ name: 'x', content: 'x' }])));
      await td.create(ctx, 'b', 'a');
      await td.applyDiff(ctx, 'b', 'a', tarStream(await buildTar([{ name: '.wh.x' }, { name: 'y', content: 'y' }])));
      const dir = await td.get(ctx, 'b');
      expect(await readdir(dir)).toEqual(['y']);
      await td.put(ctx, 'b');
      await td.cleanup(ctx);
    } finally {
      unmount('test', t, 2);
    }
  });

  it('fails init with UNAVAILABLE when the home is on overlayfs', async () => {
    const ov = join(base, 'ovl');
    for (const sub of ['lower', 'upper', 'work', 'merged']) await mkdir(join(ov, sub), { recursive: true });
    mountFs('test', 'overlay', join(ov, 'merged'), 'overlay', 0, `lowerdir=${ov}/lower,upperdir=${ov}/upper,workdir=${ov}/work`);
    try {
      const err = await Overlay2Driver.init(ctx, { root: join(ov, 'merged') }).catch((e: unknown) => e);
      expect(isBerthError(err, 'UNAVAILABLE')).toBe(true);
      expect((err as Error).message).toMatch(/overlayfs/);
    } finally {
      unmount('test', join(ov, 'merged'), 2);
    }
  });
});
