// Applies an uncompressed OCI/Docker layer tar stream into a directory, with layer
// semantics (whiteouts, opaque dirs, hard links, devices, ownership, xattrs) and
// without ever creating or changing anything outside that directory.
//
// Safety: every entry name is cleaned lexically (absolute names and names that
// climb above the root are refused), then its parent directory is opened from the
// root's fd with openat2(RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS) (root-handles.ts): a
// symlink there — planted earlier in this tar or present in the lower content — is
// refused, never followed. Everything after that acts on handles: the entry is made
// relative to its parent's handle, its final component is replaced (unlinked) rather
// than written through, files are opened O_CREAT|O_EXCL|O_NOFOLLOW, and ownership,
// mode, xattrs and times are set through an O_PATH|O_NOFOLLOW handle on the entry
// itself (a regular file's through the fd it was written with). Directory times,
// deferred to the end, are set through a handle opened the same way then, and only
// on the directory they were recorded for (same inode): a parent replaced by a
// symlink in between is never followed. Hard-link targets go through the same
// checks. In 'overlay' mode the lower layers' directories may be given: parents and
// hard-link targets are then judged against the merged view below (lower-view.ts)
// as they would be on a full copy. Any refusal throws INVALID_ARGUMENT naming the
// entry; the caller discards the layer.
//
// Regular files and symlinks, most of a layer's entries and all of its bytes, are
// queued and made in batches by one threadpool job each (native applyEntries,
// apply-batch.cc), relative to the same parent handles, in tar order; one batch runs
// while the next is filled, so decompression, hashing and tar parsing overlap with
// file creation. Every other entry (directories, links, devices, whiteouts) is made
// synchronously, as one threadpool round trip per call would cost many times the call
// on a loaded host. Order is kept where it matters: an entry whose path or an ancestor
// of it is still queued, a directory with queued entries below it, and every entry
// that is neither a file nor a symlink nor a directory, first wait for the queue to be
// done. Parent handles dropped from the cache stay open until the batches naming them
// are done (RootHandles.deferCloses), so a number is never reused under a queued entry.
import {
  chmodSync,
  chownSync,
  closeSync,
  constants,
  copyFileSync,
  fchmodSync,
  fchownSync,
  fstatSync,
  futimesSync,
  linkSync,
  lstatSync,
  mkdirSync,
  openSync,
  readdirSync,
  readlinkSync,
  rmSync,
  symlinkSync,
  unlinkSync,
  utimesSync,
  writeSync,
  type Stats,
} from 'node:fs';
import { Readable } from 'node:stream';
import tar from 'tar-stream';
import { BerthError, invalidArgument, wrap } from '../errdefs/errors.js';
import { throwIfCancelled, type Context } from '../trace/context.js';
import { native, type ApplyEntryOp } from '../../native/index.js';
import { isWhiteoutStat, lookupMerged } from './lower-view.js';
import { badLinkTarget, fdPath, oPath, openBeneath, RootHandles, type MissingDirHook } from './root-handles.js';
import { mknod, readXattrs, S_IFBLK, S_IFCHR, S_IFIFO, S_IFMT } from './tar-fs.js';
import { HEX_XATTR_PREFIX, RAW_XATTR_PREFIX, xattrsToHex } from './tar-pax.js';
import { cleanEntryPath, splitPath } from './tar-path.js';

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
  /**
   * 'overlay' mode: the directories of the layers below the one applied, nearest
   * first. Implicit parents and hard-link targets are then looked up in their merged
   * view: a parent that is a symlink or a non-directory there is refused (as on a full
   * copy), a parent directory there is created with its owner, mode and xattrs, a hard
   * link to a file there copies the file up first (as overlayfs' link(2) does).
   */
  lowerDirs?: readonly string[];
  /**
   * Store the layer for a remapped user namespace: each entry's uid and gid (and the root directory's, as 0) become
   * `hostID + id` of the range; an id beyond a range's size is refused (INVALID_ARGUMENT naming the entry).
   */
  idShift?: IdShift;
}

