// A small HTTP/1.1 client over node:net for the API client: one connection per request
// (`Connection: close`, except an upgrade) or, with an Http1Pool, connections kept for the
// next request once an answer framed by its length or chunks has been read; answers framed
// by Content-Length, chunked transfer coding or the connection's end, and `101` upgrades
// handed over with the socket.
// It replaces node:http in the `berth` command: loading node:http and its agent, parser and
// first request cost ≈ 10 ms of CPU per command here (README "Start-up of the commands").
import { connect, type Socket } from 'node:net';
import { Readable } from 'node:stream';

export interface Http1Request {
  target: { socketPath: string } | { host: string; port: number };
  method: string;
  /** The request target: path and query. */
  path: string;
  headers: Record<string, string>;
  body?: Buffer;
  signal?: AbortSignal;
  /** Keeps the connection for a later request of this pool (not for an upgrade); without it, `Connection: close`. */
  pool?: Http1Pool;
}

/**
 * Idle connections to one target, kept by http1Request for the next request: a connection, a
 * new process and its parser on the daemon's side saved per request. An idle connection does not
 * keep the process alive, is closed after `idleMs` (shorter than the daemon's keep-alive timeout,
 * so the daemon never closes one as a request goes out on it) and is dropped when the daemon
 * closes it or sends anything unasked.
 */
export class Http1Pool {
  private readonly idle = new Map<Socket, () => void>();

  constructor(
    private readonly maxIdle = 4,
    private readonly idleMs = 2000,
  ) {}

  /** An idle connection, now the caller's (listeners removed, referenced), or undefined. */
  take(): Socket | undefined {
    for (const [socket, release] of this.idle) {
      release();
      if (!socket.destroyed && socket.writable && socket.readable) {
        socket.ref();
        return socket;
      }
      socket.destroy();
    }
    return undefined;
  }

  /** Keeps a connection whose last answer was read to its end (no listener of the caller's left on it). */
  put(socket: Socket): void {
    if (this.idle.size >= this.maxIdle || socket.destroyed) {
      socket.destroy();
      return;
    }
    const drop = (): void => {
      release();
      socket.destroy();
    };
    const timer = setTimeout(drop, this.idleMs);
    timer.unref();
    const release = (): void => {
      clearTimeout(timer);
      socket.removeListener('data', drop);
      socket.removeListener('end', drop);
      socket.removeListener('error', drop);
      socket.removeListener('close', drop);
      this.idle.delete(socket);
    };
    socket.on('data', drop);
    socket.on('end', drop);
    socket.on('error', drop);
    socket.on('close', drop);
    socket.resume();
    socket.unref();
    this.idle.set(socket, release);
  }

  /** How many connections are idle here (for tests). */
  get size(): number {
    return this.idle.size;
  }

  /** Closes every idle connection. */
  close(): void {
    for (const socket of [...this.idle.keys()]) {
      this.idle.get(socket)?.();
      socket.destroy();
    }
  }
}

/** An answer's head with its body as a stream (of Buffers). Header names are lower case; repeats joined by `, `. */
export class Http1Response extends Readable {
  constructor(
    readonly statusCode: number,
    readonly statusMessage: string,
    readonly headers: Record<string, string>,
    private readonly resumeSource: () => void,
    private readonly closeSource: () => void,
  ) {
    super();
  }

  override _read(): void {
    this.resumeSource();
  }

  /** A body dropped before its end (a consumer's destroy(), a `break` out of `for await`) closes the connection. */
  override _destroy(err: Error | null, callback: (err?: Error | null) => void): void {
    this.closeSource();
    callback(err);
  }
}

/** An answer, or (a 101 to an upgrade request) the socket and the bytes read past the head. */
export type Http1Result =
  | { kind: 'response'; response: Http1Response }
  | { kind: 'upgrade'; response: Http1Response; socket: Socket; head: Buffer };

function abortError(signal: AbortSignal): Error {
  const err = new Error('The operation was aborted', { cause: signal.reason });
  err.name = 'AbortError';
  return err;
}

function parseHead(text: string): { status: number; message: string; headers: Record<string, string> } {
  const lines = text.split('\r\n');
  const m = /^HTTP\/1\.[01] (\d{3})(?: (.*))?$/.exec(lines[0] as string);
  if (m === null) throw new Error(`malformed HTTP status line ${JSON.stringify((lines[0] as string).slice(0, 80))}`);
  const headers: Record<string, string> = {};
  for (let i = 1; i < lines.length; i++) {
    const line = lines[i] as string;
    const colon = line.indexOf(':');
    if (colon <= 0) throw new Error(`malformed HTTP header line ${JSON.stringify(line.slice(0, 80))}`);
    const name = line.slice(0, colon).trim().toLowerCase();
    const value = line.slice(colon + 1).trim();
    headers[name] = headers[name] === undefined ? value : `${headers[name]}, ${value}`;
  }
  return { status: Number(m[1]), message: m[2] ?? '', headers };
}

