// push: sends a local image to a registry, as `docker push` does. The Engine's
// `push` job calls it directly.
//
// Per layer, bottom first in the manifest (uploads run side by side):
//   the compressed blob — the one the graph keeps (a pulled image's, by the digest
//   its manifest names), else made now: the graphdriver's diff tar of the layer,
//   its sha256 checked against the diffID, gzipped into the content store;
//   HEAD: the registry has it already → "Layer already exists";
//   a cross-repository mount from another repository of the same registry that
//   names the image → "Mounted from …";
//   else an upload session: the whole blob in the closing PUT (or PATCH chunks of
//   `chunkSize` and an empty PUT) → "Pushed".
// Then the config blob, then the manifest: a pulled image's own bytes (OCI or Docker
// schema2 as it was pulled, so its digest stays the same), else a Docker schema2
// manifest made from the blobs, kept in the content store for the next push. The
// manifest goes last, after every blob is in: a cancelled or failed push leaves no
// manifest (the registry may keep blobs, which are harmless and reused).
//
// A pulled multi-platform image keeps its index beside the platform's manifest; the
// manifests of other platforms are there when they were pulled too (`pull --platform`).
// Such an image is pushed as the index when every child manifest is stored locally: each
// child's blobs come from the content store, or are found in (or mounted into) the target
// repository; then each child manifest by its digest, then the index. When a child is
// missing, a push by tag sends the one platform's manifest, as Docker's classic store does
// (a note names the missing platforms). A push by digest (`repo@sha256:…`) sends the stored
// manifest or index of that digest as it is, with no tag; an index whose child is missing
// is refused then, naming the child and its platform, before anything is sent.
import { createHash } from 'node:crypto';
import { PassThrough, pipeline, type Readable } from 'node:stream';
import { zlib } from '../archive/tar-compression.js';
import { BerthError, failedPrecondition, invalidArgument, isBerthError, notFound, wrap } from '../errdefs/errors.js';
import type { Graph, ImageDetails } from '../graph/graph.js';
import { chainIDs } from '../graph/image-store.js';
import { parseReference, referenceName, referenceString, withDefaultTag, type Reference } from '../graph/reference.js';
import { loadDockerConfig, type CredentialSource } from '../registry/client/credentials.js';
import { isIndexType, isManifestType, MediaType } from '../registry/client/media-types.js';
import { formatPlatform, type Platform } from '../registry/client/platform.js';
import { shortLayerID, type PushPhase, type PushProgressListener } from '../registry/client/progress.js';
import { RegistryClient } from '../registry/client/registry-client.js';
import { DEFAULT_RETRY, withRetry, type RetryPolicy } from '../registry/client/retry.js';
import { nowNs } from '../trace/clock.js';
import { background, throwIfCancelled, withLogger, withSignal, type Context } from '../trace/context.js';
import { notInstrumented, type InstrumentOptions, type Instrumenter } from '../trace/instrument.js';
import { limiter } from './limiter.js';

/** The registry client methods push uses (a RegistryClient, or one wrapped by instrument('registry', …)). */
export type PushClient = Pick<
  RegistryClient,
  'blobSize' | 'startUpload' | 'uploadBlob' | 'cancelUpload' | 'putManifest'
>;

export interface PushOptions {
  /** Credentials: a source, or the path of a Docker config.json. None by default. */
  auth?: CredentialSource | { dockerConfig: string };
  /** Layers uploaded at once (default 3). */
  concurrency?: number;
  /** Upload each blob in PATCH requests of this many bytes; by default a blob goes in one request. */
  chunkSize?: number;
  onProgress?: PushProgressListener;
  /** Called with the repository's full name once the local image is found, before anything is sent. */
  onStart?: (repository: string) => void;
  /** Called after onStart with what a user should know of the push's choices (an index pushed as one platform). */
  onNote?: (message: string) => void;
  /** The client to use; else one is made from auth/insecure/retry. */
  client?: PushClient;
  /** Registries reached over plain HTTP although not loopback. */
  insecure?: string[];
  retry?: Partial<RetryPolicy>;
  /**
   * How the composer wraps the parts push composes (trace's instrument()): the per-layer step (span
   * `registry.layer.push`, see pushStepsBoundary). None by default.
   */
  instrument?: Instrumenter;
}

export type LayerOutcome = 'pushed' | 'exists' | 'mounted';

export interface PushedLayer {
  /** The compressed blob's digest. */
  digest: string;
  size: number;
  diffID: string;
  outcome: LayerOutcome;
  /** True when the compressed blob was made by this push (no stored one). */
  compressed: boolean;
}

