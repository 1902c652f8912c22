// The two Reply implementations: over a ServerResponse (an ordinary request) and
// over a bare socket (a request that asked for `Upgrade: tcp`, whose connection
// Node hands over before any answer). Both send the headers every berthd answer
// carries (Api-Version, Docker-Experimental, Ostype, Server).
import { STATUS_CODES, type IncomingMessage, type ServerResponse } from 'node:http';
import { Duplex } from 'node:stream';
import type { Socket } from 'node:net';
import type { BodyWriter, Reply } from './route-types.js';

/** How long the rest of a refused request's body is read and dropped before the connection closes. */
const LINGER_MS = 1_000;

/** The reason phrase of a status: Node's, and nginx's 499 (a client that closed the request), which Node lacks. */
function reason(status: number): string {
  return status === 499 ? 'Client Closed Request' : (STATUS_CODES[status] ?? '');
}

/** Headers on every answer. */
export function commonHeaders(apiVersion: string, serverVersion: string): Record<string, string> {
  return {
    'Api-Version': apiVersion,
    'Docker-Experimental': 'false',
    Ostype: 'linux',
    Server: `Docker/${serverVersion} (linux)`,
  };
}

function writerFor(
  stream: NodeJS.WritableStream & { writableEnded?: boolean; destroyed?: boolean },
  onEnd: () => void,
): BodyWriter {
  return {
    write(chunk) {
      return new Promise<void>((resolve, reject) => {
        if (stream.destroyed || stream.writableEnded) {
          reject(new Error('client connection closed'));
          return;
        }
        const ok = stream.write(chunk, (err) => (err ? reject(err) : undefined));
        if (ok) resolve();
        else {
          const done = (): void => {
            stream.removeListener('drain', done);
            stream.removeListener('close', done);
            if (stream.destroyed && !ok) reject(new Error('client connection closed'));
            else resolve();
          };
          stream.once('drain', done);
          stream.once('close', done);
        }
      });
    },
    end() {
      onEnd();
    },
  };
}

/**
 * Whether nothing of the request's body is left to read: it was read whole, or the request has none (no
 * Content-Length or 0, not chunked). An answer given at once, before the parser marked a bodiless request complete,
 * keeps its connection open for the next request.
 */
function bodyRead(req: IncomingMessage): boolean {
  if (req.complete) return true;
  const length = req.headers['content-length'];
  return req.headers['transfer-encoding'] === undefined && (length === undefined || Number(length) === 0);
}

/** A Reply over Node's ServerResponse. */
export class ResponseReply implements Reply {
  constructor(
    private readonly req: IncomingMessage,
    private readonly res: ServerResponse,
    private readonly headers: Record<string, string>,
  ) {}

  get started(): boolean {
    return this.res.headersSent;
  }

  json(status: number, body: unknown): void {
    this.send(status, 'application/json', `${JSON.stringify(body)}\n`);
  }

  send(status: number, contentType: string, body: string, headers: Record<string, string> = {}): void {
    const bytes = Buffer.from(body);
    this.res.writeHead(status, reason(status), {
      ...this.headers,
      ...headers,
      'Content-Type': contentType,
      'Content-Length': String(bytes.length),
      ...this.closing(),
    });
    this.finish(this.req.method === 'HEAD' ? undefined : bytes);
  }

  empty(status: number): void {
    this.res.writeHead(status, reason(status), { ...this.headers, ...this.closing() });
    this.finish();
  }

  /** `Connection: close` when the request's body was not read whole (refused before or part-way). */
  private closing(): Record<string, string> {
    return bodyRead(this.req) ? {} : { Connection: 'close' };
  }

  /**
   * Ends the answer. When the body was not read whole, the answer goes out at once
   * but the connection ends only after the rest of the body was read and dropped,
   * or after a short linger: a client still sending reads the answer instead of
   * meeting a closed socket, and none can hold the connection by sending forever.
   */
  private finish(bytes?: Buffer): void {
    if (bodyRead(this.req)) {
      this.res.end(bytes);
      return;
    }
    if (bytes !== undefined) this.res.write(bytes);
    else this.res.flushHeaders();
    const req = this.req;
    const done = (): void => {
      clearTimeout(timer);
      req.off('end', done).off('close', done).off('error', done);
      if (!this.res.writableEnded) this.res.end();
    };
    const timer = setTimeout(done, LINGER_MS);
    req.once('end', done).once('close', done).once('error', done);
    req.resume();
  }

  stream(contentType: string): BodyWriter {
    this.res.writeHead(200, { ...this.headers, 'Content-Type': contentType });
    this.res.flushHeaders();
    return writerFor(this.res, () => this.res.end());
  }

