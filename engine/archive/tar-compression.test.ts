// zstd through the system's libzstd (native core) against the zstd CLI's output:
// chunking, several frames, a highly compressed input decoded in bounded steps,
// truncated and corrupt input, and the same bytes as the JS fallback.
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { isBerthError } from '../errdefs/errors.js';
import { native } from '../../native/index.js';
import { decompressStream, fzstdStream, libzstdStream, zstdDecoderInfo } from './tar-compression.js';
import { needs, tool, when } from '../../testkit/needs.js';

const hasCli = (() => {
  try {
    execFileSync('zstd', ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
})();
const zstd = (input: Buffer, level = 3): Buffer =>
  execFileSync('zstd', ['-q', '-c', `-${level}`], { input, maxBuffer: 1 << 30 });

async function drain(chunks: readonly Buffer[], stream = libzstdStream()): Promise<Buffer[]> {
  const out: Buffer[] = [];
  for await (const c of Readable.from(chunks).pipe(stream)) out.push(c as Buffer);
  return out;
}

async function failure(chunks: readonly Buffer[]): Promise<unknown> {
  return drain(chunks).then(
    () => undefined,
    (e: unknown) => e,
  );
}

const info = zstdDecoderInfo();

needs(when(info.kind === 'libzstd', 'needs libzstd.so.1 (apt package libzstd1)'), tool('zstd')).describe(
  'zstd through libzstd',
  () => {
    // a mix of incompressible and repetitive data, as layers are
    const plain = Buffer.concat([randomBytes(300_000), Buffer.alloc(700_000, 'berth '), randomBytes(50_000)]);

    it('is the decoder this host uses, and decodes what the zstd CLI wrote, in any chunking', async () => {
      expect(decompressStream('zstd').constructor.name).toBe(libzstdStream().constructor.name);
      const packed = zstd(plain);
      for (const cuts of [
        [packed.length],
        [1, 7, 4096, packed.length],
        Array.from({ length: 40 }, (_, i) => Math.floor(((i + 1) * packed.length) / 40)),
      ]) {
        let at = 0;
        const chunks = cuts.map((end) => {
          const c = packed.subarray(at, end);
          at = end;
          return c;
        });
        expect(Buffer.concat(await drain(chunks)).equals(plain)).toBe(true);
      }
    });

    it('gives the same bytes as the JS fallback', async () => {
      const packed = zstd(plain, 9);
      expect(Buffer.concat(await drain([packed], fzstdStream())).equals(Buffer.concat(await drain([packed])))).toBe(
        true,
      );
    });

    it('decodes several concatenated frames as one stream', async () => {
      const a = randomBytes(10_000);
      const b = Buffer.alloc(50_000, 'x');
      const out = await drain([Buffer.concat([zstd(a), zstd(b, 19)])]);
      expect(Buffer.concat(out).equals(Buffer.concat([a, b]))).toBe(true);
    });

    it('decodes a tiny input that inflates to 64 MiB in 1 MiB buffers, stepwise', async () => {
      const zeros = Buffer.alloc(64 << 20);
      const packed = zstd(zeros, 19);
      expect(packed.length).toBeLessThan(64 << 10);
      // one native call stops after 8 MiB of output and says how much input it consumed
      const dec = native().zstdDecoder();
      try {
        const first = await native().zstdDecode(dec, packed);
        const produced = first.chunks.reduce((n, c) => n + c.length, 0);
        expect(produced).toBeGreaterThanOrEqual(8 << 20);
        expect(produced).toBeLessThan(10 << 20);
        expect(first.hint).not.toBe(0);
      } finally {
        native().zstdFree(dec);
      }
      const out = await drain([packed]);
      expect(Math.max(...out.map((c) => c.length))).toBeLessThanOrEqual(1 << 20);
      expect(out.reduce((n, c) => n + c.length, 0)).toBe(zeros.length);
      expect(out.every((c) => c.every((x) => x === 0))).toBe(true);
    });

    it('fails truncated and corrupt input with INVALID_ARGUMENT', async () => {
      const packed = zstd(plain);
      const truncated = await failure([packed.subarray(0, packed.length - 10)]);
      expect(isBerthError(truncated, 'INVALID_ARGUMENT')).toBe(true);
      expect((truncated as Error).message).toMatch(/zstd stream: truncated/);
      const corrupt = Buffer.from(packed);
      for (let i = 100; i < 200; i++) corrupt[i] = corrupt[i]! ^ 0x5a;
      const bad = await failure([corrupt]);
      expect(isBerthError(bad, 'INVALID_ARGUMENT')).toBe(true);
      expect((bad as Error).message).toMatch(/^zstd stream: /);
    });

    it('refuses a freed decoder and bad arguments', async () => {
      const dec = native().zstdDecoder();
      native().zstdFree(dec);
      expect(() => native().zstdDecode(dec, Buffer.alloc(1))).toThrow(/decoder was freed/);
      expect(() => (native().zstdDecode as (d: unknown, b: unknown) => unknown)({}, Buffer.alloc(1))).toThrow(
        /handle from zstdDecoder/,
      );
      expect(() => (native().zstdDecode as (d: unknown, b: unknown) => unknown)(native().zstdDecoder(), 'x')).toThrow(
        /input must be a Buffer/,
      );
    });
  },
);
