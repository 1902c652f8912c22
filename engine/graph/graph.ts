// The Graph: the content, image, layer and reference stores composed into what the
// engine's jobs use — put an image (config + layer tars), look one up by name or id,
// delete it, give containers their read-write layers, and collect garbage.
// Each store is a boundary the composer may instrument (GraphOptions.instrument), so
// their code carries no tracing.
//
// Ownership of layer references: an image holds one reference on its top layer;
// layers below are kept alive by the layers on top of them, containers' read-write
// layers keep their parent chain. gc's roots are images (their layer chains,
// config and `blobs`) and containers; everything else older than the grace period goes.
import { conflict, invalidArgument, isBerthError } from '../errdefs/errors.js';
import type { Driver } from '../graphdriver/driver.js';
import { notInstrumented, type Instrumenter } from '../trace/instrument.js';
import { throwIfCancelled, type Context } from '../trace/context.js';
import { ContentStore } from './content-store.js';
import { digestOf, isDigest } from './digest.js';
import { chainIDs, ImageStore, parseImageConfig, type Image, type ImageConfig } from './image-store.js';
import { LayerStore, type LayerStoreHooks, type RestoreReport, type RWLayer } from './layer-store.js';
import { familiarString, normalizeName } from './reference.js';
import { ReferenceStore } from './reference-store.js';
import { RWLock } from '../fsutil/rw-lock.js';

export interface GraphOptions {
  /** The engine's data root (`--root`). */
  root: string;
  /** The graphdriver layers live in (instrumented by the caller if wanted). */
  driver: Driver;
  /** Fault injection for crash tests (see LayerStoreHooks). */
  hooks?: LayerStoreHooks;
  /**
   * How the composer wraps each store (trace's instrument(): spans `graph.content.*`,
   * `graph.content.ingest.commit`, `graph.images.*`, `graph.layers.*`,
   * `graph.references.*`). Default: not at all.
   */
  instrument?: Instrumenter;
}

/** A layer tar (uncompressed), or a function opening it only when the layer is missing. */
export type LayerSource = NodeJS.ReadableStream | (() => Promise<NodeJS.ReadableStream>);

export interface PutImageOptions {
  /** References to point at the image (`busybox`, `localhost:5000/x@sha256:…`). */
  references?: string[];
  /** Other blobs of the image (manifest, index, compressed layers) gc must keep. */
  blobs?: string[];
}

export interface PutImageResult {
  id: string;
  /** chainID of the top layer; null for an image without layers. */
  chainID: string | null;
  /** False when the image was already stored (putting it again is idempotent). */
  created: boolean;
  /** Per layer, bottom first: whether its tar was applied or the layer already existed. */
  layers: { chainID: string; applied: boolean }[];
}

export interface ImageDetails extends Image {
  /** Familiar references naming the image, sorted. */
  references: string[];
}

export interface DeleteImageResult {
  /** References removed (familiar form). */
  untagged: string[];
  /** Image ids deleted (empty when only a reference was removed). */
  deleted: string[];
  /** Layers removed because nothing holds them any more. */
  layers: string[];
}

export interface GcOptions {
  /**
   * Layers, blobs and abandoned ingests younger than this are kept (default 10 minutes): a pull may be about to use
   * them.
   */
  graceMs?: number;
}

export interface GcResult {
  layers: string[];
  blobs: string[];
  ingests: string[];
  /** Blob bytes plus layer content bytes freed. */
  bytes: number;
}

/** What Graph.open found and cleaned: the layer store's report, plus what no image or container held. */
export interface GraphRestoreReport extends RestoreReport {
  /** Layers nothing held (left by a put that never finished), removed. */
  unreferencedLayers: string[];
  /** Layers whose reference count disagreed with the images holding them, corrected. */
  recountedLayers: string[];
  /** Blobs no image lists (of a pull that never finished), removed. */
  orphanBlobs: string[];
}

