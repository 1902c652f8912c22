// writeLayer on its own: the variants of one tar agree, and a failing entry leaves
// no temp file or blob behind and names the layer and the entry.
import { createHash } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { mkdir, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { afterAll, describe, expect, it } from 'vitest';
import { createTextPool } from './content.js';
import type { LayerPlan } from './layer-plan.js';
import { writeLayer } from './write-layer.js';

const root = mkdtempSync(join(tmpdir(), `berth-corpus-layer-${process.pid}-`));
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

async function dirs(name: string): Promise<{ blobsDir: string; tmpDir: string }> {
  const blobsDir = join(root, name, 'blobs');
  const tmpDir = join(root, name, 'tmp');
  await mkdir(blobsDir, { recursive: true });
  await mkdir(tmpDir, { recursive: true });
  return { blobsDir, tmpDir };
}

const pool = createTextPool(1, 'test', 0);

describe('writeLayer', () => {
  it('writes the uncompressed and gzip variants of the same tar', async () => {
    const d = await dirs('ok');
    const plan: LayerPlan = {
      entries: [
        { path: 'a', type: 'directory', mode: 0o755, size: 0 },
        { path: 'a/big.bin', type: 'file', mode: 0o644, size: 700_000, kind: 'binary' },
        { path: 'a/link', type: 'symlink', mode: 0o777, size: 0, linkname: 'big.bin' },
        { path: 'a/x.txt', type: 'file', mode: 0o644, size: 3, data: Buffer.from('hi\n') },
      ],
      files: 2,
      whiteouts: 0,
      bytes: 700_003,
    };
    const written = await writeLayer(plan, { ...d, compressions: ['gzip', 'none'], pool, contentKey: 'ok' });
    const raw = await readFile(join(d.blobsDir, written.blobs.none!.digest.slice(7)));
    const gz = await readFile(join(d.blobsDir, written.blobs.gzip!.digest.slice(7)));
    expect(gunzipSync(gz).equals(raw)).toBe(true);
    expect(`sha256:${createHash('sha256').update(raw).digest('hex')}`).toBe(written.diffID);
    expect(raw.length).toBe(written.uncompressedSize);
    expect(raw.length % 512).toBe(0);
    expect(await readdir(d.tmpDir)).toEqual([]);
  });

  it('removes every temp file and names the layer and entry when an entry fails', async () => {
    const d = await dirs('bad');
    const missing: LayerPlan = {
      entries: [{ path: 'bin/gone', type: 'file', mode: 0o755, size: 10, source: join(root, 'no-such-file') }],
      files: 1,
      whiteouts: 0,
      bytes: 10,
    };
    await expect(
      writeLayer(missing, { ...d, compressions: ['gzip', 'none'], pool, contentKey: 'bad' }),
    ).rejects.toThrow(/corpus layer bad: .*ENOENT/);
    const short: LayerPlan = {
      entries: [{ path: 'etc/short', type: 'file', mode: 0o644, size: 10, data: Buffer.from('abc') }],
      files: 1,
      whiteouts: 0,
      bytes: 10,
    };
    await expect(writeLayer(short, { ...d, compressions: ['gzip'], pool, contentKey: 'short' })).rejects.toThrow(
      /corpus layer short: entry etc\/short: 3 bytes, expected 10/,
    );
    expect(await readdir(d.tmpDir)).toEqual([]);
    expect(await readdir(d.blobsDir)).toEqual([]);
  });
});
