// The distribution-spec client: manifests (four media types, digest verified) and
// blobs (streamed into a sink, resumed with Range after a dropped connection,
// retried with backoff), authenticated through the Authorizer. Its methods are the
// registry boundary: wrap the object with instrument('registry', client) for spans
// `registry.manifest` and `registry.blob`.
import { createHash } from 'node:crypto';
import { BerthError, dataLoss, isBerthError, notFound, permissionDenied, unauthenticated, wrap } from '../../errdefs/errors.js';
import { parseDigest } from '../../graph/digest.js';
import { referenceName, referenceString, type Reference } from '../../graph/reference.js';
import type { Context } from '../../trace/context.js';
import { Authorizer } from './auth.js';
import type { CredentialSource } from './credentials.js';
import { endpointFor, type Endpoint } from './endpoint.js';
import { readBody, send, type HttpResponse } from './http.js';
import { checkManifestType, MANIFEST_ACCEPT } from './media-types.js';
import { DEFAULT_RETRY, isTransient, isTransientStatus, parseRetryAfter, TransientError, withRetry, type RetryPolicy } from './retry.js';

export interface RegistryClientOptions {
  /** Credentials by registry host (see loadDockerConfig). */
  credentials?: CredentialSource;
  /** Registries (`host` or `host:port`) reached over plain HTTP although not loopback. */
  insecure?: string[];
  retry?: Partial<RetryPolicy>;
  /** Largest manifest accepted (default 4 MiB). */
  maxManifestBytes?: number;
}

export interface FetchedManifest {
  mediaType: string;
  /** The digest of the bytes, verified against Docker-Content-Digest and a pinned digest. */
  digest: string;
  bytes: Buffer;
}

export interface BlobDescriptor {
  digest: string;
  size: number;
}

/** Where a blob's bytes go: the download starts (or resumes) at offset(). */
export interface BlobSink {
  offset(): number;
  /** Takes the next bytes in order; its promise resolving is the backpressure. */
  write(chunk: Buffer): Promise<void>;
}

export interface BlobResult {
  /** Requests made (1 without retries). */
  requests: number;
  /** Bytes received over the network by this call. */
  bytes: number;
  /** Requests that resumed with a Range header. */
  resumed: number;
}

export class RegistryClient {
  readonly authorizer: Authorizer;
  private readonly retry: RetryPolicy;
  private readonly insecure: string[];
  private readonly maxManifestBytes: number;

  constructor(options: RegistryClientOptions = {}) {
    this.authorizer = new Authorizer(options.credentials);
    this.retry = { ...DEFAULT_RETRY, ...options.retry };
    this.insecure = options.insecure ?? [];
    this.maxManifestBytes = options.maxManifestBytes ?? 4 * 1024 * 1024;
  }

  /** The endpoint a reference's registry is reached at (pure). */
  endpoint(ref: Reference): Endpoint {
    return endpointFor(ref.domain, this.insecure);
  }