/** The ranges container ids 0…size-1 are stored at (berthd's --userns-remap without idmapped mounts). */
export interface IdShift {
  uid: { hostID: number; size: number };
  gid: { hostID: number; size: number };
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
export async function applyLayer(
  ctx: Context,
  root: string,
  input: NodeJS.ReadableStream,
  opts: ApplyOptions,
): Promise<ApplyLayerResult> {
  const src = input instanceof Readable ? input : Readable.from(input as AsyncIterable<Buffer>);
  // A stream that already failed or closed emits nothing more: piping it would wait forever.
  const early =
    src.errored ?? (src.destroyed || src.readableEnded ? new Error('the stream was closed before it was read') : null);
  if (early !== null) throw wrap(early, `layer tar into ${root}`, 'INVALID_ARGUMENT');
  let applier: Applier;
  try {
    applier = new Applier(ctx, root, opts.whiteouts, opts.lowerDirs ?? [], opts.idShift);
  } catch (err) {
    src.destroy();
    throw wrap(err, `layer tar into ${root}`);
  }
  const extract = tar.extract();
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
    await applier.close();
    if (e instanceof BerthError) throw e;
    throw wrap(e, `layer tar into ${root}`, 'INVALID_ARGUMENT');
  }
  try {
    await applier.finish();
  } finally {
    await applier.close();
  }
  return { size: applier.size, entries: applier.entries };
}

type Header = tar.Header;

/** A directory whose mtime is restored at the end (its contents change it), and the inode it was. */
interface DirTime {
  mtime: Date;
  dev: number;
  ino: number;
}

const OVERLAY_PREFIX = 'trusted.overlay.';

/** A batch is started once it holds this many entries or bytes of content. */
const BATCH_ENTRIES = 256;
const BATCH_BYTES = 4 << 20;
/** A larger file is written synchronously, chunk by chunk, after the queue is done (its chunks are not all held). */
const QUEUED_FILE_MAX = 8 << 20;

/** A queued file or symlink, with what the applier needs to report on it. */
interface Queued {
  op: ApplyEntryOp;
  rel: string;
  subject: string;
}

class Applier {
  size = 0;
  entries = 0;
  private readonly handles: RootHandles;
  /** Directories whose mtime is restored after all entries, by path (a later entry for the same path wins). */
  private readonly dirTimes = new Map<string, DirTime>();
  /** Paths this layer created, so an opaque marker in 'delete' mode keeps them. */
  private readonly added = new Set<string>();
  /** 'overlay' mode: this root then the layers below, top first (the merged view). */
  private readonly merged: readonly string[];
  /** Files and symlinks waiting for the next batch, and its content bytes. */
  private queue: Queued[] = [];
  private queueBytes = 0;
  /** The batch being made, if any; the first batch failure, thrown at the next wait. */
  private running: Promise<void> | undefined;
  private failure: unknown;
  /** Paths of the entries queued or being made since the last flush(), and every ancestor directory of them. */
  private readonly pendingPaths = new Set<string>();
  private readonly pendingDirs = new Set<string>();

  constructor(
    private readonly ctx: Context,
    readonly root: string,
    private readonly mode: WhiteoutMode,
    lowerDirs: readonly string[],
    private readonly idShift?: IdShift,
  ) {
    if (idShift !== undefined) chownSync(root, idShift.uid.hostID, idShift.gid.hostID);
    this.merged = mode === 'overlay' && lowerDirs.length > 0 ? [root, ...lowerDirs] : [];
    this.handles = new RootHandles(root, mode === 'overlay' ? this.overlayHook() : undefined);
    this.handles.deferCloses();
  }

  /** Closes every handle once no batch uses them any more. */
  async close(): Promise<void> {
    this.queue = [];
    await this.running?.catch(() => {});
    this.handles.close();
  }

  /**
   * Whether an entry at `rel` must wait for the queue: its path (unless `samePathOk`), an ancestor or a descendant is
   * queued.
   */
  private conflicts(rel: string, samePathOk: boolean): boolean {
    if (this.pendingPaths.size === 0) return false;
    if (!samePathOk && this.pendingPaths.has(rel)) return true;
    if (this.pendingDirs.has(rel)) return true;
    for (let i = rel.indexOf('/'); i !== -1; i = rel.indexOf('/', i + 1))
      if (this.pendingPaths.has(rel.slice(0, i))) return true;
    return false;
  }