  hijack(contentType: string): Duplex {
    this.res.writeHead(200, { ...this.headers, 'Content-Type': contentType });
    this.res.flushHeaders();
    const res = this.res;
    const req = this.req;
    const duplex = new Duplex({
      read() {
        req.resume();
      },
      write(chunk: Buffer, _enc, cb) {
        if (res.destroyed) cb(new Error('client connection closed'));
        else res.write(chunk, cb);
      },
      final(cb) {
        res.end();
        cb();
      },
    });
    req.on('data', (c: Buffer) => {
      if (!duplex.push(c)) req.pause();
    });
    req.on('end', () => duplex.push(null));
    res.on('close', () => duplex.destroy());
    return duplex;
  }
}

/** A Reply over the raw socket of an upgrade request. `head` holds bytes read past the request head. */
export class SocketReply implements Reply {
  private sent = false;

  constructor(
    private readonly socket: Socket,
    private head: Buffer,
    private readonly headers: Record<string, string>,
  ) {}

  get started(): boolean {
    return this.sent;
  }

  /** Takes up to `n` bytes of the request body (upgrade requests carry it after the head). */
  async readBody(n: number): Promise<Buffer> {
    const parts: Buffer[] = [];
    let have = 0;
    const take = (b: Buffer): Buffer => {
      const need = n - have;
      if (b.length <= need) {
        parts.push(b);
        have += b.length;
        return Buffer.alloc(0);
      }
      parts.push(b.subarray(0, need));
      have = n;
      return b.subarray(need);
    };
    this.head = take(this.head);
    while (have < n) {
      const chunk = await new Promise<Buffer | null>((resolve) => {
        const onData = (c: Buffer): void => {
          cleanup();
          this.socket.pause();
          resolve(c);
        };
        const onEnd = (): void => {
          cleanup();
          resolve(null);
        };
        const cleanup = (): void => {
          this.socket.removeListener('data', onData);
          this.socket.removeListener('end', onEnd);
          this.socket.removeListener('close', onEnd);
        };
        this.socket.on('data', onData);
        this.socket.once('end', onEnd);
        this.socket.once('close', onEnd);
        this.socket.resume();
      });
      if (chunk === null) break;
      const rest = take(chunk);
      if (rest.length > 0) this.head = Buffer.concat([this.head, rest]);
    }
    return Buffer.concat(parts);
  }

  private statusLine(status: number, headers: Record<string, string>): string {
    let text = `HTTP/1.1 ${status} ${reason(status)}\r\n`;
    for (const [k, v] of Object.entries({ ...this.headers, ...headers })) text += `${k}: ${v}\r\n`;
    return `${text}\r\n`;
  }

  json(status: number, body: unknown): void {
    this.send(status, 'application/json', `${JSON.stringify(body)}\n`);
  }

  send(status: number, contentType: string, body: string, headers: Record<string, string> = {}): void {
    const bytes = Buffer.from(body);
    this.sent = true;
    const head = this.statusLine(status, {
      ...headers,
      'Content-Type': contentType,
      'Content-Length': String(bytes.length),
      Connection: 'close',
    });
    this.endWith(Buffer.concat([Buffer.from(head), bytes]));
  }

  empty(status: number): void {
    this.sent = true;
    this.endWith(this.statusLine(status, { 'Content-Length': '0', Connection: 'close' }));
  }

  /**
   * Sends the last bytes of an answer that is no hijack and closes the connection. An upgraded socket is paused, and
   * a paused socket sees neither the client's end nor its reset: a body the route did not read (a refusal) would keep
   * the connection open for nobody, and keep the daemon's shutdown waiting for it. So what the client still sends is
   * read and dropped until it ends, or for LINGER_MS at most.
   */
  private endWith(bytes: Buffer | string): void {
    const socket = this.socket;
    socket.end(bytes);
    const timer = setTimeout(() => socket.destroy(), LINGER_MS);
    socket.once('close', () => clearTimeout(timer));
    socket.resume();
  }

  stream(contentType: string): BodyWriter {
    this.sent = true;
    this.socket.write(this.statusLine(200, { 'Content-Type': contentType, Connection: 'close' }));
    // read (and drop) what the client sends, so that its hang-up is seen and ends the stream's job
    this.socket.resume();
    return writerFor(this.socket, () => this.socket.end());
  }

  hijack(contentType: string): Duplex {
    this.sent = true;
    this.socket.write(
      this.statusLine(101, { 'Content-Type': contentType, Connection: 'Upgrade', Upgrade: 'tcp' }).replace(
        /^HTTP\/1\.1 101 [^\r]*/,
        'HTTP/1.1 101 UPGRADED',
      ),
    );
    if (this.head.length > 0) this.socket.unshift(this.head);
    this.head = Buffer.alloc(0);
    this.socket.resume();
    return this.socket;
  }
}
