// One conformance suite for every graphdriver (like containerd's snapshotter
// testsuite and moby's graphtest): each driver's test file calls
// graphdriverSuite(name, factory) and gets the same cases.
import { createHash } from 'node:crypto';
import { lstat, mkdtemp, readdir, readFile, readlink, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { isBerthError } from '../errdefs/errors.js';
import { readXattrs } from '../archive/tar-fs.js';
import { buildTar, tarStream, type FixtureEntry } from '../archive/tar-fixtures.js';
import { background, type Context } from '../trace/context.js';
import type { DiffingDriver, Driver } from './driver.js';
import { withDiff } from './naive-diff.js';
import { layerCases } from './driver-suite-layers.js';
import { MNT_DETACH, unmount } from './host-mount.js';
import { isMountPoint, mountsUnder, readMounts } from './mountinfo.js';
import { needs } from '../../testkit/needs.js';

export interface SuiteFixture {
  driver: Driver;
  /** The data root the driver was initialised with. */
  root: string;
  /** Undoes whatever the factory set up (loop devices, …); called after cleanup(). */
  dispose?: () => Promise<void>;
}

/** Makes a fresh driver whose data root lies inside `base` (a temp dir the suite owns). */
export type SuiteFactory = (ctx: Context, base: string) => Promise<SuiteFixture>;

export interface SuiteOptions {
  /** Skip the whole suite, with this reason (a missing tool or kernel feature). */
  skip?: string;
}

const ctx = background();
const T1 = new Date(1_600_000_000_000);
const T2 = new Date(1_650_000_000_000);

/** The base layer: every kind of entry and metadata a layer carries. */
const baseLayer: FixtureEntry[] = [
  { name: 'bin/', type: 'directory', mtime: T1 },
  { name: 'bin/busybox', content: 'BUSYBOX', mode: 0o755, mtime: T1 },
  { name: 'bin/sh', type: 'symlink', linkname: 'busybox' },
  { name: 'bin/ash', type: 'link', linkname: 'bin/busybox' },
  { name: 'bin/su', content: 'su', mode: 0o4755 },
  { name: 'etc/', type: 'directory', mode: 0o755 },
  { name: 'etc/passwd', content: 'root:x:0:0::/root:/bin/sh\n', mtime: T1 },
  { name: 'etc/shadow', content: 'root:*:1::::::\n', mode: 0o000 },
  { name: 'etc/owned', content: 'owned', uid: 1234, gid: 4321, mode: 0o640 },
  { name: 'etc/attr', content: 'attr', xattrs: { 'user.berth': 'base' } },
  {
    name: 'bin/ping',
    content: 'ping',
    mode: 0o755,
    xattrs: { 'user.cap': Buffer.from([0x01, 0, 0, 0x02, 0x80, 0x20, 0, 0, 0xff, 0, 0, 0]) },
  },
  { name: 'etc/gone', content: 'to be deleted' },
  { name: 'etc/dir-gone/', type: 'directory' },
  { name: 'etc/dir-gone/f', content: 'inside' },
  { name: 'abs', type: 'symlink', linkname: '/etc/passwd' },
  { name: 'dev/', type: 'directory' },
  { name: 'dev/null', type: 'character-device', devmajor: 1, devminor: 3, mode: 0o666 },
  { name: 'dev/fifo', type: 'fifo', mode: 0o600 },
  { name: 'tmp/', type: 'directory', mode: 0o1777 },
  { name: 'opq/', type: 'directory' },
  { name: 'opq/lower-a', content: 'a' },
  { name: 'opq/lower-b', content: 'b' },
];

/** A child layer: modifies, deletes (file, dir), adds, makes a dir opaque. */
const childLayer: FixtureEntry[] = [
  { name: 'etc/', type: 'directory', mode: 0o755 },
  { name: 'etc/passwd', content: 'root:x:0:0::/root:/bin/ash\nuser:x:1000:1000::/home/user:/bin/sh\n', mtime: T2 },
  { name: 'etc/.wh.gone' },
  { name: 'etc/.wh.dir-gone' },
  { name: 'etc/new', content: 'new file', uid: 1000, gid: 1000, mode: 0o600, xattrs: { 'user.berth': 'child' } },
  { name: 'opq/', type: 'directory' },
  { name: 'opq/.wh..wh..opq' },
  { name: 'opq/upper', content: 'upper' },
];

/**
 * A stable description of a tree: type, mode, owner, size, content hash, link target, rdev, user xattrs, hard-link
 * groups.
 */
async function describeTree(dir: string): Promise<string[]> {
  const out: string[] = [];
  const inodes = new Map<number, string>();
  const walk = async (rel: string) => {
    for (const name of (await readdir(rel === '' ? dir : `${dir}/${rel}`)).sort()) {
      const r = rel === '' ? name : `${rel}/${name}`;
      const p = `${dir}/${r}`;
      const st = await lstat(p);
      let line = `${r} mode=${st.mode.toString(8)} owner=${st.uid}:${st.gid}`;
      if (st.isFile()) {
        line += ` size=${st.size} sha=${createHash('sha256')
          .update(await readFile(p))
          .digest('hex')
          .slice(0, 12)} mtime=${Math.floor(st.mtimeMs / 1000)}`;
        if (st.nlink > 1) {
          const first = inodes.get(st.ino);
          if (first === undefined) inodes.set(st.ino, r);
          else line += ` link=${first}`;
        }
      } else if (st.isSymbolicLink()) line += ` -> ${await readlink(p)}`;
      else if (st.isCharacterDevice() || st.isBlockDevice()) line += ` rdev=${st.rdev}`;
      const xattrs = [...readXattrs(p)]
        .filter(([k]) => k.startsWith('user.'))
        .map(([k, v]) => `${k}=${v.toString('hex')}`);
      if (xattrs.length > 0) line += ` xattrs=${xattrs.sort().join(',')}`;
      out.push(line);
      if (st.isDirectory()) await walk(r);
    }
  };
  await walk('');
  return out;
}

async function expectCode(p: Promise<unknown>, code: string, text: string): Promise<void> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(isBerthError(err), `expected a ${code} error, got ${String(err)}`).toBe(true);
  expect((err as { code: string }).code).toBe(code);
  expect((err as Error).message).toContain(text);
}

