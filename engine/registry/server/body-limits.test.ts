// Request bodies the server refuses part-way (a manifest over the size limit, a
// chunk longer than its Content-Range) get their answer at once, with or without
// Content-Length, and the connection then closes cleanly: the client never waits
// for a timeout and reads the answer, not a reset.
import { request } from 'node:http';
import { connect } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { errorCodes, OCI_MANIFEST, startTestRegistry, type TestRegistry } from './registry-test-kit.js';

let reg: TestRegistry;
const limit = 16 * 1024;

beforeAll(async () => {
  reg = await startTestRegistry({ maxManifestBytes: limit });
});

afterAll(async () => {
  await reg?.close();
});

interface Answer {
  status: number;
  body: string;
  connection: string | undefined;
  /** Bytes of body written before the answer came. */
  sent: number;
}

/**
 * Streams a body of up to `total` bytes in 4 KiB writes (chunked unless
 * `contentLength`), stopping once the answer arrives, and resolves with the answer
 * after the server closed the connection. Rejects when nothing comes within 15 s.
 */
function streamUntilAnswered(
  method: string,
  path: string,
  total: number,
  headers: Record<string, string> = {},
  contentLength = false,
): Promise<Answer> {
  return new Promise((resolve, reject) => {
    let sent = 0;
    let answer: Omit<Answer, 'sent'> | undefined;
    const req = request(`${reg.server.url}${path}`, {
      method,
      agent: false,
      headers: contentLength ? { ...headers, 'Content-Length': String(total) } : headers,
    });
    const timer = setTimeout(() => {
      req.destroy();
      reject(new Error(`${method} ${path}: no answer within 15 s after ${sent} bytes`));
    }, 15_000);
    req.on('response', (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        answer = {
          status: res.statusCode ?? 0,
          body: Buffer.concat(chunks).toString(),
          connection: res.headers.connection,
        };
      });
    });
    req.on('close', () => {
      clearTimeout(timer);
      if (answer === undefined)
        reject(new Error(`${method} ${path}: connection closed without an answer after ${sent} bytes`));
      else resolve({ ...answer, sent });
    });
    // A write error after the answer (the server closed its side) is expected.
    req.on('error', () => undefined);
    const chunk = Buffer.alloc(4096, 0x20);
    const write = () => {
      if (answer !== undefined || req.destroyed) return;
      if (sent >= total) {
        req.end();
        return;
      }
      sent += chunk.length;
      req.write(chunk, () => setImmediate(write));
    };
    write();
  });
}

describe('refused bodies', () => {
  it.each([
    ['chunked', false],
    ['with Content-Length', true],
  ])(
    'a manifest over the limit (%s) is 413 SIZE_INVALID at once, then the connection closes',
    async (_how, contentLength) => {
      const answer = await streamUntilAnswered(
        'PUT',
        '/v2/limits/repo/manifests/huge',
        64 * 1024 * 1024,
        { 'Content-Type': OCI_MANIFEST },
        contentLength,
      );
      expect(answer.status).toBe(413);
      expect(JSON.parse(answer.body)).toMatchObject({ errors: [{ code: 'SIZE_INVALID' }] });
      expect(answer.connection).toBe('close');
      // Answered soon after the limit, not after the whole body.
      expect(answer.sent).toBeLessThan(8 * 1024 * 1024);
    },
  );

  it('fetch with a streamed manifest body over the limit gets the 413', async () => {
    const body = new ReadableStream<Uint8Array>({
      start(controller) {
        for (let i = 0; i < 8; i++) controller.enqueue(new Uint8Array(4096).fill(0x20));
        controller.close();
      },
    });
    const res = await reg.api('/v2/limits/repo/manifests/streamed', {
      method: 'PUT',
      body,
      duplex: 'half',
      headers: { 'Content-Type': OCI_MANIFEST },
      signal: AbortSignal.timeout(15_000),
    } as RequestInit);
    expect(res.status).toBe(413);
    expect(await errorCodes(res)).toEqual(['SIZE_INVALID']);
  });

  it.each([
    ['PATCH', ''],
    ['PUT', `?digest=sha256:${'0'.repeat(64)}`],
  ])('a %s chunk longer than its Content-Range is refused at once and rolled back', async (method, query) => {
    const start = await reg.api('/v2/limits/uploads/blobs/uploads/', { method: 'POST' });
    const location = start.headers.get('location') as string;
    const answer = await streamUntilAnswered(method, `${location}${query}`, 64 * 1024 * 1024, {
      'Content-Range': '0-9',
    });
    expect(answer.status).toBe(400);
    expect(JSON.parse(answer.body)).toMatchObject({ errors: [{ code: 'SIZE_INVALID' }] });
    expect(answer.connection).toBe('close');
    expect(answer.sent).toBeLessThan(8 * 1024 * 1024);
    const status = await reg.api(location);
    expect(status.status).toBe(204);
    expect(status.headers.get('range')).toBe('0-0');
  });

  it('a client that keeps sending after the answer is cut off soon after it', async () => {
    const { closedAfterAnswer, got } = await new Promise<{ closedAfterAnswer: number; got: string }>(
      (resolve, reject) => {
        const socket = connect(reg.server.port, '127.0.0.1');
        let answeredAt: number | undefined;
        let got = '';
        const timer = setTimeout(() => {
          socket.destroy();
          reject(new Error(`connection still open 20 s on; answer: ${got.slice(0, 80)}`));
        }, 20_000);
        socket.on('error', () => undefined);
        socket.on('data', (c: Buffer) => {
          got += c.toString();
          if (answeredAt === undefined && got.includes('\r\n\r\n')) answeredAt = Date.now();
        });
        socket.on('close', () => {
          clearTimeout(timer);
          if (answeredAt === undefined) reject(new Error('closed without an answer'));
          else resolve({ closedAfterAnswer: Date.now() - answeredAt, got });
        });
        socket.write(
          'PUT /v2/limits/repo/manifests/endless HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n',
        );
        const chunk = `1000\r\n${' '.repeat(4096)}\r\n`;
        const write = () => {
          if (!socket.destroyed) socket.write(chunk, () => setTimeout(write, 1));
        };
        write();
      },
    );
    expect(got).toMatch(/^HTTP\/1\.1 413 /);
    // The server stops listening to the rest within its linger time (1 s), with room for a busy machine.
    expect(closedAfterAnswer).toBeLessThan(10_000);
  });

  it('the server keeps answering afterwards', async () => {
    expect((await reg.api('/v2/')).status).toBe(200);
  });
});