const DEFAULT_GRACE_MS = 10 * 60_000;

export class Graph {
  private readonly lock = new RWLock();

  private constructor(
    readonly content: ContentStore,
    readonly images: ImageStore,
    readonly layers: LayerStore,
    readonly references: ReferenceStore,
    /** What the startup recovery found and cleaned. */
    readonly restoreReport: GraphRestoreReport,
  ) {}

  /**
   * Opens (creating when needed) the graph under `root`, running the layer store's
   * startup recovery, then removing what an interrupted put or pull left: layers no
   * image or container holds (their counts set to the images holding them) and blobs
   * no image lists (also those a deleted image left as a cache). Ingests stay (a pull
   * resumes them; gc ages them out).
   * Cost: a read per layer and image record, a listing of the blobs.
   */
  static async open(ctx: Context, opts: GraphOptions): Promise<Graph> {
    const wrap = opts.instrument ?? notInstrumented;
    const content = wrap('graph.content', new ContentStore(opts.root), {
      methods: [
        'writer',
        'put',
        'reader',
        'readBlob',
        'info',
        'has',
        'walk',
        'list',
        'delete',
        'totalSize',
        'ingests',
        'abortStale',
      ],
      attributes: {
        reader: (_c, digest) => ({ digest }),
        info: (_c, digest) => ({ digest }),
        delete: (_c, digest) => ({ digest }),
        writer: (_c, ref) => ({ ref }),
      },
    });
    if (wrap !== notInstrumented) {
      // An ingest's commit (size and digest check, fsync, rename) is a boundary of its own.
      const writer = content.writer.bind(content);
      content.writer = async (...args) =>
        wrap('graph.content.ingest', await writer(...args), { methods: ['commit'], steps: { commit: (r) => r.steps } });
    }
    const images = wrap('graph.images', new ImageStore(opts.root, content), {
      methods: ['create', 'get', 'has', 'ids', 'list', 'delete'],
    });
    const layers = wrap('graph.layers', new LayerStore(opts.root, opts.driver, opts.hooks), {
      methods: [
        'restore',
        'register',
        'get',
        'has',
        'list',
        'retain',
        'release',
        'delete',
        'prune',
        'createRWLayer',
        'getRWLayer',
        'rwLayers',
        'containersUsing',
        'removeRWLayer',
        'mountRW',
        'mountRWDetached',
        'unmountRW',
        'idmapRW',
      ],
      attributes: {
        register: (_c, _t, parent, o) => ({ parent: parent ?? '', diffID: o?.diffID ?? '' }),
        mountRW: (_c, id) => ({ container: id }),
        mountRWDetached: (_c, id) => ({ container: id }),
      },
      results: { register: (r) => ({ chainID: r.layer.chainID, applied: r.applied, size: r.layer.size }) },
      steps: { register: (r) => r.steps },
    });
    const references = wrap('graph.references', new ReferenceStore(opts.root, { imageIDs: (c) => images.ids(c) }), {
      methods: ['add', 'delete', 'deleteImage', 'get', 'list', 'resolve'],
    });
    const report = await layers.restore(ctx);
    const graph = new Graph(content, images, layers, references, {
      ...report,
      unreferencedLayers: [],
      recountedLayers: [],
      orphanBlobs: [],
    });
    const pruned = await graph.prune(ctx, { blobs: 'unlisted' });
    Object.assign(graph.restoreReport, {
      unreferencedLayers: pruned.layers,
      recountedLayers: pruned.recounted,
      orphanBlobs: pruned.blobs,
    });
    if (pruned.layers.length + pruned.recounted.length + pruned.blobs.length > 0) {
      ctx.logger.info('graph: cleaned up after an interrupted put or pull', {
        layers: pruned.layers,
        recounted: pruned.recounted,
        blobs: pruned.blobs,
      });
    }
    return graph;
  }

