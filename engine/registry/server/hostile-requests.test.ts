// A battery of hostile requests against the registry server on 127.0.0.1:
// malformed names, digests, references, ranges and queries, oversized and broken
// HTTP, early disconnects. Each is answered with a client error (never a 5xx) or
// refused by the HTTP layer, and the server keeps serving pushes and pulls.
// Bounded: a fixed list of requests, each given at most 5 s.
import { connect } from 'node:net';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestRegistry, type TestRegistry } from './registry-test-kit.js';
import type { TestImage } from './test-image.js';

let reg: TestRegistry;
let image: TestImage;
const name = 'hostile/repo';

beforeAll(async () => {
  reg = await startTestRegistry({ maxManifestBytes: 64 * 1024 });
  image = await reg.pushImage(name, 'v1');
});

afterAll(async () => {
  await reg?.close();
});

/**
 * Writes `bytes` on a fresh connection and collects what comes back until the
 * server closes it, `endAfterWrite` half-closes it, or 5 s pass. Returns the
 * status of the first response ('' when none came).
 */
function raw(
  bytes: string | Buffer,
  options: { endAfterWrite?: boolean; destroyAfterWrite?: boolean } = {},
): Promise<string> {
  return new Promise((resolve) => {
    const socket = connect(reg.server.port, '127.0.0.1');
    let got = '';
    const done = () => {
      clearTimeout(timer);
      socket.destroy();
      resolve(/^HTTP\/1\.[01] (\d{3})/.exec(got)?.[1] ?? '');
    };
    const timer = setTimeout(done, 5_000);
    socket.on('data', (c: Buffer) => {
      got += c.toString('latin1');
      // One complete answer is enough.
      if (/\r\n\r\n/.test(got) && /^HTTP\/1\.[01] \d{3}/.test(got)) {
        const length = /content-length: (\d+)/i.exec(got);
        if (length && got.length >= got.indexOf('\r\n\r\n') + 4 + Number(length[1])) done();
      }
    });
    socket.on('error', () => undefined);
    socket.on('close', done);
    socket.write(bytes, () => {
      if (options.destroyAfterWrite) done();
      else if (options.endAfterWrite) socket.end();
    });
  });
}

const digest = `sha256:${'a'.repeat(64)}`;

