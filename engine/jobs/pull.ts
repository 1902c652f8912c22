// pull: resolves a reference on its registry (index → platform → image manifest),
// fetches the missing layers in parallel and applies them through the Graph, one
// streaming pipeline per layer. The Engine's `pull` job calls it directly.
//
// Per layer: HTTP body → content-store ingest (the compressed digest hashed as
// bytes arrive, resumable at the ingest's offset) → decompress (magic decides) →
// layer store (diffID hashed in the same pass). The layer next in line for the
// graph streams straight into the graphdriver while it downloads; layers fetched
// ahead of their parent land in the content store first and are applied from
// there when their parent is in place. A streamed layer's tar ends only after the
// ingest committed (size and digest verified), so a layer is recorded only when
// both digests matched.
//
// The compressed blob is kept in the content store (as Docker and containerd do):
// a later push needs it and `blobs` of the image keep it through gc; the manifest
// (and index) are kept too. A failed or cancelled pull aborts its ingests and
// removes the blobs it committed, and putImage releases the layers it added, so
// the store is left as it was.
import { PassThrough, pipeline, type Readable, type Transform } from 'node:stream';
import { BerthError, invalidArgument, isBerthError, wrap } from '../errdefs/errors.js';
import type { Graph, LayerSource } from '../graph/graph.js';
import { chainIDs, parseImageConfig } from '../graph/image-store.js';
import { parseReference, referenceName, referenceString, withDefaultTag, type Reference } from '../graph/reference.js';
import { nowNs } from '../trace/clock.js';
import { background, throwIfCancelled, withLogger, withSignal, type Context } from '../trace/context.js';
import { notInstrumented, type InstrumentOptions, type Instrumenter } from '../trace/instrument.js';
import { loadDockerConfig, type CredentialSource } from '../registry/client/credentials.js';
import { checkConfigType, isIndexType, isManifestType, layerCompression } from '../registry/client/media-types.js';
import {
  choosePlatform,
  formatPlatform,
  hostPlatform,
  parsePlatform,
  type IndexEntry,
  type Platform,
} from '../registry/client/platform.js';
import { shortLayerID, type LayerPhase, type ProgressListener } from '../registry/client/progress.js';
import { RegistryClient, type BlobDescriptor, type FetchedManifest } from '../registry/client/registry-client.js';
import type { RetryPolicy } from '../registry/client/retry.js';
import { sniffingDecompressor } from '../registry/client/sniff-decompress.js';
import type { ContentWriter } from '../graph/content-store.js';
import { limiter } from './limiter.js';

/** The registry client methods pull uses (a RegistryClient, or one wrapped by instrument('registry', …)). */
export type PullClient = Pick<RegistryClient, 'manifest' | 'blob' | 'blobBytes'>;

export interface PullOptions {
  /** `os/arch[/variant]` or a Platform; the host's by default. */
  platform?: string | Platform;
  /** Credentials: a source, or the path of a Docker config.json. None by default. */
  auth?: CredentialSource | { dockerConfig: string };
  /** Layers downloaded at once (default 3). */
  concurrency?: number;
  onProgress?: ProgressListener;
  /** The client to use (e.g. an instrumented one); else one is made from auth/insecure/retry. */
  client?: PullClient;
  /** Registries reached over plain HTTP although not loopback. */
  insecure?: string[];
  retry?: Partial<RetryPolicy>;
  /**
   * How the composer wraps the parts pull composes (trace's instrument()): the per-layer steps (spans
   * `registry.layer.fetch`, `.decompress`, `.apply`, see layerStepsBoundary) and the client pull makes itself
   * (`registry.manifest`, `.blob`, `.blobBytes`). None by default.
   */
  instrument?: Instrumenter;
}

export interface PulledLayer {
  /** The compressed blob's digest (from the manifest). */
  digest: string;
  size: number;
  diffID: string;
  /** True when the layer was already in the layer store: nothing fetched or applied. */
  skipped: boolean;
  /** True when its blob was downloaded by this pull (false: skipped, or found in the content store). */
  downloaded: boolean;
  /** Download time (first request to verified commit), when downloaded. */
  fetchMs?: number;
  /** Time from the graph asking for the tar to the layer being recorded, when applied. */
  applyMs?: number;
}