  /**
   * Brings the layer references in line with the images holding them (one on each
   * image's top layer) and removes the layers nothing holds, then the blobs no image
   * lists: with 'unlisted' all of them, else those of the list given.
   * Call with no put in flight (at open, or under the exclusive lock).
   */
  private async prune(
    ctx: Context,
    opts: { blobs: 'unlisted' | string[] },
  ): Promise<{ layers: string[]; recounted: string[]; blobs: string[] }> {
    const holders = new Map<string, number>();
    const listed = new Set<string>();
    let images: Image[];
    try {
      images = await this.images.list(ctx);
    } catch (err) {
      // without every holder known nothing can be called unreferenced: gc and the next start see it again
      ctx.logger.warn('graph: images unreadable, unreferenced layers and blobs kept', { error: String(err) });
      return { layers: [], recounted: [], blobs: [] };
    }
    for (const image of images) {
      if (image.chainID !== null) holders.set(image.chainID, (holders.get(image.chainID) ?? 0) + 1);
      listed.add(image.id);
      for (const b of image.blobs) listed.add(b);
    }
    const { removed, recounted } = await this.layers.prune(ctx, holders);
    const candidates = opts.blobs === 'unlisted' ? (await this.content.list(ctx)).map((b) => b.digest) : opts.blobs;
    const blobs: string[] = [];
    for (const digest of new Set(candidates)) {
      if (listed.has(digest)) continue;
      try {
        await this.content.delete(ctx, digest);
        blobs.push(digest);
      } catch (err) {
        if (!isBerthError(err, 'NOT_FOUND')) throw err;
      }
    }
    return { layers: removed, recounted, blobs: blobs.sort() };
  }

  /**
   * Stores an image: applies each missing layer (the i-th source must hash to
   * rootfs.diff_ids[i]; an existing layer's function source is never opened, a
   * stream source is drained), then the config, then the references. Idempotent for
   * the same config. Nothing is visible until each piece is verified; on failure
   * the layers this call added are released again.
   * Fails INVALID_ARGUMENT for a bad config or a layer count that does not match
   * diff_ids, FAILED_PRECONDITION for a tar whose diffID differs.
   */
  async putImage(
    ctx: Context,
    config: Uint8Array | string | ImageConfig,
    layers: LayerSource[],
    opts: PutImageOptions = {},
  ): Promise<PutImageResult> {
    const bytes =
      typeof config === 'string'
        ? Buffer.from(config)
        : config instanceof Uint8Array
          ? config
          : Buffer.from(JSON.stringify(config));
    const id = digestOf(bytes);
    const parsed = parseImageConfig(bytes, `image ${id}`);
    const diffIDs = parsed.rootfs.diff_ids;
    if (layers.length !== diffIDs.length) {
      throw invalidArgument(`image ${id}: ${layers.length} layer tars given for ${diffIDs.length} rootfs.diff_ids`);
    }
    const chains = chainIDs(diffIDs);
    return this.lock.shared(async () => {
      const held: string[] = [];
      const applied: { chainID: string; applied: boolean }[] = [];
      try {
        let parent: string | null = null;
        for (const [i, source] of layers.entries()) {
          throwIfCancelled(ctx, `image ${id}`);
          const chain = chains[i]!;
          if (typeof source === 'function' && (await this.layers.has(ctx, chain))) {
            await this.layers.retain(ctx, chain);
            applied.push({ chainID: chain, applied: false });
          } else {
            const tar = typeof source === 'function' ? await source() : source;
            const r = await this.layers.register(ctx, tar, parent, { diffID: diffIDs[i]! });
            applied.push({ chainID: chain, applied: r.applied });
          }
          held.push(chain);
          parent = chain;
        }
        // the image keeps its top layer; the ones below are kept by the chain
        for (const c of held.slice(0, -1)) await this.layers.release(ctx, c);
        held.splice(0, held.length - 1);
        const { created } = await this.images.create(ctx, bytes, opts.blobs ? { blobs: opts.blobs } : {});
        // the stored image already holds it
        if (!created && held.length === 1) await this.layers.release(ctx, held.pop()!);
        held.length = 0;
        for (const ref of opts.references ?? []) await this.references.add(ctx, ref, id);
        return { id, chainID: chains.length === 0 ? null : chains[chains.length - 1]!, created, layers: applied };
      } catch (err) {
        for (const c of held.reverse()) {
          await this.layers
            .release(ctx, c)
            .catch((e: unknown) =>
              ctx.logger.warn('graph: release after a failed put', { chainID: c, error: String(e) }),
            );
        }
        throw err;
      }
    });
  }

