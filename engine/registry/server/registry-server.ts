// berth's embedded registry: an OCI distribution spec v1.1 server (pull, push,
// content discovery, content management) on node:http, storing each repository as
// an OCI image layout under `root` (see repository-store.ts). Used by tests and
// benches as a local registry, and by the `berth-registry` command.
import { timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { background, withSignal } from '../../trace/context.js';
import type { Logger } from '../../trace/logger.js';
import { distributionError, toErrorResponse } from './distribution-errors.js';
import { sendJson, sendJsonAndClose } from './http-util.js';
import { parseListenAddress } from './listen-address.js';
import { RepositoryStore } from './repository-store.js';
import type { RegistrySettings, RouteContext } from './route-context.js';
import { route } from './router.js';
import { UploadStore } from './upload-store.js';

export type RegistryAction = 'pull' | 'push' | 'delete';

export interface RegistryServerOptions {
  /** Folder holding the repositories and upload sessions; created if missing. */
  root: string;
  /** `host:port` to listen on; 127.0.0.1:0 (a free port) by default. */
  addr?: string;
  /** Allows a non-loopback listen address; refused otherwise. */
  allowNonLoopback?: boolean;
  /** Every write (push, mount, delete) answers 405 UNSUPPORTED. */
  readOnly?: boolean;
  /** Deletes of manifests, tags and blobs; true by default, 405 UNSUPPORTED when false. */
  deleteEnabled?: boolean;
  /** Receives the access log (info) and server events. */
  logger?: Logger;
  /** When set, every request needs HTTP Basic credentials (401 UNAUTHORIZED otherwise). */
  credentials?: { username: string; password: string };
  /** Per-request access policy; false answers 403 DENIED. */
  authorize?: (request: { repository: string; action: RegistryAction; username: string | undefined }) => boolean;
  /** A token bucket over all requests; an empty bucket answers 429 TOOMANYREQUESTS. */
  rateLimit?: { requestsPerSecond: number; burst: number };
  /**
   * Upload sessions (abandoned uploads, failed mounts' sessions) to which nothing was
   * written for this long are removed, at start and then every `uploadPurgeIntervalMs`.
   * 168 h (a week) by default, the age distribution's upload purging uses.
   */
  uploadIdleMs?: number;
  /** How often idle sessions are looked for: the idle time, at least 1 s and at most 24 h, by default. */
  uploadPurgeIntervalMs?: number;
  /** Largest manifest accepted (413 above); 4 MiB by default, as the spec suggests. */
  maxManifestBytes?: number;
  /**
   * A connection on which no byte moves either way for this long is cut: 5 min by
   * default. A request as a whole has no time limit, so a long blob upload that keeps
   * sending is never cut; only a stalled one is.
   */
  idleTimeoutMs?: number;
  /** Time a client has to send a request's head (408 after); 60 s by default. */
  headersTimeoutMs?: number;
  /**
   * How long a kept-alive connection may wait for its next request before the server closes it; announced in
   * `Keep-Alive: timeout=…`. By default 120 s (or the idle timeout, when shorter): longer than the idle time clients
   * keep a connection for (Go's transport, which docker, containerd and skopeo use: 90 s; Node's global agent: 5 s),
   * so that a client reusing a connection does not meet the server closing it (a reset upload).
   */
  keepAliveTimeoutMs?: number;
}

/** Most header fields a request may carry; more get 431 (Node would drop the rest silently). */
export const MAX_HEADER_FIELDS = 200;

export interface RegistryServer {
  /** Base URL, e.g. `http://127.0.0.1:40123`. */
  readonly url: string;
  /** `host:port` as clients name the registry (`127.0.0.1:40123`, `[::1]:40123`). */
  readonly host: string;
  readonly port: number;
  /** Folder of one repository's OCI image layout (for tools that read layouts). */
  layoutDir(repository: string): string;
  /**
   * Stops accepting connections, lets requests in flight finish for up to
   * `graceMs` (5 s by default) and then cuts the rest. Idempotent.
   */
  close(graceMs?: number): Promise<void>;
}

/**
 * Starts a registry server on `options.addr`. Fails with PERMISSION_DENIED for a
 * non-loopback address without `allowNonLoopback`, or with the listen error.
 * Upload sessions left by an earlier run stay resumable unless idle for longer than
 * `uploadIdleMs`; tmp/ leftovers are removed. Cost at start, and per purge sweep:
 * one stat per session.
 */
export async function createRegistryServer(options: RegistryServerOptions): Promise<RegistryServer> {
  const listen = parseListenAddress(options.addr ?? '127.0.0.1:0', options.allowNonLoopback);
  const logger = (options.logger ?? background().logger).with({ module: 'registry' });
  const store = new RepositoryStore(options.root);
  await store.init();
  const uploads = new UploadStore(join(options.root, 'uploads'));
  const uploadIdleMs = options.uploadIdleMs ?? 168 * 3600_000;
  const purged = await uploads.purgeIdle(uploadIdleMs);
  if (purged > 0) logger.info('registry: removed idle upload sessions', { count: purged });
  const purgeTimer = startUploadPurge(
    uploads,
    uploadIdleMs,
    options.uploadPurgeIntervalMs ?? Math.min(24 * 3600_000, Math.max(1_000, uploadIdleMs)),
    logger,
  );
  const settings: RegistrySettings = {
    readOnly: options.readOnly ?? false,
    deleteEnabled: options.deleteEnabled ?? true,
    maxManifestBytes: options.maxManifestBytes ?? 4 * 1024 * 1024,
  };
  const limiter = options.rateLimit
    ? tokenBucket(options.rateLimit.requestsPerSecond, options.rateLimit.burst)
    : undefined;

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    res.setHeader('Docker-Distribution-API-Version', 'registry/2.0');
    const method = req.method ?? 'GET';
    if (req.rawHeaders.length / 2 > MAX_HEADER_FIELDS) {
      throw distributionError('UNSUPPORTED', `${method} request: more than ${MAX_HEADER_FIELDS} header fields`, {
        status: 431,
      });
    }
    const url = URL.canParse(req.url ?? '/', 'http://registry.invalid')
      ? new URL(req.url ?? '/', 'http://registry.invalid')
      : undefined;
    if (url === undefined)
      throw distributionError('UNSUPPORTED', `${method} ${JSON.stringify(req.url)}: malformed request target`, {
        status: 400,
      });
    if (limiter && !limiter())
      throw distributionError('TOOMANYREQUESTS', `${method} ${url.pathname}: too many requests`, {
        headers: { 'Retry-After': '1' },
      });
    const username = authenticate(req, options.credentials);
    const r = route(method, url.pathname);
    if (options.authorize && r.endpoint !== 'base') {
      const action: RegistryAction =
        method === 'GET' || method === 'HEAD'
          ? 'pull'
          : method === 'DELETE' && r.endpoint !== 'uploads'
            ? 'delete'
            : 'push';
      if (!options.authorize({ repository: r.name, action, username })) {
        throw distributionError('DENIED', `repository ${r.name}: ${action} access denied`, {
          detail: { repository: r.name, action },
        });
      }
    }
    if (r.handler === undefined) {
      sendJson(res, 200, {}, {}, method === 'HEAD');
      return;
    }
    const aborted = new AbortController();
    res.once('close', () => {
      if (!res.writableFinished) aborted.abort(new Error('client went away'));
    });
    const rc: RouteContext = {
      ctx: withSignal(background(logger), aborted.signal),
      req,
      res,
      url,
      name: r.name,
      param: r.param,
      store,
      uploads,
      settings,
    };
    await r.handler(rc);
  };

  const headersTimeout = options.headersTimeoutMs ?? 60_000;
  const idleTimeout = options.idleTimeoutMs ?? 300_000;
  const server: Server = createServer(
    {
      // No limit on a whole request (Node's default would cut any upload after 300 s);
      // stalled connections are cut by the idle timeout below instead.
      requestTimeout: 0,
      headersTimeout,
      // How often Node looks for heads that are late.
      connectionsCheckingInterval: Math.min(30_000, Math.max(100, Math.floor(headersTimeout / 4))),
    },
    (req, res) => {
      const started = process.hrtime.bigint();
      res.once('close', () => {
        // While closing, a keep-alive connection that just went idle is ended at once.
        if (closing !== undefined) setImmediate(() => server.closeIdleConnections());
        logger.info('registry request', {
          method: req.method,
          path: req.url,
          // 499 (nginx's "client closed request") when the client left before an answer.
          status: res.headersSent ? res.statusCode : 499,
          ms: Number(process.hrtime.bigint() - started) / 1e6,
          complete: res.writableFinished,
        });
      });
      handle(req, res).catch((err: unknown) => {
        if ((req.destroyed && !req.complete) || (res.destroyed && !res.writableFinished)) {
          logger.debug('registry request aborted by the client', { method: req.method, path: req.url });
          return;
        }
        const answer = toErrorResponse(err);
        if (answer.status >= 500)
          logger.error('registry request failed', {
            method: req.method,
            path: req.url,
            error: err instanceof Error ? err.message : String(err),
          });
        else
          logger.debug('registry request refused', {
            method: req.method,
            path: req.url,
            error: err instanceof Error ? err.message : String(err),
          });
        if (res.headersSent) {
          res.destroy();
          return;
        }
        // A body refused part-way (or before it was read) is answered at once, then the connection closes.
        if (!req.complete)
          sendJsonAndClose(req, res, answer.status, answer.body, answer.headers, req.method === 'HEAD');
        else sendJson(res, answer.status, answer.body, answer.headers, req.method === 'HEAD');
      });
    },
  );
  server.keepAliveTimeout = options.keepAliveTimeoutMs ?? Math.min(120_000, idleTimeout);
  // One more than the limit, so that a request over it can be told from one at it.
  server.maxHeadersCount = MAX_HEADER_FIELDS + 1;
  server.setTimeout(idleTimeout, (socket) => socket.destroy());
  server.on('clientError', (err: NodeJS.ErrnoException, socket) => {
    if (!socket.writable || err.code === 'ECONNRESET') {
      socket.destroy();
      return;
    }
    const [status, reason, message] =
      err.code === 'HPE_HEADER_OVERFLOW'
        ? [431, 'Request Header Fields Too Large', 'request head too large']
        : err.code === 'HPE_HEADERS_TIMEOUT' || err.code === 'ERR_HTTP_REQUEST_TIMEOUT'
          ? [408, 'Request Timeout', 'request head did not arrive in time']
          : [400, 'Bad Request', `malformed request: ${err.code ?? err.message}`];
    const body = JSON.stringify({ errors: [{ code: 'UNSUPPORTED', message }] });
    socket.end(
      `HTTP/1.1 ${status} ${reason}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
    );
  });
  let closing: Promise<void> | undefined;

  await new Promise<void>((resolve, reject) => {
    const failed = (err: Error) => {
      clearInterval(purgeTimer);
      reject(err);
    };
    server.once('error', failed);
    server.listen(listen.port, listen.host, () => {
      server.off('error', failed);
      resolve();
    });
  });
  const address = server.address() as AddressInfo;
  const hostText = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  const host = `${hostText}:${address.port}`;
  logger.info('registry listening', { addr: host, root: options.root, readOnly: settings.readOnly });

  return {
    url: `http://${host}`,
    host,
    port: address.port,
    layoutDir: (repository) => store.layoutDir(repository),
    close(graceMs = 5_000) {
      closing ??= new Promise<void>((resolve) => {
        clearInterval(purgeTimer);
        const timer = setTimeout(() => server.closeAllConnections(), graceMs);
        server.close(() => {
          clearTimeout(timer);
          logger.info('registry closed', { addr: host });
          resolve();
        });
        server.closeIdleConnections();
      });
      return closing;
    },
  };
}

/** The Basic-auth user name, or undefined when no credentials are configured. Throws 401 UNAUTHORIZED. */
function authenticate(req: IncomingMessage, credentials: RegistryServerOptions['credentials']): string | undefined {
  if (credentials === undefined) return undefined;
  const header = req.headers.authorization ?? '';
  const m = /^Basic\s+([A-Za-z0-9+/=]+)$/i.exec(header);
  if (m) {
    const decoded = Buffer.from(m[1] as string, 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    const user = decoded.slice(0, colon);
    const expected = Buffer.from(`${credentials.username}:${credentials.password}`);
    const given = Buffer.from(decoded);
    if (colon >= 0 && given.length === expected.length && timingSafeEqual(given, expected)) return user;
  }
  throw distributionError('UNAUTHORIZED', `${req.method} ${req.url}: authentication required`, {
    headers: { 'WWW-Authenticate': 'Basic realm="berth-registry"' },
  });
}

/**
 * Removes idle upload sessions every `intervalMs` (one sweep at a time; a failed
 * sweep is logged and the next one tried). The timer does not keep the process alive.
 */
function startUploadPurge(uploads: UploadStore, idleMs: number, intervalMs: number, logger: Logger): NodeJS.Timeout {
  let sweeping = false;
  const timer = setInterval(() => {
    if (sweeping) return;
    sweeping = true;
    uploads
      .purgeIdle(idleMs)
      .then(
        (count) => {
          if (count > 0) logger.info('registry: removed idle upload sessions', { count });
        },
        (err: unknown) =>
          logger.warn('registry: removing idle upload sessions failed', {
            error: err instanceof Error ? err.message : String(err),
          }),
      )
      .finally(() => {
        sweeping = false;
      });
  }, intervalMs);
  timer.unref();
  return timer;
}

/** A token bucket: returns false when a request finds it empty. */
function tokenBucket(perSecond: number, burst: number): () => boolean {
  let tokens = burst;
  let last = performance.now();
  return () => {
    const now = performance.now();
    tokens = Math.min(burst, tokens + ((now - last) / 1000) * perSecond);
    last = now;
    if (tokens < 1) return false;
    tokens -= 1;
    return true;
  };
}
