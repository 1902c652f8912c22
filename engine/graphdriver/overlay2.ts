// overlay2: layers as kernel overlayfs upper dirs stacked over their parents' diffs,
// in Docker's on-disk layout so the tools people know (and the benches) apply.
//
// On disk (`<root>/overlay2`):
//   <id>/diff/      the layer's own changes (whiteouts as 0/0 char devices,
//                   opaque dirs carry trusted.overlay.opaque=y): this IS its diff
//   <id>/link       the layer's short id (26 characters, [A-Z2-7])
//   <id>/lower      "l/<short of parent>:l/<short of grandparent>:…" (absent for a base layer)
//   <id>/work/      overlay's work dir, <id>/merged/ the mount point (layers with a parent)
//   l/<short>       symlink to ../<id>/diff
//   .tmp-<id>/ .rm-<id>-<random>/   a create/remove in progress (deleted at init)
//
// get() mounts `lowerdir=l/A:l/B…,upperdir=<id>/diff,workdir=<id>/work` (plus
// index/redirect_dir/metacopy=off where the kernel knows them, so copy-ups stay plain
// and diff/ stays the exact change set) with paths relative to the home, so the option
// string stays under one page (4096 bytes) for up to 128 lowers (29 bytes each). The relative paths need the mount(2)
// call
// to run with cwd = home: the native core's mountAt() runs it in a CLONE_VM|CLONE_VFORK
// child that chdirs first (the Node process's cwd never changes), which costs far
// less than running `mount(8)` with a cwd (the graphdriver suite measures mounts by
// number of lowers).
// A layer without a parent is not mounted: get() returns its diff dir.
// applyDiff writes a layer's tar straight into its diff/, giving the applier the lower
// diffs so it refuses and accepts the same layers vfs and btrfs do on full copies.
// create() and remove() make and move their few entries (link, lower, dirs, symlink)
// with synchronous calls: each promise call is a thread-pool trip, which a busy host
// makes cost many times the syscall; only the recursive delete of a removed layer's
// tree, proportional to its size, stays asynchronous. With `deferDelete` remove()
// answers once the layer is renamed to .rm-<id>-<random> and deletes that tree in the
// background, at most MAX_BACKGROUND_DELETES at once (a remove beyond waits for one to
// end); a tree a crash left there is deleted by the next init, and cleanup() waits for them.
import { randomBytes } from 'node:crypto';
import {
  closeSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmdirSync,
  rmSync,
  symlinkSync,
  unlinkSync,
  writeFileSync,
  type Dirent,
  type Stats,
} from 'node:fs';
import { lstat, mkdir, readdir, readFile, rename, rm, symlink, writeFile } from 'node:fs/promises';
import {
  alreadyExists,
  conflict,
  failedPrecondition,
  invalidArgument,
  isBerthError,
  notFound,
  unavailable,
  wrap,
} from '../errdefs/errors.js';
import { applyLayer, type IdShift } from '../archive/apply-layer.js';
import { getXattr, S_IFCHR, S_IFMT, setXattr } from '../archive/tar-fs.js';
import { throwIfCancelled, type Context } from '../trace/context.js';
import { changesTar, type TarChange } from '../archive/diff-tar.js';
import type {
  ApplyResult,
  Change,
  CreateOptions,
  Driver,
  RemoveOptions,
  DriverInit,
  DriverPlugin,
  DriverStatus,
  DetachedMount,
  IdMaps,
  Mount,
} from './driver.js';
import { native } from '../../native/index.js';
import { MNT_DETACH, mountFs, mountFsAt, unmount } from './host-mount.js';
import { KeyedLock } from '../fsutil/keyed-lock.js';
import { checkId, checkNoStorageOpt } from './layer-id.js';
import { backingMount, isMountPoint, mountsUnder } from './mountinfo.js';
import { NaiveDiff } from './naive-diff.js';

/** Most lower layers a layer may have (Docker's limit; keeps the options in one page). */
export const MAX_DEPTH = 128;
const PAGE = 4096;
const OPAQUE = 'trusted.overlay.opaque';
/** Most removed layers' trees deleted in the background at once (remove with deferDelete). */
export const MAX_BACKGROUND_DELETES = 4;