  /**
   * Lists more blobs under image `id` (a manifest and compressed layers a push made),
   * so gc keeps them with the image. Fails NOT_FOUND when the image is gone.
   */
  async recordBlobs(ctx: Context, id: string, blobs: string[]): Promise<void> {
    await this.lock.shared(async () => {
      await this.images.get(ctx, id);
      const config = await this.content.readBlob(ctx, id);
      await this.images.create(ctx, config, { blobs });
    });
  }

  /** Points `ref` at the image `target` names (reference, id or id prefix). Fails NOT_FOUND. */
  async tag(ctx: Context, ref: string, target: string): Promise<void> {
    const id = await this.references.resolve(ctx, target);
    await this.images.get(ctx, id);
    await this.references.add(ctx, ref, id);
  }

  /**
   * The image a reference, id or id prefix names, with its references. Fails NOT_FOUND, CONFLICT (ambiguous prefix).
   */
  async getImage(ctx: Context, ref: string): Promise<ImageDetails> {
    const id = await this.references.resolve(ctx, ref);
    const image = await this.images.get(ctx, id);
    const refs = await this.references.list(ctx, id);
    return { ...image, references: refs.map((r) => r.familiar).sort() };
  }

  /** Every image with its references, sorted by id. */
  async listImages(ctx: Context): Promise<ImageDetails[]> {
    const refs = await this.references.list(ctx);
    return (await this.images.list(ctx)).map((image) => ({
      ...image,
      references: refs
        .filter((r) => r.imageID === image.id)
        .map((r) => r.familiar)
        .sort(),
    }));
  }

  /**
   * Deletes by reference or id. By a reference when the image has others: only
   * that reference goes. Otherwise the image goes (references, record, config and
   * its reference on the top layer), and with it every layer no remaining image or
   * container holds (its chain, and what an interrupted put left on it). Its other
   * blobs (manifest, compressed layers) stay as a cache a later pull applies from,
   * until gc or the next Graph.open removes them.
   * Fails CONFLICT naming the container while a container uses the image, or (by
   * id) while more than one reference names it — unless `force`; a forced delete
   * leaves the containers' layer chains in place. Fails NOT_FOUND.
   */
  async deleteImage(ctx: Context, ref: string, opts: { force?: boolean } = {}): Promise<DeleteImageResult> {
    return this.lock.exclusive(async () => {
      const id = await this.references.resolve(ctx, ref);
      const image = await this.images.get(ctx, id);
      const refs = await this.references.list(ctx, id);
      const byName = await this.references.get(ctx, ref).then(
        (named) => named === id,
        () => false,
      );
      if (byName && refs.length > 1) {
        await this.references.delete(ctx, ref);
        return { untagged: [familiarString(normalizeName(ref))], deleted: [], layers: [] };
      }
      if (opts.force !== true) {
        const users = (await this.layers.rwLayers(ctx)).filter((r) => r.imageID === id).map((r) => r.containerID);
        if (users.length > 0)
          throw conflict(`image ${ref}: in use by container ${users.join(', ')}`, { details: { containers: users } });
        if (!byName && refs.length > 1) {
          throw conflict(`image ${ref}: referenced by ${refs.map((r) => r.familiar).join(', ')}; remove them or force`);
        }
      }
      const untagged = (await this.references.deleteImage(ctx, id)).map((r) => familiarString(r));
      await this.images.delete(ctx, id);
      const released = image.chainID === null ? [] : await this.layers.release(ctx, image.chainID);
      // under the exclusive lock no put holds a reference: what the remaining images do not hold goes
      const pruned = await this.prune(ctx, { blobs: [] });
      return { untagged, deleted: [id], layers: [...released, ...pruned.layers] };
    });
  }

