// berthd's HTTP layer against an engine of fake jobs: versions, ping headers, the
// error mapping, body and header limits, hijacked streams, progress streams,
// cancellation on hang-up, listeners and the per-root lock.
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { getEventListeners } from 'node:events';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { ApiClient, readAll } from '../client/api-client.js';
import { FrameReader } from '../client/frame-reader.js';
import { joinSpans } from '../client/commands/trace-command.js';
import { cancelled, conflict, notFound } from '../errdefs/errors.js';
import { Engine } from '../jobs/engine.js';
import { background, withSignal } from '../trace/context.js';
import { createLogger } from '../trace/logger.js';
import { parseDaemonFlags, type DaemonFlags } from './daemon-flags.js';
import { startDaemon, type RunningDaemon } from './daemon.js';
import { MAX_HEADER_BYTES } from './api-server.js';

const ctx = background(createLogger('silent'));

interface Fake {
  engine: Engine;
  cancelled: string[];
  stdinSeen: Buffer[];
  shutdowns: number;
}

function fakeEngine(): Fake {
  const fake: Fake = { engine: new Engine(), cancelled: [], stdinSeen: [], shutdowns: 0 };
  const e = fake.engine;
  e.register('version', async () => ({ Version: '0.1.0', ApiVersion: '1.41' }) as never);
  e.register('inspect', async (_c, job) => {
    if (job.args.id !== 'c1' && job.args.id !== 'tty1') throw notFound(`No such container: ${job.args.id}`);
    return { Id: job.args.id, Config: { Tty: job.args.id === 'tty1' } } as never;
  });
  e.register('create', async (_c, job) => {
    if (job.args.config.Image === 'missing') throw notFound(`No such image: ${job.args.config.Image}`);
    if (job.args.name === 'taken') throw conflict('Conflict. The container name "/taken" is already in use');
    return { Id: 'a'.repeat(64), Warnings: [] };
  });
  e.register('pull', async (_c, job) => {
    job.emit({ status: 'Pulling from x', id: 'latest' });
    job.emit({ status: 'Downloading', id: 'abc', progressDetail: { current: 1, total: 2 } });
    if (job.args.reference === 'broken') throw notFound('manifest unknown');
    return { imageId: 'sha256:1', reference: job.args.reference, manifestDigest: 'sha256:2' };
  });
  e.register('events', async (c) => {
    await new Promise<void>((resolve) => c.signal.addEventListener('abort', () => resolve(), { once: true }));
    fake.cancelled.push('events');
  });
  e.register('push', async (c) => {
    // emits nothing (an upload that stalls) until the request is cancelled
    await new Promise<void>((resolve) => c.signal.addEventListener('abort', () => resolve(), { once: true }));
    fake.cancelled.push('push');
    throw cancelled('push: cancelled');
  });
  e.register('attach', async (c, job) => {
    job.emit({ stream: 'stdout', data: Buffer.alloc(0) });
    job.emit({ stream: 'stdout', data: Buffer.from('out\n') });
    job.emit({ stream: 'stderr', data: Buffer.from('err\n') });
    if (job.args.stdin !== undefined) {
      for await (const chunk of job.args.stdin as AsyncIterable<Buffer>) {
        fake.stdinSeen.push(chunk);
        job.emit({ stream: 'stdout', data: chunk });
      }
    }
    void c;
  });
  e.register('wait', async (c, job) => {
    (job as unknown as { emit(e: unknown): void }).emit({ armed: true });
    await new Promise<void>((resolve) => setImmediate(resolve));
    void c;
    return { StatusCode: 3 };
  });
  return fake;
}

let dir: string;
let daemon: RunningDaemon | undefined;
let fake: Fake;

function flags(extra: string[] = []): DaemonFlags {
  const f = parseDaemonFlags([
    '--root',
    join(dir, 'root'),
    '--exec-root',
    join(dir, 'exec'),
    '-H',
    `unix://${join(dir, 'api.sock')}`,
    ...extra,
  ]);
  if (f === 'help') throw new Error('unexpected help');
  return f;
}

