// The registry client's HTTP exchange and kept-alive connections: a request that went out on a connection the server
// had just closed (the server closes idle ones, the client learns it a moment later) is sent again when that is safe,
// the server's Keep-Alive hint is honoured, and an upload session is cancelled although its caller was cancelled.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { Readable } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import { parseReference } from '../../graph/reference.js';
import { background } from '../../trace/context.js';
import { createLogger } from '../../trace/logger.js';
import { send, type HttpRequest } from './http.js';
import { RegistryClient } from './registry-client.js';

interface TestServer {
  url: string;
  host: string;
  /** Requests seen, as `METHOD path`. */
  seen: string[];
  /** Server-side connections, in the order they were accepted. */
  sockets: Socket[];
  /** The connection each request of `seen` came on. */
  via: Socket[];
  server: Server;
}

let servers: Server[] = [];

async function serve(
  handler: (req: IncomingMessage, res: ServerResponse) => void = (req, res) => {
    req.resume();
    res.writeHead(204).end();
  },
): Promise<TestServer> {
  const seen: string[] = [];
  const sockets: Socket[] = [];
  const via: Socket[] = [];
  const server = createServer((req, res) => {
    seen.push(`${req.method} ${req.url}`);
    via.push(req.socket);
    handler(req, res);
  });
  server.keepAliveTimeout = 60_000;
  server.on('connection', (s: Socket) => sockets.push(s));
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return { url: `http://127.0.0.1:${port}`, host: `127.0.0.1:${port}`, seen, sockets, via, server };
}

afterEach(async () => {
  for (const s of servers) {
    s.closeAllConnections();
    await new Promise((r) => s.close(r));
  }
  servers = [];
});

/** Polls `check` until true (generous deadline: the host may be busy). */
async function until(what: string, check: () => boolean, ms = 30_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`${what}: not within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

const signal = new AbortController().signal;

/**
 * One exchange that leaves its connection idle in the client's pool, then the server closes that connection and,
 * before the client can have read the close, `next` is sent: it goes out on the closed connection.
 */
async function afterServerClosedIdle<T>(t: TestServer, next: () => Promise<T>): Promise<T> {
  const first = await send({ method: 'GET', url: `${t.url}/first`, headers: {}, signal });
  first.body.resume();
  await new Promise((r) => first.body.once('end', r));
  await until('the first connection is idle in the pool', () => t.sockets.length === 1 && first.body.socket === null);
  t.sockets[0]!.destroy();
  return next();
}

describe('registry client HTTP', () => {
  it('an idempotent request sent on a kept-alive connection the server had closed goes out again on a new one', async () => {
    for (const method of ['DELETE', 'GET', 'HEAD', 'PUT'] as const) {
      const t = await serve(); // a pool of its own
      const req: HttpRequest = { method, url: `${t.url}/again`, headers: {}, signal };
      if (method === 'PUT') req.body = Buffer.from('replayable');
      const res = await afterServerClosedIdle(t, () => send(req));
      res.body.resume();
      expect(res.status, method).toBe(204);
      expect(t.seen, method).toEqual(['GET /first', `${method} /again`]);
      expect(t.sockets.length, method).toBe(2);
    }
  });

  it('a request that may not be sent twice (a POST, a streamed body) fails with the reset instead', async () => {
    const t = await serve();
    const post = afterServerClosedIdle(t, () =>
      send({ method: 'POST', url: `${t.url}/once`, headers: { 'Content-Length': '0' }, signal }),
    );
    await expect(post).rejects.toMatchObject({ code: 'ECONNRESET' });
    const u = await serve();
    const streamed = afterServerClosedIdle(u, () =>
      send({
        method: 'PUT',
        url: `${u.url}/once`,
        headers: { 'Content-Length': '6' },
        body: Readable.from([Buffer.from('stream')]),
        signal,
      }),
    );
    await expect(streamed).rejects.toMatchObject({ code: expect.stringMatching(/^(ECONNRESET|EPIPE)$/) });
    expect([...t.seen, ...u.seen].filter((l) => l.endsWith('/once'))).toEqual([]);
  });

  it("an idle connection is closed by the client before the server's announced Keep-Alive timeout", async () => {
    // the server says it drops idle connections after 2 s (and would keep them a minute): the client leaves first
    const t = await serve((req, res) => {
      req.resume();
      res.writeHead(204, { 'Keep-Alive': 'timeout=2' }).end();
    });
    const res = await send({ method: 'GET', url: `${t.url}/hint`, headers: {}, signal });
    res.body.resume();
    await until('the server accepted the connection', () => t.sockets.length === 1);
    let clientClosed = false;
    t.sockets[0]!.once('end', () => (clientClosed = true));
    await until('the client closes its idle connection', () => clientClosed);
  });

  it('cancelling an upload session sends its DELETE to the end although the caller was cancelled, before or during it', async () => {
    let answer: (() => void) | undefined;
    const t = await serve((req, res) => {
      req.resume();
      if (req.url?.endsWith('/held')) answer = () => res.writeHead(204).end();
      else res.writeHead(204).end();
    });
    const failures: string[] = [];
    const logger = createLogger('debug', (_level, message, fields) => failures.push(`${message} ${fields.error}`));
    const client = new RegistryClient();
    const ref = parseReference(`${t.host}/team/app:v1`);
    const before = new AbortController();
    before.abort(new Error('client disconnected'));
    await client.cancelUpload({ signal: before.signal, logger, span: undefined }, ref, '/v2/team/app/blobs/uploads/a');
    expect(t.seen).toEqual(['DELETE /v2/team/app/blobs/uploads/a']);

    const during = new AbortController();
    const cancelling = client.cancelUpload(
      { signal: during.signal, logger, span: undefined },
      ref,
      '/v2/team/app/blobs/uploads/held',
    );
    await until('the DELETE reaches the registry', () => answer !== undefined);
    during.abort(new Error('client disconnected'));
    answer!();
    await cancelling;
    // the held DELETE was answered, not cut: the client did not hang up its connection (checked once a later
    // request has come in, after anything the client did at the abort)
    await client.cancelUpload(background(), ref, '/v2/team/app/blobs/uploads/next');
    expect(t.seen).toEqual([
      'DELETE /v2/team/app/blobs/uploads/a',
      'DELETE /v2/team/app/blobs/uploads/held',
      'DELETE /v2/team/app/blobs/uploads/next',
    ]);
    expect(t.via[1]!.readableEnded).toBe(false);
    expect(failures).toEqual([]);
  });
});
