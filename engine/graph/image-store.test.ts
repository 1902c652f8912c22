// Image config validation, chainIDs and the image store's records.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { isBerthError } from '../errdefs/errors.js';
import { background } from '../trace/context.js';
import { ContentStore } from './content-store.js';
import { digestOf } from './digest.js';
import { chainIDs, ImageStore, parseImageConfig } from './image-store.js';

const ctx = background();
const D1 = digestOf('layer 1');
const D2 = digestOf('layer 2');
const good = { architecture: 'arm64', os: 'linux', rootfs: { type: 'layers', diff_ids: [D1, D2] } };

describe('parseImageConfig', () => {
  it('accepts a minimal config and keeps unknown fields', () => {
    const c = parseImageConfig(JSON.stringify({ ...good, 'x-extra': 1 }));
    expect(c.rootfs.diff_ids).toEqual([D1, D2]);
    expect(c['x-extra']).toBe(1);
  });

  it.each([
    ['not json', '{', /not JSON/],
    ['an array', '[]', /not a JSON object/],
    ['no os', JSON.stringify({ ...good, os: undefined }), /missing os/],
    ['no architecture', JSON.stringify({ ...good, architecture: '' }), /missing architecture/],
    ['no rootfs', JSON.stringify({ ...good, rootfs: undefined }), /missing rootfs/],
    [
      'wrong rootfs type',
      JSON.stringify({ ...good, rootfs: { type: 'tar', diff_ids: [] } }),
      /rootfs.type "tar" is not "layers"/,
    ],
    [
      'diff_ids not an array',
      JSON.stringify({ ...good, rootfs: { type: 'layers', diff_ids: D1 } }),
      /diff_ids is not an array/,
    ],
    [
      'bad diff_id',
      JSON.stringify({ ...good, rootfs: { type: 'layers', diff_ids: [D1, 'sha256:xyz'] } }),
      /rootfs.diff_ids\[1\] "sha256:xyz"/,
    ],
    ['history not an array', JSON.stringify({ ...good, history: {} }), /history is not an array/],
  ])('rejects %s', (_what, text, why) => {
    let err: unknown;
    try {
      parseImageConfig(text);
    } catch (e) {
      err = e;
    }
    expect(isBerthError(err, 'INVALID_ARGUMENT')).toBe(true);
    expect((err as Error).message.startsWith(`image config ${digestOf(text)}: `)).toBe(true);
    expect((err as Error).message).toMatch(why);
  });
});

describe('chainIDs', () => {
  it('follows the OCI definition', () => {
    const c2 = digestOf(`${D1} ${D2}`);
    const D3 = digestOf('layer 3');
    expect(chainIDs([])).toEqual([]);
    expect(chainIDs([D1, D2, D3])).toEqual([D1, c2, digestOf(`${c2} ${D3}`)]);
    expect(() => chainIDs(['nope'])).toThrow(/diff_ids\[0\] "nope"/);
  });
});

describe('ImageStore', () => {
  let root: string;
  let content: ContentStore;
  let images: ImageStore;
  beforeEach(async () => {
    root = await mkdtemp(join(tmpdir(), `berth-images-${process.pid}-`));
    content = new ContentStore(root);
    images = new ImageStore(root, content);
  });
  afterEach(async () => {
    await rm(root, { recursive: true, force: true });
  });

  it('stores the exact config bytes under their digest, idempotently', async () => {
    const bytes = JSON.stringify(good, null, 3);
    const manifest = digestOf('manifest');
    const { image, created } = await images.create(ctx, bytes, { blobs: [manifest] });
    expect(created).toBe(true);
    expect(image.id).toBe(digestOf(bytes));
    expect(image.chainID).toBe(chainIDs([D1, D2])[1]);
    expect((await content.readBlob(ctx, image.id)).toString()).toBe(bytes);
    const again = await images.create(ctx, bytes);
    expect(again.created).toBe(false);
    expect(again.image.blobs).toEqual([manifest]);
    expect(await images.ids(ctx)).toEqual([image.id]);
    const got = await images.get(ctx, image.id);
    expect(got.config.architecture).toBe('arm64');
    expect(got.addedAt).toBe(image.addedAt);
    expect((await images.list(ctx)).map((i) => i.id)).toEqual([image.id]);
    // a store reopened on the same root sees it
    expect(await new ImageStore(root, new ContentStore(root)).has(ctx, image.id)).toBe(true);
  });

  it('gives an image without layers a null chainID', async () => {
    const { image } = await images.create(ctx, JSON.stringify({ ...good, rootfs: { type: 'layers', diff_ids: [] } }));
    expect(image.chainID).toBeNull();
  });

  it('deletes the record and the config blob; NOT_FOUND afterwards', async () => {
    const { image } = await images.create(ctx, JSON.stringify(good));
    await images.delete(ctx, image.id);
    expect(await content.has(ctx, image.id)).toBe(false);
    // each call is awaited as it is made: a second rejection made up front could settle unobserved
    for (const call of [() => images.get(ctx, image.id), () => images.delete(ctx, image.id)]) {
      await expect(call()).rejects.toMatchObject({ code: 'NOT_FOUND', message: `image ${image.id}: not found` });
    }
    await expect(images.get(ctx, 'sha256:short')).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
  });

  it('reads a config blob once while its image stays, again after a delete and a new create', async () => {
    const read = content.readBlob.bind(content);
    const reads: string[] = [];
    content.readBlob = async (c, digest) => {
      reads.push(digest);
      return read(c, digest);
    };
    const { image } = await images.create(ctx, JSON.stringify(good));
    for (let i = 0; i < 3; i++) expect((await images.get(ctx, image.id)).config.architecture).toBe('arm64');
    expect(reads).toEqual([image.id]);
    await images.delete(ctx, image.id);
    await expect(images.get(ctx, image.id)).rejects.toMatchObject({ code: 'NOT_FOUND' });
    await images.create(ctx, JSON.stringify(good));
    await images.get(ctx, image.id);
    expect(reads).toEqual([image.id, image.id]);
    // the cache is bounded: after 64 other images were read, the first one is read from disk again
    for (let i = 0; i < 64; i++) {
      const other = await images.create(ctx, JSON.stringify({ ...good, created: `2020-01-01T00:00:${i}Z` }));
      await images.get(ctx, other.image.id);
    }
    reads.length = 0;
    await images.get(ctx, image.id);
    expect(reads).toEqual([image.id]);
  });

  it('refuses an invalid config without storing anything', async () => {
    await expect(images.create(ctx, '{"os":"linux"}')).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
    expect(await content.list(ctx)).toEqual([]);
    expect(await images.ids(ctx)).toEqual([]);
  });
});
