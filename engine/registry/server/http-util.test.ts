// The two range grammars (Range on blob reads, Content-Range on upload chunks) and
// the request body stream a handler may abandon.
import { once } from 'node:events';
import { createServer, request, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, expect, it } from 'vitest';
import { parseByteRange, parseContentRange, requestBody } from './http-util.js';

describe('parseByteRange (blob of 100 bytes)', () => {
  it.each([
    [undefined, undefined],
    ['bytes=0-9', { start: 0, end: 9 }],
    ['bytes=90-', { start: 90, end: 99 }],
    ['bytes=90-1000', { start: 90, end: 99 }],
    ['bytes=-10', { start: 90, end: 99 }],
    ['bytes=-1000', { start: 0, end: 99 }],
    ['bytes=100-', 'unsatisfiable'],
    ['bytes=-0', 'unsatisfiable'],
    ['bytes=9-0', undefined],
    ['bytes=0-1,5-6', undefined],
    ['items=0-1', undefined],
    ['bytes=-', undefined],
  ])('%s → %j', (header, expected) => {
    expect(parseByteRange(header, 100)).toEqual(expected);
  });

  it('nothing of an empty blob is satisfiable', () => {
    expect(parseByteRange('bytes=0-', 0)).toBe('unsatisfiable');
  });
});

describe('parseContentRange', () => {
  it.each([
    [undefined, undefined],
    ['0-9', { start: 0, end: 9 }],
    ['bytes 10-19/*', { start: 10, end: 19 }],
    ['bytes 10-19/100', { start: 10, end: 19 }],
  ])('%s → %j', (header, expected) => {
    expect(parseContentRange(header, '0-9', 'upload x')).toEqual(expected);
  });

  it.each([['9-0'], ['abc'], ['bytes=0-9'], ['-5']])('%s is a 416 carrying the current Range', (header) => {
    try {
      parseContentRange(header, '0-41', 'upload x');
      expect.unreachable();
    } catch (err) {
      const details = (err as { details: Record<string, unknown> }).details;
      expect(details).toMatchObject({ distribution: 'BLOB_UPLOAD_INVALID', status: 416, headers: { Range: '0-41' } });
      expect((err as Error).message).toMatch(/^upload x: invalid Content-Range/);
    }
  });
});

describe('requestBody', () => {
  /** Runs `handle` on one request whose client sends part of a body and then goes away. */
  async function withAbortedRequest(handle: (req: IncomingMessage) => Promise<void>): Promise<void> {
    let done!: Promise<void>;
    const server = createServer((req) => {
      done = handle(req);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const client = request(`http://127.0.0.1:${(server.address() as AddressInfo).port}/`, {
        method: 'PUT',
        headers: { 'Content-Length': '100' },
        agent: false,
      });
      client.on('error', () => undefined);
      client.write('part of it', () => setImmediate(() => client.destroy()));
      await once(server, 'request');
      await done;
    } finally {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    }
  }

  it('fails when the client went away before the body was read, instead of waiting forever', async () => {
    await withAbortedRequest(async (req) => {
      await new Promise((resolve) => req.once('close', resolve));
      const body = requestBody(req);
      await expect(
        new Promise((resolve, reject) => body.on('error', reject).on('end', resolve).resume()),
      ).rejects.toThrow(/client went away/);
    });
  }, 10_000);

  it('fails when the client goes away part-way', async () => {
    await withAbortedRequest(async (req) => {
      const chunks: Buffer[] = [];
      await expect(
        (async () => {
          for await (const c of requestBody(req) as AsyncIterable<Buffer>) chunks.push(c);
        })(),
      ).rejects.toThrow(/client went away/);
      expect(Buffer.concat(chunks).toString()).toBe('part of it');
    });
  });
});
