// Cross-repository mounts racing each other, pushes and deletes of the same blob:
// every mount answers 201 (or a plain session when the source is gone), the blob
// is whole in the target, and tmp/ holds nothing afterwards.
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestRegistry, type TestRegistry } from './registry-test-kit.js';
import { sha256 } from './test-image.js';

let reg: TestRegistry;

beforeAll(async () => {
  reg = await startTestRegistry();
});

afterAll(async () => {
  await reg?.close();
});

const mount = (target: string, digest: string, from: string) =>
  reg.api(`/v2/${target}/blobs/uploads/?mount=${digest}&from=${from}`, { method: 'POST' });

describe('concurrent mounts', () => {
  it('many mounts of one blob into the same repositories all succeed and leave no temporary file', async () => {
    const bytes = Buffer.from('a blob mounted many times at once');
    const digest = sha256(bytes);
    await reg.pushBlob('race/source-a', bytes);
    await reg.pushBlob('race/source-b', bytes);
    for (let round = 0; round < 3; round++) {
      const answers = await Promise.all(
        Array.from({ length: 40 }, async (_, i) => {
          const res = await mount(
            `race/target${round}/r${i % 3}`,
            digest,
            i % 2 === 0 ? 'race/source-a' : 'race/source-b',
          );
          await res.arrayBuffer();
          return res.status;
        }),
      );
      expect(answers.filter((s) => s !== 201)).toEqual([]);
    }
    for (let r = 0; r < 3; r++) {
      const got = await reg.api(`/v2/race/target0/r${r}/blobs/${digest}`);
      expect(Buffer.from(await got.arrayBuffer()).equals(bytes)).toBe(true);
    }
    expect(await readdir(join(reg.root, 'tmp'))).toEqual([]);
  });

  it('mounts racing pushes and deletes of the same blob never answer 5xx', async () => {
    const bytes = Buffer.from('a blob pushed, mounted and deleted at once');
    const digest = sha256(bytes);
    await reg.pushBlob('race2/source', bytes);
    const work: Promise<number>[] = [];
    for (let i = 0; i < 30; i++) {
      work.push(
        mount('race2/target', digest, 'race2/source').then(async (res) => (await res.arrayBuffer(), res.status)),
      );
      if (i % 3 === 0)
        work.push(
          reg
            .api(`/v2/race2/target/blobs/${digest}`, { method: 'DELETE' })
            .then(async (res) => (await res.arrayBuffer(), res.status)),
        );
      if (i % 5 === 0) {
        work.push(
          reg
            .api(`/v2/race2/target/blobs/uploads/?digest=${digest}`, { method: 'POST', body: new Uint8Array(bytes) })
            .then(async (res) => (await res.arrayBuffer(), res.status)),
        );
      }
    }
    const statuses = await Promise.all(work);
    expect(statuses.filter((s) => s >= 500)).toEqual([]);
    // Whatever the order, the blob ends up either absent or whole.
    const last = await mount('race2/target', digest, 'race2/source');
    expect(last.status).toBe(201);
    const got = await reg.api(`/v2/race2/target/blobs/${digest}`);
    expect(Buffer.from(await got.arrayBuffer()).equals(bytes)).toBe(true);
    expect(await readdir(join(reg.root, 'tmp'))).toEqual([]);
  });
});
