// One HTTP exchange for the registry client on node:http / node:https (the system
// CA bundle added to Node's own), following redirects itself so that credentials
// are never sent to another host (blob redirects to a storage service).
import { readFileSync } from 'node:fs';
import http, { type IncomingHttpHeaders, type IncomingMessage } from 'node:http';
import { pipeline, type Readable } from 'node:stream';
import https from 'node:https';
import { rootCertificates } from 'node:tls';
import { invalidArgument, unavailable, wrap } from '../../errdefs/errors.js';

export interface HttpRequest {
  method: 'GET' | 'HEAD' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
  url: string;
  headers: Record<string, string>;
  signal: AbortSignal;
  /** The request body (a stream is consumed once: its request follows no redirect). */
  body?: Buffer | Readable;
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
let httpsAgent: https.Agent | undefined;
const httpAgent = new http.Agent({ keepAlive: true });

function agentFor(url: URL): http.Agent {
  if (url.protocol === 'http:') return httpAgent;
  if (httpsAgent === undefined) {
    const ca = [...rootCertificates];
    for (const f of SYSTEM_CA_FILES) {
      try {
        ca.push(readFileSync(f, 'utf8'));
        break;
      } catch {
        // not on this distribution
      }
    }
    httpsAgent = new https.Agent({ keepAlive: true, ca });
  }
  return httpsAgent;
}

/** Sends one request (and its redirects). Network errors reject with the Node error; any status resolves. */
function once(req: HttpRequest, url: URL): Promise<IncomingMessage> {
  return new Promise((resolve, reject) => {
    const mod = url.protocol === 'https:' ? https : http;
    const r = mod.request(
      url,
      { method: req.method, headers: req.headers, agent: agentFor(url), signal: req.signal },
      resolve,
    );
    r.on('error', reject);
    if (req.body === undefined) r.end();
    else if (Buffer.isBuffer(req.body)) r.end(req.body);
    // a failing body stream fails the request (destroyed with its error), which rejects
    else pipeline(req.body, r, () => {});
  });
}

/**
 * Sends `req`, following up to 5 redirects (not for a streamed body: its response
 * is returned as it is); the Authorization header is dropped when a redirect
 * leaves the original host. Rejects with the Node error (ECONNRESET,
 * AbortError, …) for a failed exchange, INVALID_ARGUMENT for a bad URL or a
 * redirect to a non-HTTP scheme, UNAVAILABLE for a redirect loop.
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
    const res = await once({ ...req, headers }, url);
    const status = res.statusCode ?? 0;
    const replayable = req.body === undefined || Buffer.isBuffer(req.body);
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
