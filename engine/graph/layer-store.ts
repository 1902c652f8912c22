// The layer store: image layers keyed by chainID on top of a graphdriver, with
// reference counts, and containers' read-write layers on top of them. A layer
// becomes visible only after its tar was applied and its diffID verified.
//
// Layout under `<root>/image/<driver>/layerdb/`:
//   sha256/<chainID hex>/layer.json   one record per layer {chainID, diffID, parent,
//                                     size, driverID, refCount, createdAt}, temp + rename
//   mounts/<containerID>/mount.json   one record per read-write layer
//   tmp/<driverID>.json               intent marker, written before the driver layer is
//                                     created and removed after its record is written
// A crash between create and record leaves a marker whose driver layer has no
// record: restore() removes both. Record folders without layer.json and stray temp
// files are removed too.
import { randomBytes } from 'node:crypto';
import { mkdirSync, rmdirSync, rmSync, unlinkSync } from 'node:fs';
import { mkdir, readdir, readFile, rm, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { alreadyExists, conflict, failedPrecondition, isBerthError, notFound, wrap } from '../errdefs/errors.js';
import type { DetachedMount, DiffingDriver, Driver, IdMaps } from '../graphdriver/driver.js';
import { withDiff } from '../graphdriver/naive-diff.js';
import { nowNs } from '../trace/clock.js';
import { throwIfCancelled, type Context } from '../trace/context.js';
import type { TimedStep } from '../trace/instrument.js';
import { writeFileAtomic } from '../fsutil/atomic-write.js';
import { DigestingStream, parseDigest, validateDigest } from './digest.js';
import { chainID as chainOf } from './image-store.js';
import { checkContainerId } from '../fsutil/container-id.js';
import { Mutex } from '../fsutil/keyed-lock.js';
import { pauseAfterFirstChunk, pauseArmed } from '../trace/pause-point.js';

export interface Layer {
  chainID: string;
  diffID: string;
  /** chainID of the layer below, null for a base layer. */
  parent: string | null;
  /** Bytes of regular file content the layer's tar carried. */
  size: number;
  /** The graphdriver's id for this layer. */
  driverID: string;
  /** References held by callers (images); the layer goes away when it reaches 0 and nothing sits on it. */
  refCount: number;
  createdAt: string;
}

export interface RWLayer {
  containerID: string;
  driverID: string;
  /** chainID of the image's top layer, null for a container on an empty image. */
  parent: string | null;
  /** The image the container was created from, when the caller said. */
  imageID: string | undefined;
  createdAt: string;
}

export interface RegisterOptions {
  /**
   * The diffID the tar must hash to; also lets a concurrent register of the same layer wait instead of applying twice.
   */
  diffID?: string;
}

export interface RegisterResult {
  layer: Layer;
  /** False when the layer already existed and the tar was drained unapplied. */
  applied: boolean;
  /**
   * The register's steps as data, when it applied the tar: `graph.layers.write` (the driver layer made and the tar
   * written through the graphdriver, the diffID hashed on the way) and `graph.layers.record` (the record written
   * to a temporary file, fsynced and renamed into place).
   */
  steps: TimedStep[];
}

export interface RestoreReport {
  layers: number;
  rwLayers: number;
  /** Driver layers of interrupted applies (no record), removed. */
  removedDriverLayers: string[];
  /** Record folders without a record file, removed. */
  removedRecords: string[];
  /** Temp files of interrupted record writes, removed. */
  removedTempFiles: string[];
}

/** Fault injection for crash tests: called between the apply and the record write. */
export interface LayerStoreHooks {
  beforeRecord?(info: { chainID: string; driverID: string }): void | Promise<void>;
}

export class LayerStore {
  readonly dir: string;
  private readonly layers = new Map<string, Layer>();
  private readonly rw = new Map<string, RWLayer>();
  private readonly mountCounts = new Map<string, number>();
  /** Layers being applied, by chainID when known in advance. */
  private readonly inflight = new Map<string, Promise<unknown>>();
  /** Layers something is being built on right now (chainID → count); never removed meanwhile. */
  private readonly pins = new Map<string, number>();
  private readonly mutex = new Mutex();
  private loaded: Promise<RestoreReport> | undefined;

  /** The graphdriver, with the generic diff when it has none of its own. */
  readonly driver: DiffingDriver;

  constructor(
    dataRoot: string,
    driver: Driver,
    private readonly hooks: LayerStoreHooks = {},
  ) {
    this.driver = withDiff(driver);
    this.dir = join(dataRoot, 'image', driver.name, 'layerdb');
  }

  /**
   * Loads the records and cleans what interrupted operations left: driver layers
   * without a record (from the intent markers), record folders without a record
   * file, temp files. Runs once per store object (later calls return the first
   * report); every other method runs it first. Cost: a readdir and a read per record.
   */
  restore(ctx: Context): Promise<RestoreReport> {
    this.loaded ??= this.doRestore(ctx);
    return this.loaded;
  }

  /**
   * Applies a layer tar (uncompressed) on top of `parent` and records it, hashing
   * the tar as it flows to the driver: the diffID is the sha256 of every byte of
   * the stream, read to its end. With `opts.diffID` the result must match (else
   * FAILED_PRECONDITION `layer <diffID>: diffID mismatch (got …)`). On any failure
   * the driver layer is removed and nothing is recorded. When the layer (same
   * chainID) already exists its refCount is incremented and the tar is drained
   * without being applied; a concurrent register of the same chainID waits for the
   * first and shares its layer. Each successful register holds one reference.
   * Fails NOT_FOUND for an unknown parent. Cost: the driver's create + apply.
   */
  async register(
    ctx: Context,
    tar: NodeJS.ReadableStream,
    parent: string | null,
    opts: RegisterOptions = {},
  ): Promise<RegisterResult> {
    // An error the tar emits before apply() listens is kept on the stream (errored) and must
    // not crash the process: listened for before the first await.
    const ignoreEarly = (): void => {};
    tar.on('error', ignoreEarly);
    try {
      await this.restore(ctx);
      if (parent !== null) parseDigest(parent, 'parent layer');
      const expected = opts.diffID === undefined ? undefined : validateDigest(opts.diffID, 'layer diffID');
      const subject = `layer ${expected ?? '(new)'}`;
      throwIfCancelled(ctx, subject);
      return await this.registerGuarded(ctx, tar, parent, expected, subject);
    } finally {
      tar.removeListener('error', ignoreEarly);
    }
  }

  private async registerGuarded(
    ctx: Context,
    tar: NodeJS.ReadableStream,
    parent: string | null,
    expected: string | undefined,
    subject: string,
  ): Promise<RegisterResult> {
    let release: (() => void) | undefined;
    if (expected !== undefined) {
      const key = chainOf(parent, expected);
      for (let p = this.inflight.get(key); p !== undefined; p = this.inflight.get(key)) await p.catch(() => {});
      if (this.layers.has(key)) return { layer: await this.takeExisting(ctx, key, tar), applied: false, steps: [] };
      const done = new Promise<void>((resolve) => (release = resolve));
      this.inflight.set(key, done);
      const prev = release!;
      release = () => {
        this.inflight.delete(key);
        prev();
      };
    }
    try {
      // looked up and pinned under the mutex, so a concurrent release cannot be removing it
      const parentLayer = await this.mutex.run(() => {
        const found = parent === null ? undefined : this.layers.get(parent);
        if (parent !== null && found === undefined) throw notFound(`${subject}: parent layer ${parent} not found`);
        this.pin(parent);
        return found;
      });
      try {
        const tWrite = nowNs();
        const applied = await this.apply(ctx, tar, parentLayer?.driverID, expected, subject);
        const tWritten = nowNs();
        const chain = chainOf(parent, applied.diffID);
        let result: RegisterResult;
        let recordNs: [number, number] | undefined;
        try {
          await this.hooks.beforeRecord?.({ chainID: chain, driverID: applied.driverID });
          result = await this.mutex.run(async () => {
            const existing = this.layers.get(chain);
            if (existing !== undefined) return { layer: await this.addRefs(existing, 1), applied: false, steps: [] };
            const layer: Layer = {
              chainID: chain,
              diffID: applied.diffID,
              parent,
              size: applied.size,
              driverID: applied.driverID,
              refCount: 1,
              createdAt: new Date().toISOString(),
            };
            const tRecord = nowNs();
            await this.writeLayer(layer);
            recordNs = [tRecord, nowNs()];
            this.layers.set(chain, layer);
            return { layer: { ...layer }, applied: true, steps: [] };
          });
        } catch (err) {
          await this.discard(ctx, applied.driverID);
          throw err;
        }
        // recorded: from here a failure must not touch the layer (a stale marker is harmless)
        if (result.applied) await this.removeMarker(applied.driverID).catch(() => {});
        else await this.discard(ctx, applied.driverID);
        const attributes = { chainID: chain, diffID: applied.diffID };
        result.steps.push({ module: 'graph.layers', method: 'write', startNs: tWrite, endNs: tWritten, attributes });
        if (recordNs !== undefined)
          result.steps.push({
            module: 'graph.layers',
            method: 'record',
            startNs: recordNs[0],
            endNs: recordNs[1],
            attributes,
          });
        return result;
      } finally {
        this.unpin(parent);
      }
    } finally {
      release?.();
    }
  }

  /** A copy of the layer record. Fails NOT_FOUND. */
  async get(ctx: Context, chainID: string): Promise<Layer> {
    await this.restore(ctx);
    parseDigest(chainID, 'layer chainID');
    const l = this.layers.get(chainID);
    if (l === undefined) throw notFound(`layer ${chainID}: not found`);
    return { ...l };
  }

  /** Whether the layer exists. */
  async has(ctx: Context, chainID: string): Promise<boolean> {
    await this.restore(ctx);
    return this.layers.has(chainID);
  }

  /** Every layer, sorted by chainID. */
  async list(ctx: Context): Promise<Layer[]> {
    await this.restore(ctx);
    return [...this.layers.values()].map((l) => ({ ...l })).sort((a, b) => cmp(a.chainID, b.chainID));
  }

  /** Takes one more reference on an existing layer. Fails NOT_FOUND. */
  async retain(ctx: Context, chainID: string): Promise<Layer> {
    await this.restore(ctx);
    return this.mutex.run(async () => {
      const l = this.layers.get(chainID);
      if (l === undefined) throw notFound(`layer ${chainID}: not found`);
      return this.addRefs(l, 1);
    });
  }

  /**
   * Drops one reference. At zero, when no layer or container sits on it, the layer
   * and its driver layer are removed, and then its parent if that is now unused
   * too. Returns the chainIDs removed. Fails NOT_FOUND for an unknown layer.
   */
  async release(ctx: Context, chainID: string): Promise<string[]> {
    await this.restore(ctx);
    return this.mutex.run(async () => {
      const l = this.layers.get(chainID);
      if (l === undefined) throw notFound(`layer ${chainID}: not found`);
      if (l.refCount > 0) await this.addRefs(l, -1);
      return this.removeUnused(ctx, chainID);
    });
  }

  /**
   * Removes a layer whatever its refCount (for gc). Fails CONFLICT naming what
   * uses it: a layer on top of it, a container, an apply in progress.
   * Fails NOT_FOUND for an unknown layer.
   */
  async delete(ctx: Context, chainID: string): Promise<void> {
    await this.restore(ctx);
    await this.mutex.run(async () => {
      const l = this.layers.get(chainID);
      if (l === undefined) throw notFound(`layer ${chainID}: not found`);
      const user = this.userOf(chainID);
      if (user !== undefined) throw conflict(`layer ${chainID}: in use by ${user}`);
      await this.removeLayer(ctx, l);
    });
  }

  /**
   * Sets every layer's refCount to what `holders` counts for it (0 when absent),
   * then removes each layer left without a reference and without a layer, container
   * or apply on it, top layers first. Returns the chainIDs removed and those whose
   * count changed. Only for a caller that knows every holder: the Graph's startup
   * recovery and its image deletion, while no put is in flight — a reference held
   * by an interrupted put is dropped. Cost: a record write per changed layer.
   */
  async prune(ctx: Context, holders: ReadonlyMap<string, number>): Promise<{ removed: string[]; recounted: string[] }> {
    await this.restore(ctx);
    return this.mutex.run(async () => {
      const recounted: string[] = [];
      for (const l of this.layers.values()) {
        const want = holders.get(l.chainID) ?? 0;
        if (l.refCount === want) continue;
        await this.addRefs(l, want - l.refCount);
        recounted.push(l.chainID);
      }
      const removed: string[] = [];
      for (let more = true; more;) {
        more = false;
        for (const l of [...this.layers.values()]) {
          if (l.refCount > 0 || this.userOf(l.chainID) !== undefined) continue;
          await this.removeLayer(ctx, l);
          removed.push(l.chainID);
          more = true;
        }
      }
      return { removed: removed.sort(cmp), recounted: recounted.sort(cmp) };
    });
  }

  /**
   * Creates a container's read-write layer on `parent` (a chainID, or null).
   * Fails ALREADY_EXISTS for a container that has one, NOT_FOUND for an unknown
   * parent, INVALID_ARGUMENT for a bad container id. Nothing remains on failure.
   */
  async createRWLayer(
    ctx: Context,
    containerID: string,
    parent: string | null,
    opts: { imageID?: string } = {},
  ): Promise<RWLayer> {
    await this.restore(ctx);
    const subject = `container ${containerID}: rw layer`;
    checkContainerId(containerID);
    if (parent !== null) parseDigest(parent, `${subject}: parent`);
    if (opts.imageID !== undefined) parseDigest(opts.imageID, `${subject}: image id`);
    throwIfCancelled(ctx, subject);
    const driverID = randomBytes(32).toString('hex');
    const record = await this.mutex.run(async () => {
      if (this.rw.has(containerID)) throw alreadyExists(`${subject}: already exists`);
      const parentLayer = parent === null ? undefined : this.layers.get(parent);
      if (parent !== null && parentLayer === undefined) throw notFound(`${subject}: parent layer ${parent} not found`);
      const r: RWLayer = { containerID, driverID, parent, imageID: opts.imageID, createdAt: new Date().toISOString() };
      this.rw.set(containerID, r); // reserves the id and keeps the parent while we build
      return { r, parentDriverID: parentLayer?.driverID };
    });
    try {
      await this.writeMarker(driverID, 'rw');
      await this.driver.createReadWrite(ctx, driverID, record.parentDriverID);
      // one directory: a synchronous call, not a thread-pool trip (restore() made mounts/)
      mkdirSync(join(this.dir, 'mounts', containerID), { recursive: true });
      await writeFileAtomic(join(this.dir, 'mounts', containerID, 'mount.json'), JSON.stringify(record.r), {
        mode: 0o644,
        sync: true,
      });
      await this.removeMarker(driverID);
      return { ...record.r };
    } catch (err) {
      this.rw.delete(containerID);
      await rm(join(this.dir, 'mounts', containerID), { recursive: true, force: true }).catch(() => {});
      await this.discard(ctx, driverID);
      throw isBerthError(err) && err.message.startsWith(subject) ? err : wrap(err, subject);
    }
  }

  /** The container's read-write layer record. Fails NOT_FOUND. */
  async getRWLayer(ctx: Context, containerID: string): Promise<RWLayer> {
    await this.restore(ctx);
    const r = this.rw.get(containerID);
    if (r === undefined) throw notFound(`container ${containerID}: rw layer not found`);
    return { ...r };
  }

  /** Every read-write layer, sorted by container id. */
  async rwLayers(ctx: Context): Promise<RWLayer[]> {
    await this.restore(ctx);
    return [...this.rw.values()].map((r) => ({ ...r })).sort((a, b) => cmp(a.containerID, b.containerID));
  }

  /** Ids of the containers whose read-write layer sits on `chainID` or on a layer above it, sorted. */
  async containersUsing(ctx: Context, chainID: string): Promise<string[]> {
    await this.restore(ctx);
    const out: string[] = [];
    for (const r of this.rw.values()) {
      for (let c = r.parent; c !== null; c = this.layers.get(c)?.parent ?? null) {
        if (c === chainID) {
          out.push(r.containerID);
          break;
        }
      }
    }
    return out.sort();
  }

  /**
   * Removes a container's read-write layer, then its parent chain where nothing
   * else holds it (e.g. after the image was force-deleted). Fails NOT_FOUND, and
   * CONFLICT while it is mounted. Returns the image layers removed.
   */
  async removeRWLayer(ctx: Context, containerID: string): Promise<string[]> {
    await this.restore(ctx);
    return this.mutex.run(async () => {
      const r = this.rw.get(containerID);
      if (r === undefined) throw notFound(`container ${containerID}: rw layer not found`);
      if ((this.mountCounts.get(containerID) ?? 0) > 0) throw conflict(`container ${containerID}: rw layer is mounted`);
      try {
        // the container needs its layer gone, not its files deleted: the driver may delete them after the answer
        await this.driver.remove(ctx, r.driverID, { deferDelete: true });
        removeRecordDir(join(this.dir, 'mounts', containerID), 'mount.json');
      } catch (err) {
        throw wrap(err, `container ${containerID}: remove rw layer`);
      }
      this.rw.delete(containerID);
      return r.parent === null ? [] : this.removeUnused(ctx, r.parent);
    });
  }

  /** Mounts the container's layer (driver.get, counted) and returns its rootfs path. Fails NOT_FOUND. */
  async mountRW(ctx: Context, containerID: string): Promise<string> {
    const r = await this.getRWLayer(ctx, containerID);
    const path = await this.driver.get(ctx, r.driverID);
    this.mountCounts.set(containerID, (this.mountCounts.get(containerID) ?? 0) + 1);
    return path;
  }

  /**
   * Mounts the container's layer detached (driver.getDetached, counted as a mountRW; unmountRW releases it): in no
   * mount namespace until the container's child attaches it. undefined when the driver mounts it on the host instead
   * (no getDetached, a base layer, a kernel without the new mount API's overlay): then mountRW. Fails NOT_FOUND.
   */
  async mountRWDetached(ctx: Context, containerID: string): Promise<DetachedMount | undefined> {
    const r = await this.getRWLayer(ctx, containerID);
    if (this.driver.getDetached === undefined) return undefined;
    const m = await this.driver.getDetached(ctx, r.driverID);
    if (m !== undefined) this.mountCounts.set(containerID, (this.mountCounts.get(containerID) ?? 0) + 1);
    return m;
  }

  /**
   * Remounts the container's mounted layer over idmapped layers (driver.idmapLayers, overlay2) for a user namespace
   * with `maps`; false when the driver has no such mount (vfs, btrfs) or the layer no parent: the caller then idmaps
   * the rootfs tree itself. Fails NOT_FOUND, FAILED_PRECONDITION when not mounted, UNAVAILABLE with the kernel's
   * refusal.
   */
  async idmapRW(ctx: Context, containerID: string, maps: IdMaps): Promise<boolean> {
    const r = await this.getRWLayer(ctx, containerID);
    if (this.driver.idmapLayers === undefined) return false;
    return this.driver.idmapLayers(ctx, r.driverID, maps);
  }

  /** Releases one mountRW (driver.put). A call without a mount is a no-op. Fails NOT_FOUND. */
  async unmountRW(ctx: Context, containerID: string): Promise<void> {
    const r = await this.getRWLayer(ctx, containerID);
    const n = this.mountCounts.get(containerID) ?? 0;
    if (n === 0) return;
    await this.driver.put(ctx, r.driverID);
    if (n === 1) this.mountCounts.delete(containerID);
    else this.mountCounts.set(containerID, n - 1);
  }

  // ---- internals ----

  private async takeExisting(ctx: Context, chainID: string, tar: NodeJS.ReadableStream): Promise<Layer> {
    const layer = await this.retain(ctx, chainID);
    await drain(tar).catch((err: unknown) =>
      ctx.logger.debug('layer tar drain failed', { chainID, error: String(err) }),
    );
    return layer;
  }

  private async apply(
    ctx: Context,
    tar: NodeJS.ReadableStream,
    parentDriverID: string | undefined,
    expected: string | undefined,
    subject: string,
  ): Promise<{ driverID: string; diffID: string; size: number }> {
    const driverID = randomBytes(32).toString('hex');
    const digester = new DigestingStream('sha256');
    const src = tar as NodeJS.ReadableStream & { destroyed?: boolean; readableEnded?: boolean; errored?: unknown };
    const onSourceError = (err: unknown): void => void digester.destroy(err as Error);
    const onSourceClose = (): void => {
      if (!src.readableEnded) digester.destroy(new Error('layer tar stream closed before its end'));
    };
    let applying: Promise<unknown> | undefined;
    try {
      await this.writeMarker(driverID, 'layer');
      await this.driver.create(ctx, driverID, parentDriverID);
      src.on('error', onSourceError);
      src.on('close', onSourceClose);
      if (src.errored) digester.destroy(src.errored as Error);
      else if (src.destroyed) onSourceClose();
      // A crash test may stop here with part of the tar in the driver (trace/pause-point.ts).
      if (pauseArmed('layer-apply')) src.pipe(pauseAfterFirstChunk('layer-apply')).pipe(digester);
      else src.pipe(digester);
      // The stream failing must fail the apply even when the driver waits for more input.
      const streamFailed = new Promise<never>((_, reject) => {
        digester.once('error', reject);
        digester.once('close', () => {
          if (!digester.readableEnded && !digester.writableFinished)
            reject(new Error('layer tar stream closed before its end'));
        });
      });
      streamFailed.catch(() => {});
      applying = this.driver.applyDiff(ctx, driverID, parentDriverID, digester);
      const result = (await Promise.race([applying, streamFailed])) as Awaited<ReturnType<DiffingDriver['applyDiff']>>;
      await drain(digester);
      const diffID = digester.digest();
      if (expected !== undefined && diffID !== expected) {
        throw failedPrecondition(`layer ${expected}: diffID mismatch (got ${diffID})`, {
          details: { expected, got: diffID },
        });
      }
      throwIfCancelled(ctx, subject);
      return { driverID, diffID, size: result.size };
    } catch (err) {
      src.unpipe(digester);
      digester.destroy();
      // let a driver still writing notice its input is gone before its layer is removed
      if (applying !== undefined) await Promise.race([applying.catch(() => {}), delay(2000)]);
      await this.discard(ctx, driverID);
      throw isBerthError(err) && err.message.startsWith('layer ') ? err : wrap(err, `${subject}: apply`);
    } finally {
      src.removeListener('error', onSourceError);
      src.removeListener('close', onSourceClose);
    }
  }

  /** Removes a driver layer and its intent marker after a failure; logs what it cannot undo. */
  private async discard(ctx: Context, driverID: string): Promise<void> {
    try {
      await this.driver.remove(ctx, driverID);
      await this.removeMarker(driverID);
    } catch (err) {
      ctx.logger.warn('layer store: could not remove driver layer of a failed operation; restore() will', {
        driverID,
        error: String(err),
      });
    }
  }

  /** Removes `chainID` and then its ancestors while unreferenced and unused. Call under the mutex. */
  private async removeUnused(ctx: Context, chainID: string): Promise<string[]> {
    const removed: string[] = [];
    let l = this.layers.get(chainID);
    while (l !== undefined && l.refCount === 0 && this.userOf(l.chainID) === undefined) {
      await this.removeLayer(ctx, l);
      removed.push(l.chainID);
      l = l.parent === null ? undefined : this.layers.get(l.parent);
    }
    return removed;
  }

  private async removeLayer(ctx: Context, l: Layer): Promise<void> {
    try {
      await this.driver.remove(ctx, l.driverID);
      await rm(this.layerDir(l.chainID), { recursive: true, force: true });
    } catch (err) {
      throw wrap(err, `layer ${l.chainID}: remove`);
    }
    this.layers.delete(l.chainID);
  }

  /** What keeps a layer in use besides references, for messages; undefined when nothing. */
  private userOf(chainID: string): string | undefined {
    for (const l of this.layers.values()) if (l.parent === chainID) return `layer ${l.chainID}`;
    for (const r of this.rw.values()) if (r.parent === chainID) return `container ${r.containerID}`;
    if ((this.pins.get(chainID) ?? 0) > 0) return 'a layer being applied on it';
    return undefined;
  }

  private pin(chainID: string | null): void {
    if (chainID !== null) this.pins.set(chainID, (this.pins.get(chainID) ?? 0) + 1);
  }

  private unpin(chainID: string | null): void {
    if (chainID === null) return;
    const n = (this.pins.get(chainID) ?? 1) - 1;
    if (n === 0) this.pins.delete(chainID);
    else this.pins.set(chainID, n);
  }

  /** Persists refCount + delta, then updates memory (so a failed write changes nothing). Call under the mutex. */
  private async addRefs(l: Layer, delta: number): Promise<Layer> {
    const next = { ...l, refCount: l.refCount + delta };
    await this.writeLayer(next);
    l.refCount = next.refCount;
    return next;
  }

  private layerDir(chainID: string): string {
    return join(this.dir, 'sha256', parseDigest(chainID).hex);
  }

  private async writeLayer(l: Layer): Promise<void> {
    try {
      await mkdir(this.layerDir(l.chainID), { recursive: true });
      await writeFileAtomic(join(this.layerDir(l.chainID), 'layer.json'), JSON.stringify(l), {
        mode: 0o644,
        sync: true,
      });
    } catch (err) {
      throw wrap(err, `layer ${l.chainID}: write record`);
    }
  }

  private async writeMarker(driverID: string, kind: 'layer' | 'rw'): Promise<void> {
    mkdirSync(join(this.dir, 'tmp'), { recursive: true });
    await writeFileAtomic(
      join(this.dir, 'tmp', `${driverID}.json`),
      JSON.stringify({ driverID, kind, startedAt: new Date().toISOString() }),
      { mode: 0o644, sync: true },
    );
  }

  private async removeMarker(driverID: string): Promise<void> {
    try {
      unlinkSync(join(this.dir, 'tmp', `${driverID}.json`));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
  }

  private async doRestore(ctx: Context): Promise<RestoreReport> {
    const report: RestoreReport = {
      layers: 0,
      rwLayers: 0,
      removedDriverLayers: [],
      removedRecords: [],
      removedTempFiles: [],
    };
    try {
      for (const sub of ['sha256', 'mounts', 'tmp']) await mkdir(join(this.dir, sub), { recursive: true });
      for (const hex of await readdir(join(this.dir, 'sha256'))) {
        const dir = join(this.dir, 'sha256', hex);
        const l = await this.loadRecord<Layer>(dir, 'layer.json', report);
        if (l === undefined || l.chainID !== `sha256:${hex}`) {
          await rm(dir, { recursive: true, force: true });
          report.removedRecords.push(`sha256:${hex}`);
          continue;
        }
        this.layers.set(l.chainID, l);
      }
      for (const id of await readdir(join(this.dir, 'mounts'))) {
        const dir = join(this.dir, 'mounts', id);
        const r = await this.loadRecord<RWLayer>(dir, 'mount.json', report);
        if (r === undefined || r.containerID !== id) {
          await rm(dir, { recursive: true, force: true });
          report.removedRecords.push(`container ${id}`);
          continue;
        }
        this.rw.set(id, { ...r, imageID: r.imageID ?? undefined });
      }
      const recorded = new Set<string>([...this.layers.values(), ...this.rw.values()].map((x) => x.driverID));
      for (const name of await readdir(join(this.dir, 'tmp'))) {
        const path = join(this.dir, 'tmp', name);
        const m = /^([A-Za-z0-9][A-Za-z0-9_.-]*)\.json$/.exec(name);
        if (m !== null) {
          const driverID = m[1]!;
          if (!recorded.has(driverID) && (await this.driver.exists(ctx, driverID))) {
            await this.driver.remove(ctx, driverID);
            report.removedDriverLayers.push(driverID);
          }
        } else {
          report.removedTempFiles.push(path);
        }
        await rm(path, { recursive: true, force: true });
      }
    } catch (err) {
      this.loaded = undefined;
      throw wrap(err, `layer store ${this.dir}: restore`);
    }
    report.layers = this.layers.size;
    report.rwLayers = this.rw.size;
    for (const l of this.layers.values()) {
      if (l.parent !== null && !this.layers.has(l.parent))
        ctx.logger.warn('layer store: layer without its parent', { chainID: l.chainID, parent: l.parent });
    }
    if (report.removedDriverLayers.length + report.removedRecords.length + report.removedTempFiles.length > 0) {
      ctx.logger.info('layer store: cleaned up after an interrupted run', { ...report });
    }
    return report;
  }

  /** Reads `<dir>/<file>`, removing temp files beside it; undefined when missing or unreadable. */
  private async loadRecord<T>(dir: string, file: string, report: RestoreReport): Promise<T | undefined> {
    let value: T | undefined;
    for (const name of await readdir(dir).catch(() => [] as string[])) {
      if (name === file) continue;
      await rm(join(dir, name), { recursive: true, force: true });
      report.removedTempFiles.push(join(dir, name));
    }
    try {
      value = JSON.parse(await readFile(join(dir, file), 'utf8')) as T;
    } catch {
      value = undefined;
    }
    return value;
  }
}

/** Reads a stream to its end, discarding data. Fails when it errors or closes early. */
function drain(stream: NodeJS.ReadableStream): Promise<void> {
  const s = stream as NodeJS.ReadableStream & { readableEnded?: boolean; destroyed?: boolean };
  if (s.readableEnded) return Promise.resolve();
  return new Promise((resolve, reject) => {
    const done = (err?: unknown): void => {
      s.removeListener('end', onEnd);
      s.removeListener('error', onError);
      s.removeListener('close', onClose);
      if (err === undefined) resolve();
      else reject(err);
    };
    const onEnd = (): void => done();
    const onError = (err: unknown): void => done(err);
    const onClose = (): void => done(s.readableEnded ? undefined : new Error('layer tar stream closed before its end'));
    s.on('end', onEnd);
    s.on('error', onError);
    s.on('close', onClose);
    if (s.destroyed) return onClose();
    s.resume();
  });
}

function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/**
 * Removes a record folder holding `file` (and whatever else a crash left in it): the file and the folder with two
 * synchronous calls in the usual case, a recursive delete otherwise. Absent is not an error.
 */
function removeRecordDir(dir: string, file: string): void {
  try {
    unlinkSync(join(dir, file));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  try {
    rmdirSync(dir);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return;
    if (code !== 'ENOTEMPTY' && code !== 'EEXIST') throw err;
    rmSync(dir, { recursive: true, force: true });
  }
}