  /**
   * Fetches the manifest `ref` names by its digest when it has one, else by its tag.
   * Verifies the media type (one of the four; INVALID_ARGUMENT naming the type and
   * the reference otherwise) and the digest against Docker-Content-Digest and the
   * pinned digest (DATA_LOSS on mismatch). Fails NOT_FOUND, UNAUTHENTICATED,
   * PERMISSION_DENIED, UNAVAILABLE after the retries. Idempotent; one GET (plus auth).
   */
  async manifest(ctx: Context, ref: Reference): Promise<FetchedManifest> {
    const subject = `manifest ${referenceString(ref)}`;
    const endpoint = this.endpoint(ref);
    const tagOrDigest = ref.digest ?? ref.tag ?? 'latest';
    return withRetry(this.retry, ctx.signal, async () => {
      const res = await this.request(ctx, endpoint, ref.path, `/v2/${ref.path}/manifests/${tagOrDigest}`, { Accept: MANIFEST_ACCEPT }, subject);
      if (res.status === 404) {
        res.body.resume();
        throw notFound(`${subject}: not found in registry ${ref.domain}`);
      }
      if (res.status !== 200) throw await statusError(res, subject);
      const told = res.headers['docker-content-digest'];
      const announced = typeof told === 'string' && told !== '' ? told : undefined;
      // a by-tag manifest is known by the digest its registry announced until its bytes are in
      const named = ref.digest === undefined && announced !== undefined ? `${subject} (${announced})` : subject;
      const bytes = await readBody(res, this.maxManifestBytes, named).catch((err: unknown) => {
        throw isBerthError(err) ? err : new TransientError(`${named}: connection lost reading the manifest (${errorCode(err)})`, undefined, err);
      });
      // integrity first: damaged bytes are reported as such, not as the parse error they cause
      const algorithm = ref.digest !== undefined ? parseDigest(ref.digest).algorithm : 'sha256';
      const digest = `${algorithm}:${createHash(algorithm).update(bytes).digest('hex')}`;
      if (announced !== undefined && parseDigest(announced, `${subject}: Docker-Content-Digest`).algorithm === algorithm && announced !== digest) {
        throw dataLoss(`${subject}: digest mismatch: registry says ${announced}, content is ${digest}`, { details: { expected: announced, got: digest } });
      }
      if (ref.digest !== undefined && ref.digest !== digest) {
        throw dataLoss(`${subject}: digest mismatch (got ${digest})`, { details: { expected: ref.digest, got: digest } });
      }
      let declared: string | undefined;
      try {
        declared = (JSON.parse(bytes.toString('utf8')) as { mediaType?: string }).mediaType;
      } catch (err) {
        throw wrap(err, `${subject}: not JSON`, 'INVALID_ARGUMENT');
      }
      const header = String(res.headers['content-type'] ?? '').split(';')[0]!.trim();
      const generic = header === '' || header === 'application/json' || header === 'text/plain' || header === 'application/octet-stream';
      const mediaType = generic ? (declared ?? header) : header;
      checkManifestType(mediaType, subject);
      return { mediaType, digest, bytes };
    });
  }

  /**
   * Streams blob `desc` of `ref`'s repository into `sink`, from sink.offset() to
   * desc.size. A dropped connection, 5xx or 429 is retried with backoff, resuming
   * with a Range request at the sink's offset (a server ignoring Range gets the
   * first bytes skipped). Does not verify the digest (the sink hashes); fails
   * DATA_LOSS when the registry sends more than desc.size bytes, NOT_FOUND,
   * UNAUTHENTICATED, PERMISSION_DENIED, UNAVAILABLE after the retries. `onBytes` sees each chunk's size.
   */
  async blob(ctx: Context, ref: Reference, desc: BlobDescriptor, sink: BlobSink, onBytes?: (n: number) => void): Promise<BlobResult> {
    const subject = `blob ${desc.digest}`;
    const endpoint = this.endpoint(ref);
    const result: BlobResult = { requests: 0, bytes: 0, resumed: 0 };
    await withRetry(this.retry, ctx.signal, async () => {
      const start = sink.offset();
      if (start >= desc.size) return;
      const headers: Record<string, string> = {};
      if (start > 0) {
        headers.Range = `bytes=${start}-`;
        result.resumed++;
      }
      result.requests++;
      const res = await this.request(ctx, endpoint, ref.path, `/v2/${ref.path}/blobs/${desc.digest}`, headers, subject);
      if (res.status === 404) {
        res.body.resume();
        throw notFound(`${subject}: not found in ${referenceName(ref)}`);
      }
      let skip = 0;
      if (res.status === 200) skip = start;
      else if (res.status === 206) {
        const m = /^bytes (\d+)-/.exec(String(res.headers['content-range'] ?? ''));
        if (m === null || Number(m[1]) !== start) {
          res.body.destroy();
          throw new TransientError(`${subject}: range response starts at ${m?.[1] ?? '?'}, wanted ${start}`, undefined);
        }
      } else throw await statusError(res, subject);
      let offset = start;
      // a body that fails mid-way (reset, cut short) is a transient failure naming the blob;
      // an error of the sink is its own and is thrown as it is
      const body = res.body[Symbol.asyncIterator]();
      for (;;) {
        let next: IteratorResult<unknown>;
        try {
          next = await body.next();
        } catch (err) {
          if (ctx.signal.aborted) throw err;
          throw new TransientError(`${subject}: connection lost at byte ${offset} of ${desc.size} (${errorCode(err)})`, undefined, err);
        }
        if (next.done === true) break;
        let chunk = next.value as Buffer;
        result.bytes += chunk.length;
        if (skip > 0) {
          const n = Math.min(skip, chunk.length);
          skip -= n;
          chunk = chunk.subarray(n);
          if (chunk.length === 0) continue;
        }
        if (offset + chunk.length > desc.size) {
          res.body.destroy();
          throw dataLoss(`${subject}: registry sent more than the ${desc.size} bytes of the descriptor`);
        }
        try {
          await sink.write(chunk);
        } catch (err) {
          res.body.destroy();
          throw err;
        }
        offset += chunk.length;
        onBytes?.(chunk.length);
      }
      if (offset < desc.size) throw new TransientError(`${subject}: connection closed at byte ${offset} of ${desc.size}`, undefined);
    });
    return result;
  }

