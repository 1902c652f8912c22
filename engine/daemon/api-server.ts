// berthd's HTTP server: one node:http server per listener, all sharing one router.
// It strips the API version prefix, gives every request a Context cancelled when
// the client hangs up (so its job stops) or the daemon shuts down, turns thrown
// errors into Docker's answers (http-status.ts), bounds header sizes, and hands
// upgrade requests (attach, exec start) to the same routes with a socket Reply.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { invalidArgument } from '../errdefs/errors.js';
import type { Engine } from '../jobs/engine.js';
import { withLogger, withSignal, type Context } from '../trace/context.js';
import { splitVersion, API_VERSION } from './api-version.js';
import { httpError } from './http-status.js';
import { commonHeaders, ResponseReply, SocketReply } from './reply.js';
import { MAX_JSON_BODY, parseJsonBody, readRawBody, type Shape } from './request-body.js';
import { parseTraceparent, TraceStore } from './request-trace.js';
import type { Reply, RouteRequest } from './route-types.js';
import type { Router } from './router.js';

/** Largest request head (request line + headers) accepted; a larger one gets 431. */
export const MAX_HEADER_BYTES = 16 * 1024;

export interface ApiServerOptions {
  /** The daemon's context: its logger, and a signal that fires at shutdown. */
  ctx: Context;
  engine: Engine;
  router: Router;
  serverVersion: string;
  traces: TraceStore;
}

/** Creates the server (not listening yet). */
export function createApiServer(options: ApiServerOptions): Server {
  const headers = commonHeaders(API_VERSION, options.serverVersion);
  const server = createServer({ maxHeaderSize: MAX_HEADER_BYTES, requestTimeout: 0, headersTimeout: 30_000, keepAliveTimeout: 5_000 });
  server.maxHeadersCount = 200;

  server.on('request', (req: IncomingMessage, res: ServerResponse) => {
    const controller = new AbortController();
    res.on('close', () => {
      if (!res.writableFinished) controller.abort(new Error('client disconnected'));
    });
    void handle(options, req, new ResponseReply(req, res, headers), controller, (limit, subject) => readRawBody(req, limit, subject));
  });

  server.on('upgrade', (req: IncomingMessage, socket: Socket, head: Buffer) => {
    const controller = new AbortController();
    socket.on('close', () => controller.abort(new Error('client disconnected')));
    socket.on('error', () => undefined);
    const reply = new SocketReply(socket, head, headers);
    void handle(options, req, reply, controller, async (limit, subject) => {
      const declared = Number(req.headers['content-length'] ?? '0');
      if (!Number.isSafeInteger(declared) || declared < 0) throw invalidArgument(`${subject}: invalid Content-Length`);
      if (declared > limit) return readRawBody(req, limit, subject); // throws the 413
      return reply.readBody(declared);
    });
  });

  server.on('clientError', (err: NodeJS.ErrnoException, socket: Socket) => {
    if (!socket.writable || (err.code === 'ECONNRESET' && !socket.readable)) {
      socket.destroy();
      return;
    }
    const status = err.code === 'HPE_HEADER_OVERFLOW' ? 431 : err.code === 'HPE_HEADERS_TIMEOUT' || err.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? 408 : 400;
    const message =
      status === 431
        ? `request header fields too large: the request head exceeds ${MAX_HEADER_BYTES} bytes`
        : status === 408
          ? 'request timeout: the request head did not arrive in time'
          : `bad request: ${err.message}`;
    const body = `${JSON.stringify({ message })}\n`;
    socket.end(`HTTP/1.1 ${status} ${status === 431 ? 'Request Header Fields Too Large' : status === 408 ? 'Request Timeout' : 'Bad Request'}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`);
  });
  return server;
}

type BodyReader = (limit: number, subject: string) => Promise<Buffer>;

async function handle(options: ApiServerOptions, req: IncomingMessage, reply: Reply, controller: AbortController, readBody: BodyReader): Promise<void> {
  const method = req.method ?? 'GET';
  const rawUrl = req.url ?? '/';
  const logger = options.ctx.logger.with({ method, url: rawUrl.length > 200 ? `${rawUrl.slice(0, 200)}…` : rawUrl });
  const ctx = withSignal(withLogger(options.ctx, logger), controller.signal);
  try {
    const url = new URL(rawUrl, 'http://berthd');
    const { version, path } = splitVersion(url.pathname);
    const match = options.router.match(method, path);
    const subject = `${method} ${path}`;
    await options.traces.run(ctx, parseTraceparent(req.headers.traceparent), subject, async (traced) => {
      const request: RouteRequest = {
        ctx: traced,
        engine: options.engine,
        req,
        method,
        path,
        version,
        params: match.params,
        query: url.searchParams,
        json: async <T>(shape: Shape, optional = false) => parseJsonBody<T>(await readBody(MAX_JSON_BODY, subject), shape, subject, optional),
      };
      await match.handler(request, reply);
    });
  } catch (err) {
    const { status, body } = httpError(err);
    if (status >= 500) logger.error('request failed', { status, error: body.message });
    else logger.debug('request refused', { status, error: body.message });
    if (!reply.started) {
      try {
        reply.json(status, body);
      } catch {
        // the client is gone; nothing to answer
      }
    }
  }
}
