// The client's HTTP/1.1 over node:net against a raw server that answers with the framings
// it must read: Content-Length, chunked (split anywhere, with a trailer), to the end, 101.
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Http1Pool, http1Request, type Http1Result } from './http1.js';

let dir: string;
let server: Server;
let socketPath: string;
/** What the server writes for the next request (each string one write), given the request head it read. */
let answer: (head: string, socket: Socket) => void;
const open = new Set<Socket>();

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'berth-http1-'));
  socketPath = join(dir, 's.sock');
  server = createServer((socket) => {
    open.add(socket);
    socket.on('close', () => open.delete(socket));
    let got = '';
    const onData = (d: Buffer): void => {
      got += d.toString('latin1');
      const end = got.indexOf('\r\n\r\n');
      if (end < 0) return;
      socket.removeListener('data', onData);
      answer(got, socket);
    };
    socket.on('data', onData);
    socket.on('error', () => undefined);
  });
  await new Promise<void>((resolve) => server.listen(socketPath, resolve));
});

afterAll(async () => {
  for (const s of open) s.destroy();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  rmSync(dir, { recursive: true, force: true });
});

/** Writes the parts one by one, each on its own turn of the event loop (so the client reads them apart). */
function writeParts(socket: Socket, parts: string[], end = true): void {
  const next = (i: number): void => {
    if (i === parts.length) {
      if (end) socket.end();
      return;
    }
    socket.write(parts[i] as string, () => setImmediate(() => next(i + 1)));
  };
  next(0);
}

async function body(result: Http1Result): Promise<string> {
  let s = '';
  for await (const c of result.response) s += (c as Buffer).toString('latin1');
  return s;
}

const req = (extra: Partial<Parameters<typeof http1Request>[0]> = {}) =>
  http1Request({ target: { socketPath }, method: 'GET', path: '/x?a=1', headers: {}, ...extra });

describe('http1Request', () => {
  it('sends the method, target, Host, Connection: close, a body with its length; reads a Content-Length body', async () => {
    let head = '';
    answer = (h, socket) => {
      head = h;
      // the body ends at its length although the connection stays open
      writeParts(
        socket,
        ['HTTP/1.1 201 Created\r\nContent-Type: application/json\r\nContent-Length: 8\r\n\r\n{"a"', ':1}\n'],
        false,
      );
    };
    const r = await req({
      method: 'POST',
      body: Buffer.from('{"x":1}'),
      headers: { 'Content-Type': 'application/json' },
    });
    expect(r.kind).toBe('response');
    expect(r.response.statusCode).toBe(201);
    expect(r.response.headers['content-type']).toBe('application/json');
    expect(await body(r)).toBe('{"a":1}\n');
    expect(head).toMatch(/^POST \/x\?a=1 HTTP\/1\.1\r\nHost: localhost\r\n/);
    expect(head).toContain('\r\nConnection: close\r\n');
    expect(head).toContain('\r\nContent-Length: 7\r\n');
  });

  it('decodes chunked bodies split at any byte, with extensions and a trailer', async () => {
    const wire =
      'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5;x=y\r\nhello\r\n7\r\n, world\r\n0\r\nX-T: 1\r\n\r\n';
    for (const cut of [1, 2, 3, 7, 13]) {
      const parts: string[] = [];
      for (let i = 0; i < wire.length; i += cut) parts.push(wire.slice(i, i + cut));
      answer = (_h, socket) => writeParts(socket, parts, false);
      expect(await body(await req())).toBe('hello, world');
    }
  });

  it('reads a body without length to the connection end; no body for HEAD, 204 and 304', async () => {
    answer = (_h, socket) => writeParts(socket, ['HTTP/1.1 200 OK\r\nX-A: 1\r\nX-A: 2\r\n\r\nsome', ' more']);
    const r = await req();
    expect(r.response.headers['x-a']).toBe('1, 2');
    expect(await body(r)).toBe('some more');
    for (const [method, status] of [
      ['HEAD', 200],
      ['GET', 204],
      ['GET', 304],
    ] as const) {
      answer = (_h, socket) => writeParts(socket, [`HTTP/1.1 ${status} X\r\nContent-Length: 5\r\n\r\n`], false);
      const res = await req({ method });
      expect(res.response.statusCode).toBe(status);
      expect(await body(res)).toBe('');
    }
  });

  it('hands over the socket and the bytes past the head on a 101 to an upgrade request', async () => {
    let head = '';
    answer = (h, socket) => {
      head = h;
      socket.write('HTTP/1.1 101 UPGRADED\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n\r\nearly');
      socket.on('data', (d) => socket.end(`echo:${d.toString()}`));
    };
    const r = await req({ method: 'POST', headers: { Connection: 'Upgrade', Upgrade: 'tcp' } });
    if (r.kind !== 'upgrade') throw new Error('expected an upgrade');
    expect(head).not.toContain('Connection: close');
    expect(head).toContain('\r\nContent-Length: 0\r\n');
    r.socket.write('ping');
    let rest = '';
    for await (const c of r.socket) rest += (c as Buffer).toString();
    expect(r.head.toString() + rest).toBe('earlyecho:ping');
  });

  it('fails a body cut short, a connection closed before the head, a malformed head, and on abort', async () => {
    answer = (_h, socket) => writeParts(socket, ['HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc']);
    await expect(body(await req())).rejects.toThrow(/closed mid-answer/);
    answer = (_h, socket) => writeParts(socket, ['HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nab']);
    await expect(body(await req())).rejects.toThrow(/closed mid-answer/);
    answer = (_h, socket) => socket.end();
    await expect(req()).rejects.toMatchObject({ code: 'ECONNRESET' });
    answer = (_h, socket) => writeParts(socket, ['SMTP ready\r\n\r\n']);
    await expect(req()).rejects.toThrow(/malformed HTTP status line/);
    const ac = new AbortController();
    answer = (_h, socket) => {
      socket.write('HTTP/1.1 200 OK\r\n\r\nstreaming');
      ac.abort();
    };
    const r = await req({ signal: ac.signal }).catch((err: Error) => err);
    const err = r instanceof Error ? r : await body(r).catch((e: Error) => e);
    expect(err).toMatchObject({ name: 'AbortError' });
    await expect(req({ headers: { 'X-Bad': 'a\r\nb' } })).rejects.toThrow(/line breaks/);
  });

  it('closes the connection when the body is dropped before its end', async () => {
    let closed: Promise<void> | undefined;
    answer = (_h, socket) => {
      closed = new Promise((resolve) => socket.once('close', () => resolve()));
      socket.write('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n');
    };
    const r = await req();
    for await (const c of r.response) {
      expect((c as Buffer).toString()).toBe('abc');
      break;
    }
    await closed;
  });

  it('fails to connect naming the socket', async () => {
    await expect(
      http1Request({ target: { socketPath: join(dir, 'none.sock') }, method: 'GET', path: '/', headers: {} }),
    ).rejects.toMatchObject({ code: 'ENOENT' });
  });
});