  /**
   * A small blob (an image config) in memory, its size and digest verified
   * (DATA_LOSS on mismatch). Cost: the blob in memory.
   */
  async blobBytes(ctx: Context, ref: Reference, desc: BlobDescriptor): Promise<Buffer> {
    const chunks: Buffer[] = [];
    let n = 0;
    const hash = createHash(parseDigest(desc.digest).algorithm);
    await this.blob(ctx, ref, desc, {
      offset: () => n,
      write: async (c) => {
        chunks.push(c);
        hash.update(c);
        n += c.length;
      },
    });
    const got = `${parseDigest(desc.digest).algorithm}:${hash.digest('hex')}`;
    if (got !== desc.digest) throw dataLoss(`blob ${desc.digest}: digest mismatch (got ${got})`, { details: { expected: desc.digest, got } });
    return Buffer.concat(chunks);
  }

  /**
   * One authenticated GET: a 401 is answered once with the credentials or token
   * its challenge asks for. Fails UNAUTHENTICATED (401), PERMISSION_DENIED (403),
   * TransientError (429, 5xx, and a network failure, naming the registry); other
   * statuses are returned.
   */
  private async request(ctx: Context, endpoint: Endpoint, repository: string, path: string, headers: Record<string, string>, subject: string): Promise<HttpResponse> {
    const who = `registry ${endpoint.domain}: repository ${repository}`;
    for (let round = 0; ; round++) {
      const auth = await this.authorizer.header(ctx, endpoint, repository);
      const res = await send({ method: 'GET', url: `${endpoint.baseURL}${path}`, headers: auth === undefined ? headers : { ...headers, Authorization: auth }, signal: ctx.signal }).catch((err: unknown) => {
        // a failed exchange names the registry; it stays retryable
        if (ctx.signal.aborted || !isTransient(err)) throw err;
        const code = (err as NodeJS.ErrnoException).code;
        throw new TransientError(`${subject}: registry ${endpoint.domain} unreachable (${code ?? (err as Error).message})`, undefined, err);
      });
      if (res.status === 401) {
        res.body.resume();
        if (round === 0 && this.authorizer.learn(endpoint, res.headers['www-authenticate'], auth !== undefined)) continue;
        throw unauthenticated(`${who}: authentication required (${subject})`, { details: { registry: endpoint.domain, repository } });
      }
      if (res.status === 403) {
        res.body.resume();
        throw permissionDenied(`${who}: access denied (${subject})`, { details: { registry: endpoint.domain, repository } });
      }
      if (isTransientStatus(res.status)) {
        res.body.resume();
        throw new TransientError(`${subject}: registry ${endpoint.domain} answered HTTP ${res.status}`, parseRetryAfter(res.headers['retry-after']));
      }
      return res;
    }
  }
}

/** The errno-style code of a network error, else its message, for messages. */
function errorCode(err: unknown): string {
  const e = err as NodeJS.ErrnoException | undefined;
  return e?.code ?? e?.message ?? String(err);
}

/** An error for an unexpected status, with the registry's own error message when it sent one. */
async function statusError(res: HttpResponse, subject: string): Promise<BerthError> {
  let detail = '';
  try {
    const body = await readBody(res, 64 * 1024, subject);
    const doc = JSON.parse(body.toString('utf8')) as { errors?: { code?: string; message?: string }[] };
    detail = (doc.errors ?? []).map((e) => `${e.code ?? ''}${e.message ? `: ${e.message}` : ''}`).join('; ');
  } catch {
    // no readable error body
  }
  const code = res.status === 400 || res.status === 416 ? 'INVALID_ARGUMENT' : 'UNAVAILABLE';
  return new BerthError(code, `${subject}: registry answered HTTP ${res.status}${detail ? ` (${detail})` : ''}`);
}
