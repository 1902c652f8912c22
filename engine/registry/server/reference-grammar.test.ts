// The spec's grammars for names, tags and digests, checked on their edge cases.
import { describe, expect, it } from 'vitest';
import { isBerthError } from '../../errdefs/errors.js';
import { checkName, checkTag, isValidName, isValidTag, parseDigest } from './reference-grammar.js';

describe('repository names', () => {
  it.each([
    ['library/busybox', true],
    ['a', true],
    ['a.b_c__d-e---f/g0', true],
    ['a/b/c/d/e', true],
    ['a'.repeat(255), true],
    ['a'.repeat(256), false],
    ['A', false],
    ['a_', false],
    ['_a', false],
    ['a___b', false],
    ['a/', false],
    ['/a', false],
    ['a//b', false],
    ['a/../b', false],
    ['a..b', false],
    ['', false],
  ])('%s → %s', (name, valid) => {
    expect(isValidName(name)).toBe(valid);
  });

  it('checkName fails with NAME_INVALID naming the input', () => {
    try {
      checkName('Bad/Name');
      expect.unreachable();
    } catch (err) {
      expect(isBerthError(err)).toBe(true);
      expect((err as Error).message).toMatch(/^repository "Bad\/Name": /);
      expect((err as { details: { distribution: string } }).details.distribution).toBe('NAME_INVALID');
    }
  });
});

describe('tags', () => {
  it.each([
    ['latest', true],
    ['_under', true],
    ['v1.2.3-rc.1_build', true],
    ['a'.repeat(128), true],
    ['a'.repeat(129), false],
    ['.hidden', false],
    ['-dash', false],
    ['has/slash', false],
    ['', false],
  ])('%s → %s', (tag, valid) => {
    expect(isValidTag(tag)).toBe(valid);
  });

  it('checkTag fails with TAG_INVALID', () => {
    expect(() => checkTag('-x')).toThrow(/tag "-x": invalid tag/);
  });
});

describe('digests', () => {
  const hex64 = 'a'.repeat(64);
  it.each([
    [`sha256:${hex64}`, 'sha256'],
    [`sha512:${'0'.repeat(128)}`, 'sha512'],
  ])('%s parses', (text, algorithm) => {
    expect(parseDigest(text)).toEqual({ algorithm, hex: text.split(':')[1], text });
  });

  it.each([
    [`sha256:${'a'.repeat(63)}`, /64 lowercase hex/],
    [`sha256:${'A'.repeat(64)}`, /64 lowercase hex/],
    [`sha512:${hex64}`, /128 lowercase hex/],
    [`md5:${'a'.repeat(32)}`, /unsupported digest algorithm md5/],
    ['sha256', /invalid digest/],
    [`SHA256:${hex64}`, /invalid digest/],
  ])('%s is DIGEST_INVALID', (text, message) => {
    expect(() => parseDigest(text)).toThrow(message);
  });
});
