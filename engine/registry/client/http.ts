// One HTTP exchange for the registry client on node:http / node:https (the system
// CA bundle added to Node's own), following redirects itself so that credentials
// are never sent to another host (blob redirects to a storage service), and sending
// a replayable request again when the kept-alive connection it went out on turns out
// to have been closed by the server. node:https and node:tls load with the first
// https request: a daemon that only meets plain-HTTP registries never keeps them resident.
import { readFileSync } from 'node:fs';
import http, { type IncomingHttpHeaders, type IncomingMessage } from 'node:http';
import type { Agent as HttpsAgent } from 'node:https';
import { pipeline, type Readable } from 'node:stream';
import { invalidArgument, unavailable, wrap } from '../../errdefs/errors.js';

export interface HttpRequest {
  method: 'GET' | 'HEAD' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
  url: string;
  headers: Record<string, string>;
  signal: AbortSignal;
  /** The request body (a stream is consumed once: its request follows no redirect). */
  body?: Buffer | Readable;
  /**
   * Send it again when it failed on a kept-alive connection before any answer (default true). A caller that retries
   * failures itself and counts its attempts says false: such a failure is then one of its attempts.
   */
  resendStale?: boolean;
}

export interface HttpResponse {
  status: number;
  headers: IncomingHttpHeaders;
  /** The final URL after redirects. */
  url: string;
  /** The body stream; the caller must consume or destroy it. */
  body: IncomingMessage;
}

const MAX_REDIRECTS = 5;
const SYSTEM_CA_FILES = ['/etc/ssl/certs/ca-certificates.crt', '/etc/pki/tls/certs/ca-bundle.crt'];
/**
 * How long an idle kept-alive connection stays in the pool. Node applies a server's `Keep-Alive: timeout=N` hint (the
 * connection is dropped a second before the server would drop it) only when the agent has a timeout longer than the
 * hint; without one an idle connection is kept until the server closes it, and a request sent just then fails.
 */
const IDLE_SOCKET_MS = 60_000;
/** Sends of one request on kept-alive connections the server had closed, before the error is the caller's. */
const MAX_STALE_RESENDS = 3;
const httpAgent = new http.Agent({ keepAlive: true, timeout: IDLE_SOCKET_MS });

/** How a request goes out: the module's request() and the agent pooling its connections. */
interface Transport {
  request: typeof http.request;
  agent: http.Agent | HttpsAgent;
}

const plainTransport: Transport = { request: http.request, agent: httpAgent };
let httpsTransport: Promise<Transport> | undefined;

/** node:https with an agent trusting Node's CAs and the system's bundle, loaded on the first https request. */
function transportFor(url: URL): Transport | Promise<Transport> {
  if (url.protocol === 'http:') return plainTransport;
  httpsTransport ??= (async () => {
    const [{ default: https }, { rootCertificates }] = await Promise.all([import('node:https'), import('node:tls')]);
    const ca = [...rootCertificates];
    for (const f of SYSTEM_CA_FILES) {
      try {
        ca.push(readFileSync(f, 'utf8'));
        break;
      } catch {
        // not on this distribution
      }
    }
    return { request: https.request, agent: new https.Agent({ keepAlive: true, timeout: IDLE_SOCKET_MS, ca }) };
  })();
  return httpsTransport;
}

/** A request that failed on a reused kept-alive connection before any answer came: the server had closed it. */
class StaleConnection extends Error {
  constructor(readonly original: Error) {
    super(original.message, { cause: original });
  }
}

/**
 * Sends one request (no redirects). Network errors reject with the Node error, or a StaleConnection when the
 * connection was a reused one that broke before any answer; any status resolves.
 */
async function once(req: HttpRequest, url: URL): Promise<IncomingMessage> {
  const { request, agent } = await transportFor(url);
  return new Promise((resolve, reject) => {
    const r = request(url, { method: req.method, headers: req.headers, agent, signal: req.signal }, resolve);
    r.on('error', (err: NodeJS.ErrnoException) => {
      const broken = err.code === 'ECONNRESET' || err.code === 'EPIPE';
      reject(r.reusedSocket && broken && !req.signal.aborted ? new StaleConnection(err) : err);
    });
    if (req.body === undefined) r.end();
    else if (Buffer.isBuffer(req.body)) r.end(req.body);
    // a failing body stream fails the request (destroyed with its error), which rejects
    else pipeline(req.body, r, () => {});
  });
}

/** Methods whose request may be sent again without changing the outcome (RFC 9110 9.2.2). */
const IDEMPOTENT = new Set<HttpRequest['method']>(['GET', 'HEAD', 'PUT', 'DELETE']);

/**
 * Sends one request: again, on another connection, when it was idempotent with a body that can be sent again and
 * went out on a kept-alive connection the server had closed meanwhile (the server never saw it). Node's client does
 * not do this itself (undici and Go's transport do). Any other failure rejects with the Node error.
 */
async function sendOnce(req: HttpRequest, url: URL, replayable: boolean): Promise<IncomingMessage> {
  for (let stale = 0; ; stale++) {
    try {
      return await once(req, url);
    } catch (err) {
      if (!(err instanceof StaleConnection)) throw err;
      if (!replayable || !IDEMPOTENT.has(req.method) || stale === MAX_STALE_RESENDS) throw err.original;
    }
  }
}

/**
 * Sends `req`, following up to 5 redirects (not for a streamed body: its response
 * is returned as it is); the Authorization header is dropped when a redirect
 * leaves the original host. An idempotent request without a streamed body is sent
 * again when the kept-alive connection it went out on had been closed by the server.
 * Rejects with the Node error (ECONNRESET, AbortError, …) for a failed exchange,
 * INVALID_ARGUMENT for a bad URL or a redirect to a non-HTTP scheme, UNAVAILABLE
 * for a redirect loop.
 */
export async function send(req: HttpRequest): Promise<HttpResponse> {
  let url: URL;
  try {
    url = new URL(req.url);
  } catch (err) {
    throw invalidArgument(`request ${req.url}: bad URL`, { cause: err });
  }
  const origin = url.host;
  let headers = req.headers;
  for (let hop = 0; hop <= MAX_REDIRECTS; hop++) {
    if (url.protocol !== 'http:' && url.protocol !== 'https:')
      throw invalidArgument(`request ${req.url}: redirect to unsupported URL ${url.href}`);
    const replayable = req.body === undefined || Buffer.isBuffer(req.body);
    const res = await sendOnce({ ...req, headers }, url, replayable && req.resendStale !== false);
    const status = res.statusCode ?? 0;
    if (replayable && [301, 302, 303, 307, 308].includes(status) && typeof res.headers.location === 'string') {
      res.resume();
      url = new URL(res.headers.location, url);
      if (url.host !== origin && headers.Authorization !== undefined) {
        const { Authorization: _dropped, ...rest } = headers;
        headers = rest;
      }
      continue;
    }
    return { status, headers: res.headers, url: url.href, body: res };
  }
  throw unavailable(`request ${req.url}: more than ${MAX_REDIRECTS} redirects`);
}

/** Reads a whole (small) body, at most `limit` bytes. Fails RESOURCE_EXHAUSTED above the limit. */
export async function readBody(res: HttpResponse, limit: number, subject: string): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let n = 0;
  for await (const c of res.body) {
    n += (c as Buffer).length;
    if (n > limit) {
      res.body.destroy();
      throw wrap(new Error(`response larger than ${limit} bytes`), subject, 'RESOURCE_EXHAUSTED');
    }
    chunks.push(c as Buffer);
  }
  return Buffer.concat(chunks);
}