describe('http1Request with a pool', () => {
  let kdir: string;
  let kserver: Server;
  let kpath: string;
  /** Connections the server accepted, and the request heads each carried. */
  let conns: { socket: Socket; heads: string[] }[] = [];
  /** How the server answers the n-th request (0-based) of a connection; undefined: closes it unanswered. */
  let reply: (head: string, n: number) => string | undefined;

  beforeAll(async () => {
    kdir = mkdtempSync(join(tmpdir(), 'berth-http1-pool-'));
    kpath = join(kdir, 's.sock');
    kserver = createServer((socket) => {
      const conn = { socket, heads: [] as string[] };
      conns.push(conn);
      let got = '';
      socket.on('data', (d: Buffer) => {
        got += d.toString('latin1');
        for (let end = got.indexOf('\r\n\r\n'); end >= 0; end = got.indexOf('\r\n\r\n')) {
          const head = got.slice(0, end);
          const length = Number(/\r\ncontent-length: (\d+)/i.exec(head)?.[1] ?? 0);
          if (got.length < end + 4 + length) return;
          got = got.slice(end + 4 + length);
          const text = reply(head, conn.heads.length);
          conn.heads.push(head);
          if (text === undefined) socket.destroy();
          else socket.write(text);
        }
      });
      socket.on('error', () => undefined);
    });
    await new Promise<void>((resolve) => kserver.listen(kpath, resolve));
  });

  afterAll(async () => {
    for (const c of conns) c.socket.destroy();
    await new Promise<void>((resolve) => kserver.close(() => resolve()));
    rmSync(kdir, { recursive: true, force: true });
  });

  const send = (pool: Http1Pool, method = 'GET', body?: Buffer) =>
    http1Request({ target: { socketPath: kpath }, method, path: '/k', headers: {}, body, pool });

  it('sends the next requests on the connection an answer framed by length or chunks left', async () => {
    conns = [];
    reply = (_h, n) =>
      n % 2 === 0
        ? 'HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi'
        : 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nyo\r\n0\r\n\r\n';
    const pool = new Http1Pool();
    try {
      expect(await body(await send(pool))).toBe('hi');
      expect(await body(await send(pool, 'POST', Buffer.from('{}')))).toBe('yo');
      expect(await body(await send(pool, 'DELETE'))).toBe('hi');
      expect(conns).toHaveLength(1);
      expect(conns[0]!.heads).toHaveLength(3);
      for (const h of conns[0]!.heads) expect(h).not.toMatch(/connection: close/i);
      expect(pool.size).toBe(1);
    } finally {
      pool.close();
    }
  });

  it('keeps no connection the answer asked to close, nor one whose body ran to its end', async () => {
    conns = [];
    reply = () =>
      conns.length === 1
        ? 'HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 1\r\n\r\na'
        : 'HTTP/1.1 200 OK\r\n\r\nb';
    const pool = new Http1Pool();
    try {
      expect(await body(await send(pool))).toBe('a');
      expect(pool.size).toBe(0);
      const r = await send(pool);
      conns[1]!.socket.end(); // the body without a length ends with the connection
      expect(await body(r)).toBe('b');
      expect(pool.size).toBe(0);
      expect(conns).toHaveLength(2);
    } finally {
      pool.close();
    }
  });

  it('sends a GET again on a new connection when a kept one closes unanswered; a POST fails', async () => {
    conns = [];
    // each connection answers its first request and closes at its second, as a daemon going away would
    reply = (_h, n) => (n === 0 ? 'HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok' : undefined);
    const pool = new Http1Pool();
    try {
      expect(await body(await send(pool))).toBe('ok');
      expect(await body(await send(pool))).toBe('ok');
      expect(conns).toHaveLength(2);
      expect(conns[0]!.heads).toHaveLength(2);
      await expect(send(pool, 'POST', Buffer.from('{}'))).rejects.toMatchObject({ code: 'ECONNRESET' });
      expect(conns).toHaveLength(2); // not sent again
    } finally {
      pool.close();
    }
  });
});