export class Overlay2Driver implements Driver {
  readonly name = 'overlay2';
  readonly home: string;
  private readonly refs = new Map<string, number>();
  /** Layers mounted over idmapped layers (idmapLayers) until their last put, with the maps' key. */
  private readonly idmapped = new Map<string, string>();
  private readonly locks = new KeyedLock();
  /** Deletes of removed layers' trees still running (remove with deferDelete). */
  private readonly deleting = new Set<Promise<void>>();
  private readonly naive: NaiveDiff;
  private backingFs = 'unknown';
  /** index/redirect_dir/metacopy forced off where the kernel has them: the native diff needs plain copy-ups. */
  private extraOptions: string[] = [];
  /** Layers mounted by getDetached until their put: the fd of the detached tree. */
  private readonly detached = new Map<string, number>();
  /** Why getDetached is not available here (the kernel refused the new mount API's overlay), once seen. */
  private detachedRefused: string | undefined;

  private constructor(
    home: string,
    private readonly idShift?: IdShift,
  ) {
    this.home = home;
    this.naive = new NaiveDiff(this, idShift);
  }

  /**
   * Checks that overlayfs works on the home's filesystem with a real probe mount
   * (UNAVAILABLE naming why otherwise: no overlay in the kernel, home on overlayfs,
   * no trusted.* xattrs), unmounts leftovers under the home and deletes interrupted
   * creates/removes.
   */
  static async init(ctx: Context, init: DriverInit): Promise<Overlay2Driver> {
    for (const key of Object.keys(init.options ?? {})) throw invalidArgument(`overlay2 init: unknown option ${key}`);
    const d = new Overlay2Driver(`${init.root}/overlay2`, init.idShift);
    const fs = await readFile('/proc/filesystems', 'utf8').catch(() => '');
    if (!/\toverlay$/m.test(fs))
      throw unavailable('overlay2 init: the kernel has no overlay filesystem (not in /proc/filesystems)');
    try {
      await mkdir(`${d.home}/l`, { recursive: true, mode: 0o700 });
    } catch (err) {
      throw wrap(err, `overlay2 init ${d.home}`, 'UNAVAILABLE');
    }
    const backing = await backingMount(d.home);
    d.backingFs = backing.fsType;
    if (backing.fsType === 'overlay') {
      throw unavailable(
        `overlay2 init ${d.home}: the home is on overlayfs, which cannot hold an overlay upper dir (use another backing filesystem)`,
      );
    }
    d.extraOptions = ['index', 'redirect_dir', 'metacopy']
      .filter((p) => existsSync(`/sys/module/overlay/parameters/${p}`))
      .map((p) => `${p}=off`);
    for (const m of await mountsUnder(d.home)) unmount(`overlay2 init ${d.home}`, m, MNT_DETACH);
    for (const name of await readdir(d.home)) {
      if (name.startsWith('.tmp-') || name.startsWith('.rm-') || name.startsWith('.probe-')) {
        await rm(`${d.home}/${name}`, { recursive: true, force: true });
      }
    }
    for (const name of await readdir(`${d.home}/l`)) {
      if (!existsSync(`${d.home}/l/${name}`)) await rm(`${d.home}/l/${name}`, { force: true });
    }
    await d.probe(backing.fsType);
    ctx.logger.debug('overlay2 ready', { home: d.home, backingFs: backing.fsType });
    return d;
  }

  /** A real overlay mount with a whiteout-capable upper in a scratch dir, then undone. */
  private async probe(fsType: string): Promise<void> {
    const p = `${this.home}/.probe-${process.pid}`;
    try {
      await mkdir(`${p}/lower`, { recursive: true });
      await mkdir(`${p}/upper`);
      await mkdir(`${p}/work`);
      await mkdir(`${p}/merged`);
      try {
        setXattr(`${p}/upper`, 'trusted.overlay.berth-probe', Buffer.from('y'));
      } catch (err) {
        throw unavailable(
          `overlay2 init ${this.home}: backing filesystem ${fsType} does not support trusted.* xattrs (${(err as Error).message})`,
          { cause: err },
        );
      }
      try {
        mountFs(
          `overlay2 init ${this.home}: probe`,
          'overlay',
          `${p}/merged`,
          'overlay',
          0,
          `lowerdir=${p}/lower,upperdir=${p}/upper,workdir=${p}/work`,
        );
      } catch (err) {
        throw unavailable(`overlay2 init ${this.home}: overlay mount on ${fsType} failed (${(err as Error).message})`, {
          cause: err,
        });
      }
      unmount(`overlay2 init ${this.home}: probe`, `${p}/merged`, MNT_DETACH);
    } catch (err) {
      if (isBerthError(err)) throw err;
      throw wrap(err, `overlay2 init ${this.home}`, 'UNAVAILABLE');
    } finally {
      await rm(p, { recursive: true, force: true });
    }
  }

