import { describe, expect, it } from 'vitest';
import { CONTAINER_ID_MAX, checkContainerId, isContainerId } from './container-id.js';

describe('container id grammar', () => {
  it.each([
    ['a'],
    ['0'],
    ['web-1'],
    ['my_app.v2+build'],
    ['f'.repeat(64)],
    ['1b4e28ba-2fa1-11d2-883f-0016d3cca427'],
    ['a...b'],
    ['x'.repeat(CONTAINER_ID_MAX)],
  ])('accepts %j', (id) => {
    expect(isContainerId(id)).toBe(true);
    expect(() => checkContainerId(id)).not.toThrow();
  });

  it.each([
    [''],
    ['.'],
    ['..'],
    ['../etc'],
    ['a/b'],
    ['-flag'],
    ['.hidden'],
    ['_x'],
    ['+x'],
    ['sp ace'],
    ['tab\t'],
    ['new\nline'],
    ['é'],
    ['a:b'],
    ['x'.repeat(CONTAINER_ID_MAX + 1)],
  ])('rejects %j with INVALID_ARGUMENT naming it', (id) => {
    expect(isContainerId(id)).toBe(false);
    expect(() => checkContainerId(id)).toThrow(
      expect.objectContaining({
        code: 'INVALID_ARGUMENT',
        message: expect.stringContaining(`container ${JSON.stringify(id)}: invalid id`),
      }),
    );
  });

  it('rejects what is not a string', () => {
    for (const id of [undefined, null, 42, {}]) {
      expect(isContainerId(id)).toBe(false);
      expect(() => checkContainerId(id)).toThrow(/invalid id/);
    }
  });
});