export function graphdriverSuite(name: string, factory: SuiteFactory, opts: SuiteOptions = {}): void {
  needs(opts.skip).describe(`graphdriver ${name}`, () => {
    let base: string;
    let fx: SuiteFixture;
    let current: SuiteFixture | undefined;
    let d: DiffingDriver;

    beforeAll(async () => {
      base = await mkdtemp(join(tmpdir(), `berth-gd-${name}-${process.pid}-`));
    });

    afterAll(async () => {
      // Nothing may stay mounted under the suite's temp root, whatever failed.
      const left = await mountsUnder(base);
      for (const m of left) unmount('graphdriver suite', m, MNT_DETACH);
      await rm(base, { recursive: true, force: true });
      expect(left).toEqual([]);
    });

    beforeEach(async () => {
      current = undefined;
      fx = await factory(ctx, await mkdtemp(join(base, 'case-')));
      current = fx;
      d = withDiff(fx.driver);
    });

    afterEach(async () => {
      const f = current;
      if (f === undefined) return; // the factory failed; afterAll still checks for mounts
      current = undefined;
      let left: string[] = [];
      try {
        await f.driver.cleanup(ctx);
      } finally {
        left = await mountsUnder(f.root);
        for (const m of left) unmount('graphdriver suite', m, MNT_DETACH);
        await f.dispose?.();
      }
      expect(left).toEqual([]);
    });

    async function layer(id: string, parent: string | undefined, entries: FixtureEntry[]) {
      await d.create(ctx, id, parent);
      return d.applyDiff(ctx, id, parent, tarStream(await buildTar(entries)));
    }

    it('creates, reports and removes layers (remove is idempotent)', async () => {
      expect(d.name).toBe(name);
      expect(await d.exists(ctx, 'l1')).toBe(false);
      await d.create(ctx, 'l1', undefined);
      expect(await d.exists(ctx, 'l1')).toBe(true);
      await expectCode(d.create(ctx, 'l1', undefined), 'ALREADY_EXISTS', 'l1');
      await expectCode(d.create(ctx, 'l2', 'nope'), 'NOT_FOUND', 'nope');
      expect(await d.exists(ctx, 'l2')).toBe(false);
      await expectCode(d.create(ctx, '../evil', undefined), 'INVALID_ARGUMENT', '../evil');
      const status = await d.status(ctx);
      expect(status['Backing Filesystem']).toBeTruthy();
      await d.remove(ctx, 'l1');
      expect(await d.exists(ctx, 'l1')).toBe(false);
      await d.remove(ctx, 'l1');
      // Nothing of the layer is left in the home but the driver's own folders.
      const leftovers = (await readdir(d.home, { recursive: true })).filter((p) => p.includes('l1'));
      expect(leftovers).toEqual([]);
    });

    it('stacks layers: parent files visible, overwritten and deleted in children, parents untouched', async () => {
      const r1 = await layer('base', undefined, baseLayer);
      expect(r1.entries).toBe(baseLayer.length);
      await layer('child', 'base', childLayer);
      const child = await d.get(ctx, 'child');
      try {
        expect(await readFile(`${child}/bin/busybox`, 'utf8')).toBe('BUSYBOX');
        expect(await readFile(`${child}/etc/passwd`, 'utf8')).toContain('user:x:1000');
        await expect(lstat(`${child}/etc/gone`)).rejects.toThrow(/ENOENT/);
        await expect(lstat(`${child}/etc/dir-gone`)).rejects.toThrow(/ENOENT/);
        expect((await readdir(`${child}/opq`)).sort()).toEqual(['upper']);
        expect(await readFile(`${child}/etc/new`, 'utf8')).toBe('new file');
      } finally {
        await d.put(ctx, 'child');
      }
      const b = await d.get(ctx, 'base');
      try {
        expect(await readFile(`${b}/etc/passwd`, 'utf8')).toBe('root:x:0:0::/root:/bin/sh\n');
        expect(await readFile(`${b}/etc/gone`, 'utf8')).toBe('to be deleted');
        expect((await readdir(`${b}/opq`)).sort()).toEqual(['lower-a', 'lower-b']);
      } finally {
        await d.put(ctx, 'base');
      }
    });

    it('keeps hard links, symlinks, devices, ownership, modes, xattrs and mtimes', async () => {
      await layer('base', undefined, baseLayer);
      const b = await d.get(ctx, 'base');
      try {
        const bb = await lstat(`${b}/bin/busybox`);
        expect((await lstat(`${b}/bin/ash`)).ino).toBe(bb.ino);
        expect(bb.nlink).toBe(2);
        expect(await readlink(`${b}/bin/sh`)).toBe('busybox');
        expect(await readlink(`${b}/abs`)).toBe('/etc/passwd');
        const nul = await lstat(`${b}/dev/null`);
        expect(nul.isCharacterDevice() && nul.rdev === 0x103).toBe(true);
        expect((await lstat(`${b}/dev/fifo`)).isFIFO()).toBe(true);
        const owned = await lstat(`${b}/etc/owned`);
        expect([owned.uid, owned.gid, owned.mode & 0o7777]).toEqual([1234, 4321, 0o640]);
        expect((await lstat(`${b}/etc/shadow`)).mode & 0o7777).toBe(0o000);
        expect((await lstat(`${b}/bin/su`)).mode & 0o7777).toBe(0o4755);
        expect((await lstat(`${b}/tmp`)).mode & 0o7777).toBe(0o1777);
        expect(readXattrs(`${b}/etc/attr`).get('user.berth')?.toString()).toBe('base');
        expect(readXattrs(`${b}/bin/ping`).get('user.cap')?.toString('hex')).toBe('0100000280200000ff000000');
        expect((await lstat(`${b}/etc/passwd`)).mtimeMs).toBe(T1.getTime());
        expect((await lstat(`${b}/bin`)).mtimeMs).toBe(T1.getTime());
      } finally {
        await d.put(ctx, 'base');
      }
    });

    it('gives a read-write layer on top whose writes stay in it', async () => {
      await layer('base', undefined, baseLayer);
      await d.createReadWrite(ctx, 'rw', 'base');
      const rw = await d.get(ctx, 'rw');
      try {
        await writeFile(`${rw}/etc/container-file`, 'hello');
        await writeFile(`${rw}/etc/passwd`, 'changed');
        await rm(`${rw}/etc/gone`);
      } finally {
        await d.put(ctx, 'rw');
      }
      const changes = await d.changes(ctx, 'rw', 'base');
      expect(changes).toEqual(
        expect.arrayContaining([
          { path: '/etc/container-file', kind: 'add' },
          { path: '/etc/passwd', kind: 'modify' },
          { path: '/etc/gone', kind: 'delete' },
        ]),
      );
      expect(changes.find((c) => c.path === '/bin/busybox')).toBeUndefined();
      expect(await d.diffSize(ctx, 'rw', 'base')).toBe('hello'.length + 'changed'.length);
      const b = await d.get(ctx, 'base');
      try {
        await expect(lstat(`${b}/etc/container-file`)).rejects.toThrow(/ENOENT/);
        expect(await readFile(`${b}/etc/gone`, 'utf8')).toBe('to be deleted');
      } finally {
        await d.put(ctx, 'base');
      }
    });

    it('counts get/put references: mounted once, unmounted at the last put', async () => {
      await layer('base', undefined, baseLayer);
      await d.create(ctx, 'top', 'base');
      const p1 = await d.get(ctx, 'top');
      const p2 = await d.get(ctx, 'top');
      expect(p2).toBe(p1);
      const mounts = await d.mounts(ctx, 'top');
      expect(mounts.length).toBeGreaterThan(0);
      const mounted = await isMountPoint(p1);
      await d.put(ctx, 'top');
      expect(await readFile(`${p1}/etc/passwd`, 'utf8')).toContain('root');
      expect(await isMountPoint(p1)).toBe(mounted);
      await d.put(ctx, 'top');
      expect(await isMountPoint(p1)).toBe(false);
      await d.put(ctx, 'top'); // a put without a get is a no-op
      expect(await mountsUnder(fx.root)).toEqual([]);
    });

    it('mounts once under concurrent gets and unmounts after the matching puts', async () => {
      await layer('base', undefined, baseLayer);
      await d.create(ctx, 'top', 'base');
      const paths = await Promise.all([1, 2, 3, 4].map(() => d.get(ctx, 'top')));
      expect(new Set(paths).size).toBe(1);
      const stacked = (await readMounts()).filter((m) => m.mountPoint === paths[0]).length;
      expect(stacked).toBeLessThanOrEqual(1);
      await Promise.all([1, 2, 3].map(() => d.put(ctx, 'top')));
      expect(await readFile(`${paths[0]}/etc/passwd`, 'utf8')).toContain('root');
      await d.put(ctx, 'top');
      expect(await mountsUnder(fx.root)).toEqual([]);
    });

    it('round-trips changes/diff/applyDiff: a diff re-applied elsewhere gives the same tree', async () => {
      await layer('base', undefined, baseLayer);
      await layer('child', 'base', childLayer);
      await d.create(ctx, 'copy-base', undefined);
      await d.applyDiff(ctx, 'copy-base', undefined, await d.diff(ctx, 'base', undefined));
      await d.create(ctx, 'copy-child', 'copy-base');
      const res = await d.applyDiff(ctx, 'copy-child', 'copy-base', await d.diff(ctx, 'child', 'base'));
      expect(res.entries).toBeGreaterThan(0);
      const trees: string[][] = [];
      for (const id of ['base', 'copy-base', 'child', 'copy-child']) {
        const p = await d.get(ctx, id);
        try {
          trees.push(await describeTree(p));
        } finally {
          await d.put(ctx, id);
        }
      }
      expect(trees[1]).toEqual(trees[0]);
      expect(trees[3]).toEqual(trees[2]);
      const kinds = new Map((await d.changes(ctx, 'child', 'base')).map((c) => [c.path, c.kind]));
      expect(kinds.get('/etc/passwd')).toBe('modify');
      expect(kinds.get('/etc/new')).toBe('add');
      expect(kinds.get('/etc/gone')).toBe('delete');
      expect(kinds.get('/etc/dir-gone')).toBe('delete');
      expect(kinds.has('/bin/busybox')).toBe(false);
    });

    it('refuses an unsafe layer tar with INVALID_ARGUMENT naming the entry', async () => {
      await d.create(ctx, 'bad', undefined);
      const tar = await buildTar([
        { name: 'evil', type: 'symlink', linkname: '/' },
        { name: 'evil/x', content: 'x' },
      ]);
      await expectCode(d.applyDiff(ctx, 'bad', undefined, tarStream(tar)), 'INVALID_ARGUMENT', 'layer entry "evil/x"');
      await d.remove(ctx, 'bad');
    });

    it('reports errors: unknown ids NOT_FOUND, remove while mounted CONFLICT', async () => {
      await expectCode(d.get(ctx, 'missing-layer'), 'NOT_FOUND', 'missing-layer');
      await expectCode(d.mounts(ctx, 'missing-layer'), 'NOT_FOUND', 'missing-layer');
      await layer('base', undefined, baseLayer);
      await d.create(ctx, 'top', 'base');
      await d.get(ctx, 'top');
      await expectCode(d.remove(ctx, 'top'), 'CONFLICT', 'top');
      expect(await d.exists(ctx, 'top')).toBe(true);
      await d.put(ctx, 'top');
      await d.remove(ctx, 'top');
      expect(await d.exists(ctx, 'top')).toBe(false);
    });

    it('cleanup unmounts everything and is idempotent', async () => {
      await layer('base', undefined, baseLayer);
      await d.create(ctx, 'a', 'base');
      await d.create(ctx, 'b', 'base');
      await d.get(ctx, 'a');
      await d.get(ctx, 'b');
      await d.get(ctx, 'b');
      await d.cleanup(ctx);
      expect(await mountsUnder(fx.root)).toEqual([]);
      await d.cleanup(ctx);
      await d.remove(ctx, 'a');
    });

    it('mounts a 129-layer chain (128 lowers) with 64-character ids', async () => {
      const ids: string[] = [];
      let parent: string | undefined;
      for (let i = 0; i < 129; i++) {
        const id = createHash('sha256').update(`layer-${i}`).digest('hex');
        await layer(id, parent, [{ name: `f${i}`, content: String(i) }]);
        ids.push(id);
        parent = id;
      }
      const top = ids[ids.length - 1];
      const dir = await d.get(ctx, top);
      try {
        const names = await readdir(dir);
        expect(names.length).toBe(129);
        expect(await readFile(`${dir}/f0`, 'utf8')).toBe('0');
      } finally {
        await d.put(ctx, top);
      }
      const options = (await d.mounts(ctx, top))[0].options.join(',');
      expect(options.length).toBeGreaterThan(0);
      const withOptions = d as Driver & { mountOptions?: (ctx: Context, id: string) => Promise<string> };
      if (withOptions.mountOptions) expect((await withOptions.mountOptions(ctx, top)).length).toBeLessThan(4096);
    });

    layerCases(() => ({ driver: d, outside: base }));
  });
}
