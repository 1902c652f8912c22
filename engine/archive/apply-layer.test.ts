// The layer applier: layer semantics (files, links, devices, ownership, modes,
// mtimes, xattrs, whiteouts in both modes), decompression, and the security corpus
// of crafted tars that must be refused without writing anything outside the root.
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { lstat, mkdir, mkdtemp, readdir, readFile, readlink, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { gzipSync } from 'node:zlib';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { isBerthError } from '../errdefs/errors.js';
import { background, withSignal } from '../trace/context.js';
import { applyLayer, decompressStream, detectCompression, type WhiteoutMode } from './apply-layer.js';
import { getXattr, S_IFCHR, S_IFMT, setXattr } from './tar-fs.js';
import { swappedParent, T_OLD } from './hostile-layers.js';
import { buildTar, fullListing, tarStream, type FixtureEntry } from './tar-fixtures.js';
import { needs, root as asRoot, tool } from '../../testkit/needs.js';

const ctx = background();
let base: string;
let root: string;

beforeEach(async () => {
  base = await mkdtemp(join(tmpdir(), `berth-apply-${process.pid}-`));
  root = join(base, 'root');
  await mkdir(root);
});

afterEach(async () => {
  await rm(base, { recursive: true, force: true });
});

async function apply(entries: FixtureEntry[], whiteouts: WhiteoutMode = 'delete') {
  return applyLayer(ctx, root, tarStream(await buildTar(entries)), { whiteouts });
}

describe('applyLayer with a stream that is already over', () => {
  it.each([
    [
      'failed',
      () => {
        const s = new Readable({ read() {} });
        s.on('error', () => {});
        s.destroy(new Error('connection reset'));
        return s;
      },
      'connection reset',
    ],
    [
      'destroyed',
      () => {
        const s = new Readable({ read() {} });
        s.destroy();
        return s;
      },
      'closed before it was read',
    ],
  ])('rejects a %s stream at once instead of waiting for it', async (_kind, make, message) => {
    const src = make();
    await new Promise((resolve) => setImmediate(resolve));
    const err = await applyLayer(ctx, root, src, { whiteouts: 'delete' }).catch((e: unknown) => e);
    expect(isBerthError(err)).toBe(true);
    expect((err as Error).message).toContain(`layer tar into ${root}`);
    expect((err as Error).message).toContain(message);
    expect(await readdir(root)).toEqual([]);
  });
});

needs(asRoot()).describe('applyLayer', () => {
  it("stores ids shifted into a remap's ranges (the root directory as 0) and refuses an owner beyond them", async () => {
    const idShift = { uid: { hostID: 100_000, size: 65_536 }, gid: { hostID: 300_000, size: 1000 } };
    const entries = [
      { name: 'etc/', type: 'directory' as const, mode: 0o755 },
      { name: 'etc/owned', content: 'abc', mode: 0o640, uid: 1234, gid: 56 },
      { name: 'etc/link', type: 'symlink' as const, linkname: 'owned', uid: 7, gid: 8 },
    ];
    await applyLayer(ctx, root, tarStream(await buildTar(entries)), { whiteouts: 'delete', idShift });
    const ids = async (p: string) => {
      const st = await lstat(join(root, p));
      return [st.uid, st.gid];
    };
    expect(await ids('.')).toEqual([100_000, 300_000]);
    expect(await ids('etc')).toEqual([100_000, 300_000]);
    expect(await ids('etc/owned')).toEqual([101_234, 300_056]);
    expect(await ids('etc/link')).toEqual([100_007, 300_008]);
    const beyond = [{ name: 'far', content: 'x', uid: 0, gid: 1000 }];
    const err = await applyLayer(ctx, root, tarStream(await buildTar(beyond)), { whiteouts: 'delete', idShift }).catch(
      (e: unknown) => e as Error,
    );
    expect((err as Error).message).toContain('layer entry "far": owner 0:1000 is outside the remapped ranges');
  });

  it('writes files, dirs, symlinks, hard links, devices with ownership, modes, mtimes and xattrs', async () => {
    const t = new Date(1_500_000_000_000);
    const res = await apply([
      { name: 'etc/', type: 'directory', mode: 0o755, mtime: t },
      { name: 'etc/passwd', content: 'root:x:0:0\n', mode: 0o644, uid: 0, gid: 0 },
      { name: 'etc/owned', content: 'abc', mode: 0o640, uid: 1234, gid: 5678, xattrs: { 'user.berth': 'yes' } },
      { name: 'bin/su', content: 'su', mode: 0o4755 },
      { name: 'tmp/', type: 'directory', mode: 0o1777 },
      { name: 'etc/link', type: 'symlink', linkname: 'passwd' },
      { name: 'etc/hard', type: 'link', linkname: 'etc/passwd' },
      { name: 'dev/null', type: 'character-device', devmajor: 1, devminor: 3, mode: 0o666 },
      { name: 'dev/loopx', type: 'block-device', devmajor: 7, devminor: 200, mode: 0o660 },
      { name: 'run/fifo', type: 'fifo', mode: 0o600 },
    ]);
    expect(res).toEqual({ size: 11 + 3 + 2, entries: 10 });
    expect(await readFile(join(root, 'etc/passwd'), 'utf8')).toBe('root:x:0:0\n');
    const owned = await lstat(join(root, 'etc/owned'));
    expect([owned.uid, owned.gid, owned.mode & 0o7777]).toEqual([1234, 5678, 0o640]);
    expect(getXattr(join(root, 'etc/owned'), 'user.berth')?.toString()).toBe('yes');
    expect((await lstat(join(root, 'bin/su'))).mode & 0o7777).toBe(0o4755);
    expect((await lstat(join(root, 'tmp'))).mode & 0o7777).toBe(0o1777);
    expect(await readlink(join(root, 'etc/link'))).toBe('passwd');
    expect((await lstat(join(root, 'etc/hard'))).ino).toBe((await lstat(join(root, 'etc/passwd'))).ino);
    const dev = await lstat(join(root, 'dev/null'));
    expect(dev.isCharacterDevice()).toBe(true);
    expect(dev.rdev).toBe((1 << 8) | 3);
    expect((await lstat(join(root, 'dev/loopx'))).isBlockDevice()).toBe(true);
    expect((await lstat(join(root, 'run/fifo'))).isFIFO()).toBe(true);
    // The directory's mtime survives the files written into it afterwards.
    expect((await lstat(join(root, 'etc'))).mtimeMs).toBe(t.getTime());
    expect((await lstat(join(root, 'etc/passwd'))).mtimeMs).toBe(1_600_000_000_000);
  });

  it("'delete' mode removes whited-out lower paths and empties opaque dirs but keeps this layer's files", async () => {
    await mkdir(join(root, 'a/sub'), { recursive: true });
    await writeFile(join(root, 'a/old'), 'old');
    await writeFile(join(root, 'gone'), 'x');
    await mkdir(join(root, 'opq/kept-dir'), { recursive: true });
    await writeFile(join(root, 'opq/lower'), 'lower');
    await writeFile(join(root, 'opq/kept-dir/lower-inside'), 'lower');
    await apply([
      { name: '.wh.gone' },
      { name: 'a/.wh.sub' },
      { name: 'opq/', type: 'directory' },
      { name: 'opq/new', content: 'new' },
      { name: 'opq/kept-dir/', type: 'directory' },
      { name: 'opq/kept-dir/mine', content: 'mine' },
      { name: 'opq/.wh..wh..opq' },
    ]);
    expect(existsSync(join(root, 'gone'))).toBe(false);
    expect(existsSync(join(root, 'a/sub'))).toBe(false);
    expect(existsSync(join(root, 'a/old'))).toBe(true);
    expect((await readdir(join(root, 'opq'))).sort()).toEqual(['kept-dir', 'new']);
    // Lower content inside a directory the layer re-created is hidden too (as overlayfs would).
    expect(await readdir(join(root, 'opq/kept-dir'))).toEqual(['mine']);
  });

  it("'overlay' mode writes 0/0 character devices and the opaque xattr", async () => {
    await apply([{ name: 'a/', type: 'directory' }, { name: 'a/.wh.b' }, { name: 'a/.wh..wh..opq' }], 'overlay');
    const wh = await lstat(join(root, 'a/b'));
    expect(wh.mode & S_IFMT).toBe(S_IFCHR);
    expect(wh.rdev).toBe(0);
    expect(getXattr(join(root, 'a'), 'trusted.overlay.opaque')?.toString()).toBe('y');
    expect(existsSync(join(root, 'a/.wh..wh..opq'))).toBe(false);
  });

  it('replaces a lower symlink named by an entry instead of writing through it', async () => {
    await mkdir(join(base, 'outside'));
    await symlink('../outside/file', join(root, 'f'));
    await apply([{ name: 'f', content: 'mine' }]);
    expect((await lstat(join(root, 'f'))).isFile()).toBe(true);
    expect(existsSync(join(base, 'outside/file'))).toBe(false);
  });

  it('ignores overlayfs attributes carried in the tar', async () => {
    await apply([{ name: 'd/', type: 'directory', xattrs: { 'trusted.overlay.redirect': '/etc' } }], 'overlay');
    expect(getXattr(join(root, 'd'), 'trusted.overlay.redirect')).toBeUndefined();
  });

  it("'delete' mode ignores a whiteout under a missing directory (creates nothing)", async () => {
    await apply([{ name: 'no/such/dir/.wh.x' }]);
    expect(await readdir(root)).toEqual([]);
  });

  it('skips aufs metadata entries at the root', async () => {
    await apply([
      { name: '.wh..wh.aufs' },
      { name: '.wh..wh.plnk/', type: 'directory' },
      { name: '.wh..wh.plnk/123.456' },
      { name: 'kept', content: 'k' },
    ]);
    expect(await readdir(root)).toEqual(['kept']);
  });

  it('refuses a hard link to a path not in the layer', async () => {
    const err = await apply([{ name: 'h', type: 'link', linkname: 'missing/file' }]).catch((e: unknown) => e);
    expect(isBerthError(err, 'INVALID_ARGUMENT')).toBe(true);
    expect((err as Error).message).toContain('layer entry "h": hard link target "missing/file" does not exist');
  });

  it('stops with CANCELLED when the context is cancelled', async () => {
    const ac = new AbortController();
    ac.abort(new Error('shutdown'));
    const err = await applyLayer(
      withSignal(ctx, ac.signal),
      root,
      tarStream(await buildTar([{ name: 'a', content: 'a' }])),
      { whiteouts: 'delete' },
    ).catch((e: unknown) => e);
    expect(isBerthError(err, 'CANCELLED')).toBe(true);
    expect(existsSync(join(root, 'a'))).toBe(false);
  });

  it('fails a truncated tar with an error naming the layer', async () => {
    const tar = await buildTar([{ name: 'big', content: Buffer.alloc(4096, 1) }]);
    const err = await applyLayer(ctx, root, tarStream(tar.subarray(0, 1500)), { whiteouts: 'delete' }).catch(
      (e: unknown) => e,
    );
    expect(isBerthError(err)).toBe(true);
  });
});

// Files and symlinks are made in batches on the threadpool (apply-batch.cc), the other entries in between on the
// event loop: these cases check that order and every entry's metadata survive that split.
needs(asRoot()).describe('applyLayer batches', () => {
  it('makes files in more directories than the handle cache holds, each with its metadata', async () => {
    const t = new Date(1_400_000_000_000);
    const entries: FixtureEntry[] = [];
    for (let d = 0; d < 150; d++) {
      entries.push({ name: `d${d}/`, type: 'directory', mode: 0o751, mtime: t });
      entries.push({ name: `d${d}/f`, content: `file ${d}`, mode: 0o640, uid: d, gid: d + 1 });
      entries.push({ name: `d${d}/l`, type: 'symlink', linkname: `f${d}`, uid: d, gid: 3 });
    }
    // and back into the first directories, whose handles were dropped from the cache meanwhile
    for (let d = 0; d < 10; d++) entries.push({ name: `d${d}/g`, content: `again ${d}` });
    const res = await apply(entries, 'overlay');
    expect(res.entries).toBe(entries.length);
    for (let d = 0; d < 150; d++) {
      const f = await lstat(join(root, `d${d}/f`));
      expect([f.mode & 0o7777, f.uid, f.gid, f.mtimeMs]).toEqual([0o640, d, d + 1, 1_600_000_000_000]);
      expect(await readFile(join(root, `d${d}/f`), 'utf8')).toBe(`file ${d}`);
      const l = await lstat(join(root, `d${d}/l`));
      expect([l.isSymbolicLink(), l.uid, l.gid]).toEqual([true, d, 3]);
      expect(await readlink(join(root, `d${d}/l`))).toBe(`f${d}`);
      const dir = await lstat(join(root, `d${d}`));
      expect([dir.mode & 0o7777, dir.mtimeMs]).toEqual([0o751, t.getTime()]);
    }
    for (let d = 0; d < 10; d++) expect(await readFile(join(root, `d${d}/g`), 'utf8')).toBe(`again ${d}`);
  });

  it('lets the later of two entries for one path win, whatever their kinds', async () => {
    await apply([
      { name: 'x', content: 'first' },
      { name: 'x', type: 'symlink', linkname: 'somewhere' },
      { name: 'y', type: 'symlink', linkname: 'somewhere' },
      { name: 'y', content: 'second' },
      { name: 'z', content: 'one' },
      { name: 'z', type: 'fifo' },
      { name: 'w', content: 'one' },
      { name: 'w/', type: 'directory', mode: 0o700 },
      { name: 'w/inside', content: 'in' },
    ]);
    expect(await readlink(join(root, 'x'))).toBe('somewhere');
    expect(await readFile(join(root, 'y'), 'utf8')).toBe('second');
    expect((await lstat(join(root, 'z'))).isFIFO()).toBe(true);
    expect(await readFile(join(root, 'w/inside'), 'utf8')).toBe('in');
  });

  it("replaces a directory (its lower content or this layer's) by a file, and refuses an entry under it then", async () => {
    await mkdir(join(root, 'lower/deep'), { recursive: true });
    await writeFile(join(root, 'lower/deep/old'), 'old');
    await apply([
      { name: 'lower', content: 'now a file' },
      { name: 'mine/', type: 'directory' },
      { name: 'mine/sub/', type: 'directory' },
      { name: 'mine/sub/f', content: 'f' },
      { name: 'mine', type: 'symlink', linkname: 'elsewhere' },
    ]);
    expect(await readFile(join(root, 'lower'), 'utf8')).toBe('now a file');
    expect(await readlink(join(root, 'mine'))).toBe('elsewhere');
    await mkdir(join(root, 'again'));
    const err = await apply([
      { name: 'again', content: 'file' },
      { name: 'again/under', content: 'x' },
    ]).catch((e: unknown) => e);
    expect(isBerthError(err, 'INVALID_ARGUMENT')).toBe(true);
    expect((err as Error).message).toContain('layer entry "again/under": parent "again" is not a directory');
  });

  it('writes a file larger than a batch holds between queued ones', async () => {
    const big = Buffer.alloc(9 << 20, 7);
    big.write('head');
    await apply([
      { name: 'a', content: 'before' },
      { name: 'big', content: big, mode: 0o600, uid: 9 },
      { name: 'b', content: 'after' },
    ]);
    expect((await readFile(join(root, 'big'))).equals(big)).toBe(true);
    expect((await lstat(join(root, 'big'))).uid).toBe(9);
    expect(await readFile(join(root, 'a'), 'utf8')).toBe('before');
    expect(await readFile(join(root, 'b'), 'utf8')).toBe('after');
  });

  it('logs an xattr the file system refuses on a symlink and fails on one it cannot take, naming the entry', async () => {
    const warnings: string[] = [];
    const logger = { ...ctx.logger, warn: (m: string) => void warnings.push(m) };
    const tar = await buildTar([
      { name: 'f', content: 'f', xattrs: { 'user.ok': 'yes' } },
      { name: 'l', type: 'symlink', linkname: 'f', xattrs: { 'user.refused': 'no' } },
    ]);
    await applyLayer({ ...ctx, logger }, root, tarStream(tar), { whiteouts: 'delete' });
    expect(getXattr(join(root, 'f'), 'user.ok')?.toString()).toBe('yes');
    expect(warnings).toEqual(['layer entry "l": xattr user.refused not kept (EPERM)']);
    const err = await apply([{ name: 'g', content: 'g', xattrs: { 'user.big': Buffer.alloc(70_000, 1) } }]).catch(
      (e: unknown) => e,
    );
    expect(isBerthError(err)).toBe(true);
    expect((err as Error).message).toMatch(/^layer entry "g": E2BIG: .*fsetxattr 'g'/);
  });
});

describe('compression', () => {
  it('detects gzip, zstd and plain by magic bytes', async () => {
    const tar = await buildTar([{ name: 'x', content: 'hello' }]);
    expect(detectCompression(gzipSync(tar))).toBe('gzip');
    expect(detectCompression(Buffer.from([0x28, 0xb5, 0x2f, 0xfd, 0]))).toBe('zstd');
    expect(detectCompression(tar)).toBe('none');
  });

  for (const kind of ['gzip', 'zstd'] as const) {
    needs(kind === 'zstd' ? tool('zstd') : undefined).it(`decompresses ${kind} as a stream`, async () => {
      const tar = await buildTar([{ name: 'x', content: Buffer.alloc(200_000, 7) }]);
      const packed = kind === 'gzip' ? gzipSync(tar) : execFileSync('zstd', ['-q', '-c'], { input: tar });
      expect(detectCompression(packed)).toBe(kind);
      const out: Buffer[] = [];
      const chunks = [packed.subarray(0, 100), packed.subarray(100, 5000), packed.subarray(5000)];
      for await (const c of Readable.from(chunks).pipe(decompressStream(kind))) out.push(c as Buffer);
      expect(Buffer.concat(out).equals(tar)).toBe(true);
    });
  }

  it('fails corrupt zstd with INVALID_ARGUMENT', async () => {
    const bad = Buffer.from([0x28, 0xb5, 0x2f, 0xfd, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]);
    const err = await (async () => {
      for await (const _ of Readable.from([bad]).pipe(decompressStream('zstd'))) void _;
    })().catch((e: unknown) => e);
    expect(isBerthError(err, 'INVALID_ARGUMENT')).toBe(true);
  });
});

// ---- security corpus ----

/** Every path under dir with its type, size, mode and mtime, sorted (the "listing"). */
async function listing(dir: string, skip: string): Promise<string[]> {
  const out: string[] = [];
  const walk = async (d: string) => {
    for (const name of (await readdir(d)).sort()) {
      const p = join(d, name);
      if (p === skip) continue;
      const st = await lstat(p);
      out.push(`${p} ${st.mode.toString(8)} ${st.size} ${st.mtimeMs} ${st.nlink}`);
      if (st.isDirectory()) await walk(p);
    }
  };
  await walk(dir);
  return out;
}

interface Case {
  name: string;
  /** The entry the error must name. */
  entry: string;
  /** Lower content planted in the root before applying (symlinks out of it). */
  lower?: (root: string, base: string) => Promise<void>;
  tar: (base: string) => FixtureEntry[];
}

const probe = `berth-probe-${process.pid}`;
const corpus: Case[] = [
  { name: 'dot-dot file', entry: '../x', tar: () => [{ name: '../x', content: 'pwned' }] },
  { name: 'absolute file', entry: `/tmp/${probe}`, tar: () => [{ name: `/tmp/${probe}`, content: 'pwned' }] },
  {
    name: 'a/../../x',
    entry: 'a/../../x',
    tar: () => [
      { name: 'a/', type: 'directory' },
      { name: 'a/../../x', content: 'pwned' },
    ],
  },
  { name: 'dot-dot directory', entry: '../newdir/', tar: () => [{ name: '../newdir/', type: 'directory' }] },
  {
    name: 'symlink to /etc then a file through it',
    entry: `evil/${probe}`,
    tar: () => [
      { name: 'evil', type: 'symlink', linkname: '/etc' },
      { name: `evil/${probe}`, content: 'pwned' },
    ],
  },
  {
    name: 'absolute symlink to the sentinel then overwrite through it',
    entry: 'evil/secret',
    tar: (b) => [
      { name: 'evil', type: 'symlink', linkname: join(b, 'outside') },
      { name: 'evil/secret', content: 'pwned' },
    ],
  },
  {
    name: 'relative symlink ../../.. then a file through it',
    entry: `evil/${probe}`,
    tar: () => [
      { name: 'evil', type: 'symlink', linkname: '../../..' },
      { name: `evil/${probe}`, content: 'pwned' },
    ],
  },
  {
    name: 'symlink then a directory through it',
    entry: 'evil/sub/',
    tar: () => [
      { name: 'evil', type: 'symlink', linkname: '../outside' },
      { name: 'evil/sub/', type: 'directory' },
    ],
  },
  {
    name: 'nested symlink dir then a file two levels down',
    entry: 'd/evil/deeper/x',
    tar: () => [
      { name: 'd/', type: 'directory' },
      { name: 'd/evil', type: 'symlink', linkname: '../../outside' },
      { name: 'd/evil/deeper/x', content: 'pwned' },
    ],
  },
  {
    name: 'hard link to /etc/shadow',
    entry: 'shadow',
    tar: () => [{ name: 'shadow', type: 'link', linkname: '/etc/shadow' }],
  },
  {
    name: 'hard link to ../outside',
    entry: 'h',
    tar: () => [{ name: 'h', type: 'link', linkname: '../outside/secret' }],
  },
  {
    name: 'hard link through a planted symlink',
    entry: 'h',
    tar: () => [
      { name: 'evil', type: 'symlink', linkname: '../outside' },
      { name: 'h', type: 'link', linkname: 'evil/secret' },
    ],
  },
  {
    name: 'symlink chain through a lower layer dir',
    entry: 'lower2/x',
    lower: async (r) => {
      await symlink('../outside', join(r, 'lower'));
      await symlink('lower', join(r, 'lower2'));
    },
    tar: () => [{ name: 'lower2/x', content: 'pwned' }],
  },
  {
    name: 'absolute symlink in a lower layer',
    entry: 'usr/secret',
    lower: async (r, b) => {
      await symlink(join(b, 'outside'), join(r, 'usr'));
    },
    tar: () => [{ name: 'usr/secret', content: 'pwned' }],
  },
  { name: 'whiteout ../.wh.x', entry: '../.wh.outside', tar: () => [{ name: '../.wh.outside' }] },
  {
    name: 'whiteout through a symlink',
    entry: 'evil/.wh.secret',
    tar: () => [{ name: 'evil', type: 'symlink', linkname: '../outside' }, { name: 'evil/.wh.secret' }],
  },
  {
    name: 'opaque marker through a lower symlink',
    entry: 'evil/.wh..wh..opq',
    lower: async (r) => {
      await symlink('../outside', join(r, 'evil'));
    },
    tar: () => [{ name: 'evil/.wh..wh..opq' }],
  },
  {
    name: 'device node ../dev',
    entry: '../null',
    tar: () => [{ name: '../null', type: 'character-device', devmajor: 1, devminor: 3 }],
  },
  {
    name: 'device node through a symlink',
    entry: 'evil/null',
    tar: () => [
      { name: 'evil', type: 'symlink', linkname: '../outside' },
      { name: 'evil/null', type: 'character-device', devmajor: 1, devminor: 3 },
    ],
  },
  {
    name: 'fifo with an absolute name',
    entry: `/tmp/${probe}.fifo`,
    tar: () => [{ name: `/tmp/${probe}.fifo`, type: 'fifo' }],
  },
];

needs(asRoot()).describe('applyLayer security corpus', () => {
  for (const mode of ['delete', 'overlay'] as const) {
    it.each(corpus)(`${mode}: refuses $name`, async (c) => {
      await mkdir(join(base, 'outside'));
      await writeFile(join(base, 'outside/secret'), 'secret');
      await c.lower?.(root, base);
      const before = await listing(base, root);
      const err = await applyLayer(ctx, root, tarStream(await buildTar(c.tar(base))), { whiteouts: mode }).catch(
        (e: unknown) => e,
      );
      expect(isBerthError(err, 'INVALID_ARGUMENT'), String(err)).toBe(true);
      expect((err as Error).message).toContain(`layer entry ${JSON.stringify(c.entry)}`);
      expect(await listing(base, root)).toEqual(before);
      expect(await readFile(join(base, 'outside/secret'), 'utf8')).toBe('secret');
      expect(existsSync(`/etc/${probe}`)).toBe(false);
      expect(existsSync(`/tmp/${probe}`)).toBe(false);
      expect(existsSync(`/tmp/${probe}.fifo`)).toBe(false);
      expect(existsSync(`/${probe}`)).toBe(false);
    });
  }
});

// ---- metadata through a replaced parent ----

needs(asRoot()).describe('applyLayer after a parent was replaced by a symlink out of the root', () => {
  let host: string;

  beforeEach(async () => {
    host = join(base, 'host');
    await mkdir(join(host, 'target'), { recursive: true, mode: 0o755 });
    await writeFile(join(host, 'file'), 'host');
    setXattr(join(host, 'target'), 'user.host', Buffer.from('kept'));
  });

  for (const mode of ['delete', 'overlay'] as const) {
    it(`${mode}: restores deferred directory times (and every other metadata) inside the root only`, async () => {
      const before = await fullListing(host);
      await apply(swappedParent(host), mode);
      expect(await readlink(join(root, 'a'))).toBe(host);
      expect(await fullListing(host)).toEqual(before);
    });

    it.each([
      [
        'a directory entry again',
        'a/target/',
        [{ name: 'a/target/', type: 'directory', mode: 0o777, uid: 99, mtime: T_OLD }],
      ],
      ['a file', 'a/new', [{ name: 'a/new', content: 'x' }]],
      ['a file over one outside', 'a/file', [{ name: 'a/file', content: 'x', mtime: T_OLD }]],
      ['a symlink', 'a/ln', [{ name: 'a/ln', type: 'symlink', linkname: '/' }]],
      [
        'a hard link inside it',
        'a/hl',
        [
          { name: 'f', content: 'f' },
          { name: 'a/hl', type: 'link', linkname: 'f' },
        ],
      ],
      ['a hard link to a file in it', 'hl', [{ name: 'hl', type: 'link', linkname: 'a/file' }]],
      ['a device', 'a/null', [{ name: 'a/null', type: 'character-device', devmajor: 1, devminor: 3 }]],
      ['a whiteout', 'a/.wh.file', [{ name: 'a/.wh.file' }]],
      ['an opaque marker', 'a/.wh..wh..opq', [{ name: 'a/.wh..wh..opq' }]],
    ] as [string, string, FixtureEntry[]][])(`${mode}: refuses %s written through it`, async (_what, entry, after) => {
      const before = await fullListing(host);
      const err = await apply(swappedParent(host, after), mode).catch((e: unknown) => e);
      expect(isBerthError(err, 'INVALID_ARGUMENT'), String(err)).toBe(true);
      expect((err as Error).message).toContain(`layer entry ${JSON.stringify(entry)}`);
      expect(await fullListing(host)).toEqual(before);
    });
  }

  it('restores the times of a directory that was moved away and replaced by another one', async () => {
    const t2 = new Date(1_100_000_000_000);
    await apply([
      { name: 'd/', type: 'directory', mtime: T_OLD },
      { name: 'd', content: 'now a file' },
      { name: 'd/', type: 'directory', mtime: t2 },
      { name: 'd/x', content: 'x' },
    ]);
    expect((await lstat(join(root, 'd'))).mtimeMs).toBe(t2.getTime());
  });
});
