// berthd's HTTP server: one node:http server per listener, all sharing one router.
// It strips the API version prefix, gives every request a Context cancelled when
// the client hangs up (so its job stops) or the daemon shuts down, turns thrown
// errors into Docker's answers (http-status.ts), bounds header sizes, and hands
// upgrade requests (attach, exec start) to the same routes with a socket Reply.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { BerthError, invalidArgument } from '../errdefs/errors.js';
import type { Engine } from '../jobs/engine.js';
import { linkedContext, withLogger, type Context } from '../trace/context.js';
import { splitVersion, API_VERSION } from './api-version.js';
import { httpError } from './http-status.js';
import { commonHeaders, ResponseReply, SocketReply } from './reply.js';
import { MAX_JSON_BODY, parseJsonBody, readRawBody, reportBrokenBody, type Shape } from './request-body.js';
import { parseTraceparent, TraceStore } from './request-trace.js';
import type { BodyWriter, Reply, RouteRequest } from './route-types.js';
import type { Router } from './router.js';

/** Largest request head (request line + headers) accepted; a larger one gets 431. */
export const MAX_HEADER_BYTES = 16 * 1024;

/** Most header fields a request may carry; more get 431 (Node would otherwise drop the rest silently). */
export const MAX_HEADER_FIELDS = 200;

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
  const server = createServer({
    maxHeaderSize: MAX_HEADER_BYTES,
    requestTimeout: 0,
    headersTimeout: 30_000,
    keepAliveTimeout: 5_000,
  });
  // One more than the limit, so that a request over it is told from one at it (and refused, not cut short).
  server.maxHeadersCount = MAX_HEADER_FIELDS + 1;

  server.on('request', (req: IncomingMessage, res: ServerResponse) => {
    const controller = new AbortController();
    const hungUp = (): void => {
      if (!res.writableFinished) controller.abort(new Error('client disconnected'));
    };
    res.on('close', hungUp);
    // With half-open connections allowed (below), a client's end of the connection
    // (FIN: what an aborted request sends) no longer closes the socket, and a
    // response that has written nothing yet never sees 'close': its job (a stalled
    // push, a wait) would run on for nobody. As Go's server does, the end of the
    // connection's input cancels the request; an answer ready by then is still sent.
    const socket = req.socket;
    if (socket.readableEnded) hungUp();
    else {
      socket.once('end', hungUp);
      res.once('close', () => socket.off('end', hungUp));
    }
    void handle(options, req, new ResponseReply(req, res, headers), controller, (limit, subject) =>
      readRawBody(req, limit, subject),
    );
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

  // CONNECT is no method of the API: it goes through the router like any request
  // (and is refused there) instead of Node dropping the connection unanswered.
  server.on('connect', (req: IncomingMessage, socket: Socket, head: Buffer) => {
    socket.on('error', () => undefined);
    void handle(options, req, new SocketReply(socket, head, headers), new AbortController(), (limit, subject) =>
      readRawBody(req, limit, subject),
    );
  });

  // A client that half-closes after its request still gets the answer (Node would
  // drop the request unanswered), as Go's server does for docker's clients.
  (server as Server & { httpAllowHalfOpen: boolean }).httpAllowHalfOpen = true;

  // Node reports a broken request once per chunk that follows it: one answer only.
  const answered = new WeakSet<Socket>();
  server.on('clientError', (err: NodeJS.ErrnoException, socket: Socket) => {
    if (answered.has(socket)) return;
    answered.add(socket);
    if (!socket.writable || (err.code === 'ECONNRESET' && !socket.readable)) {
      socket.destroy();
      return;
    }
    // The request was answered already and its body turned out broken (a chunk
    // that does not parse, an end before the declared length): that answer stands.
    const inFlight = (socket as Socket & { _httpMessage?: (ServerResponse & { req?: IncomingMessage }) | null })
      ._httpMessage;
    if (inFlight?.headersSent) {
      if (!inFlight.writableEnded) inFlight.end();
      lingerThenClose(socket);
      return;
    }
    // A request being handled whose body broke: its body ends here, incomplete, and
    // the route's own answer (a 400 from the body reader, or whatever it answers
    // without reading the body) is the only one on the connection.
    if (inFlight?.req !== undefined) {
      reportBrokenBody(inFlight.req, err);
      return;
    }
    const status =
      err.code === 'HPE_HEADER_OVERFLOW'
        ? 431
        : err.code === 'HPE_HEADERS_TIMEOUT' || err.code === 'ERR_HTTP_REQUEST_TIMEOUT'
          ? 408
          : 400;
    const message =
      status === 431
        ? `request header fields too large: the request head exceeds ${MAX_HEADER_BYTES} bytes`
        : status === 408
          ? 'request timeout: the request head did not arrive in time'
          : `bad request: ${err.message}`;
    const body = `${JSON.stringify({ message })}\n`;
    socket.write(
      `HTTP/1.1 ${status} ${status === 431 ? 'Request Header Fields Too Large' : status === 408 ? 'Request Timeout' : 'Bad Request'}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
    );
    lingerThenClose(socket);
  });
  return server;
}

/** How long what a client still sends after a refusal is read and dropped before its connection closes. */
const LINGER_MS = 1_000;

/**
 * Ends a connection whose request was refused: what the client still sends is read
 * and dropped until it stops or LINGER_MS pass, so a client still writing reads the
 * answer instead of meeting a closed socket.
 */
function lingerThenClose(socket: Socket): void {
  const close = (): void => {
    clearTimeout(timer);
    socket.end();
    setTimeout(() => socket.destroy(), LINGER_MS).unref();
  };
  const timer = setTimeout(close, LINGER_MS);
  socket.once('end', close);
  socket.once('close', () => clearTimeout(timer));
  socket.resume();
}

/** nginx's status for a request whose client closed the connection before the answer. */
export const CLIENT_CLOSED_REQUEST = 499;

function isCancellation(err: unknown): boolean {
  if (err instanceof BerthError) return err.code === 'CANCELLED';
  return err instanceof Error && err.name === 'AbortError';
}

type BodyReader = (limit: number, subject: string) => Promise<Buffer>;

/**
 * The reply to a HEAD request (which the router answers with the GET route): a streamed answer (events, logs with
 * follow) is its head alone, ended at once, and the request's job is stopped — nobody reads what it would stream, and
 * the client waiting for the end of a HEAD answer would wait forever.
 */
function headOnly(reply: Reply, controller: AbortController): Reply {
  return {
    get started() {
      return reply.started;
    },
    json: (status, body) => reply.json(status, body),
    send: (status, contentType, body, headers) => reply.send(status, contentType, body, headers),
    empty: (status) => reply.empty(status),
    hijack: (contentType) => reply.hijack(contentType),
    stream(contentType): BodyWriter {
      reply.stream(contentType).end();
      controller.abort(new BerthError('CANCELLED', 'HEAD: the answer is its head alone'));
      return { write: async () => undefined, end: () => undefined };
    },
  };
}

async function handle(
  options: ApiServerOptions,
  req: IncomingMessage,
  anyReply: Reply,
  controller: AbortController,
  readBody: BodyReader,
): Promise<void> {
  const method = req.method ?? 'GET';
  const reply = method === 'HEAD' ? headOnly(anyReply, controller) : anyReply;
  const rawUrl = req.url ?? '/';
  const logger = options.ctx.logger.with({ method, url: rawUrl.length > 200 ? `${rawUrl.slice(0, 200)}…` : rawUrl });
  // linked, not withSignal: AbortSignal.any would leave an entry per request on the daemon's signal (Node 20)
  const { ctx, unlink } = linkedContext(withLogger(options.ctx, logger), controller);
  try {
    if (req.rawHeaders.length / 2 > MAX_HEADER_FIELDS) {
      throw new BerthError(
        'INVALID_ARGUMENT',
        `request header fields too large: more than ${MAX_HEADER_FIELDS} header fields`,
        { details: { httpStatus: 431 } },
      );
    }
    // Only the origin form (a path) names a route; `//x` must stay a path, not a host.
    if (!rawUrl.startsWith('/'))
      throw invalidArgument(
        `${method} ${rawUrl.length > 200 ? `${rawUrl.slice(0, 200)}…` : rawUrl}: malformed request target, expected a path`,
      );
    const url = new URL(`http://berthd${rawUrl}`);
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
        json: async <T>(shape: Shape, optional = false) =>
          parseJsonBody<T>(await readBody(MAX_JSON_BODY, subject), shape, subject, optional),
      };
      await match.handler(request, reply);
    });
  } catch (err) {
    const answer = httpError(err);
    // A job cancelled because its client hung up (a half-closed client still reads
    // this) is no daemon failure: nginx's 499 Client Closed Request, not a 500.
    const clientGone = controller.signal.aborted && !options.ctx.signal.aborted && isCancellation(err);
    const { status, body } = clientGone ? { status: CLIENT_CLOSED_REQUEST, body: answer.body } : answer;
    if (status >= 500) logger.error('request failed', { status, error: body.message });
    else logger.debug('request refused', { status, error: body.message });
    if (!reply.started) {
      try {
        reply.json(status, body);
      } catch {
        // the client is gone; nothing to answer
      }
    }
  } finally {
    unlink();
  }
}