  private dir(id: string): string {
    return `${this.home}/${id}`;
  }

  private check(id: string): void {
    checkId(this.name, id);
    if (id === 'l') throw invalidArgument('overlay2 layer "l": reserved id');
  }

  /** Creates an empty layer over `parent`: O(1) (directories and a symlink); crash-safe. */
  async create(ctx: Context, id: string, parent: string | undefined, opts?: CreateOptions): Promise<void> {
    return this.locks.run(id, async () => {
      this.check(id);
      checkNoStorageOpt(this.name, id, opts?.storageOpt);
      if (parent !== undefined) this.check(parent);
      if (await this.exists(ctx, id)) throw alreadyExists(`overlay2 layer ${id}: already exists`);
      let lower = '';
      if (parent !== undefined) {
        if (!(await this.exists(ctx, parent))) throw notFound(`overlay2 layer ${id}: parent ${parent} not found`);
        const parentLink = readFileSync(`${this.dir(parent)}/link`, 'utf8').trim();
        const parentLower = this.lowers(parent);
        if (parentLower.length + 1 > MAX_DEPTH) {
          throw failedPrecondition(`overlay2 layer ${id}: max depth exceeded (${MAX_DEPTH} lower layers)`);
        }
        lower = [`l/${parentLink}`, ...parentLower].join(':');
      }
      const short = shortId();
      const tmp = `${this.home}/.tmp-${id}`;
      const linkPath = `${this.home}/l/${short}`;
      try {
        rmSync(tmp, { recursive: true, force: true }); // a crashed create's, empty but for these entries
        mkdirSync(`${tmp}/diff`, { recursive: true, mode: 0o755 });
        writeFileSync(`${tmp}/link`, short);
        if (parent !== undefined) {
          mkdirSync(`${tmp}/work`, { mode: 0o700 });
          mkdirSync(`${tmp}/merged`, { mode: 0o700 });
          writeFileSync(`${tmp}/lower`, lower);
        }
        symlinkSync(`../${id}/diff`, linkPath);
        renameSync(tmp, this.dir(id));
      } catch (err) {
        await rm(tmp, { recursive: true, force: true }).catch(() => undefined);
        await rm(linkPath, { force: true }).catch(() => undefined);
        throw wrap(err, `overlay2 create ${id}`);
      }
    });
  }

  async createReadWrite(ctx: Context, id: string, parent: string | undefined, opts?: CreateOptions): Promise<void> {
    return this.create(ctx, id, parent, opts);
  }

  /**
   * Idempotent; CONFLICT while mounted by get(). Cost: deleting the layer's own diff, which with `deferDelete` happens
   * after the answer (see the top of the file).
   */
  async remove(ctx: Context, id: string, opts: RemoveOptions = {}): Promise<void> {
    return this.locks.run(id, async () => {
      this.check(id);
      const n = this.refs.get(id) ?? 0;
      if (n > 0) throw conflict(`overlay2 remove ${id}: layer is mounted (${n} get without put)`);
      const dir = this.dir(id);
      let short: string | undefined;
      try {
        short = readFileSync(`${dir}/link`, 'utf8').trim();
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ENOENT' && !existsSync(dir)) return;
      }
      try {
        if (existsSync(`${dir}/merged`)) unmount(`overlay2 remove ${id}`, `${dir}/merged`, MNT_DETACH);
        // unique: a tree of an earlier layer of the same id may still be being deleted there
        const gone = `${this.home}/.rm-${id}-${randomBytes(4).toString('hex')}`;
        renameSync(dir, gone);
        if (short) rmSync(`${this.home}/l/${short}`, { force: true });
        if (opts.deferDelete === true) await this.deleteInBackground(ctx, gone);
        else await rm(gone, { recursive: true, force: true });
      } catch (err) {
        throw wrap(err, `overlay2 remove ${id}`);
      }
    });
  }

