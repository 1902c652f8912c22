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
import { createHash } from 'node:crypto';
import { PassThrough, pipeline, type Readable } from 'node:stream';
import { createGzip } from 'node:zlib';
import { BerthError, failedPrecondition, invalidArgument, isBerthError, notFound, wrap } from '../errdefs/errors.js';
import type { Graph, ImageDetails } from '../graph/graph.js';
import { chainIDs } from '../graph/image-store.js';
import { parseReference, referenceName, referenceString, withDefaultTag, type Reference } from '../graph/reference.js';
import { loadDockerConfig, type CredentialSource } from '../registry/client/credentials.js';
import { isManifestType, MediaType } from '../registry/client/media-types.js';
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
  /** The reference pushed, fully qualified, with its tag. */
  reference: string;
  tag: string;
  /** The manifest's digest and size, as `docker push` prints them. */
  digest: string;
  size: number;
  mediaType: string;
  /** True when the image's stored manifest was pushed as it is (its digest unchanged). */
  reusedManifest: boolean;
  imageId: string;
  layers: PushedLayer[];
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
  if (ref.digest !== undefined)
    throw invalidArgument(`${subject}: cannot push by digest; tag the image and push the tag`);
  const concurrency = opts.concurrency ?? 3;
  if (!Number.isSafeInteger(concurrency) || concurrency < 1)
    throw invalidArgument(`${subject}: concurrency ${concurrency} must be a positive integer`);
  if (opts.chunkSize !== undefined && (!Number.isSafeInteger(opts.chunkSize) || opts.chunkSize < 1))
    throw invalidArgument(`${subject}: chunk size ${opts.chunkSize} must be a positive integer`);
  throwIfCancelled(ctx, subject);
  let image: ImageDetails;
  try {
    image = await graph.getImage(ctx, referenceString(ref));
  } catch (err) {
    if (isBerthError(err, 'NOT_FOUND'))
      throw notFound(`An image does not exist locally with the tag: ${referenceName(ref)}`, {
        cause: err,
        details: { reference: referenceString(ref) },
      });
    throw err;
  }
  opts.onStart?.(referenceName(ref));
  try {
    return await pushImage(ctx, graph, ref, image, concurrency, opts);
  } catch (err) {
    throw pushError(err, ctx, subject);
  }
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
  const stored = await storedManifest(ctx, graph, image);
  const newBlobs: string[] = [];
  if (stored !== undefined) for (const p of plans) p.desc = stored.layers[p.index];
  const target = referenceName(ref);
  const mountSources = [
    ...new Set(
      image.references
        .map((r) => parseReference(r))
        .filter((r) => r.domain === ref.domain && r.path !== ref.path)
        .map((r) => r.path),
    ),
  ];
  const tPrepared = nowNs();

  const limit = limiter(concurrency);
  // the first layer to fail stops the others (their uploads are aborted)
  const internal = new AbortController();
  const layerCtx = withSignal(ctx, internal.signal);
  let firstError: unknown;
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
  const results = await Promise.allSettled(
    plans.map((p) =>
      limit(() => pushLayer(p)).catch((err: unknown) => {
        if (firstError === undefined) {
          firstError = err;
          internal.abort(err);
        }
        throw err;
      }),
    ),
  );
  if (results.some((r) => r.status === 'rejected')) throw firstError;
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
    tag: ref.tag!,
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
    const gz = createGzip();
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
 * image's config and as many layers as it has; with its exact bytes.
 */
async function storedManifest(
  ctx: Context,
  graph: Graph,
  image: ImageDetails,
): Promise<(StoredManifest & { configType: string }) | undefined> {
  for (const digest of image.blobs) {
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
