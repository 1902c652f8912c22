// The conformance suite against overlay2, plus what only overlay2 has: the on-disk
// layout, the depth limit, whiteout translation in its native diff, init refusals.
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { chown, lstat, mkdir, mkdtemp, readdir, readFile, readlink, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { isBerthError } from '../errdefs/errors.js';
import { getXattr } from '../archive/tar-fs.js';
import { buildTar, tarStream, type FixtureEntry } from '../archive/tar-fixtures.js';
import { background } from '../trace/context.js';
import { graphdriverSuite } from './driver-suite.js';
import type { Change } from './driver.js';
import { mountFs, unmount } from './host-mount.js';
import { isMountPoint, mountsUnder } from './mountinfo.js';
import { NaiveDiff } from './naive-diff.js';
import { deleteTreeInSlices, MAX_DEPTH, Overlay2Driver } from './overlay2.js';
import { idmappedMounts } from '../../testkit/idmap.js';
import { needs, root } from '../../testkit/needs.js';

const isRoot = process.getuid?.() === 0;
const skip = isRoot ? {} : { skip: 'needs root' };

async function codeOf(p: Promise<unknown>): Promise<string | undefined> {
  try {
    await p;
  } catch (err) {
    return isBerthError(err) ? err.code : String(err);
  }
  return undefined;
}

graphdriverSuite(
  'overlay2',
  async (ctx, base) => ({ driver: await Overlay2Driver.init(ctx, { root: base }), root: base }),
  skip,
);

needs(root()).describe('overlay2 specifics', () => {
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

  it('lays layers out as Docker does: diff/, link, lower, l/<short> -> ../<id>/diff', async () => {
    await d.create(ctx, 'a', undefined);
    await d.create(ctx, 'b', 'a');
    const la = await d.linkOf(ctx, 'a');
    const lb = await d.linkOf(ctx, 'b');
    expect(la).toMatch(/^[A-Z2-7]{26}$/);
    expect(await readlink(`${d.home}/l/${la}`)).toBe('../a/diff');
    expect(await readFile(`${d.home}/b/lower`, 'utf8')).toBe(`l/${la}`);
    await d.create(ctx, 'c', 'b');
    expect(await readFile(`${d.home}/c/lower`, 'utf8')).toBe(`l/${lb}:l/${la}`);
    expect(await d.mountOptions(ctx, 'c')).toMatch(
      new RegExp(`^lowerdir=l/${lb}:l/${la},upperdir=c/diff,workdir=c/work`),
    );
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
    await d.applyDiff(
      ctx,
      'a',
      undefined,
      tarStream(
        await buildTar([
          { name: 'x', content: 'x' },
          { name: 'o/', type: 'directory' },
          { name: 'o/y', content: 'y' },
        ]),
      ),
    );
    await d.create(ctx, 'b', 'a');
    await d.applyDiff(
      ctx,
      'b',
      'a',
      tarStream(await buildTar([{ name: '.wh.x' }, { name: 'o/', type: 'directory' }, { name: 'o/.wh..wh..opq' }])),
    );
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

  // A chain of layers (bottom first) and the changes of its top layer against its parent.
  const dir = (name: string): FixtureEntry => ({ name: `${name}/`, type: 'directory' });
  const file = (name: string, content: string): FixtureEntry => ({ name, content });
  const mark = (name: string): FixtureEntry => ({ name });
  const changeTable: { name: string; layers: FixtureEntry[][]; want: Change[] }[] = [
    {
      name: 'a file still present below is modified',
      layers: [[file('f', 'a')], [file('g', 'x')], [file('f', 'bbbb')]],
      want: [{ path: '/f', kind: 'modify' }],
    },
    {
      name: 'a file deleted in a middle layer and re-created on top is added',
      layers: [[file('f', 'a')], [mark('.wh.f')], [file('f', 'bbb')]],
      want: [{ path: '/f', kind: 'add' }],
    },
    {
      name: 'a directory deleted in a middle layer and re-created with a nested file is added, with its file',
      layers: [[dir('d'), file('d/x', 'x')], [mark('.wh.d')], [dir('d'), file('d/y', 'y')]],
      want: [
        { path: '/d', kind: 'add' },
        { path: '/d/y', kind: 'add' },
      ],
    },
    {
      name: 'a nested path whose parent was deleted in a middle layer is added',
      layers: [
        [dir('p'), dir('p/q'), file('p/q/r', 'r')],
        [dir('p'), mark('p/.wh.q')],
        [dir('p'), dir('p/q'), file('p/q/r', 'rr')],
      ],
      want: [
        { path: '/p', kind: 'modify' },
        { path: '/p/q', kind: 'add' },
        { path: '/p/q/r', kind: 'add' },
      ],
    },
    {
      name: 'a file hidden by an opaque dir of a middle layer and re-created on top is added',
      layers: [
        [dir('o'), file('o/a', 'a')],
        [dir('o'), mark('o/.wh..wh..opq'), file('o/b', 'b')],
        [dir('o'), file('o/a', 'aa')],
      ],
      want: [
        { path: '/o', kind: 'modify' },
        { path: '/o/a', kind: 'add' },
      ],
    },
    {
      name: 'a nested file below an opaque dir of a middle layer is added, one beside it modified',
      layers: [
        [dir('o'), dir('o/s'), file('o/s/a', 'a'), file('o/k', 'k')],
        [dir('o'), mark('o/.wh..wh..opq'), file('o/k', 'kk')],
        [dir('o'), dir('o/s'), file('o/s/a', 'aaa'), file('o/k', 'kkk')],
      ],
      want: [
        { path: '/o', kind: 'modify' },
        { path: '/o/k', kind: 'modify' },
        { path: '/o/s', kind: 'add' },
        { path: '/o/s/a', kind: 'add' },
      ],
    },
    {
      name: 'below a directory that a middle layer replaced by a file, every path is added',
      layers: [[dir('n'), file('n/m', 'm')], [file('n', 'file')], [dir('n'), file('n/m', 'mm')]],
      want: [
        { path: '/n', kind: 'modify' },
        { path: '/n/m', kind: 'add' },
      ],
    },
    {
      name: 'an opaque dir on top: kept names modified, new ones added, hidden ones deleted',
      layers: [
        [dir('o'), file('o/a', 'a'), file('o/b', 'b')],
        [dir('o'), file('o/c', 'c')],
        [dir('o'), mark('o/.wh..wh..opq'), file('o/a', 'aaa'), file('o/new', 'n')],
      ],
      want: [
        { path: '/o', kind: 'modify' },
        { path: '/o/a', kind: 'modify' },
        { path: '/o/b', kind: 'delete' },
        { path: '/o/c', kind: 'delete' },
        { path: '/o/new', kind: 'add' },
      ],
    },
    {
      name: 'whiteouts on top of a path deleted and re-created below are deletes',
      layers: [
        [file('w', 'w'), dir('e'), file('e/x', 'x')],
        [mark('.wh.w'), mark('.wh.e')],
        [file('w', 'ww'), dir('e'), file('e/z', 'z')],
        [mark('.wh.w'), mark('.wh.e')],
      ],
      want: [
        { path: '/e', kind: 'delete' },
        { path: '/w', kind: 'delete' },
      ],
    },
  ];

  it.each(changeTable)('changes: $name (and the naive diff of the mounted trees agrees)', async ({ layers, want }) => {
    let parent: string | undefined;
    for (const [i, entries] of layers.entries()) {
      const id = `l${i}`;
      await d.create(ctx, id, parent);
      await d.applyDiff(ctx, id, parent, tarStream(await buildTar(entries)));
      parent = id;
    }
    const top = `l${layers.length - 1}`;
    const below = `l${layers.length - 2}`;
    expect(await d.changes(ctx, top, below)).toEqual(want);
    expect(await new NaiveDiff(d).changes(ctx, top, below)).toEqual(want);
  });

  it('mounts a layer detached: in no mount table, reached through its fd, writes in its diff, released by put', async () => {
    await d.create(ctx, 'a', undefined);
    await d.applyDiff(ctx, 'a', undefined, tarStream(await buildTar([{ name: 'f', content: 'lower' }])));
    await d.createReadWrite(ctx, 'rw', 'a');
    expect(await d.getDetached(ctx, 'a')).toBeUndefined(); // a base layer: get's diff dir
    const m = (await d.getDetached(ctx, 'rw'))!;
    expect(m.target).toBe(`${d.home}/rw/merged`);
    expect(await mountsUnder(base)).toEqual([]);
    expect(await readFile(join(m.path, 'f'), 'utf8')).toBe('lower');
    // and a command reaches it by the same path (the engine copies a volume's content with cp -a through it)
    expect(execFileSync('cat', [join(m.path, 'f')], { encoding: 'utf8' })).toBe('lower');
    await writeFile(join(m.path, 'g'), 'upper');
    expect(await readFile(`${d.home}/rw/diff/g`, 'utf8')).toBe('upper');
    expect(await codeOf(d.get(ctx, 'rw'))).toBe('FAILED_PRECONDITION');
    expect(await codeOf(d.remove(ctx, 'rw'))).toBe('CONFLICT');
    await d.put(ctx, 'rw');
    expect(existsSync(`/proc/self/fd/${m.fd}`)).toBe(false);
    // mounted again after the put (the first overlay released its upper dir), on the host this time
    expect(await isMountPoint(await d.get(ctx, 'rw'))).toBe(true);
    expect(await d.getDetached(ctx, 'rw')).toBeUndefined();
    await d.put(ctx, 'rw');
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

  it('with deferDelete answers once the layer is unreachable and deletes its tree after, leaving nothing', async () => {
    await d.create(ctx, 'a', undefined);
    await d.createReadWrite(ctx, 'c', 'a');
    const link = await d.linkOf(ctx, 'c');
    await mkdir(`${d.home}/c/diff/some/dirs`, { recursive: true });
    await d.remove(ctx, 'c', { deferDelete: true });
    expect(await d.exists(ctx, 'c')).toBe(false);
    expect(existsSync(`${d.home}/c`)).toBe(false);
    expect(existsSync(`${d.home}/l/${link}`)).toBe(false);
    await d.create(ctx, 'c', 'a'); // the id is free again at once
    await d.remove(ctx, 'c', { deferDelete: true });
    await d.deletesSettled();
    expect((await readdir(d.home)).sort()).toEqual(['a', 'l']);
  });

  it('deletes a tree bigger than a slice without following its links out of it', async () => {
    const tree = join(base, 'tree');
    const outside = join(base, 'outside');
    await mkdir(join(outside, 'kept'), { recursive: true });
    for (let i = 0; i < 5; i++) {
      await mkdir(join(tree, `d${i}`, 'deeper', 'deepest'), { recursive: true });
      for (let j = 0; j < 50; j++) await writeFile(join(tree, `d${i}`, j % 2 ? 'deeper' : '', `f${j}`), 'x');
    }
    await symlink(outside, join(tree, 'd0', 'deeper', 'out'));
    await symlink('../../..', join(tree, 'd1', 'deeper', 'up'));
    await deleteTreeInSlices(tree);
    expect(existsSync(tree)).toBe(false);
    expect(existsSync(join(outside, 'kept'))).toBe(true);
    await deleteTreeInSlices(tree); // absent: nothing to do
  });

  it('finishes at init a deferred delete that a SIGKILL interrupted', async () => {
    const script = fileURLToPath(new URL('./remove-crash-child.ts', import.meta.url));
    const child = spawn(process.execPath, ['--import', 'tsx', script, base, '3000'], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    try {
      let out = '';
      let err = '';
      child.stderr.on('data', (c: Buffer) => (err += c.toString()));
      await new Promise<void>((resolve, reject) => {
        child.stdout.on('data', (c: Buffer) => {
          out += c.toString();
          if (out.includes('removed\n')) resolve();
        });
        child.once('exit', (code) => reject(new Error(`child exited (${code}) before the removal: ${err}`)));
      });
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGKILL');
      await exited;
    } finally {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    }
    const again = await Overlay2Driver.init(ctx, { root: base });
    expect(await again.exists(ctx, 'ctr')).toBe(false);
    expect((await readdir(again.home)).filter((n) => n.startsWith('.'))).toEqual([]);
    expect((await readdir(again.home)).sort()).toEqual(['base', 'l']);
    expect(await readdir(`${again.home}/l`)).toEqual([await again.linkOf(ctx, 'base')]);
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
    mountFs(
      'test',
      'overlay',
      join(ov, 'merged'),
      'overlay',
      0,
      `lowerdir=${ov}/lower,upperdir=${ov}/upper,workdir=${ov}/work`,
    );
    try {
      const err = await Overlay2Driver.init(ctx, { root: join(ov, 'merged') }).catch((e: unknown) => e);
      expect(isBerthError(err, 'UNAVAILABLE')).toBe(true);
      expect((err as Error).message).toMatch(/overlayfs/);
    } finally {
      unmount('test', join(ov, 'merged'), 2);
    }
  });
});

needs(root(), idmappedMounts()).describe('overlay2 over idmapped layers (idmapLayers, --userns-remap)', () => {
  const ctx = background();
  // A range of the test's own, far from any the host hands out.
  const host = 310_000_000 + (process.pid % 1000) * 131_072;
  const maps = { uid: { hostID: host, size: 65_536 }, gid: { hostID: host + 65_536, size: 65_536 } };
  let base: string;
  let d: Overlay2Driver;

  beforeEach(async () => {
    base = await mkdtemp(join(tmpdir(), `berth-ovidmap-${process.pid}-`));
    d = await Overlay2Driver.init(ctx, { root: base });
    await d.create(ctx, 'img', undefined);
    await d.applyDiff(
      ctx,
      'img',
      undefined,
      tarStream(
        await buildTar([
          { name: 'etc/', type: 'directory' },
          { name: 'etc/passwd', content: 'root:x:0:0::/root:/bin/sh\n' },
          { name: 'owned', content: 'o', uid: 5, gid: 6 },
          { name: 'gone', content: 'g' },
        ]),
      ),
    );
    await d.createReadWrite(ctx, 'ctr', 'img');
  });

  afterEach(async () => {
    let left: string[] = [];
    try {
      await d.cleanup(ctx);
    } finally {
      left = await mountsUnder(base);
      for (const m of left) unmount('test', m, 2);
      await rm(base, { recursive: true, force: true });
    }
    expect(left).toEqual([]);
  });

  /** Runs a shell command as the maps' root (a container's root as the host sees it). */
  const asMappedRoot = (cwd: string, script: string) =>
    spawnSync('sh', ['-c', script], { cwd, uid: maps.uid.hostID, gid: maps.gid.hostID, encoding: 'utf8' });
  const overlaysOn = async (path: string) =>
    (await readFile('/proc/self/mountinfo', 'utf8')).split('\n').filter((l) => l.split(' ')[4] === path).length;

  it("shows the image's files as the mapped root's and stores what it writes with the container's ids", async () => {
    const fds = (await readdir('/proc/self/fd')).length;
    const merged = await d.get(ctx, 'ctr');
    expect(await d.idmapLayers(ctx, 'ctr', maps)).toBe(true);
    // one overlay on the upper dir: the plain mount was replaced, not covered
    expect(await overlaysOn(merged)).toBe(1);
    expect((await readdir('/proc/self/fd')).length).toBe(fds);
    const st = await lstat(`${merged}/etc/passwd`);
    expect([st.uid, st.gid]).toEqual([maps.uid.hostID, maps.gid.hostID]);
    const owned = await lstat(`${merged}/owned`);
    expect([owned.uid, owned.gid]).toEqual([maps.uid.hostID + 5, maps.gid.hostID + 6]);
    const r = asMappedRoot(merged, 'echo new > made && mkdir dir && echo more >> etc/passwd && rm gone');
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    // the host's root may give a file any id the maps have: the view's host + 7 is stored as the container's 7
    await chown(`${merged}/made`, maps.uid.hostID + 7, maps.gid.hostID + 8);
    const diff = `${d.home}/ctr/diff`;
    for (const [p, uid, gid] of [
      ['made', 7, 8],
      ['dir', 0, 0],
      ['etc', 0, 0],
      ['etc/passwd', 0, 0],
    ] as const) {
      const s = await lstat(`${diff}/${p}`);
      expect([p, s.uid, s.gid]).toEqual([p, uid, gid]);
    }
    const s = await lstat(`${diff}/gone`);
    expect([s.isCharacterDevice(), s.rdev]).toEqual([true, 0]);
    expect(await d.changes(ctx, 'ctr', 'img')).toEqual([
      { path: '/dir', kind: 'add' },
      { path: '/etc', kind: 'modify' },
      { path: '/etc/passwd', kind: 'modify' },
      { path: '/gone', kind: 'delete' },
      { path: '/made', kind: 'add' },
    ]);
    // the host's root has no id in the view: it cannot create files there
    await expect(mkdir(`${merged}/by-host-root`)).rejects.toMatchObject({ code: 'EOVERFLOW' });
    // a second get shares the view; the same maps again change nothing, other maps are refused
    expect(await d.get(ctx, 'ctr')).toBe(merged);
    expect(await d.idmapLayers(ctx, 'ctr', maps)).toBe(true);
    const other = { uid: { hostID: host + 1, size: 10 }, gid: maps.gid };
    await expect(d.idmapLayers(ctx, 'ctr', other)).rejects.toMatchObject({ code: 'CONFLICT' });
    await d.put(ctx, 'ctr');
    expect(await overlaysOn(merged)).toBe(1);
    await d.put(ctx, 'ctr');
    expect(await overlaysOn(merged)).toBe(0);
    expect((await readdir('/proc/self/fd')).length).toBe(fds);
    // the next get is the plain overlay again: the stored ids, unshifted
    await d.get(ctx, 'ctr');
    expect((await lstat(`${merged}/made`)).uid).toBe(7);
    await d.put(ctx, 'ctr');
  });

  it('exports the layer with the owners the container gave (no translation)', async () => {
    const merged = await d.get(ctx, 'ctr');
    await d.idmapLayers(ctx, 'ctr', maps);
    expect(asMappedRoot(merged, 'echo a > a').status).toBe(0);
    await chown(`${merged}/a`, maps.uid.hostID + 3, maps.gid.hostID + 4);
    await d.put(ctx, 'ctr');
    const seen: [string, number, number][] = [];
    const tar = (await import('tar-stream')).default.extract();
    const done = (async () => {
      for await (const e of tar) {
        seen.push([e.header.name, e.header.uid ?? -1, e.header.gid ?? -1]);
        e.resume();
      }
    })();
    (await d.diff(ctx, 'ctr', 'img')).pipe(tar);
    await done;
    expect(seen).toEqual([['a', 3, 4]]);
  });

  it('answers false for a layer without a parent, FAILED_PRECONDITION when not mounted', async () => {
    await d.get(ctx, 'img');
    expect(await d.idmapLayers(ctx, 'img', maps)).toBe(false);
    await d.put(ctx, 'img');
    await expect(d.idmapLayers(ctx, 'ctr', maps)).rejects.toMatchObject({ code: 'FAILED_PRECONDITION' });
  });
});