  /**
   * Deletes a removed layer's tree after the caller's answer, once fewer than MAX_BACKGROUND_DELETES run (waits for
   * that). A delete that fails is logged and left for the next init.
   */
  private async deleteInBackground(ctx: Context, tree: string): Promise<void> {
    while (this.deleting.size >= MAX_BACKGROUND_DELETES) await Promise.race(this.deleting);
    const logger = ctx.logger;
    const done: Promise<void> = deleteTreeInSlices(tree)
      .catch((err: unknown) =>
        logger.warn('overlay2: delete of a removed layer failed; init deletes it', { tree, error: String(err) }),
      )
      .finally(() => this.deleting.delete(done));
    this.deleting.add(done);
  }

  /** Resolves once every background delete of removed layers has ended (remove with deferDelete). */
  async deletesSettled(): Promise<void> {
    while (this.deleting.size > 0) await Promise.all(this.deleting);
  }

  /** The parent chain's short link names, nearest first ([] for a base layer). */
  private lowers(id: string): string[] {
    try {
      const text = readFileSync(`${this.dir(id)}/lower`, 'utf8').trim();
      return text === '' ? [] : text.split(':');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw wrap(err, `overlay2 layer ${id}: lower`);
    }
  }

  /** The relative-path option string get() mounts with (fits a page up to MAX_DEPTH layers). */
  async mountOptions(ctx: Context, id: string): Promise<string> {
    await this.mustExist(ctx, id, 'mount options');
    const lowers = await this.lowers(id);
    return [`lowerdir=${lowers.join(':')}`, `upperdir=${id}/diff`, `workdir=${id}/work`, ...this.extraOptions].join(
      ',',
    );
  }

  /**
   * What get() mounts, as data: absolute paths through the short links (the caller
   * has no cwd to give relative ones), so for deep chains under a long home the
   * joined options can pass a page, which get()'s relative form never does.
   * A base layer is a bind of its diff dir.
   */
  async mounts(ctx: Context, id: string): Promise<Mount[]> {
    await this.mustExist(ctx, id, 'mounts');
    const lowers = await this.lowers(id);
    if (lowers.length === 0) return [{ type: 'bind', source: `${this.dir(id)}/diff`, options: ['rbind', 'rw'] }];
    const options = [
      `lowerdir=${lowers.map((l) => `${this.home}/${l}`).join(':')}`,
      `upperdir=${this.dir(id)}/diff`,
      `workdir=${this.dir(id)}/work`,
      ...this.extraOptions,
    ];
    return [{ type: 'overlay', source: 'overlay', options }];
  }

  /** Mounts on the first get (ref-counted) and returns `<id>/merged`; base layers return diff/. */
  async get(ctx: Context, id: string): Promise<string> {
    return this.locks.run(id, async () => {
      await this.mustExist(ctx, id, 'get');
      const lowers = await this.lowers(id);
      const n = this.refs.get(id) ?? 0;
      if (lowers.length === 0) {
        this.refs.set(id, n + 1);
        return `${this.dir(id)}/diff`;
      }
      if (this.detached.has(id))
        throw failedPrecondition(`overlay2 get ${id}: the layer is mounted detached (getDetached) until its put`);
      const merged = `${this.dir(id)}/merged`;
      if (n === 0 && !(await isMountPoint(merged))) {
        throwIfCancelled(ctx, `overlay2 get ${id}`);
        const data = await this.mountOptions(ctx, id);
        if (data.length >= PAGE)
          throw invalidArgument(`overlay2 get ${id}: mount options are ${data.length} bytes (more than a page)`);
        mountFsAt(`overlay2 get ${id}`, this.home, 'overlay', `${id}/merged`, 'overlay', 0, data);
      }
      this.refs.set(id, n + 1);
      return merged;
    });
  }