export interface PushResult {
  /** The reference pushed, fully qualified, with its tag (or digest). */
  reference: string;
  /** The tag pushed; empty for a push by digest. */
  tag: string;
  /** The manifest's digest and size, as `docker push` prints them. */
  digest: string;
  size: number;
  mediaType: string;
  /** True when the image's stored manifest was pushed as it is (its digest unchanged). */
  reusedManifest: boolean;
  imageId: string;
  /** Of an index: the layers of every platform (diffID empty where the child's config is not stored). */
  layers: PushedLayer[];
  /** Of an index: each child manifest pushed, with its platform. */
  platforms?: { platform: string; digest: string }[];
  timings: { totalMs: number; prepareMs: number; layersMs: number };
}

interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
}

interface StoredManifest {
  digest: string;
  mediaType: string;
  bytes: Buffer;
  layers: Descriptor[];
}

/** One layer of a push. */
export interface LayerPlan {
  index: number;
  diffID: string;
  chainID: string;
  /** The compressed blob pushed; set once it is known. */
  desc?: Descriptor;
  compressed: boolean;
  outcome?: LayerOutcome;
}

const ms = (ns: number): number => Math.round(ns / 1e4) / 100;

/** A push's per-layer step, a boundary the composer may instrument (module code makes no tracing calls). */
export interface PushSteps {
  /**
   * Sends one layer: found remotely, mounted from another repository, or uploaded (compressed first when the graph
   * keeps no blob of it). Resolves with the blob sent and how.
   */
  push(ctx: Context, layer: LayerPlan): Promise<{ digest: string; outcome: LayerOutcome }>;
}

/** How instrument('registry.layer', steps, pushStepsBoundary) times a push's layers. */
export const pushStepsBoundary: InstrumentOptions<PushSteps> = {
  methods: ['push'],
  attributes: { push: (_c, layer) => ({ diffID: layer.diffID }) },
  results: { push: (r) => ({ digest: r.digest, outcome: r.outcome }) },
};

/** Largest blob read as a possible manifest of the image. */
const MAX_MANIFEST_BYTES = 4 * 1024 * 1024;

/**
 * Pushes the local image `reference` names (`registry/repo[:tag]`, tag `latest`
 * when absent) to its registry under that tag, and records `repo@digest` on the image.
 * Fails NOT_FOUND naming the reference for an image not stored locally,
 * INVALID_ARGUMENT for a bad reference (or one by digest), FAILED_PRECONDITION
 * naming the layer when no blob of it can be produced, UNAUTHENTICATED /
 * PERMISSION_DENIED naming registry and repository, UNAVAILABLE after the retries,
 * CANCELLED through ctx.signal; the registry's own errors keep its message.
 * The manifest is put only after every blob is in the registry.
 * Cost: reading (and, for a layer without a stored blob, diffing and gzipping) the
 * layers missing in the registry and uploading them; memory O(concurrency · chunk).
 */
export async function push(ctx: Context, graph: Graph, reference: string, opts: PushOptions = {}): Promise<PushResult> {
  let ref: Reference;
  try {
    ref = withDefaultTag(parseReference(reference));
  } catch (err) {
    throw wrap(err, `push ${reference}`, 'INVALID_ARGUMENT');
  }
  const subject = `push ${referenceString(ref)}`;
  if (ref.digest !== undefined && ref.tag !== undefined)
    throw invalidArgument(`${subject}: name a tag or a digest, not both`);
  const concurrency = opts.concurrency ?? 3;
  if (!Number.isSafeInteger(concurrency) || concurrency < 1)
    throw invalidArgument(`${subject}: concurrency ${concurrency} must be a positive integer`);
  if (opts.chunkSize !== undefined && (!Number.isSafeInteger(opts.chunkSize) || opts.chunkSize < 1))
    throw invalidArgument(`${subject}: chunk size ${opts.chunkSize} must be a positive integer`);
  throwIfCancelled(ctx, subject);
  const image = ref.digest !== undefined ? await imageByDigest(ctx, graph, ref) : await imageByTag(ctx, graph, ref);
  // before anything is sent: an index whose child manifest is missing locally cannot be pushed whole
  const notes: string[] = [];
  const index = await indexToPush(ctx, graph, image, ref.digest, notes);
  opts.onStart?.(referenceName(ref));
  for (const n of notes) opts.onNote?.(n);
  try {
    if (index !== undefined) return await pushIndex(ctx, graph, ref, image, index, concurrency, opts);
    return await pushImage(ctx, graph, ref, image, concurrency, opts);
  } catch (err) {
    throw pushError(err, ctx, subject);
  }
}

async function imageByTag(ctx: Context, graph: Graph, ref: Reference): Promise<ImageDetails> {
  try {
    return await graph.getImage(ctx, referenceString(ref));
  } catch (err) {
    if (isBerthError(err, 'NOT_FOUND'))
      throw notFound(`An image does not exist locally with the tag: ${referenceName(ref)}`, {
        cause: err,
        details: { reference: referenceString(ref) },
      });
    throw err;
  }
}

