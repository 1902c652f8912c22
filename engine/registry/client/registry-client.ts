// The distribution-spec client: manifests (four media types, digest verified) and
// blobs (streamed into a sink, resumed with Range after a dropped connection,
// retried with backoff), and for a push: blob HEADs, cross-repository mounts,
// uploads (whole or in PATCH chunks) and manifest PUTs; authenticated through the
// Authorizer (`pull,push` scopes for writes). Its methods are the
// registry boundary: wrap the object with instrument('registry', client) for spans
// `registry.manifest` and `registry.blob`.
import { createHash } from 'node:crypto';
import { PassThrough, type Readable } from 'node:stream';
import {
  BerthError,
  dataLoss,
  isBerthError,
  notFound,
  permissionDenied,
  unauthenticated,
  wrap,
} from '../../errdefs/errors.js';
import { parseDigest } from '../../graph/digest.js';
import { referenceName, referenceString, type Reference } from '../../graph/reference.js';
import { runDetached, type Context } from '../../trace/context.js';
import { Authorizer } from './auth.js';
import type { CredentialSource } from './credentials.js';
import { endpointFor, type Endpoint } from './endpoint.js';
import { readBody, send, type HttpRequest, type HttpResponse } from './http.js';
import { checkManifestType, MANIFEST_ACCEPT } from './media-types.js';
import {
  DEFAULT_RETRY,
  isTransient,
  isTransientStatus,
  parseRetryAfter,
  TransientError,
  withRetry,
  type RetryPolicy,
} from './retry.js';

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