  /**
   * Like get, with the overlay left detached (fsopen, fsconfig, fsmount): it is in no mount namespace, the host's
   * included, until a container's child attaches it at `target` in its own (the execdriver's rootfsMount), so the mount
   * table of this process and every clone of it do not grow with the containers running. Counted as a get; the put
   * closes the fd (no unmount: the tree goes with the last namespace or fd holding it). undefined where a host mount is
   * the way: a base layer (its diff dir), a layer already mounted by get, a kernel that refuses the new mount API's
   * overlay options (lowerdir+ and dirs by fd, 6.8+; seen once, then every call answers undefined at once).
   */
  async getDetached(ctx: Context, id: string): Promise<DetachedMount | undefined> {
    if (this.detachedRefused !== undefined) return undefined;
    return this.locks.run(id, async () => {
      await this.mustExist(ctx, id, 'get');
      const lowers = this.lowers(id);
      if (lowers.length === 0 || (this.refs.get(id) ?? 0) > 0) return undefined;
      throwIfCancelled(ctx, `overlay2 get ${id}`);
      let fd: number;
      try {
        fd = native().overlayDetached(this.home, lowers, `${id}/diff`, `${id}/work`, this.extraOptions);
      } catch (err) {
        const e = err as NodeJS.ErrnoException;
        if (
          e.code === 'ENOSYS' ||
          (e.code === 'EINVAL' && /^fsconfig (lowerdir\+|upperdir|workdir)$/.test(e.syscall ?? ''))
        ) {
          this.detachedRefused = e.message;
          ctx.logger.debug('overlay2: no detached mounts here, containers use host mounts', { error: e.message });
          return undefined;
        }
        throw wrap(err, `overlay2 get ${id}: detached mount`);
      }
      this.refs.set(id, 1);
      this.detached.set(id, fd);
      // by this process's pid, not /proc/self: the path is also given to commands (cp -a of a volume's content)
      return { fd, path: `/proc/${process.pid}/fd/${fd}`, target: `${this.dir(id)}/merged` };
    });
  }

  /** Releases one get; the last one unmounts (lazily, MNT_DETACH), or closes a getDetached's fd. */
  async put(_ctx: Context, id: string): Promise<void> {
    return this.locks.run(id, async () => {
      const n = this.refs.get(id) ?? 0;
      if (n === 0) return;
      if (n > 1) {
        this.refs.set(id, n - 1);
        return;
      }
      this.refs.delete(id);
      this.idmapped.delete(id);
      const fd = this.detached.get(id);
      if (fd !== undefined) {
        this.detached.delete(id);
        closeSync(fd);
        return;
      }
      if (existsSync(`${this.dir(id)}/lower`)) unmount(`overlay2 put ${id}`, `${this.dir(id)}/merged`, MNT_DETACH);
    });
  }

  /**
   * Replaces the mount of `<id>/merged` (the layer must be mounted by get) with an overlay whose lower dirs and upper
   * dir are idmapped copies mapped by `maps` (overlayfs takes idmapped layers, not an idmapped mount of itself), made
   * by a helper cloned in C (native overlayIdmapped). The layers stay shared and unshifted: through the mount the
   * stored id n is the host's `hostID + n`, and what the maps' root writes (host `hostID`) is stored as 0, so diff/
   * holds what a container without the remap would have written and changes/diff/commit need no translation.
   * Only one overlay ever has the upper dir: the plain one is detached first. Until the last put, get() returns this
   * view (in it the host's root cannot create files: its id has no mapping, EOVERFLOW). Cost: a user namespace
   * holder, a helper and one open_tree per layer.
   */
  async idmapLayers(ctx: Context, id: string, maps: IdMaps): Promise<boolean> {
    return this.locks.run(id, async () => {
      await this.mustExist(ctx, id, 'idmapLayers');
      const lowers = this.lowers(id);
      if (lowers.length === 0) return false;
      if ((this.refs.get(id) ?? 0) === 0)
        throw failedPrecondition(`overlay2 idmapLayers ${id}: the layer is not mounted`);
      const key = `${maps.uid.hostID}:${maps.uid.size}:${maps.gid.hostID}:${maps.gid.size}`;
      const had = this.idmapped.get(id);
      if (had === key) return true;
      if (had !== undefined) throw conflict(`overlay2 idmapLayers ${id}: already mounted idmapped with other maps`);
      try {
        native().overlayIdmapped(
          `${this.dir(id)}/merged`,
          lowers.map((l) => `${this.home}/${l}`),
          this.dir(id),
          'diff',
          'work',
          this.extraOptions,
          `0 ${maps.uid.hostID} ${maps.uid.size}\n`,
          `0 ${maps.gid.hostID} ${maps.gid.size}\n`,
        );
      } catch (err) {
        throw wrap(err, `overlay2 idmapped layers ${id}`, 'UNAVAILABLE');
      }
      this.idmapped.set(id, key);
      return true;
    });
  }

