// Reading a request's JSON body: bounded in size (413 past the limit, before the
// rest is read), parsed (400 with the parser's reason) and checked against a small
// shape description so a wrong type is a 400 naming the field, never a crash deep
// inside a job.
import type { IncomingMessage } from 'node:http';
import { BerthError, invalidArgument } from '../errdefs/errors.js';

/** Largest JSON body the daemon reads (a container create with a long Env fits easily). */
export const MAX_JSON_BODY = 1024 * 1024;

/**
 * A field's expected type. Shapes list the fields a route reads; other fields pass
 * unchecked (Docker clients send many berth ignores). `null` is accepted wherever
 * Go's encoder writes it for an empty slice or map.
 */
export type FieldType =
  | 'string'
  | 'boolean'
  | 'number'
  | 'integer'
  | 'string[]'
  | 'record<string>'
  | 'object'
  | { shape: Shape }
  | { recordOf: FieldType }
  | { arrayOf: FieldType };

export interface Shape {
  [field: string]: FieldType;
}

function tooLarge(subject: string, limit: number): BerthError {
  return new BerthError('INVALID_ARGUMENT', `${subject}: request body exceeds the limit of ${limit} bytes`, {
    details: { httpStatus: 413 },
  });
}

/** Body readers waiting on a request, told when the HTTP layer finds its body broken. */
const waiting = new WeakMap<IncomingMessage, (err: Error) => void>();
/** Requests whose body broke before anyone read it. */
const broken = new WeakMap<IncomingMessage, Error>();

/**
 * The HTTP layer found `req`'s body malformed or cut short (its parser failed):
 * a body reader on it fails with a 400 now, and one that starts later at once. The
 * request stream itself is left alone (ending or destroying it would close the
 * connection before the answer could go out).
 */
export function reportBrokenBody(req: IncomingMessage, err: Error): void {
  broken.set(req, err);
  waiting.get(req)?.(err);
}

/**
 * Reads the raw body, refusing (413) a declared or actual size above `limit`, and
 * (400) a body that ends before its declared length or does not parse. A refused
 * body is left paused, unread: the answer goes out while the connection is open.
 */
export function readRawBody(req: IncomingMessage, limit: number, subject: string): Promise<Buffer> {
  const declared = Number(req.headers['content-length'] ?? '0');
  if (Number.isFinite(declared) && declared > limit) return Promise.reject(tooLarge(subject, limit));
  const incomplete = (why: string): BerthError =>
    invalidArgument(`${subject}: request body incomplete or malformed: ${why}`);
  const early = broken.get(req);
  if (early !== undefined) return Promise.reject(incomplete(early.message));
  return new Promise<Buffer>((resolve, reject) => {
    const chunks: Buffer[] = [];
    let total = 0;
    const stop = (): void => {
      waiting.delete(req);
      req.off('data', onData).off('end', onEnd).off('error', onError).off('close', onClose);
      req.pause();
    };
    const onData = (chunk: Buffer): void => {
      total += chunk.length;
      if (total <= limit) {
        chunks.push(chunk);
        return;
      }
      stop();
      reject(tooLarge(subject, limit));
    };
    const onEnd = (): void => {
      stop();
      // Ended without the parser seeing the whole message: cut short, or malformed framing.
      if (req.complete) resolve(Buffer.concat(chunks));
      else reject(incomplete(`ended after ${total} bytes`));
    };
    const onError = (err: Error): void => {
      stop();
      reject(incomplete(err.message));
    };
    const onClose = (): void => onError(new Error(`the connection closed after ${total} bytes`));
    waiting.set(req, onError);
    req.on('data', onData).once('end', onEnd).once('error', onError).once('close', onClose);
    req.resume();
  });
}

/**
 * Parses `raw` as a JSON object and checks it against `shape`. An empty body is an
 * empty object when `optional`, otherwise a 400.
 */
export function parseJsonBody<T>(raw: Buffer, shape: Shape, subject: string, optional = false): T {
  const text = raw.toString('utf8').trim();
  if (text === '') {
    if (optional) return {} as T;
    throw invalidArgument(`${subject}: request body is empty, a JSON object was expected`);
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw invalidArgument(`${subject}: malformed JSON body: ${(err as Error).message}`);
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw invalidArgument(`${subject}: request body must be a JSON object, got ${describe(value)}`);
  }
  checkShape(value as Record<string, unknown>, shape, subject, '');
  return value as T;
}

/** Reads and checks a JSON body in one step. */
export async function readJsonBody<T>(
  req: IncomingMessage,
  shape: Shape,
  subject: string,
  optional = false,
): Promise<T> {
  return parseJsonBody<T>(await readRawBody(req, MAX_JSON_BODY, subject), shape, subject, optional);
}

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  return `a ${typeof value}`;
}

function checkShape(obj: Record<string, unknown>, shape: Shape, subject: string, prefix: string): void {
  for (const [field, type] of Object.entries(shape)) {
    const value = obj[field];
    if (value === undefined || value === null) continue;
    checkValue(value, type, subject, `${prefix}${field}`);
  }
}

function checkValue(value: unknown, type: FieldType, subject: string, path: string): void {
  const fail = (expected: string): never => {
    throw invalidArgument(`${subject}: field ${path} must be ${expected}, got ${describe(value)}`);
  };
  if (typeof type === 'string') {
    switch (type) {
      case 'string':
        if (typeof value !== 'string') fail('a string');
        return;
      case 'boolean':
        if (typeof value !== 'boolean') fail('a boolean');
        return;
      case 'number':
        if (typeof value !== 'number' || !Number.isFinite(value)) fail('a number');
        return;
      case 'integer':
        if (typeof value !== 'number' || !Number.isSafeInteger(value)) fail('an integer');
        return;
      case 'string[]':
        if (!Array.isArray(value) || value.some((v) => typeof v !== 'string')) fail('an array of strings');
        return;
      case 'record<string>':
        if (
          typeof value !== 'object' ||
          Array.isArray(value) ||
          Object.values(value as object).some((v) => typeof v !== 'string')
        ) {
          fail('an object of strings');
        }
        return;
      case 'object':
        if (typeof value !== 'object' || Array.isArray(value)) fail('an object');
        return;
    }
  }
  if ('shape' in type) {
    if (typeof value !== 'object' || value === null || Array.isArray(value)) fail('an object');
    checkShape(value as Record<string, unknown>, type.shape, subject, `${path}.`);
    return;
  }
  if ('recordOf' in type) {
    if (typeof value !== 'object' || value === null || Array.isArray(value)) fail('an object');
    for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
      if (v !== null) checkValue(v, type.recordOf, subject, `${path}[${JSON.stringify(k)}]`);
    }
    return;
  }
  if (!Array.isArray(value)) fail('an array');
  (value as unknown[]).forEach((v, i) => checkValue(v, type.arrayOf, subject, `${path}[${i}]`));
}