async function start(extra: string[] = []): Promise<ApiClient> {
  fake = fakeEngine();
  daemon = await startDaemon(
    ctx,
    flags(extra),
    async () => ({ engine: fake.engine, shutdown: async () => void fake.shutdowns++ }),
    '0.1.0',
  );
  return new ApiClient(daemon.addresses[0]);
}

/** Sends raw bytes on a fresh connection and returns everything the daemon answered. */
function rawExchange(bytes: string | Buffer, opts: { halfClose?: boolean } = {}): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = connect(join(dir, 'api.sock'));
    const chunks: Buffer[] = [];
    s.on('data', (c) => chunks.push(c));
    s.on('end', () => resolve(Buffer.concat(chunks).toString('latin1')));
    s.on('error', reject);
    s.write(bytes);
    if (opts.halfClose) s.end();
  });
}

/** The status line and the JSON body's message of a raw answer (exactly one answer on the connection). */
function answerOf(raw: string): { statusLine: string; message: string } {
  const [head, ...rest] = raw.split('\r\n\r\n');
  expect(raw.match(/HTTP\/1\.1 \d{3}/g)?.length, raw).toBe(1);
  return {
    statusLine: (head ?? '').split('\r\n')[0] ?? '',
    message: (JSON.parse(rest.join('\r\n\r\n')) as { message: string }).message,
  };
}

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'berthd-api-'));
});

afterEach(async () => {
  await daemon?.close(ctx);
  daemon = undefined;
  rmSync(dir, { recursive: true, force: true });
});