/**
 * The image a push by digest sends: the one `repo@digest` names, else any image whose stored manifests (or index)
 * include that digest. Fails NOT_FOUND naming the digest when the content store does not hold it.
 */
async function imageByDigest(ctx: Context, graph: Graph, ref: Reference): Promise<ImageDetails> {
  const digest = ref.digest!;
  let image: ImageDetails | undefined;
  try {
    image = await graph.getImage(ctx, referenceString(ref));
  } catch (err) {
    if (!isBerthError(err, 'NOT_FOUND')) throw err;
    image = (await graph.listImages(ctx)).find((i) => i.blobs.includes(digest));
  }
  if (image === undefined || !(await graph.content.has(ctx, digest)))
    throw notFound(
      `An image does not exist locally with the digest: ${digest} (no manifest or index of that digest is stored; pull ${referenceName(ref)}@${digest} first)`,
      { details: { reference: referenceString(ref) } },
    );
  return image;
}

async function pushImage(
  ctx: Context,
  graph: Graph,
  ref: Reference,
  image: ImageDetails,
  concurrency: number,
  opts: PushOptions,
): Promise<PushResult> {
  const t0 = nowNs();
  const client = opts.client ?? (await makeClient(opts));
  const retry: RetryPolicy = { ...DEFAULT_RETRY, ...opts.retry };
  const diffIDs = image.config.rootfs.diff_ids;
  const chains = chainIDs(diffIDs);
  const plans: LayerPlan[] = diffIDs.map((diffID, index) => ({
    index,
    diffID,
    chainID: chains[index]!,
    compressed: false,
  }));
  const emit = (p: LayerPlan, phase: PushPhase, current = 0, from?: string): void => {
    if (opts.onProgress === undefined) return;
    try {
      opts.onProgress({
        id: shortLayerID(p.diffID),
        digest: p.desc?.digest ?? '',
        phase,
        current,
        total: p.desc?.size ?? 0,
        ...(from ? { from } : {}),
      });
    } catch (err) {
      ctx.logger.warn('push: progress listener failed', { error: String(err) });
    }
  };
  // Docker lists the layers top first
  for (const p of [...plans].reverse()) emit(p, 'preparing');

  // the blobs: a stored manifest's when every one of them can be had, else made from the layers
  const stored = await storedManifest(ctx, graph, image, ref.digest);
  if (ref.digest !== undefined && stored === undefined)
    throw failedPrecondition(
      `push ${referenceString(ref)}: the blob ${ref.digest} stored locally is not an image manifest of image ${image.id}`,
    );
  const newBlobs: string[] = [];
  if (stored !== undefined) for (const p of plans) p.desc = stored.layers[p.index];
  const target = referenceName(ref);
  const mountSources = mountSourcesOf(image, ref);
  const tPrepared = nowNs();

  const limit = limiter(concurrency);
  // the first layer to fail stops the others (their uploads are aborted)
  const internal = new AbortController();
  const layerCtx = withSignal(ctx, internal.signal);
  const sendLayer = async (c: Context, p: LayerPlan): Promise<{ digest: string; outcome: LayerOutcome }> => {
    throwIfCancelled(c, `layer ${p.diffID}`);
    try {
      if (p.desc === undefined || !(await graph.content.has(c, p.desc.digest))) {
        // a stored manifest's blob the graph no longer has: fine when the registry has it or can mount it
        if (p.desc !== undefined) {
          const found = await findRemote(c, client, ref, p.desc.digest, mountSources);
          if (found !== undefined) {
            p.outcome = found.outcome;
            emit(p, found.outcome, 0, found.from);
            return { digest: p.desc.digest, outcome: found.outcome };
          }
        }
        if (ref.digest !== undefined)
          throw failedPrecondition(
            `layer ${p.desc?.digest ?? p.diffID}: its blob is neither stored locally nor in the registry, and a blob made again would change manifest ${ref.digest}, which a push by digest must keep`,
          );
        p.desc = await compressLayer(c, graph, p);
        p.compressed = true;
        newBlobs.push(p.desc.digest);
      }
      const desc = p.desc;
      const outcome = await sendBlob(
        c,
        graph,
        client,
        ref,
        desc,
        retry,
        mountSources,
        opts.chunkSize,
        (phase, current, from) => emit(p, phase, current, from),
      );
      p.outcome = outcome.outcome;
      if (outcome.outcome === 'exists') emit(p, 'exists');
      else if (outcome.outcome === 'mounted') emit(p, 'mounted', 0, outcome.from);
      else emit(p, 'pushed', desc.size);
      return { digest: desc.digest, outcome: outcome.outcome };
    } catch (err) {
      throw layerError(err, p.desc?.digest ?? p.diffID);
    }
  };
  const steps = (opts.instrument ?? notInstrumented)<PushSteps>(
    'registry.layer',
    { push: sendLayer },
    pushStepsBoundary,
  );
  const pushLayer = (p: LayerPlan): Promise<unknown> => steps.push(layerCtx, p);
  // beyond the uploads running at once a layer waits, as docker shows it
  for (const p of plans) if (p.index >= concurrency) emit(p, 'waiting');
  await allOrFirstError(plans, limit, pushLayer, internal);
  const tLayers = nowNs();

  // the config, then the manifest
  throwIfCancelled(ctx, `image ${image.id}`);
  const configBytes = await graph.content.readBlob(ctx, image.id);
  const configType = stored !== undefined ? stored.configType : MediaType.dockerConfig;
  await sendBlob(
    ctx,
    graph,
    client,
    ref,
    { mediaType: configType, digest: image.id, size: configBytes.length },
    retry,
    mountSources,
    undefined,
    () => {},
  );
  let manifest: { mediaType: string; bytes: Buffer };
  const reused = stored !== undefined && plans.every((p) => !p.compressed);
  if (reused) manifest = { mediaType: stored.mediaType, bytes: stored.bytes };
  else {
    manifest = {
      mediaType: MediaType.dockerManifest,
      bytes: Buffer.from(
        JSON.stringify(
          {
            schemaVersion: 2,
            mediaType: MediaType.dockerManifest,
            config: { mediaType: MediaType.dockerConfig, size: configBytes.length, digest: image.id },
            layers: plans.map((p) => ({ mediaType: p.desc!.mediaType, size: p.desc!.size, digest: p.desc!.digest })),
          },
          null,
          3,
        ),
      ),
    };
  }
  throwIfCancelled(ctx, `manifest ${referenceString(ref)}`);
  const digest = await client.putManifest(ctx, ref, manifest.mediaType, manifest.bytes);
  // remember what this push made (blobs, manifest) and the repository digest, as Docker does
  if (!reused) {
    await graph.content.put(ctx, manifest.bytes, { digest, size: manifest.bytes.length });
    newBlobs.push(digest);
  }
  const keep = withLogger(background(), ctx.logger);
  if (newBlobs.length > 0) await graph.recordBlobs(keep, image.id, newBlobs);
  await graph.tag(keep, `${target}@${digest}`, image.id);
  const tEnd = nowNs();
  return {
    reference: referenceString(ref),
    tag: ref.tag ?? '',
    digest,
    size: manifest.bytes.length,
    mediaType: manifest.mediaType,
    reusedManifest: reused,
    imageId: image.id,
    layers: plans.map((p) => ({
      digest: p.desc!.digest,
      size: p.desc!.size,
      diffID: p.diffID,
      outcome: p.outcome!,
      compressed: p.compressed,
    })),
    timings: { totalMs: ms(tEnd - t0), prepareMs: ms(tPrepared - t0), layersMs: ms(tLayers - tPrepared) },
  };
}