  async exists(_ctx: Context, id: string): Promise<boolean> {
    this.check(id);
    return existsSync(`${this.dir(id)}/link`);
  }

  async status(_ctx: Context): Promise<DriverStatus> {
    const layers = (await readdir(this.home)).filter((n) => n !== 'l' && !n.startsWith('.')).length;
    return {
      'Backing Filesystem': this.backingFs,
      'Supports d_type': 'true',
      'Native Overlay Diff': 'true',
      'Mount Program': 'mountAt (native)',
      Layers: String(layers),
    };
  }

  /** Waits for the background deletes, unmounts every mount under the home and forgets all references. Idempotent. */
  async cleanup(_ctx: Context): Promise<void> {
    await this.deletesSettled();
    this.refs.clear();
    this.idmapped.clear();
    for (const fd of this.detached.values()) closeSync(fd);
    this.detached.clear();
    for (const m of await mountsUnder(this.home)) unmount(`overlay2 cleanup ${this.home}`, m, MNT_DETACH);
  }

  /** Whether `parent` is `id`'s actual parent (the native diff applies only then). */
  private async isParent(id: string, parent: string | undefined): Promise<boolean> {
    const lowers = await this.lowers(id);
    if (parent === undefined) return lowers.length === 0;
    if (lowers.length === 0) return false;
    const link = (await readFile(`${this.dir(parent)}/link`, 'utf8').catch(() => '')).trim();
    return lowers[0] === `l/${link}`;
  }

  /**
   * The diff dir's entries as changes: whiteout devices → delete, opaque dirs flagged,
   * and each other entry 'modify' when the path exists in the parent's merged tree
   * (see resolveBelow), 'add' otherwise. Sorted. Cost: one lstat per entry of diff/,
   * plus up to one per path component and lower layer for each entry.
   */
  private async diffChanges(ctx: Context, id: string, lowerDirs: readonly string[]): Promise<TarChange[]> {
    const diff = `${this.dir(id)}/diff`;
    const out: TarChange[] = [];
    const walk = async (rel: string) => {
      throwIfCancelled(ctx, `overlay2 diff ${id}`);
      for (const name of (await readdir(rel === '' ? diff : `${diff}/${rel}`)).sort()) {
        const r = rel === '' ? name : `${rel}/${name}`;
        const st = await lstat(`${diff}/${r}`);
        if (isWhiteout(st)) {
          out.push({ path: `/${r}`, kind: 'delete' });
          continue;
        }
        const kind = (await resolveBelow(lowerDirs, r)).length > 0 ? 'modify' : 'add';
        if (st.isDirectory()) {
          const opaque = getXattr(`${diff}/${r}`, OPAQUE)?.toString() === 'y';
          out.push(opaque ? { path: `/${r}`, kind, opaque } : { path: `/${r}`, kind });
          await walk(r);
        } else {
          out.push({ path: `/${r}`, kind });
        }
      }
    };
    await walk('');
    return sortByPath(out);
  }

  /**
   * Native when `parent` is the real parent (a walk of diff/ only), naive otherwise.
   * An opaque dir of diff/ that replaced a directory of the parent also yields a
   * 'delete' for each entry of the parent's directory it hides (as the naive diff does).
   */
  async changes(ctx: Context, id: string, parent: string | undefined): Promise<Change[]> {
    await this.mustExist(ctx, id, 'changes');
    if (!(await this.isParent(id, parent))) return this.naive.changes(ctx, id, parent);
    try {
      const lowerDirs = (await this.lowers(id)).map((l) => `${this.home}/${l}`);
      const changes = await this.diffChanges(ctx, id, lowerDirs);
      const out: Change[] = changes.map(({ path, kind }) => ({ path, kind }));
      for (const c of changes) {
        if (c.opaque !== true || c.kind !== 'modify') continue;
        const kept = new Set(await readdir(`${this.dir(id)}/diff${c.path}`));
        for (const name of await namesBelow(lowerDirs, c.path.slice(1))) {
          if (!kept.has(name)) out.push({ path: `${c.path}/${name}`, kind: 'delete' });
        }
      }
      return sortByPath(out);
    } catch (err) {
      throw wrap(err, `overlay2 changes ${id}`);
    }
  }