  /** Creates a container's read-write layer on the image `imageRef` names. See LayerStore.createRWLayer. */
  async createContainerLayer(ctx: Context, containerID: string, imageRef: string): Promise<RWLayer> {
    return this.lock.shared(async () => {
      // a full id needs no resolving (that lists every image: a readdir); get() fails NOT_FOUND alike
      const id = isDigest(imageRef) ? imageRef : await this.references.resolve(ctx, imageRef);
      const image = await this.images.get(ctx, id);
      return this.layers.createRWLayer(ctx, containerID, image.chainID, { imageID: id });
    });
  }

  /** Removes a container's read-write layer (and image layers nothing holds any more). */
  async removeContainerLayer(ctx: Context, containerID: string): Promise<string[]> {
    return this.lock.shared(() => this.layers.removeRWLayer(ctx, containerID));
  }

  /**
   * Removes what no image or container reaches: layers outside every image's chain
   * and every container's parent chain, blobs that are neither an image config nor
   * listed in an image's `blobs`, and ingests idle for the grace period. Runs alone
   * (waits for puts and deletes). Returns what it freed. Cost: a walk of all records and blobs.
   */
  async gc(ctx: Context, opts: GcOptions = {}): Promise<GcResult> {
    const cutoff = Date.now() - (opts.graceMs ?? DEFAULT_GRACE_MS);
    return this.lock.exclusive(async () => {
      const result: GcResult = { layers: [], blobs: [], ingests: [], bytes: 0 };
      const images = await this.images.list(ctx);
      const liveLayers = new Set<string>();
      const liveBlobs = new Set<string>();
      for (const image of images) {
        for (const c of chainIDs(image.config.rootfs.diff_ids)) liveLayers.add(c);
        liveBlobs.add(image.id);
        for (const b of image.blobs) liveBlobs.add(b);
      }
      const all = new Map((await this.layers.list(ctx)).map((l) => [l.chainID, l]));
      for (const rw of await this.layers.rwLayers(ctx)) {
        for (let c = rw.parent; c !== null && !liveLayers.has(c); c = all.get(c)?.parent ?? null) liveLayers.add(c);
      }
      const depth = (chain: string): number => {
        let d = 0;
        for (let l = all.get(chain); l?.parent; l = all.get(l.parent)) d++;
        return d;
      };
      const dead = [...all.values()]
        .filter((l) => !liveLayers.has(l.chainID) && Date.parse(l.createdAt) <= cutoff)
        .sort((a, b) => depth(b.chainID) - depth(a.chainID));
      for (const l of dead) {
        throwIfCancelled(ctx, 'graph gc');
        try {
          await this.layers.delete(ctx, l.chainID);
          result.layers.push(l.chainID);
          result.bytes += l.size;
        } catch (err) {
          if (!isBerthError(err, 'CONFLICT')) throw err;
          ctx.logger.info('graph gc: layer kept', { chainID: l.chainID, reason: err.message });
        }
      }
      for (const blob of await this.content.list(ctx)) {
        if (liveBlobs.has(blob.digest) || Date.parse(blob.createdAt) > cutoff) continue;
        throwIfCancelled(ctx, 'graph gc');
        await this.content.delete(ctx, blob.digest).catch((err: unknown) => {
          if (!isBerthError(err, 'NOT_FOUND')) throw err;
        });
        result.blobs.push(blob.digest);
        result.bytes += blob.size;
      }
      result.ingests = await this.content.abortStale(ctx, Date.now() - cutoff);
      return result;
    });
  }
}
