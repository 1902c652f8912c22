// The registry's HTTP limits: a request with more header fields than the server
// keeps is refused with 431 (never served with some headers dropped), a blob
// upload that keeps sending is never cut however long it takes, a stalled
// connection is cut after the idle time, and an idle kept-alive connection is kept
// longer than clients keep theirs.
import { connect } from 'node:net';
import { Agent, request } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MAX_HEADER_FIELDS } from './registry-server.js';
import { startTestRegistry, type TestRegistry } from './registry-test-kit.js';
import { sha256 } from './test-image.js';

let reg: TestRegistry;
// Short bounds, so that an upload outlives them all several times over.
const headersTimeoutMs = 400;
const idleTimeoutMs = 1_000;

beforeAll(async () => {
  reg = await startTestRegistry({ headersTimeoutMs, idleTimeoutMs });
});

afterAll(async () => {
  await reg?.close();
});

/** Sends `head` on a fresh connection; resolves with everything read until the server closes it (10 s at most). */
function exchange(head: string): Promise<string> {
  return new Promise((resolve) => {
    const socket = connect(reg.server.port, '127.0.0.1');
    let got = '';
    const timer = setTimeout(() => socket.destroy(), 10_000);
    socket.on('data', (c: Buffer) => (got += c.toString('latin1')));
    socket.on('error', () => undefined);
    socket.on('close', () => {
      clearTimeout(timer);
      resolve(got);
    });
    socket.write(head);
  });
}

const headWith = (fields: number) =>
  `GET /v2/ HTTP/1.1\r\nHost: x\r\nConnection: close\r\n${Array.from({ length: fields - 2 }, (_, i) => `X-${i}: y\r\n`).join('')}\r\n`;

describe('header fields', () => {
  it(`answers a request with more than ${MAX_HEADER_FIELDS} fields (a head well under the size limit) with 431 and a JSON error`, async () => {
    const head = headWith(MAX_HEADER_FIELDS + 50);
    expect(head.length).toBeLessThan(16 * 1024);
    const answer = await exchange(head);
    expect(answer.split('\r\n')[0]).toBe('HTTP/1.1 431 Request Header Fields Too Large');
    const body = JSON.parse(answer.slice(answer.indexOf('\r\n\r\n') + 4)) as { errors: { message: string }[] };
    expect(body.errors[0]?.message).toContain(`more than ${MAX_HEADER_FIELDS} header fields`);
  });

  it('serves a request with exactly the limit', async () => {
    const answer = await exchange(headWith(MAX_HEADER_FIELDS));
    expect(answer.split('\r\n')[0]).toBe('HTTP/1.1 200 OK');
  });
});

describe('long uploads', () => {
  it('an upload that trickles for longer than every timeout completes', async () => {
    const chunks = Array.from({ length: 12 }, (_, i) => Buffer.from(`chunk ${i} `.repeat(100)));
    const whole = Buffer.concat(chunks);
    const started = Date.now();
    const status = await new Promise<number>((resolve, reject) => {
      const req = request(
        {
          host: '127.0.0.1',
          port: reg.server.port,
          method: 'POST',
          path: `/v2/slow/upload/blobs/uploads/?digest=${sha256(whole)}`,
          headers: { 'Content-Length': String(whole.length) },
        },
        (res) => {
          res.resume();
          res.on('end', () => resolve(res.statusCode ?? 0));
        },
      );
      req.on('error', reject);
      let i = 0;
      const next = () => {
        const chunk = chunks[i++];
        if (chunk === undefined) req.end();
        else req.write(chunk, () => setTimeout(next, 250));
      };
      next();
    });
    expect(Date.now() - started).toBeGreaterThan(2 * idleTimeoutMs);
    expect(status).toBe(201);
    const got = await reg.api(`/v2/slow/upload/blobs/${sha256(whole)}`);
    expect(Buffer.from(await got.arrayBuffer()).equals(whole)).toBe(true);
  });

  it('a connection that stops sending mid-body is cut after the idle time', async () => {
    const started = Date.now();
    const answer = await exchange(
      `POST /v2/slow/stalled/blobs/uploads/?digest=${sha256('x'.repeat(100))} HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nxxxx`,
    );
    expect(answer).toBe('');
    expect(Date.now() - started).toBeGreaterThanOrEqual(idleTimeoutMs - 50);
    expect(Date.now() - started).toBeLessThan(9_000);
  });
});

/** The Keep-Alive header of the registry's answer to GET /v2/ on a kept-alive connection. */
async function keepAliveHint(port: number): Promise<string | undefined> {
  const agent = new Agent({ keepAlive: true });
  try {
    return await new Promise((resolve, reject) => {
      request({ host: '127.0.0.1', port, path: '/v2/', agent }, (res) => {
        res.resume();
        resolve(res.headers['keep-alive'] as string | undefined);
      })
        .on('error', reject)
        .end();
    });
  } finally {
    agent.destroy();
  }
}

describe('kept-alive connections', () => {
  it("are kept longer than clients keep idle ones (Go's transport: 90 s) and announced so; never past the idle time", async () => {
    const plain = await startTestRegistry();
    const set = await startTestRegistry({ keepAliveTimeoutMs: 30_000 });
    try {
      expect(await keepAliveHint(plain.server.port)).toBe('timeout=120');
      expect(await keepAliveHint(set.server.port)).toBe('timeout=30');
      expect(await keepAliveHint(reg.server.port)).toBe(`timeout=${idleTimeoutMs / 1000}`);
    } finally {
      await plain.close();
      await set.close();
    }
  });
});
