// Docker's merge rules of a create request over its image's config, as a table.
import { describe, expect, it } from 'vitest';
import { isBerthError } from '../errdefs/errors.js';
import { mergeConfig } from './merge-config.js';

const image = {
  Entrypoint: ['/entry'],
  Cmd: ['default', 'arg'],
  Env: ['PATH=/img/bin', 'A=image', 'B=image'],
  WorkingDir: '/srv',
  User: 'app',
  Labels: { a: 'image', b: 'image' },
};

describe('mergeConfig', () => {
  it.each([
    ['image entrypoint and cmd', {}, image, '/entry', ['default', 'arg']],
    ['request cmd replaces the image cmd, keeps the entrypoint', { Cmd: ['x'] }, image, '/entry', ['x']],
    ['request entrypoint drops the image cmd', { Entrypoint: ['/other'] }, image, '/other', []],
    ['request entrypoint and cmd', { Entrypoint: ['/other', '-v'], Cmd: ['y'] }, image, '/other', ['-v', 'y']],
    [
      'empty entrypoint ([""]) clears both and uses the request cmd',
      { Entrypoint: [''], Cmd: ['/bin/sh', '-c', 'true'] },
      image,
      '/bin/sh',
      ['-c', 'true'],
    ],
    ['empty request cmd falls back to the image cmd', { Cmd: [] }, { Cmd: ['/bin/true'] }, '/bin/true', []],
    ['no image entrypoint: cmd alone', { Cmd: ['/bin/echo', 'hi'] }, { Cmd: ['/bin/true'] }, '/bin/echo', ['hi']],
  ])('%s', (_name, req, img, path, args) => {
    const m = mergeConfig(req, img, 'img');
    expect(m.path).toBe(path);
    expect(m.args).toEqual(args);
  });

  it('puts the request env first and adds the image keys it does not set', () => {
    const m = mergeConfig({ Env: ['A=req', 'C=req'] }, image, 'img');
    expect(m.config.Env).toEqual(['A=req', 'C=req', 'PATH=/img/bin', 'B=image']);
  });

  it('takes WorkingDir, User from the request over the image, and merges labels', () => {
    expect(mergeConfig({}, image, 'img').config).toMatchObject({ WorkingDir: '/srv', User: 'app' });
    const m = mergeConfig({ WorkingDir: '/w', User: '1000:1000', Labels: { b: 'req', c: 'req' } }, image, 'img');
    expect(m.config).toMatchObject({ WorkingDir: '/w', User: '1000:1000', Labels: { a: 'image', b: 'req', c: 'req' } });
  });

  it.each([
    ['no command at all', {}, {}, /img: no command specified/],
    ['a relative working directory', { Cmd: ['x'], WorkingDir: 'rel' }, {}, /working directory "rel" is invalid/],
    ['an env entry without =', { Cmd: ['x'], Env: ['NOVALUE'] }, {}, /env "NOVALUE": expected KEY=VALUE/],
    ['an env entry with an empty key', { Cmd: ['x'], Env: ['=v'] }, {}, /env "=v"/],
  ])('fails INVALID_ARGUMENT for %s', (_name, req, img, message) => {
    let err: unknown;
    try {
      mergeConfig(req, img, 'img');
    } catch (e) {
      err = e;
    }
    expect(isBerthError(err, 'INVALID_ARGUMENT')).toBe(true);
    expect((err as Error).message).toMatch(message);
  });
});
