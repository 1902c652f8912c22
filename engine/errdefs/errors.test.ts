import { describe, expect, it } from 'vitest';
import { BerthError, ErrorCode, internal, isBerthError, notFound, wrap } from './errors.js';

describe('BerthError', () => {
  it('keeps code, message, cause and details', () => {
    const cause = new Error('low level');
    const err = notFound('image busybox:latest: not found', { cause, details: { ref: 'busybox:latest' } });
    expect(err).toBeInstanceOf(BerthError);
    expect(err).toBeInstanceOf(Error);
    expect(err.code).toBe('NOT_FOUND');
    expect(err.message).toBe('image busybox:latest: not found');
    expect(err.cause).toBe(cause);
    expect(err.toJSON()).toEqual({
      code: 'NOT_FOUND',
      message: 'image busybox:latest: not found',
      details: { ref: 'busybox:latest' },
    });
    expect(isBerthError(err, ErrorCode.NOT_FOUND)).toBe(true);
    expect(isBerthError(err, ErrorCode.CONFLICT)).toBe(false);
    expect(isBerthError(new Error('x'))).toBe(false);
  });

  it.each([
    ['ENOENT', 'NOT_FOUND'],
    ['EEXIST', 'ALREADY_EXISTS'],
    ['EACCES', 'PERMISSION_DENIED'],
    ['EPERM', 'PERMISSION_DENIED'],
    ['EBUSY', 'CONFLICT'],
    ['ENOSPC', 'RESOURCE_EXHAUSTED'],
    ['EINVAL', 'INVALID_ARGUMENT'],
    ['EWEIRD', 'INTERNAL'],
  ])('wrap classes a system error %s as %s and names the subject', (errno, code) => {
    const sys = Object.assign(new Error(`${errno}: something, open '/x'`), { code: errno, path: '/x' });
    const err = wrap(sys, 'vfs create abc: open /x');
    expect(err.code).toBe(code);
    expect(err.message).toBe(`vfs create abc: open /x: ${errno}: something, open '/x'`);
    expect(err.details).toEqual({ errno, path: '/x' });
    expect(err.cause).toBe(sys);
  });

  it('wrap prefixes a BerthError and keeps its code', () => {
    const inner = internal('digest mismatch');
    const err = wrap(inner, 'layer sha256:ab');
    expect(err.code).toBe('INTERNAL');
    expect(err.message).toBe('layer sha256:ab: digest mismatch');
    expect(err.cause).toBe(inner);
  });

  it('wrap turns an AbortError into CANCELLED and a non-error into a message', () => {
    const abort = Object.assign(new Error('The operation was aborted'), { name: 'AbortError' });
    expect(wrap(abort, 'pull busybox').code).toBe('CANCELLED');
    expect(wrap(abort, 'pull busybox').message).toBe('pull busybox: cancelled');
    const odd = wrap(42, 'thing');
    expect(odd.code).toBe('INTERNAL');
    expect(odd.message).toBe('thing: 42');
  });
});