/** Decodes the chunked transfer coding; push() returns the body bytes of `data` and whether the last chunk came. */
class ChunkedDecoder {
  private pending: Buffer = Buffer.alloc(0);
  /** Body bytes left of the current chunk; -1 while a size line is awaited; -2 once the last chunk's trailer ended. */
  private left = -1;
  /** Bytes of CRLF to skip after a chunk's data. */
  private crlf = 0;

  push(data: Buffer): { body: Buffer[]; done: boolean; extra: number } {
    let buf = this.pending.length > 0 ? Buffer.concat([this.pending, data]) : data;
    this.pending = Buffer.alloc(0);
    const body: Buffer[] = [];
    for (;;) {
      if (this.crlf > 0) {
        const n = Math.min(this.crlf, buf.length);
        buf = buf.subarray(n);
        this.crlf -= n;
        if (this.crlf > 0) break;
      }
      if (this.left > 0) {
        if (buf.length === 0) break;
        const n = Math.min(this.left, buf.length);
        body.push(buf.subarray(0, n));
        buf = buf.subarray(n);
        this.left -= n;
        if (this.left === 0) {
          this.left = -1;
          this.crlf = 2;
        }
        continue;
      }
      const nl = buf.indexOf('\r\n');
      if (nl < 0) {
        this.pending = buf;
        break;
      }
      const line = buf.subarray(0, nl).toString('latin1');
      buf = buf.subarray(nl + 2);
      if (this.left === -3) {
        // the last chunk's trailer: header lines up to an empty one
        if (line === '') {
          this.left = -2;
          return { body, done: true, extra: buf.length };
        }
        continue;
      }
      const size = parseInt(line, 16);
      if (!/^[0-9a-fA-F]+/.test(line) || !Number.isSafeInteger(size))
        throw new Error(`malformed chunk size line ${JSON.stringify(line.slice(0, 40))}`);
      if (size === 0) this.left = -3;
      else this.left = size;
    }
    return { body, done: false, extra: 0 };
  }
}

/** Methods sent again on a new connection when a kept one closed before any byte of the answer (as Go's client does) */
const IDEMPOTENT = new Set(['GET', 'HEAD', 'OPTIONS']);

/**
 * Sends one request on a new connection, or on one of `req.pool`'s. Resolves once the answer's head arrived (the
 * body streams after); rejects when the connection fails or closes before a complete head (a kept connection that
 * closed before any byte of the answer: a GET or HEAD goes again on a new one). An aborted `signal` destroys the
 * connection with an AbortError (the request's or, later, the body's).
 */
export async function http1Request(req: Http1Request): Promise<Http1Result> {
  const upgrade = /upgrade/i.test(req.headers.Connection ?? req.headers.connection ?? '');
  const kept = upgrade ? undefined : req.pool?.take();
  if (kept === undefined) return send(req, upgrade, undefined);
  try {
    return await send(req, upgrade, kept);
  } catch (err) {
    if (!(err instanceof StaleConnection)) throw err;
    if (!IDEMPOTENT.has(req.method)) throw err.cause;
    return send(req, upgrade, undefined);
  }
}

/** A kept connection that ended before any byte of the answer came (the error is the cause). */
class StaleConnection extends Error {}

