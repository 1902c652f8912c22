// Digest parsing and the hashing passthrough stream.
import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { buffer } from 'node:stream/consumers';
import { describe, expect, it } from 'vitest';
import { isBerthError } from '../errdefs/errors.js';
import { DigestingStream, digestOf, isDigest, parseDigest, validateDigest } from './digest.js';

describe('digest', () => {
  const good = 'sha256:' + '0a'.repeat(32);
  it('parses valid sha256 and sha512 digests', () => {
    expect(parseDigest(good)).toEqual({ algorithm: 'sha256', hex: '0a'.repeat(32) });
    expect(parseDigest('sha512:' + 'f'.repeat(128)).algorithm).toBe('sha512');
    expect(validateDigest(good)).toBe(good);
    expect(isDigest(good)).toBe(true);
  });

  it.each([
    ['sha256:' + 'A'.repeat(64), /lowercase hex/],
    ['sha256:' + 'a'.repeat(63), /64 lowercase hex/],
    ['sha512:' + 'a'.repeat(64), /128 lowercase hex/],
    ['md5:' + 'a'.repeat(32), /unsupported algorithm "md5"/],
    ['a'.repeat(64), /missing algorithm/],
    ['', /missing algorithm/],
  ])('rejects %s', (value, why) => {
    let err: unknown;
    try {
      parseDigest(value, 'layer diffID');
    } catch (e) {
      err = e;
    }
    expect(isBerthError(err, 'INVALID_ARGUMENT')).toBe(true);
    expect((err as Error).message.startsWith(`layer diffID ${JSON.stringify(value)}: `)).toBe(true);
    expect((err as Error).message).toMatch(why);
    expect(isDigest(value)).toBe(false);
  });

  it('hashes what flows through without changing it', async () => {
    const chunks = [Buffer.from('abc'), Buffer.alloc(100_000, 7), Buffer.from('end')];
    const d = new DigestingStream();
    const out = await buffer(Readable.from(chunks).pipe(d));
    const all = Buffer.concat(chunks);
    expect(out.equals(all)).toBe(true);
    expect(d.bytes).toBe(all.length);
    expect(d.digest()).toBe(`sha256:${createHash('sha256').update(all).digest('hex')}`);
    expect(d.digest()).toBe(digestOf(all));
  });
});
