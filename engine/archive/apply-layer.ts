// Applies an uncompressed OCI/Docker layer tar stream into a directory, with layer
// semantics (whiteouts, opaque dirs, hard links, devices, ownership, xattrs) and
// without ever creating or changing anything outside that directory.
//
// Safety: every entry name is cleaned lexically (absolute names and names that
// climb above the root are refused), then each parent component is checked with
// lstat: a symlink there — planted earlier in this tar or present in the lower
// content the directory already holds — is refused, never followed. The final
// component is replaced (unlinked) rather than written through, and files are
// opened O_CREAT|O_EXCL|O_NOFOLLOW. Hard-link targets go through the same checks.
// Any refusal throws INVALID_ARGUMENT naming the entry; the caller discards the layer.
//
// The per-entry syscalls are synchronous on purpose: each blocks the event loop only
// for that entry's few calls, while a threadpool round trip per call measured ≈ 150 µs
// on this loaded 2-core host against 2–8 µs for the same call made directly (tmpfs);
// a tar of 8k files (134 MB) applied into tmpfs in 0.72 s that way instead of 11 s
// (GNU tar -x: 0.33 s).
import { chmodSync, closeSync, constants, lchownSync, linkSync, lstatSync, lutimesSync, mkdirSync, openSync, readdirSync, rmSync, symlinkSync, unlinkSync, writeSync } from 'node:fs';
import { Readable } from 'node:stream';
import tar from 'tar-stream';
import { BerthError, invalidArgument, wrap } from '../errdefs/errors.js';
import { throwIfCancelled, type Context } from '../trace/context.js';
import { mknod, S_IFBLK, S_IFCHR, S_IFIFO, setXattr } from './tar-fs.js';
import { HEX_XATTR_PREFIX, RAW_XATTR_PREFIX, xattrsToHex } from './tar-pax.js';
import { cleanEntryPath, SafeResolver, splitPath } from './tar-path.js';

export { decompressStream, detectCompression, type Compression } from './tar-compression.js';

/**
 * How whiteouts are written: 'overlay' keeps them as overlayfs does (a 0/0
 * character device for `.wh.name`, `trusted.overlay.opaque=y` for `.wh..wh..opq`);
 * 'delete' removes the paths from the lower content already in the directory
 * (vfs copies, btrfs snapshots).
 */
export type WhiteoutMode = 'overlay' | 'delete';

export interface ApplyOptions {
  whiteouts: WhiteoutMode;
}

export interface ApplyLayerResult {
  /** Bytes of regular file content written. */
  size: number;
  /** Tar entries processed (whiteouts included). */
  entries: number;
}

export const WHITEOUT_PREFIX = '.wh.';
export const OPAQUE_WHITEOUT = '.wh..wh..opq';
export const OVERLAY_OPAQUE_XATTR = 'trusted.overlay.opaque';
const AUFS_META_PREFIX = '.wh..wh.';


/**
 * Applies the layer tar `input` into `root` (an existing directory). Streams: memory
 * stays bounded by one tar block buffer per entry. Not idempotent on failure: on
 * any error (INVALID_ARGUMENT for an unsafe or malformed entry, the fs error wrapped
 * and naming the entry otherwise, CANCELLED) the directory holds a partial layer
 * that the caller must discard. Nothing outside `root` is ever created or changed.
 * Cost: a few syscalls per entry plus the content bytes.
 */
export async function applyLayer(ctx: Context, root: string, input: NodeJS.ReadableStream, opts: ApplyOptions): Promise<ApplyLayerResult> {
  const applier = new Applier(ctx, root, opts.whiteouts);
  const extract = tar.extract();
  const src = input instanceof Readable ? input : Readable.from(input as AsyncIterable<Buffer>);
  // A stream that already failed or closed emits nothing more: piping it would wait forever.
  const early = src.errored ?? (src.destroyed || src.readableEnded ? new Error('the stream was closed before it was read') : null);
  if (early !== null) throw wrap(early, `layer tar into ${root}`, 'INVALID_ARGUMENT');
  // tar-stream's extract is a streamx Writable: piped into by hand, errors forwarded.
  // The PAX rewriter in front keeps binary xattr values intact (tar-pax.ts).
  const pax = xattrsToHex();
  let srcErr: unknown;
  const fail = (err: unknown) => {
    srcErr ??= err;
    extract.destroy(err as Error);
  };
  src.on('error', fail);
  pax.on('error', fail);
  src.pipe(pax).pipe(extract as unknown as NodeJS.WritableStream);
  try {
    for await (const entry of extract) {
      throwIfCancelled(ctx, `layer apply into ${root}`);
      try {
        await applier.entry(entry.header, entry as unknown as AsyncIterable<Buffer>);
      } finally {
        entry.resume();
      }
    }
    if (srcErr !== undefined) throw srcErr;
  } catch (err) {
    src.unpipe();
    src.destroy();
    pax.destroy();
    extract.destroy();
    const e = srcErr !== undefined && !(err instanceof BerthError) ? srcErr : err;
    if (e instanceof BerthError) throw e;
    throw wrap(e, `layer tar into ${root}`, 'INVALID_ARGUMENT');
  }
  await applier.finish();
  return { size: applier.size, entries: applier.entries };
}