function send(req: Http1Request, upgrade: boolean, kept: Socket | undefined): Promise<Http1Result> {
  return new Promise<Http1Result>((resolve, reject) => {
    if (req.signal?.aborted === true) {
      reject(abortError(req.signal));
      return;
    }
    let head = `${req.method} ${req.path} HTTP/1.1\r\nHost: ${'host' in req.target ? `${req.target.host}:${req.target.port}` : 'localhost'}\r\n`;
    const headers: Record<string, string> = { ...req.headers };
    if (!upgrade && req.pool === undefined) headers.Connection = 'close';
    if (req.body !== undefined || !['GET', 'HEAD', 'DELETE'].includes(req.method))
      headers['Content-Length'] = String(req.body?.length ?? 0);
    for (const [k, v] of Object.entries(headers)) {
      if (/[\r\n]/.test(k) || /[\r\n]/.test(v)) {
        reject(new Error(`HTTP header ${k}: line breaks are not allowed`));
        return;
      }
      head += `${k}: ${v}\r\n`;
    }
    head += '\r\n';
    const socket =
      kept ?? ('socketPath' in req.target ? connect(req.target.socketPath) : connect(req.target.port, req.target.host));
    socket.write(req.body === undefined ? head : Buffer.concat([Buffer.from(head, 'latin1'), req.body]));

    let response: Http1Response | undefined;
    let received: Buffer = Buffer.alloc(0);
    /** Body bytes left by Content-Length; undefined: chunked or to the end. */
    let length: number | undefined;
    let chunked: ChunkedDecoder | undefined;
    let finished = false;
    /** Whether any byte of the answer came (a kept connection closed before one is stale, not a failed request). */
    let heard = false;
    /** Whether the connection may carry another request once this answer ended: the daemon did not ask to close it. */
    let keepable = false;

    const onAbort = (): void => {
      socket.destroy(abortError(req.signal as AbortSignal));
    };
    req.signal?.addEventListener('abort', onAbort, { once: true });
    const cleanup = (): void => {
      req.signal?.removeEventListener('abort', onAbort);
      socket.removeListener('data', onData);
      socket.removeListener('end', onEnd);
      socket.removeListener('error', onError);
      socket.removeListener('close', onClose);
    };
    /** The answer's body ended: at its length or last chunk (`extra` bytes past it) or at the connection's end. */
    const finish = (extra = 0, framed = false): void => {
      finished = true;
      cleanup();
      if (req.pool !== undefined && keepable && framed && extra === 0) req.pool.put(socket);
      else socket.destroy();
      response?.push(null);
    };
    const deliver = (data: Buffer): void => {
      const res = response as Http1Response;
      if (chunked !== undefined) {
        const { body, done, extra } = chunked.push(data);
        for (const b of body) if (!res.push(b)) socket.pause();
        if (done) finish(extra, true);
        return;
      }
      if (length !== undefined) {
        const part = data.length > length ? data.subarray(0, length) : data;
        length -= part.length;
        if (part.length > 0 && !res.push(part)) socket.pause();
        if (length === 0) finish(data.length - part.length, true);
        return;
      }
      if (data.length > 0 && !res.push(data)) socket.pause();
    };
    const onData = (data: Buffer): void => {
      heard = true;
      if (response !== undefined) {
        try {
          deliver(data);
        } catch (err) {
          socket.destroy(err as Error);
        }
        return;
      }
      received = received.length === 0 ? data : Buffer.concat([received, data]);
      const end = received.indexOf('\r\n\r\n');
      if (end < 0) {
        if (received.length > 64 * 1024) socket.destroy(new Error('HTTP answer head over 64 KiB'));
        return;
      }
      let parsed;
      try {
        parsed = parseHead(received.subarray(0, end).toString('latin1'));
      } catch (err) {
        socket.destroy(err as Error);
        return;
      }
      const rest = received.subarray(end + 4);
      received = Buffer.alloc(0);
      if (parsed.status >= 100 && parsed.status < 200 && parsed.status !== 101) {
        // an interim answer (100 Continue): the real one follows
        if (rest.length > 0) onData(rest);
        return;
      }
      response = new Http1Response(
        parsed.status,
        parsed.message,
        parsed.headers,
        () => {
          if (!finished) socket.resume();
        },
        () => {
          if (finished) return;
          finished = true;
          cleanup();
          socket.destroy();
        },
      );
      if (parsed.status === 101 && upgrade) {
        // the socket is the caller's from here
        finished = true;
        cleanup();
        socket.pause();
        response.push(null);
        resolve({ kind: 'upgrade', response, socket, head: rest });
        return;
      }
      keepable = !/(^|,)\s*close\s*(,|$)/i.test(parsed.headers.connection ?? '');
      resolve({ kind: 'response', response });
      const te = parsed.headers['transfer-encoding'];
      const cl = parsed.headers['content-length'];
      if (req.method === 'HEAD' || parsed.status === 204 || parsed.status === 304) length = 0;
      else if (te !== undefined && /chunked/i.test(te)) chunked = new ChunkedDecoder();
      else if (cl !== undefined) {
        length = Number(cl);
        if (!Number.isSafeInteger(length) || length < 0) {
          socket.destroy(new Error(`malformed Content-Length ${JSON.stringify(cl)}`));
          return;
        }
      }
      if (length === 0) finish(rest.length, true);
      else if (rest.length > 0) onData(rest);
    };
    const onEnd = (): void => {
      // the body ran to the connection's end: complete unless a length or the last chunk was still due
      if (response !== undefined && length === undefined && chunked === undefined) finish();
    };
    const onError = (err: Error): void => {
      if (finished) return;
      finished = true;
      cleanup();
      if (response === undefined)
        reject(kept !== undefined && !heard ? new StaleConnection(err.message, { cause: err }) : err);
      else response.destroy(err);
    };
    const onClose = (): void => {
      if (finished) return;
      const err = new Error(response === undefined ? 'socket hang up' : 'aborted: the connection closed mid-answer');
      (err as NodeJS.ErrnoException).code = 'ECONNRESET';
      onError(err);
    };
    socket.on('data', onData);
    socket.on('end', onEnd);
    socket.on('error', onError);
    socket.on('close', onClose);
  });
}