  /** Queues a file or symlink; starts a batch when the queue is full. */
  private async enqueue(q: Queued, bytes: number): Promise<void> {
    this.queue.push(q);
    this.queueBytes += bytes;
    this.pendingPaths.add(q.rel);
    for (let i = q.rel.indexOf('/'); i !== -1; i = q.rel.indexOf('/', i + 1)) this.pendingDirs.add(q.rel.slice(0, i));
    if (this.queue.length >= BATCH_ENTRIES || this.queueBytes >= BATCH_BYTES) await this.submit();
  }

  /** Starts the queue as a batch once the batch before it is done (so one runs while the next fills). */
  private async submit(): Promise<void> {
    await this.wait();
    if (this.queue.length === 0) return;
    const batch = this.queue;
    // handles dropped up to now are named only by this batch and those before it
    const retired = this.handles.takeRetired();
    this.queue = [];
    this.queueBytes = 0;
    this.running = this.runBatch(batch)
      .catch((err: unknown) => {
        this.failure ??= err;
      })
      .finally(() => {
        for (const fd of retired) closeSync(fd);
      });
  }

  /** Waits for the running batch; throws the first batch failure. */
  private async wait(): Promise<void> {
    if (this.running !== undefined) {
      const r = this.running;
      await r;
      if (this.running === r) this.running = undefined;
    }
    if (this.failure !== undefined) throw this.failure;
  }

  /** Makes everything queued; afterwards the tree holds every entry seen so far. */
  private async flush(): Promise<void> {
    await this.submit();
    await this.wait();
    this.pendingPaths.clear();
    this.pendingDirs.clear();
  }

  private async runBatch(batch: Queued[]): Promise<void> {
    let ops = batch;
    for (;;) {
      throwIfCancelled(this.ctx, `layer apply into ${this.root}`);
      const r = await native().applyEntries(ops.map((q) => q.op));
      for (const w of r.warnings)
        this.ctx.logger.warn?.(`${ops[w.index]!.subject}: xattr ${w.attr} not kept (${w.code})`);
      if (r.error !== undefined) {
        const { index, message, ...fields } = r.error;
        throw wrap(Object.assign(new Error(message), fields), ops[index]!.subject);
      }
      if (!r.blocked) return;
      // a directory where a file or symlink goes: removed here, with the handles and times recorded below it
      const q = ops[r.done]!;
      try {
        this.replace(q.op.dirFd, q.op.name, q.rel);
      } catch (err) {
        throw wrap(err, q.subject);
      }
      ops = ops.slice(r.done);
    }
  }

  /**
   * 'overlay' mode's view of a parent missing from the upper dir: refused when the
   * layers below hold a symlink or a non-directory there, created with the lower
   * directory's owner, mode and xattrs when they hold one; a whiteout this layer wrote
   * there becomes an opaque directory (the deleted lower content stays hidden).
   */
  private overlayHook(): MissingDirHook {
    let pending: { rel: string; path: string; st: Stats } | undefined;
    return {
      before: (rel, entry) => {
        pending = undefined;
        const below = this.merged.length > 0 ? lookupMerged(this.merged, rel) : undefined;
        if (below === undefined) return 'create';
        if (below.st.isSymbolicLink())
          throw invalidArgument(
            `layer entry ${JSON.stringify(entry)}: path escapes the layer root through symlink ${JSON.stringify(rel)}`,
          );
        if (!below.st.isDirectory())
          throw invalidArgument(
            `layer entry ${JSON.stringify(entry)}: parent ${JSON.stringify(rel)} is not a directory`,
          );
        pending = { rel, path: below.path, st: below.st };
        return 'create';
      },
      after: (rel, fd) => {
        if (pending?.rel === rel) this.copyMeta(fd, pending.path, pending.st, false);
        pending = undefined;
      },
      notDir: (parentFd, name) => {
        const at = fdPath(parentFd, name);
        const st = lstatSync(at);
        if (!isWhiteoutStat(st)) return false;
        unlinkSync(at);
        mkdirSync(at, { mode: 0o755 });
        native().lsetxattr(at, OVERLAY_OPAQUE_XATTR, Buffer.from('y'));
        return true;
      },
    };
  }