describe('berthd API server', () => {
  it('answers /_ping on GET and HEAD with the API headers, and makes the socket mode 0660', async () => {
    const client = await start();
    const res = await client.open('GET', '/_ping');
    expect((await readAll(res)).toString()).toBe('OK');
    expect(res.headers['api-version']).toBe('1.41');
    expect(res.headers.ostype).toBe('linux');
    expect(res.headers['docker-experimental']).toBe('false');
    const head = await client.open('HEAD', '/_ping');
    expect(head.statusCode).toBe(200);
    expect(head.headers['api-version']).toBe('1.41');
    expect(statSync(join(dir, 'api.sock')).mode & 0o777).toBe(0o660);
  });

  it("leaves nothing per request on the daemon's context signal (Node 20 never prunes AbortSignal.any's dependants)", async () => {
    const daemonSignal = new AbortController();
    fake = fakeEngine();
    daemon = await startDaemon(
      withSignal(ctx, daemonSignal.signal),
      flags(),
      async () => ({ engine: fake.engine, shutdown: async () => void fake.shutdowns++ }),
      '0.1.0',
    );
    const client = new ApiClient(daemon.addresses[0]);
    const signal = daemonSignal.signal as AbortSignal & Record<symbol, Set<unknown> | undefined>;
    const dependants = (): number => {
      const key = Object.getOwnPropertySymbols(signal).find((k) => k.description === 'kDependantSignals');
      return key === undefined ? 0 : (signal[key]?.size ?? 0);
    };
    await client.ping();
    const before = { dependants: dependants(), listeners: getEventListeners(signal, 'abort').length };
    for (let i = 0; i < 20; i++) await client.ping();
    await expect(client.containerInspect('nope')).rejects.toThrow(/No such container/);
    expect({ dependants: dependants(), listeners: getEventListeners(signal, 'abort').length }).toEqual(before);
  });

  it('keeps the connection open after an answer given at once to a bodiless request (two pings, one connection)', async () => {
    await start();
    const raw = await new Promise<string>((resolve, reject) => {
      const s = connect(join(dir, 'api.sock'));
      let text = '';
      s.on('data', (c: Buffer) => {
        text += c.toString('latin1');
        // the second request goes out on the same connection once the first answer is in
        if (text.endsWith('OK') && text.match(/HTTP\/1\.1 200/g)?.length === 1)
          s.write('GET /_ping HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
      });
      s.on('end', () => resolve(text));
      s.on('error', reject);
      s.write('GET /_ping HTTP/1.1\r\nHost: x\r\n\r\n');
    });
    const heads = raw.split('HTTP/1.1 ').slice(1);
    expect(heads.map((h) => h.split('\r\n')[0])).toEqual(['200 OK', '200 OK']);
    expect(heads[0]).not.toMatch(/\r\nConnection: close\r\n/i);
  });

  it.each([
    ['/v1.41/version', 200, undefined],
    ['/v1.24/version', 200, undefined],
    ['/version', 200, undefined],
    ['/v1.45/version', 400, 'client version 1.45 is too new. Maximum supported API version is 1.41'],
    ['/v1.12/version', 400, 'client version 1.12 is too old. Minimum supported API version is 1.24'],
    ['/v1.41/no/such/thing', 404, 'page not found'],
  ])('GET %s answers %i', async (path, status, message) => {
    await start();
    const answer = await rawExchange(`GET ${path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`);
    expect(answer.split('\r\n')[0]).toMatch(new RegExp(`^HTTP/1.1 ${status} `));
    if (message !== undefined)
      expect(JSON.parse(answer.slice(answer.indexOf('\r\n\r\n') + 4)).message).toContain(message);
  });

  it('maps job errors to Docker statuses with a {"message"} body', async () => {
    const client = await start();
    await expect(client.containerCreate({ Image: 'missing' })).rejects.toMatchObject({
      code: 'NOT_FOUND',
      message: 'No such image: missing',
      details: { httpStatus: 404 },
    });
    await expect(client.containerCreate({ Image: 'x' }, 'taken')).rejects.toMatchObject({
      details: { httpStatus: 409 },
    });
    await expect(client.containerInspect('nope')).rejects.toMatchObject({
      details: { httpStatus: 404 },
      message: 'No such container: nope',
    });
    await expect(client.containerCreate({ Image: 'x' })).resolves.toEqual({ Id: 'a'.repeat(64), Warnings: [] });
  });

  it.each([
    ['{"Image": "x",', 'malformed JSON body'],
    ['[1,2]', 'must be a JSON object'],
    ['{"Image": 7}', 'field Image must be a string, got a number'],
    ['{"Image": "x", "Cmd": "echo hi"}', 'field Cmd must be an array of strings, got a string'],
    ['{"Image": "x", "HostConfig": {"Memory": "1g"}}', 'field HostConfig.Memory must be an integer'],
    [
      '{"Image": "x", "HostConfig": {"PortBindings": {"80/tcp": [{"HostPort": 80}]}}}',
      'HostConfig.PortBindings["80/tcp"][0].HostPort must be a string',
    ],
    ['', 'request body is empty'],
  ])('refuses the create body %s with a 400', async (body, message) => {
    await start();
    const answer = await rawExchange(
      `POST /v1.41/containers/create HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
    );
    expect(answer.split('\r\n')[0]).toBe('HTTP/1.1 400 Bad Request');
    expect(JSON.parse(answer.slice(answer.indexOf('\r\n\r\n') + 4)).message).toContain(message);
  });

  it('refuses an oversized body with 413 and a header flood with 431, and keeps serving', async () => {
    const client = await start();
    const big = `{"Image":"x","Env":["${'A'.repeat(2 * 1024 * 1024)}"]}`;
    const answer = await rawExchange(
      `POST /containers/create HTTP/1.1\r\nHost: x\r\nContent-Length: ${big.length}\r\nConnection: close\r\n\r\n${big}`,
    );
    expect(answer.split('\r\n')[0]).toBe('HTTP/1.1 413 Payload Too Large');
    let flood = 'GET /version HTTP/1.1\r\nHost: x\r\n';
    for (let i = 0; i < 2000; i++) flood += `X-Flood-${i}: ${'v'.repeat(20)}\r\n`;
    const flooded = await rawExchange(`${flood}\r\n`);
    expect(flooded.split('\r\n')[0]).toBe('HTTP/1.1 431 Request Header Fields Too Large');
    expect(JSON.parse(flooded.slice(flooded.indexOf('\r\n\r\n') + 4)).message).toContain(
      'request header fields too large',
    );
    expect((await client.version()).Version).toBe('0.1.0');
  });

  it('answers more than 200 header fields in a small head with 431, and exactly 200 normally', async () => {
    await start();
    const head = (n: number) =>
      `GET /version HTTP/1.1\r\nHost: x\r\nConnection: close\r\n${Array.from({ length: n - 2 }, (_, i) => `X-${i}: v\r\n`).join('')}\r\n`;
    expect(head(250).length).toBeLessThan(MAX_HEADER_BYTES);
    const flooded = answerOf(await rawExchange(head(250)));
    expect(flooded.statusLine).toBe('HTTP/1.1 431 Request Header Fields Too Large');
    expect(flooded.message).toContain('more than 200 header fields');
    expect((await rawExchange(head(200))).split('\r\n')[0]).toBe('HTTP/1.1 200 OK');
  });

  it.each([
    ['a target that is no path', 'GET // HTTP/1.1', 'HTTP/1.1 404 Not Found', 'page not found'],
    [
      'an absolute-form target',
      'GET http://evil.invalid/_ping HTTP/1.1',
      'HTTP/1.1 400 Bad Request',
      'malformed request target',
    ],
    ['CONNECT', 'CONNECT /version HTTP/1.1', 'HTTP/1.1 404 Not Found', 'page not found: CONNECT /version'],
    ['CONNECT to an authority', 'CONNECT 127.0.0.1:1 HTTP/1.1', 'HTTP/1.1 400 Bad Request', 'malformed request target'],
  ])('refuses %s with a JSON 4xx, never a 500 or a dropped connection', async (_what, line, statusLine, message) => {
    await start();
    const answer = answerOf(await rawExchange(`${line}\r\nHost: x\r\nConnection: close\r\n\r\n`));
    expect(answer.statusLine).toBe(statusLine);
    expect(answer.message).toContain(message);
  });

  it.each([
    ['cut short (the client half-closes before the declared length)', 'Content-Length: 100\r\n\r\n{"Image":'],
    ['with broken chunked framing', 'Transfer-Encoding: chunked\r\n\r\n5\r\n{"Ima\r\nzz\r\n'],
  ])('answers a create whose body is %s with one 400 naming the body', async (_what, rest) => {
    await start();
    const answer = answerOf(
      await rawExchange(`POST /containers/create HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n${rest}`, {
        halfClose: true,
      }),
    );
    expect(answer.statusLine).toBe('HTTP/1.1 400 Bad Request');
    expect(answer.message).toContain('request body incomplete or malformed');
  });

  it('lets a client still sending a refused body read the answer', async () => {
    await start();
    const body = Buffer.alloc(3 * 1024 * 1024, 'a');
    const answer = answerOf(
      await rawExchange(
        Buffer.concat([
          Buffer.from(
            `POST /containers/create HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n${body.length.toString(16)}\r\n`,
          ),
          body,
          Buffer.from('\r\n0\r\n\r\n'),
        ]),
      ),
    );
    expect(answer.statusLine).toBe('HTTP/1.1 413 Payload Too Large');
  });

  it('streams pull progress as JSON lines, an error after the first line as errorDetail', async () => {
    const client = await start();
    const seen: unknown[] = [];
    await client.pull('ok', (m) => seen.push(m));
    expect(seen).toEqual([
      { status: 'Pulling from x', id: 'latest' },
      { status: 'Downloading', id: 'abc', progressDetail: { current: 1, total: 2 } },
    ]);
    await expect(client.pull('broken')).rejects.toThrow('pull broken: manifest unknown');
  });

  it('cancels the job of a client that hangs up', async () => {
    const client = await start();
    const controller = new AbortController();
    const events = client.events({ signal: controller.signal }, () => undefined);
    await new Promise<void>((resolve) => {
      const poll = (): void =>
        fake.engine.running().some((j) => j.name === 'events') ? resolve() : void setImmediate(poll);
      poll();
    });
    controller.abort();
    await events.catch(() => undefined);
    await new Promise<void>((resolve) => {
      const poll = (): void => (fake.cancelled.includes('events') ? resolve() : void setImmediate(poll));
      poll();
    });
    expect(fake.engine.running()).toEqual([]);
  });

  it.each([
    ['closes its side (FIN, what an aborted request sends)', 'end'],
    ['destroys its socket', 'destroy'],
  ] as const)(
    'cancels a job that has written nothing yet when the client %s',
    async (_what, how) => {
      await start();
      const s = connect(join(dir, 'api.sock'));
      s.on('error', () => undefined);
      const chunks: Buffer[] = [];
      const answered = new Promise<string>((resolve) => {
        s.on('data', (c: Buffer) => chunks.push(c));
        s.on('close', () => resolve(Buffer.concat(chunks).toString('latin1')));
      });
      s.write('POST /v1.41/images/x/push?tag=v1 HTTP/1.1\r\nHost: berthd\r\nContent-Length: 0\r\n\r\n');
      await new Promise<void>((resolve) => {
        const poll = (): void =>
          fake.engine.running().some((j) => j.name === 'push') ? resolve() : void setImmediate(poll);
        poll();
      });
      if (how === 'end') s.end();
      else s.destroy();
      await new Promise<void>((resolve) => {
        const poll = (): void => (fake.cancelled.includes('push') ? resolve() : void setTimeout(poll, 5));
        poll();
      });
      expect(fake.engine.running()).toEqual([]);
      if (how === 'end') {
        // the half-closed client still reads why: 499, not a daemon failure
        const answer = await answered;
        expect(answerOf(answer)).toEqual({
          statusLine: 'HTTP/1.1 499 Client Closed Request',
          message: 'push: cancelled',
        });
      }
      s.destroy();
    },
    10_000,
  );

  it('hijacks attach (101 UPGRADED), frames output without a TTY and feeds stdin', async () => {
    const client = await start();
    const conn = await client.containerAttach('c1', { stdin: true });
    const reader = new FrameReader();
    const frames: string[] = [];
    const done = new Promise<void>((resolve) => {
      conn.on('data', (c: Buffer) => {
        for (const f of reader.push(c)) frames.push(`${f.stream}:${f.data.toString()}`);
      });
      conn.on('end', resolve);
    });
    conn.end('typed\n');
    await done;
    expect(frames).toEqual(['stdout:out\n', 'stderr:err\n', 'stdout:typed\n']);
    expect(Buffer.concat(fake.stdinSeen).toString()).toBe('typed\n');
    const raw = await rawExchange(
      'POST /v1.41/containers/tty1/attach?stream=1&stdout=1 HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n\r\n',
    );
    expect(raw.startsWith('HTTP/1.1 101 UPGRADED\r\n')).toBe(true);
    expect(raw).toContain('Content-Type: application/vnd.docker.raw-stream');
    expect(raw.endsWith('\r\n\r\nout\nerr\n')).toBe(true);
  });

  it('closes an upgrade request answered without reading its body once the client leaves: shutdown does not wait', async () => {
    await start();
    // An upgraded socket is paused: unless the daemon reads on, it never sees the client go, and the server's close
    // (which waits for every connection) never ends (berthd then exited 13 on SIGTERM, its shutdown pending).
    const s = connect(join(dir, 'api.sock'));
    s.on('error', () => undefined);
    const answered = new Promise<string>((resolve) => {
      let got = '';
      s.on('data', (c: Buffer) => {
        got += c.toString('latin1');
        if (got.includes('\r\n\r\n')) resolve(got);
      });
    });
    const body = Buffer.alloc(2 * 1024 * 1024, 'a');
    s.write(
      `DELETE /containers/c1/start HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n\r\n`,
    );
    s.write(body);
    expect((await answered).split('\r\n')[0]).toBe('HTTP/1.1 404 Not Found');
    s.destroy();
    const running = daemon!;
    daemon = undefined;
    await running.close(ctx);
    expect(fake.shutdowns).toBe(1);
  });

  it('answers HEAD of a streaming route (events) with its head alone, ends it and stops the job', async () => {
    await start();
    // Without it the stream stayed open: a HEAD client waits for an end that never comes, and the job runs on.
    const raw = await rawExchange('HEAD /events HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
    expect(raw.split('\r\n')[0]).toBe('HTTP/1.1 200 OK');
    expect(raw.endsWith('\r\n\r\n')).toBe(true);
    // the job was never left running (stopped, or not started at all)
    await vi.waitFor(() => expect(fake.engine.running()).toEqual([]));
  });

  it('refuses attach to an unknown container with a 404 before switching protocols', async () => {
    const client = await start();
    await expect(client.containerAttach('nope', {})).rejects.toMatchObject({
      details: { httpStatus: 404 },
      message: 'No such container: nope',
    });
  });

  it('sends the wait status line when the wait is armed, the result after', async () => {
    const client = await start();
    const { result } = await client.containerWait('c1', 'next-exit');
    expect(await result).toEqual({ StatusCode: 3 });
    await expect(client.containerWait('c1', 'sometime' as never)).rejects.toThrow('condition "sometime" is not one of');
  });

  it('lets one daemon hold a root: a second fails naming the pid, a stale lock is taken over', async () => {
    await start();
    const second = parseDaemonFlags([
      '--root',
      join(dir, 'root'),
      '--exec-root',
      join(dir, 'exec2'),
      '-H',
      `unix://${join(dir, 'b.sock')}`,
    ]) as DaemonFlags;
    await expect(
      startDaemon(ctx, second, async () => ({ engine: new Engine(), shutdown: async () => undefined }), '0.1.0'),
    ).rejects.toThrow(`another berthd (pid ${process.pid}) is using it`);
    await daemon?.close(ctx);
    expect(fake.shutdowns).toBe(1);
    daemon = undefined;
    const { writeFileSync } = await import('node:fs');
    writeFileSync(join(dir, 'root', 'berthd.lock'), '999999999\n');
    const client = await start();
    expect((await client.version()).Version).toBe('0.1.0');
  });

  it('joins a traceparent: the daemon files its request and job spans under the trace id', async () => {
    const traceId = 'ab'.repeat(16);
    const traced = new ApiClient(join(dir, 'api.sock').replace(/^/, 'unix://'), {
      traceparent: () => `00-${traceId}-00000000000000a1-01`,
    });
    await start();
    await traced.version();
    const plain = new ApiClient(`unix://${join(dir, 'api.sock')}`);
    const got = await plain.call<{
      spans: { name: string; id: number; parentId?: number; attributes: Record<string, unknown> }[];
      clockBaseNs: string;
    }>('GET', `/berth/traces/${traceId}`);
    const root = got.spans.find((s) => s.name === 'daemon.GET /version');
    expect(root?.attributes.traceparentParent).toBe('00000000000000a1');
    expect(got.spans.find((s) => s.name === 'jobs.version')?.parentId).toBe(root?.id);
    expect(BigInt(got.clockBaseNs) > 0n).toBe(true);
    const joined = joinSpans(
      [
        {
          id: 0xa1,
          traceId: 0xa1,
          parentId: undefined,
          name: 'client.version',
          module: 'client',
          startNs: 0,
          endNs: 10,
          attributes: {},
          status: 'ok',
          error: undefined,
          origin: 'node',
        },
      ],
      got as never,
      BigInt(got.clockBaseNs),
    );
    expect(joined.find((s) => s.name === 'daemon.GET /version')?.parentId).toBe(0xa1);
    expect(joined.find((s) => s.name === 'jobs.version')?.parentId).toBe(
      joined.find((s) => s.name === 'daemon.GET /version')?.id,
    );
    expect((await plain.call<{ spans: unknown[] }>('GET', `/berth/traces/${traceId}`)).spans).toEqual([]);
  });

  it('listens on loopback TCP only when asked', async () => {
    const client = await start(['-H', 'tcp://127.0.0.1:0']);
    expect(daemon?.addresses[1]).toMatch(/^tcp:\/\/127\.0\.0\.1:\d+$/);
    const tcp = new ApiClient(daemon?.addresses[1]);
    expect((await tcp.version()).Version).toBe('0.1.0');
    expect((await client.ping()).apiVersion).toBe('1.41');
  });
});
