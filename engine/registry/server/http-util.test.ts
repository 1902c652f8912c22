// The two range grammars: Range on blob reads and Content-Range on upload chunks.
import { describe, expect, it } from 'vitest';
import { parseByteRange, parseContentRange } from './http-util.js';

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
