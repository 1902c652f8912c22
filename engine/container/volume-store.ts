// Local named volumes, Docker's `local` driver: a directory per volume under the
// daemon root that containers bind-mount. On disk, under `<root>/volumes/<name>/`:
//   volume.json   the VolumeRecord (name, labels, creation time), written atomically and fsynced
//   _data/        the volume's content (the mount point)
// Create builds the directory under a temporary name and renames it into place,
// so a crash leaves either no volume or a whole one; a temporary left behind is
// removed by open(). Who uses a volume is the containers' business: the caller
// checks that before remove() (Docker refuses to remove a volume in use).
import { randomBytes } from 'node:crypto';
import { chown, mkdir, readdir, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { alreadyExists, invalidArgument, notFound } from '../errdefs/errors.js';
import { readJson, writeJsonAtomic } from '../fsutil/state-file.js';
import { KeyedLock } from '../fsutil/keyed-lock.js';
import type { Context } from '../trace/context.js';

export interface VolumeRecord {
  name: string;
  createdAt: string;
  labels: Record<string, string>;
  /** Created for a container without a name (VOLUME of an image, `-v /path`). */
  anonymous: boolean;
}

/** Docker's volume name grammar. */
const NAME = /^[a-zA-Z0-9][a-zA-Z0-9_.-]+$/;
const TEMP = /^\.tmp-/;

export function validateVolumeName(name: string): void {
  if (!NAME.test(name) || name.length > 255)
    throw invalidArgument(
      `volume name ${JSON.stringify(name)}: only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed, at least two characters`,
    );
}

export class VolumeStore {
  private readonly volumes = new Map<string, VolumeRecord>();
  private readonly lock = new KeyedLock();

  private constructor(
    readonly dir: string,
    private readonly owner?: { uid: number; gid: number },
  ) {}

  /**
   * Opens (creating) `<root>/volumes`, loads every record, removes what a crashed create left. `owner`: who a new
   * volume's `_data` belongs to (berthd's --userns-remap: the containers' root, as dockerd does), else the host's root.
   */
  static async open(
    ctx: Context,
    root: string,
    opts: { owner?: { uid: number; gid: number } } = {},
  ): Promise<VolumeStore> {
    const store = new VolumeStore(join(root, 'volumes'), opts.owner);
    await mkdir(store.dir, { recursive: true, mode: 0o701 });
    for (const entry of await readdir(store.dir)) {
      if (TEMP.test(entry)) {
        await rm(join(store.dir, entry), { recursive: true, force: true });
        continue;
      }
      const rec = await readJson<VolumeRecord>(join(store.dir, entry, 'volume.json')).catch(() => undefined);
      if (rec === undefined || rec.name !== entry) {
        ctx.logger.warn(`volume ${entry}: no valid record, left alone`);
        continue;
      }
      store.volumes.set(rec.name, rec);
    }
    return store;
  }

  /** The host directory holding a volume's content. */
  mountpoint(name: string): string {
    return join(this.dir, name, '_data');
  }

  /**
   * Creates a volume (a random 64-hex name when none is given: an anonymous one).
   * Creating an existing name returns it unchanged, as Docker does. INVALID_ARGUMENT
   * for a bad name. Cost: a mkdir, one fsynced write, a rename.
   */
  async create(
    _ctx: Context,
    opts: { name?: string; labels?: Record<string, string>; anonymous?: boolean } = {},
  ): Promise<VolumeRecord> {
    const name = opts.name || randomBytes(32).toString('hex');
    validateVolumeName(name);
    return this.lock.run(name, async () => {
      const existing = this.volumes.get(name);
      if (existing !== undefined) return existing;
      const rec: VolumeRecord = {
        name,
        createdAt: new Date().toISOString(),
        labels: { ...(opts.labels ?? {}) },
        anonymous: opts.anonymous ?? !opts.name,
      };
      const temp = join(this.dir, `.tmp-${name}-${randomBytes(4).toString('hex')}`);
      try {
        await mkdir(join(temp, '_data'), { recursive: true, mode: 0o755 });
        if (this.owner !== undefined) await chown(join(temp, '_data'), this.owner.uid, this.owner.gid);
        await writeJsonAtomic(join(temp, 'volume.json'), rec, { durable: true });
        await rename(temp, join(this.dir, name)).catch((err: unknown) => {
          if ((err as NodeJS.ErrnoException).code === 'ENOTEMPTY' || (err as NodeJS.ErrnoException).code === 'EEXIST')
            throw alreadyExists(`volume ${name}: a directory of that name exists in ${this.dir}`);
          throw err;
        });
      } catch (err) {
        await rm(temp, { recursive: true, force: true });
        throw err;
      }
      this.volumes.set(name, rec);
      return rec;
    });
  }

  /** The volume's record; NOT_FOUND naming it. */
  get(name: string): VolumeRecord {
    const rec = this.volumes.get(name);
    if (rec === undefined) throw notFound(`get ${name}: no such volume`);
    return rec;
  }

  find(name: string): VolumeRecord | undefined {
    return this.volumes.get(name);
  }

  list(): VolumeRecord[] {
    return [...this.volumes.values()].sort((a, b) => a.name.localeCompare(b.name));
  }

  /** Removes a volume and its content (the caller checked it is unused). NOT_FOUND naming it. */
  async remove(_ctx: Context, name: string): Promise<void> {
    await this.lock.run(name, async () => {
      if (!this.volumes.has(name)) throw notFound(`remove ${name}: no such volume`);
      // renamed away first: a crash during the recursive removal leaves a temporary, not half a volume
      const gone = join(this.dir, `.tmp-rm-${name}-${randomBytes(4).toString('hex')}`);
      await rename(join(this.dir, name), gone);
      this.volumes.delete(name);
      await rm(gone, { recursive: true, force: true });
    });
  }
}
