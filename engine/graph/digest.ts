// Content digests (`sha256:<64 hex>`, `sha512:<128 hex>`): parsing with errors that
// name the bad value, one-shot hashing, and a passthrough stream that hashes what flows.
import { createHash, type Hash } from 'node:crypto';
import { Transform, type TransformCallback } from 'node:stream';
import { invalidArgument } from '../errdefs/errors.js';

export type Algorithm = 'sha256' | 'sha512';

/** Hex length of each supported algorithm. */
const hexLength: Record<Algorithm, number> = { sha256: 64, sha512: 128 };

export interface ParsedDigest {
  algorithm: Algorithm;
  hex: string;
}

/**
 * Splits and validates a digest. Fails INVALID_ARGUMENT naming the value (prefixed
 * with `what`, e.g. "layer diffID") for anything but `sha256:` + 64 or `sha512:` +
 * 128 lowercase hex characters.
 */
export function parseDigest(value: unknown, what = 'digest'): ParsedDigest {
  if (typeof value !== 'string') throw invalidArgument(`${what} ${JSON.stringify(value)}: not a string`);
  const colon = value.indexOf(':');
  if (colon < 0) throw invalidArgument(`${what} ${JSON.stringify(value)}: missing algorithm (expected sha256:<hex>)`);
  const algorithm = value.slice(0, colon);
  const hex = value.slice(colon + 1);
  if (algorithm !== 'sha256' && algorithm !== 'sha512') {
    throw invalidArgument(`${what} ${JSON.stringify(value)}: unsupported algorithm ${JSON.stringify(algorithm)}`);
  }
  const want = hexLength[algorithm];
  if (hex.length !== want || !/^[0-9a-f]+$/.test(hex)) {
    throw invalidArgument(
      `${what} ${JSON.stringify(value)}: expected ${want} lowercase hex characters after "${algorithm}:"`,
    );
  }
  return { algorithm, hex };
}

/** Returns the value when it is a valid digest; fails like parseDigest otherwise. */
export function validateDigest(value: unknown, what = 'digest'): string {
  parseDigest(value, what);
  return value as string;
}

/** True when `value` is a valid digest string. Never throws. */
export function isDigest(value: unknown): value is string {
  if (typeof value !== 'string') return false;
  return /^sha256:[0-9a-f]{64}$/.test(value) || /^sha512:[0-9a-f]{128}$/.test(value);
}

/** The digest of `data` (a string is hashed as UTF-8). */
export function digestOf(data: Uint8Array | string, algorithm: Algorithm = 'sha256'): string {
  return `${algorithm}:${createHash(algorithm).update(data).digest('hex')}`;
}

/**
 * A passthrough stream that hashes every byte written through it. `digest()` and
 * `bytes` are final once the stream has flushed (after 'end'); reading them
 * earlier gives the state so far (digest() is then computed on a copy).
 */
export class DigestingStream extends Transform {
  readonly algorithm: Algorithm;
  private readonly hash: Hash;
  private count = 0;
  private final: string | undefined;

  constructor(algorithm: Algorithm = 'sha256', hash?: Hash, startBytes = 0) {
    super();
    this.algorithm = algorithm;
    this.hash = hash ?? createHash(algorithm);
    this.count = startBytes;
  }

  /** Bytes that have passed through (plus startBytes). */
  get bytes(): number {
    return this.count;
  }

  /** The digest of everything passed through so far. */
  digest(): string {
    if (this.final !== undefined) return this.final;
    return `${this.algorithm}:${this.hash.copy().digest('hex')}`;
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.hash.update(chunk);
    this.count += chunk.length;
    callback(null, chunk);
  }

  override _flush(callback: TransformCallback): void {
    this.final = `${this.algorithm}:${this.hash.digest('hex')}`;
    callback();
  }
}
