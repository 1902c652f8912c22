// Small HTTP helpers the registry routes share: empty and JSON answers, request
// bodies a handler may refuse part-way (and the answer that closes such a
// connection cleanly), and the two range grammars (Range on blob reads,
// Content-Range on upload chunks).
import type { IncomingMessage, ServerResponse } from 'node:http';
import { finished, PassThrough, type Readable } from 'node:stream';
import { distributionError } from './distribution-errors.js';

export function sendEmpty(res: ServerResponse, status: number, headers: Record<string, string> = {}): void {
  res.writeHead(status, { ...headers, 'Content-Length': '0' });
  res.end();
}

export function sendJson(
  res: ServerResponse,
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
  head = false,
): void {
  const bytes = Buffer.from(JSON.stringify(body));
  res.writeHead(status, { 'Content-Type': 'application/json', ...headers, 'Content-Length': String(bytes.length) });
  res.end(head ? undefined : bytes);
}

/**
 * The request body as a stream a handler may abandon: destroying it (a refusal, a
 * failed write) stops reading and leaves the request paused with its connection
 * open, so the refusal can still be answered. It fails when the client goes away
 * before the body is complete.
 */
export function requestBody(req: IncomingMessage): Readable {
  const body = new PassThrough();
  // Also fires at once for a request that went away before this call.
  const stop = finished(req, { writable: false }, (err) => {
    if (err) body.destroy(new Error('client went away before the body was complete', { cause: err }));
  });
  body.once('close', () => {
    stop();
    req.unpipe(body);
  });
  req.pipe(body);
  return body;
}

/**
 * Reads the whole request body, failing with a 413 SIZE_INVALID as soon as more than
 * `limit` bytes arrive, with or without Content-Length (for manifests only; blobs are
 * always streamed). The rest of the body is left unread for the refusal's answer.
 */
export async function readBody(req: IncomingMessage, limit: number, subject: string): Promise<Buffer> {
  const declared = Number(req.headers['content-length'] ?? '0');
  if (declared > limit)
    throw distributionError('SIZE_INVALID', `${subject}: ${declared} bytes exceed the limit of ${limit}`, {
      status: 413,
    });
  const chunks: Buffer[] = [];
  let total = 0;
  for await (const chunk of requestBody(req) as AsyncIterable<Buffer>) {
    total += chunk.length;
    if (total > limit)
      throw distributionError('SIZE_INVALID', `${subject}: body exceeds the limit of ${limit} bytes`, { status: 413 });
    chunks.push(chunk);
  }
  return Buffer.concat(chunks);
}

/**
 * Answers a request whose body was not read whole (refused part-way, or before it
 * was read): the answer goes out at once with `Connection: close`, the rest of the
 * body is read and dropped until the client stops sending or `lingerMs` passes, and
 * then the connection closes. A client still writing thus reads the answer instead
 * of meeting a reset, and no client can hold the connection by sending forever.
 */
export function sendJsonAndClose(
  req: IncomingMessage,
  res: ServerResponse,
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
  head = false,
  lingerMs = 1_000,
): void {
  const bytes = Buffer.from(JSON.stringify(body));
  res.writeHead(status, {
    'Content-Type': 'application/json',
    ...headers,
    'Content-Length': String(bytes.length),
    Connection: 'close',
  });
  if (!head) res.write(bytes);
  const finish = () => {
    clearTimeout(timer);
    req.off('end', finish).off('close', finish);
    if (!res.writableEnded) res.end();
  };
  const timer = setTimeout(finish, lingerMs);
  req.once('end', finish).once('close', finish);
  req.resume();
}

export type ByteRange = { start: number; end: number };

/**
 * Parses a `Range: bytes=…` header against a blob of `size` bytes. Returns undefined
 * when the header is absent, has several ranges or another unit (the whole blob is
 * served then, which RFC 9110 allows), 'unsatisfiable' when no byte of the range exists.
 */
export function parseByteRange(header: string | undefined, size: number): ByteRange | 'unsatisfiable' | undefined {
  if (header === undefined) return undefined;
  const m = /^bytes=(\d*)-(\d*)$/.exec(header.trim());
  if (!m) return undefined;
  const [, a, b] = m as unknown as [string, string, string];
  if (a === '' && b === '') return undefined;
  if (a === '') {
    const suffix = Number(b);
    if (suffix === 0 || size === 0) return 'unsatisfiable';
    return { start: Math.max(0, size - suffix), end: size - 1 };
  }
  const start = Number(a);
  const end = b === '' ? size - 1 : Math.min(Number(b), size - 1);
  if (b !== '' && Number(b) < start) return undefined;
  if (start >= size) return 'unsatisfiable';
  return { start, end };
}

/**
 * Parses an upload chunk's Content-Range: `<start>-<end>` (inclusive), also accepting
 * the RFC form `bytes <start>-<end>/<total|*>`. Undefined when absent; throws a 416
 * BLOB_UPLOAD_INVALID carrying the session's Range when malformed.
 */
export function parseContentRange(
  header: string | undefined,
  currentRange: string,
  subject: string,
): ByteRange | undefined {
  if (header === undefined) return undefined;
  const m = /^(?:bytes )?(\d+)-(\d+)(?:\/(?:\d+|\*))?$/.exec(header.trim());
  if (!m || Number(m[2]) < Number(m[1])) {
    throw distributionError('BLOB_UPLOAD_INVALID', `${subject}: invalid Content-Range ${JSON.stringify(header)}`, {
      status: 416,
      headers: { Range: currentRange },
    });
  }
  return { start: Number(m[1]), end: Number(m[2]) };
}