export interface PullResult {
  /** The image id (the config's digest). */
  imageId: string;
  /** The image manifest's digest (the platform's one for an index). */
  manifestDigest: string;
  /** The index's digest when the reference named an index. */
  indexDigest?: string;
  /** The reference stored: `registry/repo:tag` or `registry/repo@digest`. */
  reference: string;
  /** The platform chosen from an index. */
  platform?: string;
  layers: PulledLayer[];
  timings: { totalMs: number; resolveMs: number; layersMs: number };
}

interface ImageManifest {
  config: BlobDescriptor & { mediaType: string };
  layers: (BlobDescriptor & { mediaType: string })[];
}

interface Deferred<T> {
  promise: Promise<T>;
  resolve(v: T): void;
  reject(e: unknown): void;
}

function deferred<T>(): Deferred<T> {
  let resolve!: (v: T) => void;
  let reject!: (e: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  promise.catch(() => {});
  return { promise, resolve, reject };
}

/** One layer of a pull, as the per-layer steps see it. */
export interface LayerJob {
  index: number;
  desc: BlobDescriptor & { mediaType: string };
  diffID: string;
  skipped: boolean;
  needsFetch: boolean;
  requested: boolean;
  /** The compressed bytes to apply: the live download or the stored blob. */
  compressed: Deferred<Readable>;
  fetch: Promise<void> | undefined;
  /** The live download's stream while the layer streams into the graph. */
  tee?: PassThrough;
  /** The tar stream handed to the graph. */
  tar?: Readable;
  /** The tar stream for the graph, once the apply step made it. */
  tarOut: Deferred<Readable>;
  /** Settles when the layer is recorded (or its apply failed). */
  applied: Deferred<void>;
  /** Set when the graph turned out not to need the streamed layer (another pull registered it). */
  detached?: boolean;
  fetchMs?: number;
  applyStartNs?: number;
  applyMs?: number;
}

const ms = (ns: number): number => Math.round(ns / 1e4) / 100;

/** What the fetch step did: whether the live download fed the graph, and whether it stored a new blob. */
export interface FetchOutcome {
  streamed: boolean;
  /** Bytes received by this fetch (0 when another pull committed the blob meanwhile). */
  received: number;
}

/** What the decompress step read. */
export interface DecompressOutcome {
  compressedBytes: number;
}

/**
 * One layer's pipeline as steps, each a boundary the composer may instrument (docs/style.md 7, 9): module code
 * makes no tracing calls, and each step's span is its call.
 */
export interface LayerSteps {
  /**
   * Downloads the layer blob into the content store (HTTP body, the compressed digest hashed as bytes arrive, the
   * ingest's verified commit), feeding the live stream to the graph when the layer streams. Resolves once committed.
   */
  fetch(ctx: Context, job: LayerJob): Promise<FetchOutcome>;
  /** Decompresses `compressed` into `tar` (the magic decides); resolves when every compressed byte went through. */
  decompress(ctx: Context, job: LayerJob, compressed: Readable, tar: Transform): Promise<DecompressOutcome>;
  /**
   * From the graph asking for the layer's tar to the layer being recorded: opens the compressed stream (live or
   * stored), starts the decompress step and hands its tar to the graph (job.tarOut); resolves when recorded.
   */
  apply(ctx: Context, job: LayerJob): Promise<void>;
}

/** How instrument('registry.layer', steps, layerStepsBoundary) times a pull's layers. */
export const layerStepsBoundary: InstrumentOptions<LayerSteps> = {
  methods: ['fetch', 'decompress', 'apply'],
  attributes: {
    fetch: (_c, job) => ({ digest: job.desc.digest, size: job.desc.size }),
    decompress: (_c, job) => ({ digest: job.desc.digest }),
    apply: (_c, job) => ({ digest: job.desc.digest, diffID: job.diffID }),
  },
  results: {
    fetch: (r) => ({ streamed: r.streamed, received: r.received }),
    decompress: (r) => ({ compressedBytes: r.compressedBytes }),
  },
};

/** The registry client methods pull calls, as instrument('registry', client, …) wraps them. */
export const pullClientBoundary: InstrumentOptions<PullClient> = { methods: ['manifest', 'blob', 'blobBytes'] };

/**
 * Pulls `reference` into `graph` and points the reference at the image.
 * Idempotent: a second pull of the same image fetches nothing (layers skipped).
 * Fails INVALID_ARGUMENT naming a bad reference, platform or media type;
 * NOT_FOUND (manifest, blob, platform — naming the platforms offered);
 * UNAUTHENTICATED / PERMISSION_DENIED naming registry and repository; DATA_LOSS
 * or FAILED_PRECONDITION naming the layer digest for corrupt content; UNAVAILABLE
 * after the retries; CANCELLED through ctx.signal. On failure nothing new is left
 * in the graph (no image, layer, blob or ingest of this pull).
 * Cost: the missing layers' download and apply; memory O(concurrency · chunk).
 */
export async function pull(ctx: Context, graph: Graph, reference: string, opts: PullOptions = {}): Promise<PullResult> {
  const ref = withDefaultTag(parseReference(reference));
  const refText = referenceString(ref);
  const subject = `pull ${refText}`;
  const want =
    opts.platform === undefined
      ? hostPlatform()
      : typeof opts.platform === 'string'
        ? parsePlatform(opts.platform)
        : opts.platform;
  const concurrency = opts.concurrency ?? 3;
  if (!Number.isSafeInteger(concurrency) || concurrency < 1)
    throw invalidArgument(`${subject}: concurrency ${concurrency} must be a positive integer`);
  throwIfCancelled(ctx, subject);
  try {
    return await pullImage(ctx, graph, ref, want, concurrency, opts);
  } catch (err) {
    throw pullError(err, ctx, subject);
  }
}

async function pullImage(
  ctx: Context,
  graph: Graph,
  ref: Reference,
  want: Platform,
  concurrency: number,
  opts: PullOptions,
): Promise<PullResult> {
  const t0 = nowNs();
  const refText = referenceString(ref);
  const instrumentPart = opts.instrument ?? notInstrumented;
  const client = opts.client ?? instrumentPart<PullClient>('registry', await makeClient(opts), pullClientBoundary);
  const emit = (job: LayerJob, phase: LayerPhase, current: number): void => {
    if (opts.onProgress === undefined) return;
    try {
      opts.onProgress({
        id: shortLayerID(job.desc.digest),
        digest: job.desc.digest,
        phase,
        current,
        total: job.desc.size,
      });
    } catch (err) {
      ctx.logger.warn('pull: progress listener failed', { error: String(err) });
    }
  };

  // resolve: manifest (through an index when needed) and config
  const top = await client.manifest(ctx, ref);
  let manifest: FetchedManifest = top;
  let index: FetchedManifest | undefined;
  let chosen: string | undefined;
  if (isIndexType(top.mediaType)) {
    index = top;
    const entries = parseIndex(top, refText);
    const entry = choosePlatform(entries, want, `manifest ${refText}`);
    chosen = formatPlatform(entry.platform!);
    manifest = await client.manifest(ctx, { ...ref, tag: undefined, digest: entry.digest });
    if (!isManifestType(manifest.mediaType)) {
      throw invalidArgument(
        `manifest ${refText}: platform ${chosen} names ${manifest.mediaType} ${manifest.digest}, not an image manifest`,
      );
    }
  }
  const image = parseImageManifest(manifest, refText);
  const configBytes = (await graph.content.has(ctx, image.config.digest))
    ? await graph.content.readBlob(ctx, image.config.digest)
    : await client.blobBytes(ctx, ref, image.config);
  const config = parseImageConfig(configBytes, `image ${image.config.digest}`);
  const diffIDs = config.rootfs.diff_ids;
  if (diffIDs.length !== image.layers.length) {
    throw invalidArgument(
      `manifest ${refText}: ${image.layers.length} layers but the config ${image.config.digest} lists ${diffIDs.length} diff_ids`,
    );
  }
  const tResolved = nowNs();

  // plan: which layers exist, which blobs are stored, which must be fetched
  const chains = chainIDs(diffIDs);
  const jobs: LayerJob[] = [];
  for (const [i, desc] of image.layers.entries()) {
    layerCompression(desc.mediaType, `layer ${desc.digest}`);
    const skipped = await graph.layers.has(ctx, chains[i]!);
    const stored = !skipped && (await graph.content.has(ctx, desc.digest));
    jobs.push({
      index: i,
      desc,
      diffID: diffIDs[i]!,
      skipped,
      needsFetch: !skipped && !stored,
      requested: false,
      compressed: deferred(),
      tarOut: deferred(),
      applied: deferred(),
      fetch: undefined,
    });
  }
  const firstMissing = jobs.find((j) => !j.skipped)?.index ?? -1;
  for (const j of jobs) emit(j, j.skipped ? 'already-exists' : 'waiting', 0);

  const internal = new AbortController();
  const jobCtx = withSignal(ctx, internal.signal);
  const created: string[] = [];
  const openBlob = async (job: LayerJob): Promise<Readable> => graph.content.reader(jobCtx, job.desc.digest);

  const steps = instrumentPart<LayerSteps>(
    'registry.layer',
    {
      fetch: (c, job) => downloadLayer(c, job),
      decompress: (_c, _job, compressed, tar) => decompressLayer(compressed, tar),
      apply: (c, job) => applyLayer(c, job),
    },
    layerStepsBoundary,
  );

  // Whatever way a download fails (before its request, in it, or opening the stored blob
  // after it), its layer's stream promise is rejected and its live stream destroyed: the
  // graph may be waiting on either.
  const fetchLayer = async (job: LayerJob): Promise<void> => {
    try {
      await steps.fetch(jobCtx, job);
    } catch (err) {
      const e = layerError(err, job.desc.digest);
      job.tee?.destroy(e);
      job.compressed.reject(e);
      throw e;
    }
  };

  const downloadLayer = async (c: Context, job: LayerJob): Promise<FetchOutcome> => {
    throwIfCancelled(c, `layer ${job.desc.digest}`);
    const start = nowNs();
    const writer = await openWriter(c, graph, job.desc);
    if (writer === undefined) {
      job.compressed.resolve(await openBlob(job)); // another pull committed it meanwhile
      return { streamed: false, received: 0 };
    }
    const streaming = (job.requested || job.index === firstMissing) && writer.status().offset === 0;
    const tee = streaming ? new PassThrough({ highWaterMark: 1 << 20 }) : undefined;
    if (tee !== undefined) {
      tee.on('error', () => {}); // reported through the fetch; the graph may not be reading yet
      job.tee = tee;
      job.compressed.resolve(tee);
    }
    let done = writer.status().offset;
    const from = done;
    let shown = -1;
    const step = Math.max(64 * 1024, Math.floor(job.desc.size / 100));
    emit(job, 'downloading', done);
    try {
      await client.blob(
        c,
        ref,
        job.desc,
        {
          offset: () => writer.status().offset,
          // the store's write (a threadpool round trip) and the graph's apply run side by side;
          // the next chunk waits for both, so memory stays bounded
          write: async (chunk) => {
            const stored = writer.write(chunk);
            if (tee === undefined || job.detached) return stored;
            const forwarded = writeWithBackpressure(tee, chunk, c.signal).catch((err: unknown) => {
              if (!job.detached) throw err;
            });
            await Promise.all([stored, forwarded]);
          },
        },
        (n) => {
          done += n;
          if (done - shown >= step || done === job.desc.size) {
            shown = done;
            emit(job, 'downloading', done);
          }
        },
      );
      emit(job, 'verifying', job.desc.size);
      const r = await writer.commit(c, job.desc.size, job.desc.digest);
      if (r.created) created.push(r.digest);
    } catch (err) {
      await writer.abort();
      throw err;
    }
    job.fetchMs = ms(nowNs() - start);
    if (tee === undefined) job.compressed.resolve(await openBlob(job));
    else if (!job.detached) tee.end();
    return { streamed: streaming, received: done - from };
  };

  const decompressLayer = (compressed: Readable, tar: Transform): Promise<DecompressOutcome> => {
    // counted as the bytes go into the decompressor (listening to the tar would start it before the graph reads)
    let compressedBytes = 0;
    const counted = (chunk: Buffer): void => void (compressedBytes += chunk.length);
    compressed.on('data', counted);
    return new Promise((resolve, reject) => {
      pipeline(compressed, tar, (err) => {
        compressed.off('data', counted);
        if (err) reject(err);
        else resolve({ compressedBytes });
      });
    });
  };

  let applying: LayerJob | undefined;
  const finishApply = (err?: unknown): void => {
    const job = applying;
    applying = undefined;
    if (job === undefined || job.applyStartNs === undefined) return;
    job.applyMs = ms(nowNs() - job.applyStartNs);
    if (err === undefined) {
      emit(job, 'done', job.desc.size);
      job.applied.resolve();
    } else job.applied.reject(err);
  };
  const applyLayer = async (c: Context, job: LayerJob): Promise<void> => {
    try {
      if (!job.needsFetch) job.compressed.resolve(await openBlob(job));
      // a pull failed elsewhere (another layer's download) or cancelled must not leave the graph waiting here
      const compressed = await untilAborted(job.compressed.promise, c.signal);
      emit(job, 'extracting', 0);
      const tar = sniffingDecompressor();
      tar.on('error', () => {}); // the graph reads the error off the stream; closeStreams may fail it first
      job.tar = tar;
      // the decompress step's failure reaches the graph through the tar stream
      steps.decompress(c, job, compressed, tar).catch(() => {});
      job.tarOut.resolve(tar);
    } catch (err) {
      job.tarOut.reject(err);
      throw err;
    }
    return job.applied.promise;
  };
  const sources: LayerSource[] = jobs.map((job) => async () => {
    finishApply();
    job.requested = true;
    // a streaming layer below this one that the graph skipped (registered meanwhile) must not hold its download
    for (const j of jobs) {
      if (j.index < job.index && !j.requested && j.tee !== undefined && !j.detached) {
        j.detached = true;
        j.tee.destroy();
      }
    }
    applying = job;
    job.applyStartNs = nowNs();
    steps.apply(jobCtx, job).catch(() => {}); // its failure is the pull's, reported through putImage
    return job.tarOut.promise;
  });
  /**
   * Closes every stream this pull opened (downloads, stored blobs, tars given to the graph); `err` fails a reader still
   * on one.
   */
  const closeStreams = (err?: unknown): void => {
    for (const j of jobs) {
      j.tar?.destroy(err as Error | undefined);
      j.tee?.destroy(err as Error | undefined);
      // without an error: nothing may listen on a stream the graph never took
      j.compressed.promise.then(
        (s) => s.destroy(),
        () => {},
      );
    }
  };

  const limit = limiter(concurrency);
  for (const job of jobs) if (job.needsFetch) job.fetch = limit(() => fetchLayer(job));
  const fetches = jobs.flatMap((j) => (j.fetch ? [j.fetch] : []));
  let fetchError: unknown;
  for (const f of fetches) {
    f.catch((err: unknown) => {
      // a download ended by the pull's own abort (another failure, a cancel) is not the cause
      if (internal.signal.aborted) return;
      fetchError = err;
      internal.abort(new Error('a layer download failed'));
    });
  }

  let put;
  let putting: Promise<unknown> = Promise.resolve();
  try {
    const blobs: string[] = [];
    for (const m of index ? [index, manifest] : [manifest]) {
      const r = await graph.content.put(ctx, m.bytes, { digest: m.digest, size: m.bytes.length });
      if (r.created) created.push(r.digest);
      blobs.push(m.digest);
    }
    for (const j of jobs) blobs.push(j.desc.digest);
    const stored = ref.digest !== undefined ? `${referenceName(ref)}@${ref.digest}` : refText;
    // the graph gets the caller's ctx: a failed download fails its tar stream, and the graph's own cleanup must not run
    // cancelled
    const putPromise = graph.putImage(ctx, configBytes, sources, { references: [stored], blobs });
    putting = putPromise;
    put = await Promise.race([
      putPromise,
      // a failed download ends the pull even while the graph still waits on an earlier layer
      Promise.all(fetches).then(() => new Promise<never>(() => {})),
    ]);
    finishApply();
    await Promise.all(jobs.flatMap((j) => (j.fetch && j.requested ? [j.fetch] : [])));
    if (jobs.some((j) => j.fetch && !j.requested)) {
      // layers another pull registered meanwhile: their downloads are not needed
      internal.abort(new Error('layer no longer needed'));
      await Promise.allSettled(fetches);
    }
    closeStreams(); // stored blobs opened for layers the graph did not need
  } catch (err) {
    // the first failure is the cause: a download's, else the graph's (downloads then end cancelled)
    const cause = fetchError ?? err;
    finishApply(err);
    internal.abort(cause);
    // the graph fails fast on a layer it is reading instead of applying it in vain
    closeStreams(cause);
    await Promise.allSettled(fetches);
    closeStreams(cause); // streams opened while the downloads wound down
    await putting.catch(() => {}); // the graph releases what it added before we go
    const cleanup = withLogger(background(), ctx.logger); // ctx may be the cancelled one
    for (const digest of created) {
      await graph.content
        .delete(cleanup, digest)
        .catch((e: unknown) =>
          ctx.logger.warn('pull: removing a blob after a failed pull', { digest, error: String(e) }),
        );
    }
    throw cause;
  }
  const tEnd = nowNs();
  return {
    imageId: put.id,
    manifestDigest: manifest.digest,
    ...(index ? { indexDigest: index.digest } : {}),
    reference: ref.digest !== undefined ? `${referenceName(ref)}@${ref.digest}` : refText,
    ...(chosen ? { platform: chosen } : {}),
    layers: jobs.map((j) => ({
      digest: j.desc.digest,
      size: j.desc.size,
      diffID: j.diffID,
      skipped: j.skipped || put.layers[j.index]?.applied === false,
      downloaded: j.needsFetch,
      ...(j.fetchMs !== undefined ? { fetchMs: j.fetchMs } : {}),
      ...(j.applyMs !== undefined ? { applyMs: j.applyMs } : {}),
    })),
    timings: { totalMs: ms(tEnd - t0), resolveMs: ms(tResolved - t0), layersMs: ms(tEnd - tResolved) },
  };
}

async function makeClient(opts: PullOptions): Promise<RegistryClient> {
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
 * The ingest writer for a layer blob, or undefined when the blob got committed by
 * someone else meanwhile. Another writer on the same ingest (a concurrent pull of
 * the same layer) is waited for.
 */
async function openWriter(ctx: Context, graph: Graph, desc: BlobDescriptor): Promise<ContentWriter | undefined> {
  for (;;) {
    if (await graph.content.has(ctx, desc.digest)) return undefined;
    try {
      return await graph.content.writer(ctx, `pull-${desc.digest}`, {
        expected: { digest: desc.digest, size: desc.size },
      });
    } catch (err) {
      if (!isBerthError(err, 'CONFLICT')) throw err;
      await new Promise((r) => setTimeout(r, 100));
      throwIfCancelled(ctx, `layer ${desc.digest}`);
    }
  }
}

/** Settles like p, or rejects with the signal's reason once it aborts. */
function untilAborted<T>(p: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(signal.reason);
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => reject(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    p.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
  });
}

function writeWithBackpressure(stream: PassThrough, chunk: Buffer, signal: AbortSignal): Promise<void> {
  if (stream.destroyed) return Promise.reject(stream.errored ?? new Error('layer stream closed'));
  if (signal.aborted) return Promise.reject(signal.reason);
  if (stream.write(chunk)) return Promise.resolve();
  return new Promise((resolve, reject) => {
    const cleanup = (): void => {
      stream.off('drain', onDrain);
      stream.off('close', onClose);
      signal.removeEventListener('abort', onAbort);
    };
    const onDrain = (): void => {
      cleanup();
      resolve();
    };
    const onClose = (): void => {
      cleanup();
      reject(stream.errored ?? new Error('layer stream closed'));
    };
    const onAbort = (): void => {
      cleanup();
      reject(signal.reason);
    };
    stream.on('drain', onDrain);
    stream.on('close', onClose);
    signal.addEventListener('abort', onAbort);
  });
}

/** Errors about a blob renamed to name the layer: `layer sha256:…: digest mismatch (got …)`. */
function layerError(err: unknown, digest: string): BerthError {
  if (isBerthError(err)) {
    if (err.message.startsWith(`layer ${digest}`)) return err;
    const prefix = `blob ${digest}: `;
    const rest = err.message.startsWith(prefix) ? err.message.slice(prefix.length) : err.message;
    return new BerthError(err.code, `layer ${digest}: ${rest}`, {
      cause: err,
      ...(err.details ? { details: err.details } : {}),
    });
  }
  return wrap(err, `layer ${digest}`, 'UNAVAILABLE');
}

function pullError(err: unknown, ctx: Context, subject: string): BerthError {
  if (ctx.signal.aborted) {
    const why = ctx.signal.reason instanceof Error ? ctx.signal.reason.message : 'aborted';
    return new BerthError('CANCELLED', `${subject}: cancelled (${why})`, { cause: err });
  }
  if (isBerthError(err)) return err;
  return wrap(err, subject, 'UNAVAILABLE');
}

function parseJSON(m: FetchedManifest, refText: string): Record<string, unknown> {
  try {
    const doc = JSON.parse(m.bytes.toString('utf8')) as unknown;
    if (doc === null || typeof doc !== 'object' || Array.isArray(doc)) throw new Error('not an object');
    return doc as Record<string, unknown>;
  } catch (err) {
    throw invalidArgument(`manifest ${refText} (${m.digest}): malformed: ${(err as Error).message}`, { cause: err });
  }
}

function descriptorOf(value: unknown, what: string): BlobDescriptor & { mediaType: string } {
  const d = value as { mediaType?: unknown; digest?: unknown; size?: unknown } | null;
  if (
    d === null ||
    typeof d !== 'object' ||
    typeof d.mediaType !== 'string' ||
    typeof d.digest !== 'string' ||
    !Number.isSafeInteger(d.size) ||
    (d.size as number) < 0
  ) {
    throw invalidArgument(`${what}: descriptor needs mediaType, digest and size`);
  }
  if (!/^sha(256:[a-f0-9]{64}|512:[a-f0-9]{128})$/.test(d.digest))
    throw invalidArgument(`${what}: bad digest ${JSON.stringify(d.digest)}`);
  return { mediaType: d.mediaType, digest: d.digest, size: d.size as number };
}

function parseIndex(m: FetchedManifest, refText: string): IndexEntry[] {
  const doc = parseJSON(m, refText);
  if (!Array.isArray(doc.manifests))
    throw invalidArgument(`manifest ${refText} (${m.digest}): index without manifests`);
  return doc.manifests.map((e: unknown, i: number) => {
    const d = descriptorOf(e, `manifest ${refText}: manifests[${i}]`);
    const p = (e as { platform?: { os?: unknown; architecture?: unknown; variant?: unknown } }).platform;
    const platform =
      p && typeof p.os === 'string' && typeof p.architecture === 'string'
        ? { os: p.os, architecture: p.architecture, ...(typeof p.variant === 'string' ? { variant: p.variant } : {}) }
        : undefined;
    return platform ? { ...d, platform } : d;
  });
}

function parseImageManifest(m: FetchedManifest, refText: string): ImageManifest {
  const doc = parseJSON(m, refText);
  const what = `manifest ${refText} (${m.digest})`;
  if (doc.schemaVersion !== 2)
    throw invalidArgument(`${what}: schemaVersion ${JSON.stringify(doc.schemaVersion)} is not 2`);
  const config = descriptorOf(doc.config, `${what}: config`);
  checkConfigType(config.mediaType, `${what}: config`);
  if (!Array.isArray(doc.layers)) throw invalidArgument(`${what}: no layers`);
  const layers = doc.layers.map((l: unknown, i: number) => descriptorOf(l, `${what}: layers[${i}]`));
  return { config, layers };
}
