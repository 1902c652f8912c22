// Entry-name cleaning: the lexical half of the applier's path safety.
import { describe, expect, it } from 'vitest';
import { isBerthError } from '../errdefs/errors.js';
import { cleanEntryPath, splitPath } from './tar-path.js';

describe('cleanEntryPath', () => {
  it.each([
    ['a/b', 'a/b'],
    ['./a/b/', 'a/b'],
    ['a//b/./c', 'a/b/c'],
    ['a/../b', 'b'],
    ['./', ''],
    ['.', ''],
  ])('cleans %j to %j', (name, want) => {
    expect(cleanEntryPath(name)).toBe(want);
  });

  it.each(['../x', '/etc/passwd', 'a/../../x', '..', './../x', 'a/\0b'])('refuses %j naming it', (name) => {
    let err: unknown;
    try {
      cleanEntryPath(name);
    } catch (e) {
      err = e;
    }
    expect(isBerthError(err, 'INVALID_ARGUMENT')).toBe(true);
    expect((err as Error).message).toContain(`layer entry ${JSON.stringify(name)}`);
  });

  it('splits a path into parent and base', () => {
    expect(splitPath('a/b/c')).toEqual({ dir: 'a/b', base: 'c' });
    expect(splitPath('c')).toEqual({ dir: '', base: 'c' });
  });
});
