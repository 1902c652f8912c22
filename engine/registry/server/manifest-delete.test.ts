// Manifest deletes keep indexes whole: a manifest an index of the repository lists
// is refused (409 DENIED naming the index) until the index is gone, and a manifest
// no index lists goes with its tags.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { errorsOf, OCI_INDEX, startTestRegistry, type TestRegistry } from './registry-test-kit.js';
import { buildIndex } from './test-image.js';

let reg: TestRegistry;

beforeAll(async () => {
  reg = await startTestRegistry();
});

afterAll(async () => {
  await reg?.close();
});

const del = (name: string, ref: string) => reg.api(`/v2/${name}/manifests/${ref}`, { method: 'DELETE' });
const status = async (path: string) => (await reg.api(path, { method: 'HEAD' })).status;

describe('manifest deletes', () => {
  it('refuses a child of an index (409 DENIED naming the index) and allows it once the index is deleted', async () => {
    const name = 'mdel/multi';
    const amd = await reg.pushImage(name, 'amd64', 'amd');
    const arm = await reg.pushImage(name, 'arm64', 'arm');
    const index = buildIndex([
      { image: amd, architecture: 'amd64' },
      { image: arm, architecture: 'arm64' },
    ]);
    expect((await reg.putManifest(name, 'multi', index.bytes, OCI_INDEX)).status).toBe(201);

    const refused = await del(name, amd.manifest.digest);
    expect(refused.status).toBe(409);
    const [error] = await errorsOf(refused);
    expect(error?.code).toBe('DENIED');
    expect(error?.message).toContain(amd.manifest.digest);
    expect(error?.message).toContain(index.digest);
    expect(error?.detail).toMatchObject({
      digest: amd.manifest.digest,
      reason: 'referenced',
      manifests: [{ digest: index.digest, tags: ['multi'], where: ['manifests[0]'] }],
    });
    // Nothing changed: the child, its tag and the index all still resolve.
    expect(await status(`/v2/${name}/manifests/${amd.manifest.digest}`)).toBe(200);
    expect(await status(`/v2/${name}/manifests/amd64`)).toBe(200);
    expect(await status(`/v2/${name}/manifests/multi`)).toBe(200);

    // A tag of the child may go: the manifest itself stays for the index.
    expect((await del(name, 'amd64')).status).toBe(202);
    expect((await del(name, amd.manifest.digest)).status).toBe(409);

    expect((await del(name, index.digest)).status).toBe(202);
    expect((await del(name, amd.manifest.digest)).status).toBe(202);
    expect(await status(`/v2/${name}/manifests/${amd.manifest.digest}`)).toBe(404);
    expect(await status(`/v2/${name}/manifests/arm64`)).toBe(200);
  });

  it('an untagged index protects its children too', async () => {
    const name = 'mdel/untagged';
    const one = await reg.pushImage(name, 'one');
    const index = buildIndex([{ image: one, architecture: 'amd64' }]);
    expect((await reg.putManifest(name, index.digest, index.bytes, OCI_INDEX)).status).toBe(201);
    const refused = await del(name, one.manifest.digest);
    expect(refused.status).toBe(409);
    expect((await errorsOf(refused))[0]?.detail).toMatchObject({ manifests: [{ digest: index.digest, tags: [] }] });
  });
});
