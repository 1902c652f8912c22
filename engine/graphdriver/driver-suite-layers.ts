// The graphdriver conformance cases about what a layer may do: every driver gives the
// same verdict on the same layers (refused, or applied with the same merged tree), and
// no crafted layer writes outside the driver's root. Registered by graphdriverSuite.
import { lstat, mkdir, mkdtemp, readdir, readFile, readlink, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { isBerthError } from '../errdefs/errors.js';
import { hostileStacks, swappedParent } from '../archive/hostile-layers.js';
import { setXattr } from '../archive/tar-fs.js';
import { buildTar, fullListing, tarStream, type FixtureEntry } from '../archive/tar-fixtures.js';
import { background } from '../trace/context.js';
import type { DiffingDriver } from './driver.js';

const ctx = background();

export interface LayerCaseEnv {
  driver: DiffingDriver;
  /** A directory outside the driver's root where the cases make their host dir. */
  outside: string;
}

async function refusal(p: Promise<unknown>): Promise<Error> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(isBerthError(err, 'INVALID_ARGUMENT'), `expected INVALID_ARGUMENT, got ${String(err)}`).toBe(true);
  return err as Error;
}

/** Registers the cases inside the calling describe (whose beforeEach makes a fresh driver). */
export function layerCases(env: () => LayerCaseEnv): void {
  describe('layer verdicts and confinement', () => {
    let d: DiffingDriver;
    let host: string;
    let before: string[];

    beforeEach(async () => {
      d = env().driver;
      host = await mkdtemp(join(env().outside, 'host-'));
      await mkdir(join(host, 'target'));
      await writeFile(join(host, 'secret'), 'secret');
      setXattr(join(host, 'target'), 'user.host', Buffer.from('kept'));
      before = await fullListing(host);
    });

    afterEach(async () => {
      await rm(host, { recursive: true, force: true });
    });

    /** Creates and applies the layers l0, l1, … (each on the previous); returns the last id. */
    async function stack(layers: FixtureEntry[][]): Promise<string> {
      let parent: string | undefined;
      for (const [i, entries] of layers.entries()) {
        const id = `l${i}`;
        await d.create(ctx, id, parent);
        await d.applyDiff(ctx, id, parent, tarStream(await buildTar(entries)));
        parent = id;
      }
      return parent as string;
    }

    /** Applies all but the last layer, then the last one must be refused naming `entry`. */
    async function refused(layers: FixtureEntry[][], entry: string): Promise<Error> {
      const top = layers.length - 1;
      if (top > 0) await stack(layers.slice(0, top));
      const parent = top > 0 ? `l${top - 1}` : undefined;
      await d.create(ctx, `l${top}`, parent);
      const err = await refusal(d.applyDiff(ctx, `l${top}`, parent, tarStream(await buildTar(layers[top]))));
      expect(err.message).toContain(`layer entry ${JSON.stringify(entry)}`);
      return err;
    }

    async function inLayer<T>(id: string, fn: (dir: string) => Promise<T>): Promise<T> {
      const dir = await d.get(ctx, id);
      try {
        return await fn(dir);
      } finally {
        await d.put(ctx, id);
      }
    }

    for (const c of hostileStacks) {
      it(`${c.refused === undefined ? 'confines' : 'refuses'} ${c.name}, changing nothing outside the root`, async () => {
        const layers = c.layers(host);
        if (c.refused === undefined) await stack(layers);
        else await refused(layers, c.refused.replace('HOST', host));
        expect(await fullListing(host)).toEqual(before);
      });
    }

    it('restores deferred directory times inside the layer after a parent became a symlink out of it', async () => {
      const top = await stack([swappedParent(host)]);
      await inLayer(top, async (dir) => expect(await readlink(join(dir, 'a'))).toBe(host));
      expect(await fullListing(host)).toEqual(before);
    });

    // A path through a symlink that a lower layer planted is refused by every driver, in-root target or not:
    // a full copy would have to follow it, an overlay upper dir would hide it.
    it.each([
      ['a directory', 'lib/x/', [{ name: 'lib/x/', type: 'directory' }]],
      ['a file', 'lib/f', [{ name: 'lib/f', content: 'f' }]],
      ['a whiteout', 'lib/.wh.so', [{ name: 'lib/.wh.so' }]],
      ['a deeper whiteout', 'lib/sub/.wh.so', [{ name: 'lib/sub/.wh.so' }]],
      ['a deeper opaque marker', 'lib/sub/.wh..wh..opq', [{ name: 'lib/sub/.wh..wh..opq' }]],
      ['a deeper hard link target', 'h', [{ name: 'h', type: 'link', linkname: 'lib/sub/so' }]],
      ['an opaque marker', 'lib/.wh..wh..opq', [{ name: 'lib/.wh..wh..opq' }]],
      ['a hard link target', 'h', [{ name: 'h', type: 'link', linkname: 'lib/so' }]],
    ] as [string, string, FixtureEntry[]][])(
      'refuses %s through a symlink of a lower layer (into the root)',
      async (_what, entry, top) => {
        const err = await refused(
          [
            [
              { name: 'usr/lib/', type: 'directory' },
              { name: 'usr/lib/so', content: 'so' },
              { name: 'lib', type: 'symlink', linkname: 'usr/lib' },
            ],
            top,
          ],
          entry,
        );
        expect(err.message).toContain('through symlink "lib"');
      },
    );

    it('refuses an entry under a file of a lower layer', async () => {
      const err = await refused([[{ name: 'f', content: 'f' }], [{ name: 'f/x', content: 'x' }]], 'f/x');
      expect(err.message).toContain('parent "f" is not a directory');
    });

    it('replaces a symlink of a lower layer by a directory entry of the same name', async () => {
      const top = await stack([
        [
          { name: 'usr/lib/', type: 'directory' },
          { name: 'usr/lib/so', content: 'so' },
          { name: 'lib', type: 'symlink', linkname: 'usr/lib' },
        ],
        [
          { name: 'lib/', type: 'directory', mode: 0o711 },
          { name: 'lib/x', content: 'x' },
        ],
      ]);
      await inLayer(top, async (dir) => {
        const st = await lstat(join(dir, 'lib'));
        expect([st.isDirectory(), st.mode & 0o7777]).toEqual([true, 0o711]);
        expect(await readdir(join(dir, 'lib'))).toEqual(['x']);
        expect(await readFile(join(dir, 'usr/lib/so'), 'utf8')).toBe('so');
      });
    });

    it('accepts hard links to a symlink (of its own layer too), a file and a device of a lower layer (one inode each)', async () => {
      const top = await stack([
        [
          { name: 'bin/', type: 'directory' },
          { name: 'bin/busybox', content: 'BUSYBOX', mode: 0o755, uid: 3, gid: 4 },
          { name: 'bin/sh', type: 'symlink', linkname: 'busybox' },
          { name: 'bin/ash', type: 'link', linkname: 'bin/sh' },
          { name: 'dev/', type: 'directory' },
          { name: 'dev/null', type: 'character-device', devmajor: 1, devminor: 3, mode: 0o666 },
        ],
        [
          { name: 'bin/sh2', type: 'link', linkname: 'bin/sh' },
          { name: 'bin/bb2', type: 'link', linkname: 'bin/busybox' },
          { name: 'usr/bin/sh', type: 'link', linkname: 'bin/sh' },
          { name: 'null2', type: 'link', linkname: 'dev/null' },
        ],
      ]);
      await inLayer(top, async (dir) => {
        const sh = await lstat(join(dir, 'bin/sh'));
        // A link to a lower file shares the inode the merged view shows for it; other links of the
        // lower layer may keep the old one (overlayfs breaks hard links on copy-up).
        expect(await readlink(join(dir, 'bin/ash'))).toBe('busybox');
        for (const p of ['bin/sh2', 'usr/bin/sh']) {
          expect(await readlink(join(dir, p))).toBe('busybox');
          expect((await lstat(join(dir, p))).ino).toBe(sh.ino);
        }
        const bb = await lstat(join(dir, 'bin/busybox'));
        const bb2 = await lstat(join(dir, 'bin/bb2'));
        expect([bb2.ino, bb2.uid, bb2.gid, bb2.mode & 0o7777]).toEqual([bb.ino, 3, 4, 0o755]);
        expect(await readFile(join(dir, 'bin/bb2'), 'utf8')).toBe('BUSYBOX');
        const nul = await lstat(join(dir, 'null2'));
        expect([nul.isCharacterDevice(), nul.rdev, nul.ino]).toEqual([
          true,
          0x103,
          (await lstat(join(dir, 'dev/null'))).ino,
        ]);
      });
      // The lower layer keeps its own, unlinked inodes.
      await inLayer('l0', async (dir) => {
        expect((await lstat(join(dir, 'bin/ash'))).ino).toBe((await lstat(join(dir, 'bin/sh'))).ino);
        expect((await readdir(join(dir, 'bin'))).sort()).toEqual(['ash', 'busybox', 'sh']);
      });
    });

    it('refuses a hard link to a lower path deleted earlier in the same layer', async () => {
      const err = await refused(
        [[{ name: 'f', content: 'f' }], [{ name: '.wh.f' }, { name: 'h', type: 'link', linkname: 'f' }]],
        'h',
      );
      expect(err.message).toContain('does not exist');
    });

    it('refuses a hard link to a directory of a lower layer', async () => {
      const err = await refused(
        [[{ name: 'd/', type: 'directory' }], [{ name: 'h', type: 'link', linkname: 'd' }]],
        'h',
      );
      expect(err.message).toContain('is a directory');
    });

    it("keeps a lower directory's owner, mode and xattrs when a layer adds a file to it without its entry", async () => {
      const top = await stack([
        [{ name: 'home/user/', type: 'directory', uid: 1000, gid: 1000, mode: 0o700, xattrs: { 'user.home': 'mine' } }],
        [{ name: 'home/user/file', content: 'x' }],
      ]);
      await inLayer(top, async (dir) => {
        const st = await lstat(join(dir, 'home/user'));
        expect([st.uid, st.gid, st.mode & 0o7777]).toEqual([1000, 1000, 0o700]);
        expect((await readdir(join(dir, 'home/user'))).sort()).toEqual(['file']);
      });
    });

    it('gives an empty directory for a whiteout and a directory of the same name in one layer', async () => {
      const top = await stack([
        [
          { name: 'd/', type: 'directory' },
          { name: 'd/old', content: 'old' },
        ],
        [{ name: '.wh.d' }, { name: 'd/', type: 'directory' }, { name: 'd/new', content: 'new' }],
      ]);
      await inLayer(top, async (dir) => expect(await readdir(join(dir, 'd'))).toEqual(['new']));
    });

    it('gives the same tree for a whiteout then a file under the deleted directory', async () => {
      const top = await stack([
        [
          { name: 'd/', type: 'directory' },
          { name: 'd/old', content: 'old' },
        ],
        [{ name: '.wh.d' }, { name: 'd/new', content: 'new' }],
      ]);
      await inLayer(top, async (dir) => expect(await readdir(join(dir, 'd'))).toEqual(['new']));
    });

    it('creates nothing for a whiteout under a directory no layer has', async () => {
      const top = await stack([
        [{ name: 'f', content: 'f' }],
        [{ name: 'nowhere/deeper/.wh.x' }, { name: 'nowhere2/.wh..wh..opq' }],
      ]);
      await inLayer(top, async (dir) => expect(await readdir(dir)).toEqual(['f']));
    });
  });
}