/** The other repositories of `ref`'s registry that name the image: sources of cross-repository mounts. */
function mountSourcesOf(image: ImageDetails, ref: Reference): string[] {
  return [
    ...new Set(
      image.references
        .map((r) => parseReference(r))
        .filter((r) => r.domain === ref.domain && r.path !== ref.path)
        .map((r) => r.path),
    ),
  ];
}

interface IndexEntry extends Descriptor {
  platform?: Platform;
}

interface StoredIndex {
  digest: string;
  mediaType: string;
  bytes: Buffer;
  manifests: IndexEntry[];
}

/** Blob `digest` of the content store as an image index (OCI or Docker manifest list); undefined when it is not one. */
async function readIndex(ctx: Context, graph: Graph, digest: string): Promise<StoredIndex | undefined> {
  let info;
  try {
    info = await graph.content.info(ctx, digest);
  } catch (err) {
    if (isBerthError(err, 'NOT_FOUND')) return undefined;
    throw err;
  }
  if (info.size > MAX_MANIFEST_BYTES) return undefined;
  const bytes = await graph.content.readBlob(ctx, digest);
  if (bytes[0] !== 0x7b) return undefined;
  let doc: { schemaVersion?: unknown; mediaType?: unknown; manifests?: unknown; config?: unknown };
  try {
    doc = JSON.parse(bytes.toString('utf8')) as typeof doc;
  } catch {
    return undefined;
  }
  if (doc === null || typeof doc !== 'object' || doc.schemaVersion !== 2 || !Array.isArray(doc.manifests)) return;
  const mediaType = typeof doc.mediaType === 'string' ? doc.mediaType : MediaType.ociIndex;
  if (!isIndexType(mediaType) || doc.config !== undefined) return undefined;
  const manifests = (doc.manifests as unknown[]).map((m) => m as Partial<IndexEntry>);
  if (!manifests.every((m) => typeof m.digest === 'string' && Number.isSafeInteger(m.size))) return undefined;
  return { digest, mediaType, bytes, manifests: manifests as IndexEntry[] };
}