type Header = tar.Header;

class Applier {
  size = 0;
  entries = 0;
  private readonly resolver: SafeResolver;
  /** Directories whose mtime is restored after all entries (their contents change it). */
  private readonly dirTimes: { rel: string; mtime: Date }[] = [];
  /** Paths this layer created, so an opaque marker in 'delete' mode keeps them. */
  private readonly added = new Set<string>();

  constructor(
    private readonly ctx: Context,
    readonly root: string,
    private readonly mode: WhiteoutMode,
  ) {
    this.resolver = new SafeResolver(root);
  }

  async entry(h: Header, body: AsyncIterable<Buffer>): Promise<void> {
    this.entries++;
    const name = h.name;
    const rel = cleanEntryPath(name);
    const subject = `layer entry ${JSON.stringify(name)}`;
    if (rel === '') {
      // The root itself: only a directory entry makes sense; apply its metadata.
      if (h.type !== 'directory') throw invalidArgument(`${subject}: the layer root can only be a directory`);
      await this.meta(rel, h, subject, false);
      return;
    }
    // aufs metadata at the root (.wh..wh.aufs, .wh..wh.plnk/…), found in old images: skipped.
    if (rel.startsWith(AUFS_META_PREFIX) && rel !== OPAQUE_WHITEOUT) return;
    const { dir, base } = splitPath(rel);
    if (base.startsWith(WHITEOUT_PREFIX)) {
      // In 'delete' mode a whiteout under a missing directory has nothing to delete.
      if (!(this.resolver.ensureDir(dir, name, this.mode === 'overlay'))) return;
      if (base === OPAQUE_WHITEOUT) return this.opaque(dir, subject);
      const target = base.slice(WHITEOUT_PREFIX.length);
      if (target === '' || target === '.' || target === '..' || target.startsWith(WHITEOUT_PREFIX)) {
        throw invalidArgument(`${subject}: invalid whiteout name`);
      }
      return this.whiteout(dir === '' ? target : `${dir}/${target}`, subject);
    }
    this.resolver.ensureDir(dir, name, true);
    const abs = this.resolver.abs(rel);
    try {
      switch (h.type) {
        case 'directory':
          await this.directory(rel, abs, h, subject);
          return;
        case 'file':
        case 'contiguous-file':
          await this.replace(rel, abs);
          await this.file(abs, h, body);
          break;
        case 'symlink':
          if (!h.linkname) throw invalidArgument(`${subject}: symlink without a target`);
          await this.replace(rel, abs);
          symlinkSync(h.linkname, abs);
          break;
        case 'link':
          await this.hardlink(rel, abs, h, subject);
          this.added.add(rel);
          return; // a hard link shares its target's metadata
        case 'character-device':
        case 'block-device':
        case 'fifo': {
          const type = h.type === 'fifo' ? S_IFIFO : h.type === 'block-device' ? S_IFBLK : S_IFCHR;
          await this.replace(rel, abs);
          mknod(abs, type | ((h.mode ?? 0o600) & 0o7777), h.devmajor ?? 0, h.devminor ?? 0);
          break;
        }
        default:
          throw invalidArgument(`${subject}: unsupported entry type ${String(h.type)}`);
      }
    } catch (err) {
      if (err instanceof BerthError) throw err;
      throw wrap(err, subject);
    }
    this.added.add(rel);
    await this.meta(rel, h, subject, h.type === 'symlink');
  }

  async finish(): Promise<void> {
    for (let i = this.dirTimes.length - 1; i >= 0; i--) {
      const { rel, mtime } = this.dirTimes[i];
      try {
        lutimesSync(this.resolver.abs(rel), mtime, mtime);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw wrap(err, `layer dir ${JSON.stringify(rel)}: restore mtime`);
      }
    }
  }

  /** Makes room for a non-directory at `rel`: removes whatever is there (a dir recursively). */
  private async replace(rel: string, abs: string): Promise<void> {
    const st = lstatSync(abs, { throwIfNoEntry: false });
    if (st === undefined) return;
    if (st.isDirectory()) {
      rmSync(abs, { recursive: true, force: true });
      this.resolver.forget(rel);
    } else {
      unlinkSync(abs);
    }
  }

  private async directory(rel: string, abs: string, h: Header, subject: string): Promise<void> {
    let st = lstatSync(abs, { throwIfNoEntry: false });
    if (st !== undefined && !st.isDirectory()) {
      unlinkSync(abs);
      st = undefined;
    }
    if (st === undefined) mkdirSync(abs, { mode: 0o700 });
    this.resolver.noteDir(rel);
    this.added.add(rel);
    await this.meta(rel, h, subject, false);
  }