/** How long the DELETE that cancels an upload session may take (it runs although its caller was cancelled). */
const CANCEL_UPLOAD_MS = 15_000;

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
      const res = await this.request(
        ctx,
        endpoint,
        ref.path,
        `/v2/${ref.path}/manifests/${tagOrDigest}`,
        { Accept: MANIFEST_ACCEPT },
        subject,
      );
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
        throw isBerthError(err)
          ? err
          : new TransientError(`${named}: connection lost reading the manifest (${errorCode(err)})`, undefined, err);
      });
      // integrity first: damaged bytes are reported as such, not as the parse error they cause
      const algorithm = ref.digest !== undefined ? parseDigest(ref.digest).algorithm : 'sha256';
      const digest = `${algorithm}:${createHash(algorithm).update(bytes).digest('hex')}`;
      if (
        announced !== undefined &&
        parseDigest(announced, `${subject}: Docker-Content-Digest`).algorithm === algorithm &&
        announced !== digest
      ) {
        throw dataLoss(`${subject}: digest mismatch: registry says ${announced}, content is ${digest}`, {
          details: { expected: announced, got: digest },
        });
      }
      if (ref.digest !== undefined && ref.digest !== digest) {
        throw dataLoss(`${subject}: digest mismatch (got ${digest})`, {
          details: { expected: ref.digest, got: digest },
        });
      }
      let declared: string | undefined;
      try {
        declared = (JSON.parse(bytes.toString('utf8')) as { mediaType?: string }).mediaType;
      } catch (err) {
        throw wrap(err, `${subject}: not JSON`, 'INVALID_ARGUMENT');
      }
      const header = String(res.headers['content-type'] ?? '')
        .split(';')[0]!
        .trim();
      const generic =
        header === '' ||
        header === 'application/json' ||
        header === 'text/plain' ||
        header === 'application/octet-stream';
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
  async blob(
    ctx: Context,
    ref: Reference,
    desc: BlobDescriptor,
    sink: BlobSink,
    onBytes?: (n: number) => void,
  ): Promise<BlobResult> {
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
      // a connection that breaks before any answer is one of this loop's attempts (it resumes at the sink's offset)
      const res = await this.request(
        ctx,
        endpoint,
        ref.path,
        `/v2/${ref.path}/blobs/${desc.digest}`,
        headers,
        subject,
        {
          resendStale: false,
        },
      );
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
          throw new TransientError(
            `${subject}: connection lost at byte ${offset} of ${desc.size} (${errorCode(err)})`,
            undefined,
            err,
          );
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
      if (offset < desc.size)
        throw new TransientError(`${subject}: connection closed at byte ${offset} of ${desc.size}`, undefined);
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
    if (got !== desc.digest)
      throw dataLoss(`blob ${desc.digest}: digest mismatch (got ${got})`, { details: { expected: desc.digest, got } });
    return Buffer.concat(chunks);
  }

  /**
   * Checks this client's credentials for registry `domain` as `docker login` does: GET /v2/, and after a 401 once
   * more with what its challenge asks for (Basic, or a Bearer token fetched from its realm with the credentials and
   * no scope). Resolves when the registry accepts them (or needs none). Fails UNAUTHENTICATED naming the registry
   * when it refuses them, PERMISSION_DENIED on a 403, UNAVAILABLE after the retries; no message carries a
   * credential. Cost: up to two requests to the registry and one to its token server.
   */
  async checkLogin(ctx: Context, domain: string): Promise<void> {
    const endpoint = endpointFor(domain, this.insecure);
    const url = `${endpoint.baseURL}/v2/`;
    const who = `registry ${domain}`;
    await withRetry(this.retry, ctx.signal, async () => {
      for (let round = 0; ; round++) {
        const auth = await this.authorizer.header(ctx, endpoint, undefined);
        const res = await send({
          method: 'GET',
          url,
          headers: auth === undefined ? {} : { Authorization: auth },
          signal: ctx.signal,
        }).catch((err: unknown) => {
          if (ctx.signal.aborted || !isTransient(err)) throw err;
          throw new TransientError(`${who}: login: unreachable (${errorCode(err)})`, undefined, err);
        });
        res.body.resume();
        if (res.status === 401) {
          if (round === 0 && this.authorizer.learn(endpoint, res.headers['www-authenticate'], auth !== undefined))
            continue;
          throw unauthenticated(
            auth === undefined
              ? `login attempt to ${who} (${url}) failed: 401 Unauthorized: credentials are required`
              : `login attempt to ${who} (${url}) failed: 401 Unauthorized: incorrect username or password`,
            { details: { registry: domain } },
          );
        }
        if (res.status === 403)
          throw permissionDenied(`login attempt to ${who} (${url}) failed: 403 Forbidden`, {
            details: { registry: domain },
          });
        if (isTransientStatus(res.status))
          throw new TransientError(
            `${who}: login: answered HTTP ${res.status}`,
            parseRetryAfter(res.headers['retry-after']),
          );
        if (res.status >= 200 && res.status < 300) return;
        throw new BerthError('UNAVAILABLE', `login attempt to ${who} (${url}) failed: HTTP ${res.status}`, {
          details: { registry: domain },
        });
      }
    });
  }

  /**
   * One authenticated request (GET unless `opts.method`): a 401 is answered once with
   * the credentials or token its challenge asks for (the body made again by
   * `opts.body`). Fails UNAUTHENTICATED (401), PERMISSION_DENIED (403),
   * TransientError (429, 5xx, and a network failure, naming the registry); other
   * statuses are returned.
   */
  private async request(
    ctx: Context,
    endpoint: Endpoint,
    repository: string,
    path: string,
    headers: Record<string, string>,
    subject: string,
    opts: RequestOptions = {},
  ): Promise<HttpResponse> {
    const who = `registry ${endpoint.domain}: repository ${repository}`;
    const url = /^https?:\/\//.test(path) ? path : `${endpoint.baseURL}${path}`;
    // an upload Location on another host (a storage service) gets no credentials
    const ours = new URL(url).host === new URL(endpoint.baseURL).host;
    for (let round = 0; ; round++) {
      const auth = ours
        ? await this.authorizer.header(ctx, endpoint, repository, opts.actions, opts.extraScopes)
        : undefined;
      const body = opts.body?.();
      const res = await send({
        method: opts.method ?? 'GET',
        url,
        headers: auth === undefined ? headers : { ...headers, Authorization: auth },
        signal: ctx.signal,
        ...(body === undefined ? {} : { body }),
        ...(opts.resendStale === false ? { resendStale: false } : {}),
      }).catch((err: unknown) => {
        // a failed exchange names the registry; it stays retryable
        if (ctx.signal.aborted || !isTransient(err)) throw err;
        const code = (err as NodeJS.ErrnoException).code;
        throw new TransientError(
          `${subject}: registry ${endpoint.domain} unreachable (${code ?? (err as Error).message})`,
          undefined,
          err,
        );
      });
      if (res.status === 401) {
        res.body.resume();
        if (round === 0 && this.authorizer.learn(endpoint, res.headers['www-authenticate'], auth !== undefined))
          continue;
        throw unauthenticated(`${who}: authentication required (${subject})`, {
          details: { registry: endpoint.domain, repository },
        });
      }
      if (res.status === 403) {
        res.body.resume();
        throw permissionDenied(`${who}: access denied (${subject})`, {
          details: { registry: endpoint.domain, repository },
        });
      }
      if (isTransientStatus(res.status)) {
        res.body.resume();
        throw new TransientError(
          `${subject}: registry ${endpoint.domain} answered HTTP ${res.status}`,
          parseRetryAfter(res.headers['retry-after']),
        );
      }
      return res;
    }
  }

  // --- push: blob existence, mounts, uploads and manifests (distribution spec end-2, end-4 … end-7, end-11)

  /** The size of blob `digest` in `ref`'s repository, or undefined when the registry does not have it there (HEAD). */
  async blobSize(ctx: Context, ref: Reference, digest: string): Promise<number | undefined> {
    const subject = `blob ${digest}`;
    const endpoint = this.endpoint(ref);
    return withRetry(this.retry, ctx.signal, async () => {
      const res = await this.request(ctx, endpoint, ref.path, `/v2/${ref.path}/blobs/${digest}`, {}, subject, {
        method: 'HEAD',
        actions: 'pull,push',
      });
      res.body.resume();
      if (res.status === 404) return undefined;
      if (res.status !== 200) throw await statusError(res, subject);
      const size = Number(res.headers['content-length']);
      return Number.isSafeInteger(size) && size >= 0 ? size : 0;
    });
  }

  /**
   * Starts an upload to `ref`'s repository. With `mount`, first asks the registry to
   * mount the blob from repository `mount.from` (same registry): `{ mounted: true }`
   * when it did (201), else the session it opened instead (202).
   */
  async startUpload(
    ctx: Context,
    ref: Reference,
    mount?: { digest: string; from: string },
  ): Promise<{ mounted: true } | { mounted: false; location: string }> {
    const subject = mount ? `blob ${mount.digest}: mount from ${mount.from}` : `upload to ${referenceName(ref)}`;
    const endpoint = this.endpoint(ref);
    const query = mount ? `?mount=${encodeURIComponent(mount.digest)}&from=${encodeURIComponent(mount.from)}` : '';
    return withRetry(this.retry, ctx.signal, async () => {
      const res = await this.request(
        ctx,
        endpoint,
        ref.path,
        `/v2/${ref.path}/blobs/uploads/${query}`,
        { 'Content-Length': '0' },
        subject,
        {
          method: 'POST',
          actions: 'pull,push',
          ...(mount ? { extraScopes: [`repository:${mount.from}:pull`] } : {}),
        },
      );
      res.body.resume();
      if (res.status === 201 && mount) return { mounted: true as const };
      if (res.status !== 202) throw await statusError(res, subject);
      return { mounted: false as const, location: uploadLocation(res, endpoint, subject) };
    });
  }

  /**
   * Uploads blob `desc` into the session at `location` (from startUpload) and closes
   * it with the digest: the whole blob in the closing PUT, or with `chunkSize` in
   * PATCH requests of that many bytes (each with its Content-Range) and an empty PUT.
   * `open(offset)` gives the blob's bytes from `offset`. Not retried (a session
   * cannot be resumed safely from here): the caller starts over. On failure the
   * session is cancelled. Fails like the other calls, INVALID_ARGUMENT with the
   * registry's message (a digest the registry computed differently: DIGEST_INVALID).
   */
  async uploadBlob(
    ctx: Context,
    ref: Reference,
    location: string,
    desc: BlobDescriptor,
    open: (offset: number) => Promise<Readable>,
    opts: { chunkSize?: number; onBytes?: (n: number) => void } = {},
  ): Promise<void> {
    const subject = `blob ${desc.digest}: upload to ${referenceName(ref)}`;
    const endpoint = this.endpoint(ref);
    let url = location;
    const counted = (r: Readable): Readable => {
      if (opts.onBytes) r.on('data', (c: Buffer) => opts.onBytes!(c.length));
      return r;
    };
    try {
      if (opts.chunkSize !== undefined && opts.chunkSize > 0 && desc.size > opts.chunkSize) {
        for (let offset = 0; offset < desc.size; offset += opts.chunkSize) {
          const end = Math.min(desc.size, offset + opts.chunkSize);
          const chunk = counted(limitStream(await open(offset), end - offset));
          const res = await this.request(
            ctx,
            endpoint,
            ref.path,
            url,
            {
              'Content-Type': 'application/octet-stream',
              'Content-Length': String(end - offset),
              'Content-Range': `${offset}-${end - 1}`,
            },
            subject,
            { method: 'PATCH', actions: 'pull,push', body: once(chunk, subject) },
          );
          res.body.resume();
          if (res.status !== 202) throw await statusError(res, subject);
          url = uploadLocation(res, endpoint, subject);
        }
        const res = await this.request(
          ctx,
          endpoint,
          ref.path,
          withDigest(url, desc.digest),
          { 'Content-Length': '0' },
          subject,
          { method: 'PUT', actions: 'pull,push' },
        );
        if (res.status !== 201) throw await statusError(res, subject);
        res.body.resume();
      } else {
        const body = counted(await open(0));
        const res = await this.request(
          ctx,
          endpoint,
          ref.path,
          withDigest(url, desc.digest),
          { 'Content-Type': 'application/octet-stream', 'Content-Length': String(desc.size) },
          subject,
          { method: 'PUT', actions: 'pull,push', body: once(body, subject) },
        );
        if (res.status !== 201) throw await statusError(res, subject);
        res.body.resume();
      }
    } catch (err) {
      await this.cancelUpload(ctx, ref, url);
      throw err;
    }
  }

  /**
   * Cancels an upload session (DELETE). It is the undo of a failed or cancelled upload, so it runs to its end although
   * `ctx` is cancelled (before or during the call), for at most CANCEL_UPLOAD_MS. Failures are logged and ignored
   * (the registry expires sessions).
   */
  async cancelUpload(ctx: Context, ref: Reference, location: string): Promise<void> {
    const endpoint = this.endpoint(ref);
    try {
      await runDetached(ctx, CANCEL_UPLOAD_MS, async (c) => {
        const res = await this.request(
          c,
          endpoint,
          ref.path,
          absolute(location, endpoint),
          {},
          `upload to ${referenceName(ref)}`,
          { method: 'DELETE', actions: 'pull,push' },
        );
        res.body.resume();
      });
    } catch (err) {
      // best effort: a session left behind expires on the registry
      ctx.logger.debug('registry: upload session not cancelled', {
        registry: endpoint.domain,
        location,
        error: err instanceof Error ? err.message : String(err),
      });
    }
  }

  /**
   * Puts manifest `bytes` (of `mediaType`) under `ref`'s tag (or digest). Verifies the
   * Docker-Content-Digest the registry answers against the bytes' digest (DATA_LOSS
   * on a mismatch). Returns the digest. Fails INVALID_ARGUMENT with the registry's
   * message (MANIFEST_BLOB_UNKNOWN, MANIFEST_INVALID, …), like the other calls otherwise.
   */
  async putManifest(ctx: Context, ref: Reference, mediaType: string, bytes: Buffer): Promise<string> {
    const tagOrDigest = ref.digest ?? ref.tag ?? 'latest';
    const subject = `manifest ${referenceString(ref)}`;
    const endpoint = this.endpoint(ref);
    const digest = `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
    return withRetry(this.retry, ctx.signal, async () => {
      const res = await this.request(
        ctx,
        endpoint,
        ref.path,
        `/v2/${ref.path}/manifests/${tagOrDigest}`,
        { 'Content-Type': mediaType, 'Content-Length': String(bytes.length) },
        subject,
        {
          method: 'PUT',
          actions: 'pull,push',
          body: () => bytes,
        },
      );
      if (res.status !== 201 && res.status !== 200) throw await statusError(res, subject);
      res.body.resume();
      const told = res.headers['docker-content-digest'];
      if (typeof told === 'string' && told !== '' && told.startsWith('sha256:') && told !== digest) {
        throw dataLoss(`${subject}: registry stored digest ${told}, the manifest is ${digest}`, {
          details: { expected: digest, got: told },
        });
      }
      return digest;
    });
  }
}

interface RequestOptions {
  method?: HttpRequest['method'];
  /** The repository's actions the token must allow (default `pull`). */
  actions?: string;
  extraScopes?: readonly string[];
  /** Makes the body for each attempt. */
  body?: () => Buffer | Readable;
  /** See HttpRequest.resendStale (default true). */
  resendStale?: boolean;
}

/** A body factory for a stream that can be sent once: a second call (a 401 after it was sent) fails. */
function once(stream: Readable, subject: string): () => Readable {
  let used = false;
  return () => {
    if (used) throw unauthenticated(`${subject}: the registry asked for authentication after the body was sent`);
    used = true;
    return stream;
  };
}

/** The first `n` bytes of `source` (it is destroyed after them). */
function limitStream(source: Readable, n: number): Readable {
  let left = n;
  const out = new PassThrough();
  source.on('data', (c: Buffer) => {
    if (left <= 0) return;
    const part = c.length > left ? c.subarray(0, left) : c;
    left -= part.length;
    if (!out.write(part)) source.pause();
    if (left === 0) {
      out.end();
      source.destroy();
    }
  });
  out.on('drain', () => source.resume());
  source.on('end', () => out.end());
  source.on('error', (err) => out.destroy(err));
  out.on('close', () => source.destroy());
  return out;
}

function absolute(location: string, endpoint: Endpoint): string {
  return new URL(location, `${endpoint.baseURL}/`).href;
}

/** The upload session's URL from a 202's Location (relative or absolute). */
function uploadLocation(res: HttpResponse, endpoint: Endpoint, subject: string): string {
  const loc = res.headers.location;
  if (typeof loc !== 'string' || loc === '')
    throw new BerthError('UNAVAILABLE', `${subject}: registry answered ${res.status} without a Location`);
  return absolute(loc, endpoint);
}

/** `url` with `digest=` added to its query (a session URL may carry its own state parameters). */
function withDigest(url: string, digest: string): string {
  const u = new URL(url);
  u.searchParams.set('digest', digest);
  return u.href;
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
  // 400 and 416: what was sent is wrong (MANIFEST_INVALID, DIGEST_INVALID, a bad range); 404 on a
  // write: a blob or session the registry does not know; 405: writes refused (a read-only registry)
  const code =
    res.status === 400 || res.status === 416
      ? 'INVALID_ARGUMENT'
      : res.status === 404
        ? 'NOT_FOUND'
        : res.status === 405
          ? 'NOT_IMPLEMENTED'
          : 'UNAVAILABLE';
  return new BerthError(code, `${subject}: registry answered HTTP ${res.status}${detail ? ` (${detail})` : ''}`);
}