/**
 * Runs `run` for every item, at most as many at once as `limit` lets through; the first failure aborts `internal`
 * (the others' uploads stop) and, once every run has settled, is what rejects.
 */
async function allOrFirstError<T>(
  items: readonly T[],
  limit: ReturnType<typeof limiter>,
  run: (item: T) => Promise<unknown>,
  internal: AbortController,
): Promise<void> {
  let failed: { err: unknown } | undefined;
  await Promise.allSettled(
    items.map((item) =>
      limit(() => run(item)).catch((err: unknown) => {
        if (failed === undefined) {
          failed = { err };
          internal.abort(err);
        }
      }),
    ),
  );
  if (failed !== undefined) throw failed.err;
}

const platformOf = (e: IndexEntry): string =>
  e.platform && typeof e.platform.os === 'string' && typeof e.platform.architecture === 'string'
    ? formatPlatform(e.platform)
    : 'unknown platform';

/**
 * The index a push sends instead of the image's manifest: with `wanted` (a push by digest), the blob of that digest
 * when it is an index; else a stored index listing the image's stored manifest (a pulled multi-platform image).
 * A child manifest not stored locally: by digest, fails FAILED_PRECONDITION naming the child and its platform; by
 * tag, no index (the image's own manifest is pushed) and a line in `notes` naming the platforms left out.
 */
async function indexToPush(
  ctx: Context,
  graph: Graph,
  image: ImageDetails,
  wanted: string | undefined,
  notes: string[],
): Promise<StoredIndex | undefined> {
  let index: StoredIndex | undefined;
  if (wanted !== undefined) index = await readIndex(ctx, graph, wanted);
  else {
    const manifest = await storedManifest(ctx, graph, image);
    if (manifest === undefined) return undefined;
    for (const digest of image.blobs) {
      if (digest === manifest.digest) continue;
      const candidate = await readIndex(ctx, graph, digest);
      if (candidate?.manifests.some((m) => m.digest === manifest.digest)) {
        index = candidate;
        break;
      }
    }
  }
  if (index === undefined) return undefined;
  if (wanted === undefined) {
    const missing: string[] = [];
    for (const m of index.manifests) if (!(await graph.content.has(ctx, m.digest))) missing.push(platformOf(m));
    if (missing.length > 0) {
      notes.push(
        `index ${index.digest}: pushing this platform's manifest only; the manifests of ${missing.join(', ')} are not stored locally (pull them with --platform to push the whole index)`,
      );
      return undefined;
    }
    return index;
  }
  for (const m of index.manifests) {
    if (!(await graph.content.has(ctx, m.digest))) {
      const platform = platformOf(m);
      const hint = m.platform ? ` (berth pull --platform ${platform} …)` : '';
      throw failedPrecondition(
        `index ${index.digest}: the manifest of ${platform} (${m.digest}) is not stored locally, so the index cannot be pushed by its digest: pull that platform first${hint}, or push one platform by its digest`,
        { details: { index: index.digest, manifest: m.digest, platform } },
      );
    }
  }
  return index;
}

/**
 * Pushes `index` and every manifest it lists: each child's blobs (config and layers, each once) from the content
 * store, else found in or mounted into the target repository; then each child manifest by its digest; then the index
 * under `ref`'s tag (or digest). Fails FAILED_PRECONDITION naming the platform and the blob when a blob is neither
 * stored nor in the registry; nothing is put before every blob is in.
 */
