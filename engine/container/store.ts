// The container store: every container's record, its unique name, and Docker's
// ways of naming one (full id, name, unique id prefix). On disk, under
// `<root>/containers/<id>/`:
//   config.v2.json           the ContainerRecord without its spec, replaced atomically (fsynced) on every change;
//                            removed first
//   spec.json                the record's OCI spec, replaced atomically (fsynced) only when the record holds a new
//                            spec object (create and each start), written just before the record in one batch: the
//                            exit's and the stop's writes do not serialize the whole spec again
//   hostname, hosts, resolv.conf   the etc files the networkdriver writes, bind-mounted into it
//   <id>-json.log            its output in Docker's json-file format
// A directory without a readable config.v2.json is what a crash during create
// left behind: open() reports it (orphans) for the engine to clean up.
import { randomBytes } from 'node:crypto';
import { mkdirSync, rmdirSync, rmSync, unlinkSync } from 'node:fs';
import { mkdir, readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { conflict, invalidArgument, notFound, wrap } from '../errdefs/errors.js';
import { writeFilesAtomic, type AtomicFile } from '../fsutil/atomic-write.js';
import { KeyedLock } from '../fsutil/keyed-lock.js';
import { throwIfCancelled, type Context } from '../trace/context.js';
import { generateName, normalizeName } from './names.js';
import type { Spec } from '../execdriver/spec/types.js';
import type { ContainerRecord } from './record.js';

const RECORD = 'config.v2.json';
const SPEC = 'spec.json';
/** The etc files the networkdriver writes there (the layout above). */
const ETC_FILES = ['hostname', 'hosts', 'resolv.conf'];
const ID = /^[0-9a-f]{64}$/;

function unlinkIfPresent(path: string): void {
  try {
    unlinkSync(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
}

export class ContainerStore {
  private readonly byId = new Map<string, ContainerRecord>();
  /** name → id; a name is reserved before its record exists (create in progress). */
  private readonly names = new Map<string, string>();
  private readonly locks = new KeyedLock();
  /** id → the spec object last written to its spec.json (a record's spec is replaced, never changed in place). */
  private readonly specWritten = new Map<string, Spec>();

  private constructor(
    /** `<root>/containers`. */
    readonly dir: string,
    /** Container directories without a valid record, found by open(). */
    readonly orphans: string[],
  ) {}

  /** Opens (creating) `<root>/containers` and loads every record. Cost: one read per container. */
  static async open(ctx: Context, root: string): Promise<ContainerStore> {
    const dir = join(root, 'containers');
    await mkdir(dir, { recursive: true, mode: 0o710 });
    const orphans: string[] = [];
    const store = new ContainerStore(dir, orphans);
    for (const entry of await readdir(dir)) {
      throwIfCancelled(ctx, `container store ${dir}`);
      if (!ID.test(entry)) continue;
      let record: ContainerRecord;
      try {
        record = JSON.parse(await readFile(join(dir, entry, RECORD), 'utf8')) as ContainerRecord;
        if (record.id !== entry || typeof record.name !== 'string') throw new Error(`record names ${record.id}`);
        // a record written before the spec had its own file holds it inline (written apart at its next change)
        if (record.spec === undefined) {
          record.spec = JSON.parse(await readFile(join(dir, entry, SPEC), 'utf8')) as Spec;
          store.specWritten.set(record.id, record.spec);
        }
      } catch (err) {
        ctx.logger.warn(`container ${entry}: no valid record, left for cleanup`, {
          error: err instanceof Error ? err.message : String(err),
        });
        orphans.push(entry);
        continue;
      }
      store.byId.set(record.id, record);
      store.names.set(record.name, record.id);
    }
    return store;
  }

  /** A new random container id (64 hex digits) not in use. */
  newId(): string {
    for (;;) {
      const id = randomBytes(32).toString('hex');
      // a 12-digit prefix of a new id must not be all digits (Docker's rule: it would read as a number)
      if (/^\d{12}/.test(id) || this.byId.has(id)) continue;
      return id;
    }
  }

  /** The directory of a container's files. */
  containerDir(id: string): string {
    return join(this.dir, id);
  }

  /**
   * Reserves `name` (normalized; generated when absent) for `id` and returns it.
   * Fails INVALID_ARGUMENT for a bad name, CONFLICT naming the holder when taken.
   */
  reserveName(name: string | undefined, id: string): string {
    const bare = name === undefined || name === '' ? generateName((n) => this.names.has(n)) : normalizeName(name);
    const holder = this.names.get(bare);
    if (holder !== undefined && holder !== id) {
      throw conflict(
        `Conflict. The container name "/${bare}" is already in use by container "${holder}". You have to remove (or rename) that container to be able to reuse that name.`,
      );
    }
    this.names.set(bare, id);
    return bare;
  }

  /** Releases a name reserved for `id` (a create that failed). */
  releaseName(name: string, id: string): void {
    if (this.names.get(name) === id) this.names.delete(name);
  }

  /** Writes a new container's record (its name reserved first) and makes it visible. */
  async add(ctx: Context, record: ContainerRecord): Promise<void> {
    if (this.names.get(record.name) !== record.id)
      throw invalidArgument(`container ${record.id}: name ${record.name} not reserved`);
    // one directory: a synchronous call, not a thread-pool trip
    mkdirSync(this.containerDir(record.id), { recursive: true, mode: 0o710 });
    await this.write(ctx, record);
    this.byId.set(record.id, record);
  }

  /** Persists a record's current state (atomic, fsynced). */
  async save(ctx: Context, record: ContainerRecord): Promise<void> {
    if (this.byId.get(record.id) !== record) throw notFound(`container ${record.id}: not in the store`);
    await this.write(ctx, record);
  }

  private async write(ctx: Context, record: ContainerRecord): Promise<void> {
    throwIfCancelled(ctx, `container ${record.id}: save`);
    try {
      const dir = this.containerDir(record.id);
      const { spec, ...rest } = record;
      const files: AtomicFile[] = [];
      const newSpec = this.specWritten.get(record.id) !== spec;
      // the spec first: a crash between the two leaves the new spec beside the old record (the spec is only run from
      // memory, by the start that wrote it), never a record whose spec is missing
      if (newSpec) files.push({ path: join(dir, SPEC), data: JSON.stringify(spec), sync: true });
      files.push({ path: join(dir, RECORD), data: JSON.stringify(rest), sync: true });
      await writeFilesAtomic(files);
      if (newSpec) this.specWritten.set(record.id, spec);
    } catch (err) {
      throw wrap(err, `container ${record.id}: write record`);
    }
  }

  /**
   * Forgets a container and removes its directory (idempotent). The record file goes first, so a crash part-way
   * leaves a directory without a record (an orphan for open() to report), never a record missing its files.
   */
  async remove(_ctx: Context, id: string): Promise<void> {
    const record = this.byId.get(id);
    // A handful of small files (record, etc files, logs): synchronous calls are cheaper than
    // the several thread-pool trips per entry of the promise rm. The files the layout above names are unlinked by
    // name and the directory removed (no stat and readdir of each entry as a recursive rm makes); anything else left
    // there (rotated logs, the shm folder, files of older versions) is left to the recursive rm.
    const dir = this.containerDir(id);
    try {
      for (const name of [RECORD, SPEC, ...ETC_FILES, `${id}-json.log`]) unlinkIfPresent(join(dir, name));
      try {
        rmdirSync(dir);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT') rmSync(dir, { recursive: true, force: true });
      }
    } catch (err) {
      throw wrap(err, `container ${id}: remove its directory`);
    }
    this.byId.delete(id);
    this.specWritten.delete(id);
    if (record !== undefined) this.releaseName(record.name, id);
  }

  /**
   * Puts back a record remove() took (its removal could not finish), written again under its own name. CONFLICT when
   * the name went to another container meanwhile.
   */
  async readd(ctx: Context, record: ContainerRecord): Promise<void> {
    if (this.byId.has(record.id)) return;
    this.reserveName(record.name, record.id);
    try {
      await this.add(ctx, record);
    } catch (err) {
      this.releaseName(record.name, record.id);
      throw err;
    }
  }

  /**
   * The container `ref` names, resolved as Docker does: a full id, then a name (with
   * or without `/`), then a unique id prefix. Fails INVALID_ARGUMENT for an empty
   * ref or an ambiguous prefix, NOT_FOUND ("No such container: ref").
   */
  get(ref: string): ContainerRecord {
    const found = this.find(ref);
    if (found === undefined) throw notFound(`No such container: ${ref}`);
    return found;
  }

  /** get() without NOT_FOUND: undefined when nothing matches. */
  find(ref: string): ContainerRecord | undefined {
    if (ref === '') throw invalidArgument('container: empty id or name');
    const exact = this.byId.get(ref);
    if (exact !== undefined) return exact;
    const named = this.names.get(ref.startsWith('/') ? ref.slice(1) : ref);
    if (named !== undefined && this.byId.has(named)) return this.byId.get(named);
    if (!/^[0-9a-f]+$/.test(ref)) return undefined;
    let match: ContainerRecord | undefined;
    for (const [id, record] of this.byId) {
      if (!id.startsWith(ref)) continue;
      if (match !== undefined) throw invalidArgument(`container ${ref}: multiple containers found with this id prefix`);
      match = record;
    }
    return match;
  }

  /** Every container, newest first. */
  list(): ContainerRecord[] {
    return [...this.byId.values()].sort((a, b) => (a.created < b.created ? 1 : a.created > b.created ? -1 : 0));
  }

  /** True when a name is held (by a record or a create in progress). */
  nameTaken(name: string): boolean {
    return this.names.has(name);
  }

  /**
   * Runs fn with the container's lock held: state changes of one container
   * (start, stop, exit handling, delete) happen one at a time. Not re-entrant.
   */
  locked<T>(id: string, fn: () => Promise<T>): Promise<T> {
    return this.locks.run(id, fn);
  }
}
