// The corpus command: argument parsing with errors naming the flag, a quick build
// with its summary, and the exit status on bad usage.
import { mkdtempSync } from 'node:fs';
import { rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { main, parseCorpusArgs } from './corpus.js';

describe('parseCorpusArgs', () => {
  it('reads every option and applies the defaults', () => {
    // by default the corpus goes into an embedded registry under the output folder
    expect(parseCorpusArgs(['--out', '/tmp/x'])).toMatchObject({
      out: '/tmp/x',
      seed: 1,
      profile: 'default',
      images: undefined,
      compressions: undefined,
      push: { root: '/tmp/x/registry' },
    });
    expect(parseCorpusArgs(['--out', '/tmp/x', '--no-push']).push).toBeUndefined();
    expect(parseCorpusArgs(['--out', '/tmp/x', '--registry', 'http://127.0.0.1:5000']).push).toBe(
      'http://127.0.0.1:5000',
    );
    expect(parseCorpusArgs(['--out', '/tmp/x', '--push', 'http://127.0.0.1:5000']).push).toBe('http://127.0.0.1:5000');
    expect(
      parseCorpusArgs([
        '--out',
        'd',
        '--images',
        'tiny,deep',
        '--seed',
        '9',
        '--profile',
        'quick',
        '--compression',
        'gzip,zstd',
        '--push-root',
        '/r',
      ]),
    ).toMatchObject({
      images: ['tiny', 'deep'],
      seed: 9,
      profile: 'quick',
      compressions: ['gzip', 'zstd'],
      push: { root: '/r' },
    });
  });

  it('names the bad flag', () => {
    expect(() => parseCorpusArgs([])).toThrow(/--out DIR is required/);
    expect(() => parseCorpusArgs(['--out', 'd', '--seed', 'x'])).toThrow(/--seed "x"/);
    expect(() => parseCorpusArgs(['--out', 'd', '--images', 'tiny,huge'])).toThrow(/unknown image "huge"/);
    expect(() => parseCorpusArgs(['--out', 'd', '--compression', 'lz4'])).toThrow(/--compression: unknown "lz4"/);
    expect(() => parseCorpusArgs(['--out', 'd', '--profile', 'slow'])).toThrow(/--profile "slow"/);
    expect(() => parseCorpusArgs(['--out', 'd', '--push', 'http://127.0.0.1:1', '--push-root', 'r'])).toThrow(
      /exclude each other/,
    );
    expect(() => parseCorpusArgs(['--out', 'd', '--registry', 'http://127.0.0.1:1', '--no-push'])).toThrow(
      /exclude each other/,
    );
    expect(() =>
      parseCorpusArgs(['--out', 'd', '--registry', 'http://127.0.0.1:1', '--push', 'http://127.0.0.1:2']),
    ).toThrow(/give one/);
  });
});

describe('main', () => {
  const dir = mkdtempSync(join(tmpdir(), `berth-corpus-cli-${process.pid}-`));
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('builds the named images, prints a summary and pushes into a registry root', async () => {
    let out = '';
    const code = await main(
      [
        '--out',
        join(dir, 'c'),
        '--images',
        'tiny',
        '--profile',
        'quick',
        '--seed',
        '2',
        '--push-root',
        join(dir, 'registry'),
        '--quiet',
      ],
      (s) => (out += s),
      () => undefined,
    );
    expect(code).toBe(0);
    expect(out).toMatch(/^tiny: 1 layers, 7 files, .* latest sha256:[0-9a-f]{64}$/m);
    expect(out).toMatch(/pushed 3 refs/);
    expect((await stat(join(dir, 'c', 'corpus.json'))).isFile()).toBe(true);
    expect(
      (await stat(join(dir, 'registry', 'repositories', 'berth-corpus', 'tiny', '_oci', 'index.json'))).isFile(),
    ).toBe(true);
  });

  it('exits 2 with the usage on bad arguments', async () => {
    let err = '';
    expect(
      await main(
        ['--images', 'tiny'],
        () => undefined,
        (s) => (err += s),
      ),
    ).toBe(2);
    expect(err).toMatch(/--out DIR is required/);
    expect(err).toMatch(/usage: npm run corpus/);
  });
});