async function pushIndex(
  ctx: Context,
  graph: Graph,
  ref: Reference,
  image: ImageDetails,
  index: StoredIndex,
  concurrency: number,
  opts: PushOptions,
): Promise<PushResult> {
  const t0 = nowNs();
  const client = opts.client ?? (await makeClient(opts));
  const retry: RetryPolicy = { ...DEFAULT_RETRY, ...opts.retry };
  const mountSources = mountSourcesOf(image, ref);
  const children: { entry: IndexEntry; mediaType: string; bytes: Buffer }[] = [];
  interface BlobPlan {
    desc: Descriptor;
    owner: IndexEntry;
    layer: boolean;
    diffID: string;
    outcome?: LayerOutcome;
  }
  const blobs = new Map<string, BlobPlan>();
  for (const entry of index.manifests) {
    const bytes = await graph.content.readBlob(ctx, entry.digest);
    const subject = `index ${index.digest}: manifest ${entry.digest} (${platformOf(entry)})`;
    let doc: { mediaType?: unknown; config?: Partial<Descriptor>; layers?: unknown };
    try {
      doc = JSON.parse(bytes.toString('utf8')) as typeof doc;
    } catch (err) {
      throw wrap(err, `${subject}: not JSON`, 'DATA_LOSS');
    }
    const mediaType =
      typeof entry.mediaType === 'string' && entry.mediaType !== ''
        ? entry.mediaType
        : typeof doc.mediaType === 'string'
          ? doc.mediaType
          : MediaType.ociManifest;
    if (!isManifestType(mediaType) || doc.config === undefined || !Array.isArray(doc.layers))
      throw failedPrecondition(`${subject}: ${mediaType} is not an image manifest (nested indexes are not pushed)`);
    const config = doc.config as Descriptor;
    let diffIDs: string[] = [];
    if (await graph.content.has(ctx, config.digest)) {
      try {
        const c = JSON.parse((await graph.content.readBlob(ctx, config.digest)).toString('utf8')) as {
          rootfs?: { diff_ids?: string[] };
        };
        diffIDs = c.rootfs?.diff_ids ?? [];
      } catch {
        // a config that does not parse is still pushed as it is
      }
    }
    if (!blobs.has(config.digest)) blobs.set(config.digest, { desc: config, owner: entry, layer: false, diffID: '' });
    for (const [i, l] of (doc.layers as Descriptor[]).entries()) {
      if (!blobs.has(l.digest)) blobs.set(l.digest, { desc: l, owner: entry, layer: true, diffID: diffIDs[i] ?? '' });
    }
    children.push({ entry, mediaType, bytes });
  }
  const emit = (b: BlobPlan, phase: PushPhase, current = 0, from?: string): void => {
    if (opts.onProgress === undefined || !b.layer) return;
    try {
      opts.onProgress({
        id: shortLayerID(b.desc.digest),
        digest: b.desc.digest,
        phase,
        current,
        total: b.desc.size,
        ...(from ? { from } : {}),
      });
    } catch (err) {
      ctx.logger.warn('push: progress listener failed', { error: String(err) });
    }
  };
  const plans = [...blobs.values()];
  for (const b of plans) emit(b, 'preparing');
  const tPrepared = nowNs();

  const limit = limiter(concurrency);
  const internal = new AbortController();
  const blobCtx = withSignal(ctx, internal.signal);
  const sendOne = async (c: Context, b: BlobPlan): Promise<{ digest: string; outcome: LayerOutcome }> => {
    throwIfCancelled(c, `blob ${b.desc.digest}`);
    try {
      if (!(await graph.content.has(c, b.desc.digest))) {
        const found = await findRemote(c, client, ref, b.desc.digest, mountSources);
        if (found === undefined) {
          throw failedPrecondition(
            `${b.layer ? 'layer' : 'config'} ${b.desc.digest} of ${platformOf(b.owner)} (manifest ${b.owner.digest}): not stored locally nor in registry ${ref.domain}; pull that platform first`,
          );
        }
        b.outcome = found.outcome;
        emit(b, found.outcome, 0, found.from);
        return { digest: b.desc.digest, outcome: found.outcome };
      }
      const r = await sendBlob(c, graph, client, ref, b.desc, retry, mountSources, opts.chunkSize, (phase, n, from) =>
        emit(b, phase, n, from),
      );
      b.outcome = r.outcome;
      if (r.outcome === 'exists') emit(b, 'exists');
      else if (r.outcome === 'mounted') emit(b, 'mounted', 0, r.from);
      else emit(b, 'pushed', b.desc.size);
      return { digest: b.desc.digest, outcome: r.outcome };
    } catch (err) {
      throw b.layer ? layerError(err, b.desc.digest) : err;
    }
  };
  // each layer is one step of the registry.layer boundary, as in an image's push (configs are not)
  const layerPlans = new Map<LayerPlan, BlobPlan>();
  const steps = (opts.instrument ?? notInstrumented)<PushSteps>(
    'registry.layer',
    { push: (c, p) => sendOne(c, layerPlans.get(p)!) },
    pushStepsBoundary,
  );
  const send = (b: BlobPlan): Promise<unknown> => {
    if (!b.layer) return sendOne(blobCtx, b);
    const plan: LayerPlan = { index: layerPlans.size, diffID: b.diffID, chainID: '', desc: b.desc, compressed: false };
    layerPlans.set(plan, b);
    return steps.push(blobCtx, plan);
  };
  await allOrFirstError(plans, limit, send, internal);
  const tLayers = nowNs();

  // every blob is in: the children by digest, then the index
  for (const child of children) {
    throwIfCancelled(ctx, `manifest ${child.entry.digest}`);
    await client.putManifest(ctx, { ...ref, tag: undefined, digest: child.entry.digest }, child.mediaType, child.bytes);
  }
  throwIfCancelled(ctx, `index ${referenceString(ref)}`);
  const digest = await client.putManifest(ctx, ref, index.mediaType, index.bytes);
  const keep = withLogger(background(), ctx.logger);
  await graph.tag(keep, `${referenceName(ref)}@${digest}`, image.id);
  const tEnd = nowNs();
  return {
    reference: referenceString(ref),
    tag: ref.tag ?? '',
    digest,
    size: index.bytes.length,
    mediaType: index.mediaType,
    reusedManifest: true,
    imageId: image.id,
    layers: plans
      .filter((b) => b.layer)
      .map((b) => ({
        digest: b.desc.digest,
        size: b.desc.size,
        diffID: b.diffID,
        outcome: b.outcome!,
        compressed: false,
      })),
    platforms: children.map((c) => ({ platform: platformOf(c.entry), digest: c.entry.digest })),
    timings: { totalMs: ms(tEnd - t0), prepareMs: ms(tPrepared - t0), layersMs: ms(tLayers - tPrepared) },
  };
}