describe('hostile requests', () => {
  it.each([
    // Names
    ['GET', '/v2/../../etc/passwd/tags/list'],
    ['GET', '/v2/%2e%2e/%2e%2e/tags/list'],
    ['GET', '/v2/a%00b/tags/list'],
    ['GET', '/v2//tags/list'],
    ['GET', `/v2/${'a/'.repeat(200)}a/tags/list`],
    ['GET', '/v2/%E0%A4%A/tags/list'],
    ['GET', '/v2/ünïcode/tags/list'],
    // Digests and references
    ['GET', `/v2/${name}/blobs/sha256:${'g'.repeat(64)}`],
    ['GET', `/v2/${name}/blobs/sha256:..%2F..%2F..%2Fetc%2Fpasswd`],
    ['GET', `/v2/${name}/blobs/sha512:abc`],
    ['GET', `/v2/${name}/blobs/:`],
    ['GET', `/v2/${name}/blobs/sha256:${'a'.repeat(5000)}`],
    ['DELETE', `/v2/${name}/blobs/sha256:%00`],
    ['GET', `/v2/${name}/manifests/..%2F..%2Findex.json`],
    ['GET', `/v2/${name}/manifests/${'t'.repeat(5000)}`],
    ['GET', `/v2/${name}/referrers/not-a-digest`],
    // Upload ids
    ['GET', `/v2/${name}/blobs/uploads/..%2F..%2Ftmp`],
    ['PATCH', `/v2/${name}/blobs/uploads/00000000-0000-0000-0000-000000000000`],
    ['PUT', `/v2/${name}/blobs/uploads/%00?digest=${digest}`],
    // Queries
    ['GET', `/v2/${name}/tags/list?n=-1`],
    ['GET', `/v2/${name}/tags/list?n=1e999`],
    ['POST', `/v2/${name}/blobs/uploads/?digest=sha256:zz`],
    ['POST', `/v2/${name}/blobs/uploads/?digest=${digest}&digest=md5:00`],
    // Methods
    ['BREW', '/v2/'],
    ['PATCH', `/v2/${name}/manifests/v1`],
  ])('%s %s is a client error', async (method, path) => {
    const status = Number(
      await raw(`${method} ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 0\r\nConnection: close\r\n\r\n`),
    );
    expect(status).toBeGreaterThanOrEqual(400);
    expect(status).toBeLessThan(500);
  });

  it.each([
    // A huge page size lists everything; an odd `last` is just a string.
    ['GET', `/v2/${name}/tags/list?n=99999999999999999999999`, 200],
    ['GET', `/v2/${name}/tags/list?last=%FF%FE`, 200],
    // A mount that cannot be done falls back to a plain upload session, as the spec asks.
    ['POST', `/v2/${name}/blobs/uploads/?mount=..%2F..%2Fx&from=..%2F..`, 202],
    ['POST', `/v2/${name}/blobs/uploads/?mount=${digest}&from=..%2F..%2F${name}`, 202],
  ])('%s %s is answered %i', async (method, path, expected) => {
    const res = await reg.api(path, { method });
    expect(res.status).toBe(expected);
    if (res.status === 202)
      expect((await reg.api(res.headers.get('location') as string, { method: 'DELETE' })).status).toBe(204);
  });

  it.each([
    'bytes=99999999999999999999-',
    'bytes=-99999999999999999999',
    'bytes=5-2',
    'bytes=a-b',
    'bytes=1e3-',
    'bytes=--1',
    `bytes=${Array.from({ length: 1000 }, () => '0-0').join(',')}`,
    'bytes=0-0\u0000',
  ])('Range %j on a blob is answered 200, 206 or 416', async (range) => {
    const res = await reg
      .api(`/v2/${name}/blobs/${image.layers[0]!.digest}`, { headers: { Range: range } })
      .catch((err: unknown) => err as Error);
    // fetch itself refuses a NUL in a header value; the server never sees it.
    if (res instanceof Error) return;
    expect([200, 206, 416]).toContain(res.status);
    await res.arrayBuffer();
  });

  it.each([
    ['0-99999999999999999999', 'abc'],
    ['bytes 0-2/1', 'abc'],
    ['-1-2', 'abc'],
    ['0-2', 'abcdefgh'],
  ])('Content-Range %j on a chunk is refused without harm', async (range, body) => {
    const start = await reg.api(`/v2/${name}/blobs/uploads/`, { method: 'POST' });
    const location = start.headers.get('location') as string;
    const res = await reg.api(location, { method: 'PATCH', body, headers: { 'Content-Range': range } });
    expect(res.status === 202 || (res.status >= 400 && res.status < 500)).toBe(true);
    await res.arrayBuffer();
    expect((await reg.api(location, { method: 'DELETE' })).status).toBe(204);
  });

  it.each([
    ['a manifest nested 100 000 deep', `${'['.repeat(100_000)}${']'.repeat(100_000)}`],
    [
      'a manifest naming one blob 2 000 times',
      JSON.stringify({
        schemaVersion: 2,
        mediaType: 'application/vnd.oci.image.manifest.v1+json',
        config: { mediaType: 'x', digest, size: 1 },
        layers: Array.from({ length: 2000 }, () => ({ mediaType: 'x', digest, size: 1 })),
      }),
    ],
    [
      'a manifest with a prototype-polluting key',
      '{"schemaVersion":2,"__proto__":{"isIndex":true},"config":{"mediaType":"x","digest":"sha256:1","size":1},"layers":[]}',
    ],
    [
      'a descriptor with a huge size',
      JSON.stringify({ schemaVersion: 2, config: { mediaType: 'x', digest, size: 1e300 }, layers: [] }),
    ],
  ])('%s is refused', async (_what, body) => {
    const res = await reg.putManifest(name, 'hostile', body);
    expect(res.status).toBeGreaterThanOrEqual(400);
    expect(res.status).toBeLessThan(500);
  });

  it('broken HTTP is refused by the HTTP layer', async () => {
    const answers = [
      await raw(`GET /v2/ HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(64 * 1024)}\r\n\r\n`),
      await raw(
        `GET /v2/ HTTP/1.1\r\nHost: x\r\n${Array.from({ length: 3000 }, (_, i) => `X-${i}: y`).join('\r\n')}\r\n\r\n`,
      ),
      await raw(
        'PUT /v2/a/manifests/x HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n',
      ),
      await raw('GET /v2/ HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n'),
      await raw('GET * HTTP/1.1\r\nHost: x\r\n\r\n'),
      await raw('GET //// HTTP/1.1\r\nHost: x\r\n\r\n'),
      await raw('GET http://evil.invalid/v2/ HTTP/1.1\r\nHost: x\r\n\r\n'),
      await raw('\u0000\u0001\u0002 garbage\r\n\r\n'),
      await raw(`PUT /v2/${name}/manifests/x HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n`),
    ];
    for (const status of answers) {
      // Either an HTTP answer below 500, or the connection closed without one.
      if (status !== '') expect(Number(status), answers.join(',')).toBeLessThan(500);
    }
  });

  it('early disconnects leave no session, temporary file or blob behind', async () => {
    const sessionsBefore = await readdir(join(reg.root, 'uploads'));
    const big = 'x'.repeat(64 * 1024);
    await Promise.all([
      raw('', { destroyAfterWrite: true }),
      raw('GET /v2/', { destroyAfterWrite: true }),
      raw(`PUT /v2/${name}/manifests/cut HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n{"schemaVersion"`, {
        destroyAfterWrite: true,
      }),
      raw(
        `POST /v2/${name}/blobs/uploads/?digest=${digest} HTTP/1.1\r\nHost: x\r\nContent-Length: 1000000\r\n\r\n${big}`,
        { destroyAfterWrite: true },
      ),
      raw(
        `POST /v2/${name}/blobs/uploads/?digest=${digest} HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n10000\r\n${big}`,
        { endAfterWrite: true },
      ),
      raw(`GET /v2/${name}/blobs/${image.layers[0]!.digest} HTTP/1.1\r\nHost: x\r\n\r\n`, { destroyAfterWrite: true }),
      raw(`GET /v2/${name}/manifests/v1 HTTP/1.1\r\nHost: x\r\n`, { endAfterWrite: true }),
    ]);
    const deadline = Date.now() + 10_000;
    for (;;) {
      const sessions = await readdir(join(reg.root, 'uploads'));
      const tmp = await readdir(join(reg.root, 'tmp'));
      if ((sessions.length === sessionsBefore.length && tmp.length === 0) || Date.now() > deadline) {
        expect(sessions).toEqual(sessionsBefore);
        expect(tmp).toEqual([]);
        break;
      }
      await new Promise((r) => setTimeout(r, 20));
    }
    expect((await reg.api(`/v2/${name}/blobs/${digest}`, { method: 'HEAD' })).status).toBe(404);
    expect((await reg.api(`/v2/${name}/manifests/cut`)).status).toBe(404);
  });

  it('the server still serves pushes and pulls afterwards', async () => {
    expect((await reg.api('/v2/')).status).toBe(200);
    const again = await reg.pushImage(name, 'after', 'after the battery');
    const res = await reg.api(`/v2/${name}/manifests/after`);
    expect(res.status).toBe(200);
    expect(Buffer.from(await res.arrayBuffer()).equals(again.manifest.bytes)).toBe(true);
    const layer = await reg.api(`/v2/${name}/blobs/${again.layers[0]!.digest}`);
    expect(Buffer.from(await layer.arrayBuffer()).equals(again.layers[0]!.bytes)).toBe(true);
  });
});