  /** Tar of diff/ with whiteout devices and opaque xattrs translated to .wh. entries. */
  async diff(ctx: Context, id: string, parent: string | undefined): Promise<NodeJS.ReadableStream> {
    await this.mustExist(ctx, id, 'diff');
    if (!(await this.isParent(id, parent))) return this.naive.diff(ctx, id, parent);
    try {
      return changesTar(
        ctx,
        `${this.dir(id)}/diff`,
        await this.diffChanges(
          ctx,
          id,
          (await this.lowers(id)).map((l) => `${this.home}/${l}`),
        ),
        undefined,
        this.idShift,
      );
    } catch (err) {
      throw wrap(err, `overlay2 diff ${id}`);
    }
  }

  /** Bytes of regular files in diff/ (hard links counted once). */
  async diffSize(ctx: Context, id: string, parent: string | undefined): Promise<number> {
    await this.mustExist(ctx, id, 'diffSize');
    if (!(await this.isParent(id, parent))) return this.naive.diffSize(ctx, id, parent);
    const diff = `${this.dir(id)}/diff`;
    const seen = new Set<string>();
    let size = 0;
    const walk = async (dir: string): Promise<void> => {
      for (const name of await readdir(dir)) {
        const st = await lstat(`${dir}/${name}`);
        if (st.isDirectory()) await walk(`${dir}/${name}`);
        else if (st.isFile() && !seen.has(`${st.ino}`)) {
          seen.add(`${st.ino}`);
          size += st.size;
        }
      }
    };
    try {
      await walk(diff);
    } catch (err) {
      throw wrap(err, `overlay2 diffSize ${id}`);
    }
    return size;
  }

  /**
   * Applies into diff/ directly with overlay whiteouts (the layer must be fresh from
   * create()), judging implicit parents and hard-link targets against the lower diffs
   * so the verdicts and the merged tree match a full copy's (vfs, btrfs).
   */
  async applyDiff(
    ctx: Context,
    id: string,
    parent: string | undefined,
    tar: NodeJS.ReadableStream,
  ): Promise<ApplyResult> {
    await this.mustExist(ctx, id, 'applyDiff');
    if (!(await this.isParent(id, parent))) return this.naive.applyDiff(ctx, id, parent, tar);
    try {
      const lowerDirs = (await this.lowers(id)).map((l) => `${this.home}/${l}`);
      return await applyLayer(ctx, `${this.dir(id)}/diff`, tar, {
        whiteouts: 'overlay',
        lowerDirs,
        ...(this.idShift ? { idShift: this.idShift } : {}),
      });
    } catch (err) {
      throw wrap(err, `overlay2 applyDiff ${id}`);
    }
  }

  /** The short link of a layer (for tests and status). */
  async linkOf(_ctx: Context, id: string): Promise<string> {
    return (await readFile(`${this.dir(id)}/link`, 'utf8')).trim();
  }

  private async mustExist(ctx: Context, id: string, what: string): Promise<void> {
    if (!(await this.exists(ctx, id))) throw notFound(`overlay2 ${what} ${id}: layer not found`);
  }
}

const BASE32 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';

/** 26 random base32 characters (130 bits), like Docker's link names. */
function shortId(): string {
  let s = '';
  for (const b of randomBytes(26)) s += BASE32[b & 31];
  return s;
}

export const overlay2Plugin: DriverPlugin = {
  type: 'graphdriver',
  id: 'overlay2',
  init: (ctx, init) => Overlay2Driver.init(ctx, init),
};

/** A 0/0 character device: overlayfs' mark for a path deleted in this layer. */
function isWhiteout(st: { mode: number; rdev: number }): boolean {
  return (st.mode & S_IFMT) === S_IFCHR && st.rdev === 0;
}

/** lstat, or undefined when the path (or a component of it) is absent. */
async function lstatOrNone(path: string): Promise<Stats | undefined> {
  try {
    return await lstat(path);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return undefined;
    throw err;
  }
}