async function makeClient(opts: PushOptions): Promise<RegistryClient> {
  const credentials =
    opts.auth === undefined
      ? undefined
      : typeof opts.auth === 'function'
        ? opts.auth
        : await loadDockerConfig(opts.auth.dockerConfig);
  return new RegistryClient({
    ...(credentials ? { credentials } : {}),
    ...(opts.insecure ? { insecure: opts.insecure } : {}),
    ...(opts.retry ? { retry: opts.retry } : {}),
  });
}

/**
 * Gets blob `desc` into `ref`'s repository: nothing when the registry has it, a
 * mount from one of `sources` when the registry allows, else an upload from the
 * content store (a failed attempt starts a new session, up to the retries).
 */
async function sendBlob(
  ctx: Context,
  graph: Graph,
  client: PushClient,
  ref: Reference,
  desc: Descriptor,
  retry: RetryPolicy,
  sources: string[],
  chunkSize: number | undefined,
  progress: (phase: PushPhase, current: number, from?: string) => void,
): Promise<{ outcome: LayerOutcome; from?: string }> {
  if ((await client.blobSize(ctx, ref, desc.digest)) !== undefined) return { outcome: 'exists' };
  let location: string | undefined;
  for (const from of sources) {
    const r = await client.startUpload(ctx, ref, { digest: desc.digest, from });
    if (r.mounted) return { outcome: 'mounted', from };
    location = r.location; // the registry opened a session instead; one is enough
    break;
  }
  await withRetry(retry, ctx.signal, async (attempt) => {
    if (location === undefined || attempt > 0) {
      const r = await client.startUpload(ctx, ref);
      if (r.mounted) return; // cannot happen without a mount request
      location = r.location;
    }
    let done = 0;
    let shown = -1;
    const step = Math.max(64 * 1024, Math.floor(desc.size / 100));
    progress('pushing', 0);
    await client.uploadBlob(ctx, ref, location, desc, (offset) => graph.content.reader(ctx, desc.digest, { offset }), {
      ...(chunkSize !== undefined ? { chunkSize } : {}),
      onBytes: (n) => {
        done += n;
        if (done - shown >= step || done === desc.size) {
          shown = done;
          progress('pushing', done);
        }
      },
    });
    location = undefined;
  });
  return { outcome: 'pushed' };
}

/**
 * Whether blob `digest` is in `ref`'s repository already, or was mounted there from one of `sources`; undefined when
 * neither.
 */
async function findRemote(
  ctx: Context,
  client: PushClient,
  ref: Reference,
  digest: string,
  sources: string[],
): Promise<{ outcome: 'exists' | 'mounted'; from?: string } | undefined> {
  if ((await client.blobSize(ctx, ref, digest)) !== undefined) return { outcome: 'exists' };
  for (const from of sources) {
    const r = await client.startUpload(ctx, ref, { digest, from });
    if (r.mounted) return { outcome: 'mounted', from };
    await client.cancelUpload(ctx, ref, r.location); // the session the registry opened instead
  }
  return undefined;
}

/**
 * Makes layer `p`'s compressed blob: the graphdriver's diff tar of the layer against
 * its parent, its sha256 checked against the diffID while it is gzipped into the
 * content store. Fails FAILED_PRECONDITION naming the layer when the tar differs
 * from the one the layer was made from (the blob is not kept then).
 */
