// Reference store tests: tagging, digests, resolution by name and id prefix,
// persistence and serialised concurrent writes.
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { isBerthError } from '../errdefs/errors.js';
import { background } from '../trace/context.js';
import { digestOf } from './digest.js';
import { ReferenceStore } from './reference-store.js';

const ctx = background();
let root: string;
let refs: ReferenceStore;
const A = digestOf('image a');
const B = digestOf('image b');

beforeEach(async () => {
  root = await mkdtemp(join(tmpdir(), `berth-refs-${process.pid}-`));
  refs = new ReferenceStore(root);
});
afterEach(async () => {
  await rm(root, { recursive: true, force: true });
});

async function failure(p: Promise<unknown>): Promise<{ code: string; message: string }> {
  try {
    await p;
  } catch (err) {
    return { code: isBerthError(err) ? err.code : 'NOT_BERTH', message: (err as Error).message };
  }
  throw new Error('expected a failure');
}

describe('ReferenceStore', () => {
  it('tags by normalised name and resolves full and familiar forms', async () => {
    expect(await refs.add(ctx, 'busybox', A)).toBeUndefined();
    expect(await refs.get(ctx, 'docker.io/library/busybox:latest')).toBe(A);
    expect(await refs.resolve(ctx, 'busybox')).toBe(A);
    expect(await refs.resolve(ctx, 'busybox:latest')).toBe(A);
    expect(await refs.resolve(ctx, 'docker.io/library/busybox')).toBe(A);
    expect(await refs.list(ctx)).toEqual([
      { reference: 'docker.io/library/busybox:latest', familiar: 'busybox:latest', imageID: A },
    ]);
  });

  it('moves a tag, but refuses to move a digest reference unless forced', async () => {
    await refs.add(ctx, 'app:v1', A);
    expect(await refs.add(ctx, 'app:v1', A)).toBe(A); // idempotent
    expect(await refs.add(ctx, 'app:v1', B)).toBe(A);
    expect(await refs.get(ctx, 'app:v1')).toBe(B);
    const d = `localhost:5000/app@${digestOf('manifest')}`;
    await refs.add(ctx, d, A);
    expect(await failure(refs.add(ctx, d, B))).toEqual({
      code: 'CONFLICT',
      message: `reference ${d}: already points to image ${A}`,
    });
    expect(await refs.add(ctx, d, B, { force: true })).toBe(A);
    expect(await failure(refs.add(ctx, `app:v1@${digestOf('m')}`, A))).toMatchObject({ code: 'INVALID_ARGUMENT' });
    expect(await failure(refs.add(ctx, 'Bad', A))).toMatchObject({ code: 'INVALID_ARGUMENT' });
    expect(await failure(refs.add(ctx, 'ok', 'sha256:nope'))).toMatchObject({ code: 'INVALID_ARGUMENT' });
  });

  it('resolves unambiguous id prefixes of at least 12 hex characters', async () => {
    const ids = [
      'sha256:' + 'a'.repeat(12) + '1'.repeat(52),
      'sha256:' + 'a'.repeat(12) + '2'.repeat(52),
      'sha256:' + 'b'.repeat(64),
    ];
    const store = new ReferenceStore(root, { imageIDs: async () => ids });
    expect(await store.resolve(ctx, 'b'.repeat(12))).toBe(ids[2]);
    expect(await store.resolve(ctx, `sha256:${'b'.repeat(20)}`)).toBe(ids[2]);
    expect(await store.resolve(ctx, ids[0]!)).toBe(ids[0]);
    expect(await store.resolve(ctx, 'a'.repeat(12) + '1')).toBe(ids[0]);
    const amb = await failure(store.resolve(ctx, 'a'.repeat(12)));
    expect(amb.code).toBe('CONFLICT');
    expect(amb.message).toBe(`image ${'a'.repeat(12)}: ambiguous id prefix, matches ${ids[0]}, ${ids[1]}`);
    expect(await failure(store.resolve(ctx, 'b'.repeat(11)))).toMatchObject({ code: 'NOT_FOUND' });
    expect(await failure(store.resolve(ctx, `sha256:${'c'.repeat(64)}`))).toEqual({
      code: 'NOT_FOUND',
      message: `image sha256:${'c'.repeat(64)}: not found`,
    });
    expect(await failure(store.resolve(ctx, 'nothing'))).toMatchObject({ code: 'NOT_FOUND' });
  });

  it('untags, and removes every reference of an image', async () => {
    await refs.add(ctx, 'a:1', A);
    await refs.add(ctx, 'a:2', A);
    await refs.add(ctx, 'b', B);
    expect(await refs.delete(ctx, 'a:1')).toBe(A);
    expect(await failure(refs.delete(ctx, 'a:1'))).toEqual({
      code: 'NOT_FOUND',
      message: 'reference docker.io/library/a:1: not found',
    });
    expect(await refs.deleteImage(ctx, A)).toEqual(['docker.io/library/a:2']);
    expect((await refs.list(ctx)).map((e) => e.familiar)).toEqual(['b:latest']);
    expect(await refs.list(ctx, A)).toEqual([]);
  });

  it('persists atomically and serialises concurrent writers', async () => {
    await Promise.all(Array.from({ length: 20 }, (_, i) => refs.add(ctx, `img:t${i}`, i % 2 ? A : B)));
    const reopened = new ReferenceStore(root);
    expect((await reopened.list(ctx)).length).toBe(20);
    expect(await reopened.get(ctx, 'img:t3')).toBe(A);
    const file = JSON.parse(await readFile(refs.path, 'utf8'));
    expect(Object.keys(file.references)).toHaveLength(20);
    expect((await readdir(join(root, 'image'))).filter((n) => n.endsWith('.tmp'))).toEqual([]);
  });
});
