// The decompressor that picks gzip, zstd or none from the stream's first bytes.
import { Readable } from 'node:stream';
import { execa } from 'execa';
import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { sniffingDecompressor } from './sniff-decompress.js';
import { zstdStored } from './test-registry.js';
import { needs, tool } from '../../../testkit/needs.js';

async function run(input: Buffer, chunk = 7): Promise<Buffer> {
  const parts: Buffer[] = [];
  for (let i = 0; i < input.length; i += chunk) parts.push(input.subarray(i, i + chunk));
  const out: Buffer[] = [];
  for await (const c of Readable.from(parts).pipe(sniffingDecompressor())) out.push(c as Buffer);
  return Buffer.concat(out);
}

describe('sniffingDecompressor', () => {
  const data = Buffer.from('layer bytes '.repeat(20_000));
  it.each([
    ['gzip', gzipSync(data)],
    ['zstd', zstdStored(data)],
    ['none', data],
  ])('decompresses %s chosen by magic', async (_kind, input) => {
    expect((await run(input, 4096)).equals(data)).toBe(true);
  });

  needs(tool('zstd')).it('decompresses real zstd frames (made by the zstd CLI)', async () => {
    const { stdout } = await execa('zstd', ['-c', '-3'], { input: data, encoding: 'buffer' });
    const compressed = Buffer.from(stdout);
    expect(compressed.length).toBeLessThan(data.length / 10);
    expect((await run(compressed, 1500)).equals(data)).toBe(true);
  });

  it('handles inputs shorter than the magic and empty inputs', async () => {
    expect((await run(Buffer.from('ab'))).toString()).toBe('ab');
    expect((await run(Buffer.alloc(0))).length).toBe(0);
  });

  it('errors on corrupt gzip', async () => {
    const bad = gzipSync(data);
    bad[30] = bad[30]! ^ 0xff;
    bad[31] = bad[31]! ^ 0xff;
    await expect(run(bad, 1000)).rejects.toThrow();
  });
});