async function compressLayer(ctx: Context, graph: Graph, p: LayerPlan): Promise<Descriptor> {
  const layer = await graph.layers.get(ctx, p.chainID);
  const parent = layer.parent === null ? undefined : (await graph.layers.get(ctx, layer.parent)).driverID;
  const tar = (await graph.layers.driver.diff(ctx, layer.driverID, parent)) as Readable;
  const writer = await graph.content.writer(
    ctx,
    `push-${p.diffID}-${process.pid}-${Math.random().toString(16).slice(2, 10)}`,
  );
  const tarHash = createHash('sha256');
  const blobHash = createHash('sha256');
  let size = 0;
  try {
    const hashed = new PassThrough();
    tar.on('data', (c: Buffer) => tarHash.update(c));
    const gz = zlib().createGzip();
    const done = new Promise<void>((resolve, reject) =>
      pipeline(tar, hashed, gz, (err) => (err ? reject(err) : resolve())),
    );
    done.catch(() => {});
    for await (const chunk of gz) {
      throwIfCancelled(ctx, `layer ${p.diffID}`);
      blobHash.update(chunk as Buffer);
      size += (chunk as Buffer).length;
      await writer.write(chunk as Buffer);
    }
    await done;
    const got = `sha256:${tarHash.digest('hex')}`;
    if (got !== p.diffID) {
      throw failedPrecondition(
        `layer ${p.diffID}: the graphdriver's diff of the layer hashes to ${got}, not its diffID, and no compressed blob of it is stored: it cannot be pushed as it is`,
        {
          details: { diffID: p.diffID, got },
        },
      );
    }
    const digest = `sha256:${blobHash.digest('hex')}`;
    await writer.commit(ctx, size, digest);
    return { mediaType: 'application/vnd.docker.image.rootfs.diff.tar.gzip', digest, size };
  } catch (err) {
    tar.destroy?.();
    await writer.abort();
    throw err;
  }
}

/**
 * The manifest of `image` the graph keeps (a pulled image's), when one names the
 * image's config and as many layers as it has; with its exact bytes. With `wanted`, only the blob of that digest.
 */
async function storedManifest(
  ctx: Context,
  graph: Graph,
  image: ImageDetails,
  wanted?: string,
): Promise<(StoredManifest & { configType: string }) | undefined> {
  for (const digest of wanted !== undefined ? [wanted] : image.blobs) {
    let info;
    try {
      info = await graph.content.info(ctx, digest);
    } catch (err) {
      if (isBerthError(err, 'NOT_FOUND')) continue;
      throw err;
    }
    if (info.size > MAX_MANIFEST_BYTES) continue;
    const bytes = await graph.content.readBlob(ctx, digest);
    if (bytes[0] !== 0x7b) continue; // not a JSON object
    let doc: {
      schemaVersion?: unknown;
      mediaType?: unknown;
      config?: { digest?: unknown; mediaType?: unknown };
      layers?: unknown;
    };
    try {
      doc = JSON.parse(bytes.toString('utf8')) as typeof doc;
    } catch {
      continue;
    }
    if (
      doc === null ||
      typeof doc !== 'object' ||
      doc.schemaVersion !== 2 ||
      doc.config?.digest !== image.id ||
      !Array.isArray(doc.layers)
    )
      continue;
    const mediaType = typeof doc.mediaType === 'string' ? doc.mediaType : MediaType.ociManifest;
    if (!isManifestType(mediaType)) continue;
    const layers = (doc.layers as unknown[]).map((l) => l as Partial<Descriptor>);
    if (layers.length !== image.config.rootfs.diff_ids.length) continue;
    if (
      !layers.every(
        (l) => typeof l.digest === 'string' && typeof l.mediaType === 'string' && Number.isSafeInteger(l.size),
      )
    )
      continue;
    const configType = typeof doc.config.mediaType === 'string' ? doc.config.mediaType : MediaType.ociConfig;
    return { digest, mediaType, bytes, layers: layers as Descriptor[], configType };
  }
  return undefined;
}

/** Errors about a blob renamed to name the layer. */
function layerError(err: unknown, what: string): BerthError {
  if (isBerthError(err)) {
    if (err.message.startsWith('layer ')) return err;
    const prefix = `blob ${what}`;
    const rest = err.message.startsWith(prefix) ? err.message.slice(prefix.length).replace(/^: /, '') : err.message;
    return new BerthError(err.code, `layer ${what}: ${rest}`, {
      cause: err,
      ...(err.details ? { details: err.details } : {}),
    });
  }
  return wrap(err, `layer ${what}`, 'UNAVAILABLE');
}

function pushError(err: unknown, ctx: Context, subject: string): BerthError {
  if (ctx.signal.aborted) {
    const why = ctx.signal.reason instanceof Error ? ctx.signal.reason.message : 'aborted';
    return new BerthError('CANCELLED', `${subject}: cancelled (${why})`, { cause: err });
  }
  if (isBerthError(err)) return err;
  return wrap(err, subject, 'UNAVAILABLE');
}