/**
 * How `rel` resolves in the merged tree of `lowerDirs` (top layer first), the way
 * overlayfs looks it up: the layers whose entry at `rel` make up the merged entry, top
 * first — one for a non-directory, several for a directory merged from layers down to
 * an opaque one; empty when the path does not exist. In each layer the path's
 * components are looked at from the root: a whiteout at any of them, or a
 * non-directory above the last, ends the search (the layers below are hidden); so does
 * a component missing below an opaque directory of that layer, and an opaque ancestor
 * ends it after that layer. A component missing otherwise leaves it to the next layer
 * down. Cost: at most one lstat (and one getxattr per directory) per component and layer.
 */
async function resolveBelow(lowerDirs: readonly string[], rel: string): Promise<string[]> {
  const parts = rel.split('/');
  const found: string[] = [];
  for (const layer of lowerDirs) {
    let opaqueAbove = false;
    let stop = false;
    for (let k = 0; k < parts.length; k++) {
      const path = `${layer}/${parts.slice(0, k + 1).join('/')}`;
      const st = await lstatOrNone(path);
      if (st === undefined) {
        stop = opaqueAbove;
        break;
      }
      if (isWhiteout(st)) {
        stop = true;
        break;
      }
      const opaque = st.isDirectory() && getXattr(path, OPAQUE)?.toString() === 'y';
      if (k === parts.length - 1) {
        // a non-directory below a directory is hidden by it
        if (!st.isDirectory() && found.length > 0) return found;
        found.push(layer);
        stop = !st.isDirectory() || opaque || opaqueAbove;
        break;
      }
      if (!st.isDirectory()) {
        stop = true;
        break;
      }
      if (opaque) opaqueAbove = true;
    }
    if (stop) break;
  }
  return found;
}

/**
 * The names in the merged directory `rel` of `lowerDirs` (empty when it is not a
 * directory there): each contributing layer's entries, less those whited out higher up.
 * Cost: one readdir per contributing layer and one lstat per entry.
 */
async function namesBelow(lowerDirs: readonly string[], rel: string): Promise<string[]> {
  const seen = new Set<string>();
  const gone = new Set<string>();
  for (const layer of await resolveBelow(lowerDirs, rel)) {
    const dir = `${layer}/${rel}`;
    const st = await lstat(dir);
    if (!st.isDirectory()) return [];
    for (const name of await readdir(dir)) {
      if (seen.has(name) || gone.has(name)) continue;
      if (isWhiteout(await lstat(`${dir}/${name}`))) gone.add(name);
      else seen.add(name);
    }
  }
  return [...seen].sort();
}

function sortByPath<T extends { path: string }>(xs: T[]): T[] {
  return xs.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
}

/** Entries one slice of deleteTreeInSlices deletes before it yields to the event loop. */
const DELETE_SLICE = 64;

/**
 * Deletes a tree with synchronous calls, DELETE_SLICE entries at a time, each slice after the event loop's pending
 * work (setImmediate): a removed container layer is a handful of entries, one slice of microseconds, where the
 * promise rm makes two or three thread-pool trips per entry that compete with the requests that follow; a big tree
 * never holds the loop for more than a slice. Absent is not an error.
 */
export async function deleteTreeInSlices(tree: string): Promise<void> {
  // directories still to empty, deepest last; a directory is removed once a listing finds it empty
  const dirs: string[] = [tree];
  while (dirs.length > 0) {
    await new Promise<void>((resolve) => setImmediate(resolve));
    let budget = DELETE_SLICE;
    while (budget > 0 && dirs.length > 0) {
      const dir = dirs[dirs.length - 1]!;
      let entries: Dirent[];
      try {
        entries = readdirSync(dir, { withFileTypes: true });
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        if (code === 'ENOENT') {
          dirs.pop();
          continue;
        }
        if (code !== 'ENOTDIR') throw err;
        rmSync(dir, { force: true });
        dirs.pop();
        continue;
      }
      budget--;
      let descended = false;
      for (const e of entries) {
        if (budget <= 0) break;
        const path = `${dir}/${e.name}`;
        if (e.isDirectory()) {
          dirs.push(path);
          descended = true;
          break;
        }
        try {
          unlinkSync(path);
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
        }
        budget--;
      }
      if (descended || budget <= 0) continue;
      try {
        rmdirSync(dir);
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        // ENOTEMPTY: something was made in it meanwhile; listed again
        if (code !== 'ENOENT' && code !== 'ENOTEMPTY') throw err;
        if (code === 'ENOTEMPTY') continue;
      }
      dirs.pop();
    }
  }
}