  /**
   * Owner, mode (not for symlinks) and xattrs (overlayfs' own excepted) of `from` onto the handle `fd`; the mtime too
   * when `times`.
   */
  private copyMeta(fd: number, from: string, st: Stats, times: boolean): void {
    const p = fdPath(fd);
    chownSync(p, st.uid, st.gid);
    if (!st.isSymbolicLink()) chmodSync(p, st.mode & 0o7777);
    for (const [name, value] of readXattrs(from)) {
      if (!name.startsWith(OVERLAY_PREFIX)) native().setxattr(p, name, value);
    }
    if (times) utimesSync(p, st.atime, st.mtime);
  }

  /** The handle of `dir`, created as needed ('overlay' mode asks the layers below first). */
  private parent(dir: string, entry: string): number {
    return this.handles.dir(dir, entry, this.mode === 'overlay' ? 'hook' : 'always') as number;
  }

  async entry(h: Header, body: AsyncIterable<Buffer>): Promise<void> {
    this.entries++;
    const name = h.name;
    const rel = cleanEntryPath(name);
    const subject = `layer entry ${JSON.stringify(name)}`;
    if (rel === '') {
      // The root itself: only a directory entry makes sense; apply its metadata.
      if (h.type !== 'directory') throw invalidArgument(`${subject}: the layer root can only be a directory`);
      await this.flush();
      await this.meta(this.handles.rootFd, '.', rel, h, subject);
      return;
    }
    // aufs metadata at the root (.wh..wh.aufs, .wh..wh.plnk/…), found in old images: skipped.
    if (rel.startsWith(AUFS_META_PREFIX) && rel !== OPAQUE_WHITEOUT) return;
    const { dir, base } = splitPath(rel);
    const queued =
      !base.startsWith(WHITEOUT_PREFIX) &&
      ((h.type === 'symlink' && !!h.linkname) ||
        ((h.type === 'file' || h.type === 'contiguous-file') && (h.size ?? 0) <= QUEUED_FILE_MAX));
    const mustWait = queued || h.type === 'directory' ? this.conflicts(rel, queued) : this.pendingPaths.size > 0;
    if (mustWait) await this.flush();
    if (base.startsWith(WHITEOUT_PREFIX)) {
      // A whiteout under a directory that exists nowhere has nothing to delete.
      if (this.merged.length > 0 && dir !== '') {
        this.checkParentsBelow(dir, name);
        if (lookupMerged(this.merged, dir) === undefined) return;
      }
      const dfd = this.handles.dir(dir, name, this.mode === 'overlay' ? 'hook' : 'never');
      if (dfd === undefined) return;
      if (base === OPAQUE_WHITEOUT) return this.opaque(dfd, dir, subject);
      const target = base.slice(WHITEOUT_PREFIX.length);
      if (target === '' || target === '.' || target === '..' || target.startsWith(WHITEOUT_PREFIX)) {
        throw invalidArgument(`${subject}: invalid whiteout name`);
      }
      return this.whiteout(dfd, dir === '' ? target : `${dir}/${target}`, target, subject);
    }
    const dfd = this.parent(dir, name);
    try {
      switch (h.type) {
        case 'directory':
          await this.directory(dfd, base, rel, h, subject);
          return;
        case 'file':
        case 'contiguous-file':
          if (queued) {
            const data: Buffer[] = [];
            let bytes = 0;
            for await (const chunk of body) {
              data.push(chunk);
              bytes += chunk.length;
            }
            this.size += bytes;
            this.added.add(rel);
            await this.enqueue(
              { op: { kind: 'file', ...this.opMeta(dfd, base, h, subject), data }, rel, subject },
              bytes,
            );
            return;
          }
          this.replace(dfd, base, rel);
          await this.file(dfd, base, rel, h, body, subject);
          this.added.add(rel);
          return;
        case 'symlink':
          if (!h.linkname) throw invalidArgument(`${subject}: symlink without a target`);
          if (queued) {
            this.added.add(rel);
            const op: ApplyEntryOp = { kind: 'symlink', ...this.opMeta(dfd, base, h, subject), target: h.linkname };
            await this.enqueue({ op, rel, subject }, 0);
            return;
          }
          this.replace(dfd, base, rel);
          symlinkSync(h.linkname, fdPath(dfd, base));
          break;
        case 'link':
          this.hardlink(dfd, base, rel, h, subject);
          this.added.add(rel);
          return; // a hard link shares its target's metadata
        case 'character-device':
        case 'block-device':
        case 'fifo': {
          const type = h.type === 'fifo' ? S_IFIFO : h.type === 'block-device' ? S_IFBLK : S_IFCHR;
          this.replace(dfd, base, rel);
          mknod(fdPath(dfd, base), type | ((h.mode ?? 0o600) & 0o7777), h.devmajor ?? 0, h.devminor ?? 0);
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
    await this.meta(dfd, base, rel, h, subject);
  }

  /**
   * Restores the deferred directory times, each through a handle opened beneath the root, on the directory it was
   * recorded for.
   */
  async finish(): Promise<void> {
    await this.flush();
    for (const [rel, t] of this.dirTimes) {
      let fd: number;
      try {
        fd = openBeneath(this.handles.rootFd, rel, constants.O_RDONLY | constants.O_DIRECTORY | constants.O_NOFOLLOW);
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        // Gone, or no longer reachable without a symlink: not the directory recorded.
        if (code === 'ENOENT' || code === 'ELOOP' || code === 'ENOTDIR' || code === 'EXDEV') continue;
        throw wrap(err, `layer dir ${JSON.stringify(rel)}: restore mtime`);
      }
      try {
        const st = fstatSync(fd);
        if (st.dev === t.dev && st.ino === t.ino) futimesSync(fd, t.mtime, t.mtime);
      } catch (err) {
        throw wrap(err, `layer dir ${JSON.stringify(rel)}: restore mtime`);
      } finally {
        closeSync(fd);
      }
    }
  }

  /** Forgets what was recorded for `rel` and below (it was removed or replaced). */
  private forget(rel: string): void {
    this.handles.forget(rel);
    const prefix = `${rel}/`;
    for (const k of [...this.dirTimes.keys()])
      if (rel === '' || k === rel || k.startsWith(prefix)) this.dirTimes.delete(k);
  }

  /** Makes room for a non-directory at `base` in `dfd`: removes whatever is there (a dir recursively). */
  private replace(dfd: number, base: string, rel: string): Stats | undefined {
    const at = fdPath(dfd, base);
    const st = lstatSync(at, { throwIfNoEntry: false });
    if (st === undefined) return undefined;
    if (st.isDirectory()) {
      this.forget(rel);
      rmSync(at, { recursive: true, force: true });
    } else {
      unlinkSync(at);
    }
    return st;
  }

  private async directory(dfd: number, base: string, rel: string, h: Header, subject: string): Promise<void> {
    const at = fdPath(dfd, base);
    let st = lstatSync(at, { throwIfNoEntry: false });
    let opaque = false;
    if (st !== undefined && !st.isDirectory()) {
      // A whiteout this layer wrote: the directory replacing it hides the lower one whole.
      opaque = this.mode === 'overlay' && isWhiteoutStat(st);
      unlinkSync(at);
      st = undefined;
    }
    if (st === undefined) {
      mkdirSync(at, { mode: 0o700 });
      if (opaque) native().lsetxattr(at, OVERLAY_OPAQUE_XATTR, Buffer.from('y'));
    }
    this.added.add(rel);
    await this.meta(dfd, base, rel, h, subject);
  }

  private async file(
    dfd: number,
    base: string,
    rel: string,
    h: Header,
    body: AsyncIterable<Buffer>,
    subject: string,
  ): Promise<void> {
    const fd = openSync(
      fdPath(dfd, base),
      constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW,
      0o600,
    );
    try {
      for await (const chunk of body) {
        let off = 0;
        while (off < chunk.length) off += writeSync(fd, chunk, off, chunk.length - off);
        this.size += chunk.length;
      }
      await this.meta(dfd, base, rel, h, subject, fd);
    } finally {
      closeSync(fd);
    }
  }

  /**
   * A hard link to `h.linkname`, which must be a non-directory of this root (checked
   * through handles like any entry) or, in 'overlay' mode, of the merged view below:
   * that one is copied up first, so the link shares an inode of this layer.
   */
  private hardlink(dfd: number, base: string, rel: string, h: Header, subject: string): void {
    if (!h.linkname) throw invalidArgument(`${subject}: hard link without a target`);
    const target = cleanEntryPath(h.linkname, `${subject}: hard link target`);
    if (target === '') throw invalidArgument(`${subject}: hard link to the layer root`);
    const t = splitPath(target);
    const missing = () => badLinkTarget(h.name, h.linkname as string, 'does not exist in the layer');
    let tdfd = this.handles.dir(t.dir, h.name, 'never');
    let st = tdfd === undefined ? undefined : lstatSync(fdPath(tdfd, t.base), { throwIfNoEntry: false });
    if (st !== undefined && this.mode === 'overlay' && isWhiteoutStat(st)) throw missing();
    if (st === undefined && this.merged.length > 0) {
      this.checkParentsBelow(t.dir, h.name);
      const below = lookupMerged(this.merged, target);
      if (below === undefined) throw missing();
      if (below.st.isDirectory()) throw badLinkTarget(h.name, h.linkname, 'is a directory');
      tdfd = this.parent(t.dir, h.name);
      this.copyUp(tdfd, t.base, below.path, below.st);
      st = below.st;
    }
    if (tdfd === undefined || st === undefined) throw missing();
    if (st.isDirectory()) throw badLinkTarget(h.name, h.linkname, 'is a directory');
    if (target === rel) return;
    // The parent's handle again: looking up the target may have evicted it.
    dfd = this.parent(splitPath(rel).dir, h.name);
    this.replace(dfd, base, rel);
    linkSync(fdPath(tdfd, t.base), fdPath(dfd, base));
  }

  /** Refuses (as a full copy would) a component of `dir` that is a symlink or a non-directory in the merged view. */
  private checkParentsBelow(dir: string, entry: string): void {
    if (dir === '') return;
    let cur = '';
    for (const part of dir.split('/')) {
      cur = cur === '' ? part : `${cur}/${part}`;
      const below = lookupMerged(this.merged, cur);
      if (below === undefined) return;
      if (below.st.isSymbolicLink())
        throw invalidArgument(
          `layer entry ${JSON.stringify(entry)}: path escapes the layer root through symlink ${JSON.stringify(cur)}`,
        );
      if (!below.st.isDirectory())
        throw invalidArgument(`layer entry ${JSON.stringify(entry)}: parent ${JSON.stringify(cur)} is not a directory`);
    }
  }

  /** A copy of the lower non-directory `from` at `base` in `dfd`, with its owner, mode, xattrs and times. */
  private copyUp(dfd: number, base: string, from: string, st: Stats): void {
    const at = fdPath(dfd, base);
    if (st.isSymbolicLink()) symlinkSync(readlinkSync(from), at);
    else if (st.isFile()) copyFileSync(from, at, constants.COPYFILE_EXCL | constants.COPYFILE_FICLONE);
    else
      mknod(
        at,
        (st.mode & S_IFMT) | (st.mode & 0o7777),
        Math.floor(st.rdev / 256) & 0xfff,
        (st.rdev & 0xff) | ((st.rdev >> 12) & 0xfff00),
      );
    const fd = openBeneath(dfd, base, oPath() | constants.O_NOFOLLOW);
    try {
      this.copyMeta(fd, from, st, true);
    } finally {
      closeSync(fd);
    }
  }

  private whiteout(dfd: number, rel: string, base: string, subject: string): void {
    try {
      if (this.mode === 'delete') {
        this.forget(rel);
        rmSync(fdPath(dfd, base), { recursive: true, force: true });
        this.added.delete(rel);
        return;
      }
      this.replace(dfd, base, rel);
      mknod(fdPath(dfd, base), S_IFCHR | 0o000, 0, 0);
    } catch (err) {
      throw wrap(err, subject);
    }
  }

  private opaque(dfd: number, dir: string, subject: string): void {
    try {
      if (this.mode === 'overlay') {
        native().setxattr(fdPath(dfd), OVERLAY_OPAQUE_XATTR, Buffer.from('y'));
        return;
      }
      this.hideLower(dfd, dir);
    } catch (err) {
      throw wrap(err, subject);
    }
  }

  /**
   * 'delete' mode's opaque dir: removes everything below `dir` (handle `dfd`) that this
   * layer did not add, descending into directories it did add (they may hold lower content too).
   */
  private hideLower(dfd: number, dir: string): void {
    for (const child of readdirSync(fdPath(dfd))) {
      const rel = dir === '' ? child : `${dir}/${child}`;
      const at = fdPath(dfd, child);
      if (!this.added.has(rel)) {
        this.forget(rel);
        rmSync(at, { recursive: true, force: true });
      } else if (lstatSync(at).isDirectory()) {
        const cfd = openBeneath(dfd, child, oPath() | constants.O_DIRECTORY);
        try {
          this.hideLower(cfd, rel);
        } finally {
          closeSync(cfd);
        }
      }
    }
  }

  /** The entry's uid and gid as stored: shifted into the remap's ranges when there is one. */
  private owner(h: Header, subject: string): [number, number] {
    const uid = h.uid ?? 0;
    const gid = h.gid ?? 0;
    const shift = this.idShift;
    if (shift === undefined) return [uid, gid];
    if (uid >= shift.uid.size || gid >= shift.gid.size) {
      throw invalidArgument(
        `${subject}: owner ${uid}:${gid} is outside the remapped ranges (${shift.uid.size} uids, ${shift.gid.size} gids)`,
      );
    }
    return [shift.uid.hostID + uid, shift.gid.hostID + gid];
  }

  /**
   * Ownership, mode, xattrs and mtime of the entry just written at `base` in `dfd`, set
   * through an O_PATH|O_NOFOLLOW handle on it (a symlink's own, never its target's);
   * a directory's mtime is deferred to finish(), recorded with its inode. A regular
   * file passes the fd it was written through (`written`), used directly.
   */
  private async meta(
    dfd: number,
    base: string,
    rel: string,
    h: Header,
    subject: string,
    written?: number,
  ): Promise<void> {
    let fd: number | undefined;
    try {
      if (written !== undefined) {
        fchownSync(written, ...this.owner(h, subject));
        fchmodSync(written, (h.mode ?? 0o644) & 0o7777);
        this.xattrs(fdPath(written), h, subject);
        const mtime = h.mtime ?? new Date(0);
        futimesSync(written, mtime, mtime);
        return;
      }
      fd = openBeneath(dfd, base, oPath() | constants.O_NOFOLLOW);
      const p = fdPath(fd);
      const st = fstatSync(fd);
      chownSync(p, ...this.owner(h, subject));
      if (!st.isSymbolicLink()) chmodSync(p, (h.mode ?? 0o644) & 0o7777);
      this.xattrs(p, h, subject);
      const mtime = h.mtime ?? new Date(0);
      if (st.isDirectory()) {
        this.dirTimes.delete(rel);
        this.dirTimes.set(rel, { mtime, dev: st.dev, ino: st.ino });
      } else utimesSync(p, mtime, mtime);
    } catch (err) {
      if (err instanceof BerthError) throw err;
      throw wrap(err, subject);
    } finally {
      if (fd !== undefined) closeSync(fd);
    }
  }

  /** What a queued entry at `base` in `dfd` gets: owner (shifted as owner() does), mode, mtime and its xattrs. */
  private opMeta(dfd: number, base: string, h: Header, subject: string) {
    const xattrs = entryXattrs(h);
    const [uid, gid] = this.owner(h, subject);
    return {
      dirFd: dfd,
      name: base,
      uid,
      gid,
      mode: (h.mode ?? 0o644) & 0o7777,
      mtimeMs: (h.mtime ?? new Date(0)).getTime(),
      ...(xattrs.length > 0 ? { xattrs } : {}),
    };
  }

  /** The entry's PAX xattrs onto `p` (a handle's path); overlayfs' own never, unsupported ones logged. */
  private xattrs(p: string, h: Header, subject: string): void {
    for (const [attr, bytes] of entryXattrs(h)) {
      try {
        native().setxattr(p, attr, bytes);
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        if (code !== 'ENOTSUP' && code !== 'EOPNOTSUPP' && code !== 'EPERM') throw err;
        this.ctx.logger.warn?.(`${subject}: xattr ${attr} not kept (${code})`);
      }
    }
  }
}

/** The xattrs a header's PAX records carry, overlayfs' own left out (inside a tar they could redirect lookups). */
function entryXattrs(h: Header): [string, Buffer][] {
  const out: [string, Buffer][] = [];
  if (!h.pax) return out;
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
    if (!attr.startsWith(OVERLAY_PREFIX)) out.push([attr, bytes]);
  }
  return out;
}