  private async file(abs: string, h: Header, body: AsyncIterable<Buffer>): Promise<void> {
    const fd = openSync(abs, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o600);
    try {
      for await (const chunk of body) {
        let off = 0;
        while (off < chunk.length) off += writeSync(fd, chunk, off, chunk.length - off);
        this.size += chunk.length;
      }
    } finally {
      closeSync(fd);
    }
  }

  private async hardlink(rel: string, abs: string, h: Header, subject: string): Promise<void> {
    if (!h.linkname) throw invalidArgument(`${subject}: hard link without a target`);
    const target = cleanEntryPath(h.linkname, `${subject}: hard link target`);
    if (target === '') throw invalidArgument(`${subject}: hard link to the layer root`);
    const t = splitPath(target);
    if (!(this.resolver.ensureDir(t.dir, h.name, false))) {
      throw invalidArgument(`${subject}: hard link target ${JSON.stringify(h.linkname)} does not exist in the layer`);
    }
    const targetAbs = this.resolver.abs(target);
    const st = lstatSync(targetAbs, { throwIfNoEntry: false });
    if (st === undefined) throw invalidArgument(`${subject}: hard link target ${JSON.stringify(h.linkname)} does not exist in the layer`);
    if (st.isDirectory()) throw invalidArgument(`${subject}: hard link target ${JSON.stringify(h.linkname)} is a directory`);
    if (target === rel) return;
    await this.replace(rel, abs);
    linkSync(targetAbs, abs);
  }

  private async whiteout(rel: string, subject: string): Promise<void> {
    const abs = this.resolver.abs(rel);
    try {
      if (this.mode === 'delete') {
        rmSync(abs, { recursive: true, force: true });
        this.resolver.forget(rel);
        this.added.delete(rel);
        return;
      }
      await this.replace(rel, abs);
      mknod(abs, S_IFCHR | 0o000, 0, 0);
    } catch (err) {
      throw wrap(err, subject);
    }
  }

  private async opaque(dir: string, subject: string): Promise<void> {
    const abs = this.resolver.abs(dir);
    try {
      if (this.mode === 'overlay') {
        setXattr(abs, OVERLAY_OPAQUE_XATTR, Buffer.from('y'));
        return;
      }
      this.hideLower(dir);
    } catch (err) {
      throw wrap(err, subject);
    }
  }

  /**
   * 'delete' mode's opaque dir: removes everything below `dir` that this layer did not
   * add, descending into directories it did add (they may hold lower content too).
   */
  private hideLower(dir: string): void {
    const abs = this.resolver.abs(dir);
    for (const child of readdirSync(abs)) {
      const rel = dir === '' ? child : `${dir}/${child}`;
      if (!this.added.has(rel)) {
        rmSync(`${abs}/${child}`, { recursive: true, force: true });
        this.resolver.forget(rel);
      } else if (lstatSync(`${abs}/${child}`).isDirectory()) {
        this.hideLower(rel);
      }
    }
  }

  /** Ownership, mode, xattrs and mtime of a just-written entry (directories' mtime deferred). */
  private async meta(rel: string, h: Header, subject: string, isSymlink: boolean): Promise<void> {
    const abs = this.resolver.abs(rel);
    try {
      lchownSync(abs, h.uid ?? 0, h.gid ?? 0);
      if (!isSymlink) chmodSync(abs, (h.mode ?? 0o644) & 0o7777);
      if (h.pax) {
        for (const [key, value] of Object.entries(h.pax as Record<string, string>)) {
          let attr: string;
          let bytes: Buffer;
          if (key.startsWith(HEX_XATTR_PREFIX)) {
            attr = key.slice(HEX_XATTR_PREFIX.length);
            bytes = Buffer.from(value, 'hex');
          } else if (key.startsWith(RAW_XATTR_PREFIX)) {
            attr = key.slice(RAW_XATTR_PREFIX.length);
            bytes = Buffer.from(value, 'utf8');
          } else continue;
          // overlayfs' own attributes inside a tar could redirect lookups: never honoured.
          if (attr.startsWith('trusted.overlay.')) continue;
          try {
            setXattr(abs, attr, bytes);
          } catch (err) {
            const code = (err as NodeJS.ErrnoException).code;
            if (code !== 'ENOTSUP' && code !== 'EOPNOTSUPP' && code !== 'EPERM') throw err;
            this.ctx.logger.warn?.(`${subject}: xattr ${attr} not kept (${code})`);
          }
        }
      }
      const mtime = h.mtime ?? new Date(0);
      if (h.type === 'directory') this.dirTimes.push({ rel, mtime });
      else lutimesSync(abs, mtime, mtime);
    } catch (err) {
      throw wrap(err, subject);
    }
  }
}
