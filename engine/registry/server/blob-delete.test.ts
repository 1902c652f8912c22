// Blob deletes never break what a repository still serves: a blob a manifest
// references and a manifest's own bytes are refused (409 DENIED, the reason in the
// detail), also when deletes race with pushes; tags, index.json and blobs agree.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { errorsOf, OCI_INDEX, OCI_MANIFEST, startTestRegistry, type TestRegistry } from './registry-test-kit.js';
import { buildIndex, buildImage, descriptor, sha256 } from './test-image.js';

let reg: TestRegistry;

beforeAll(async () => {
  reg = await startTestRegistry();
});

afterAll(async () => {
  await reg?.close();
});

const del = (name: string, digest: string) => reg.api(`/v2/${name}/blobs/${digest}`, { method: 'DELETE' });
const head = async (path: string) => (await reg.api(path, { method: 'HEAD' })).status;

/** Every tag listed resolves, and every blob its manifest names is there. */
async function expectConsistent(name: string): Promise<void> {
  const listed = (await (await reg.api(`/v2/${name}/tags/list`)).json()) as { tags: string[] };
  for (const tag of listed.tags) {
    const res = await reg.api(`/v2/${name}/manifests/${tag}`);
    expect(res.status, `manifest ${tag}`).toBe(200);
    const manifest = (await res.json()) as { config: { digest: string }; layers: { digest: string }[] };
    for (const d of [manifest.config, ...manifest.layers])
      expect(await head(`/v2/${name}/blobs/${d.digest}`), `blob ${d.digest} of ${tag}`).toBe(200);
  }
}

describe('blob deletes', () => {
  it('refuses the layer, the config and the manifest of a tagged image with 409 DENIED and the reason', async () => {
    const name = 'del/tagged';
    const image = await reg.pushImage(name, 'v1');
    for (const [what, b] of [
      ['layer', image.layers[0]!],
      ['config', image.config],
    ] as const) {
      const res = await del(name, b.digest);
      expect(res.status, what).toBe(409);
      const [error] = await errorsOf(res);
      expect(error?.code).toBe('DENIED');
      expect(error?.message).toContain(b.digest);
      expect(error?.message).toContain(image.manifest.digest);
      expect(error?.detail).toMatchObject({
        digest: b.digest,
        reason: 'referenced',
        manifests: [{ digest: image.manifest.digest, tags: ['v1'] }],
      });
    }
    const own = await del(name, image.manifest.digest);
    expect(own.status).toBe(409);
    const [error] = await errorsOf(own);
    expect(error?.code).toBe('DENIED');
    expect(error?.detail).toMatchObject({ digest: image.manifest.digest, reason: 'manifest' });
    expect(error?.message).toContain(`/v2/${name}/manifests/${image.manifest.digest}`);
    expect(await head(`/v2/${name}/manifests/v1`)).toBe(200);
    await expectConsistent(name);
  });

  it('an untagged manifest (pullable by digest) protects its blobs too', async () => {
    const name = 'del/untagged';
    const image = await reg.pushImage(name, 'v1');
    expect((await reg.api(`/v2/${name}/manifests/v1`, { method: 'DELETE' })).status).toBe(202);
    expect((await del(name, image.layers[0]!.digest)).status).toBe(409);
    expect(await head(`/v2/${name}/manifests/${image.manifest.digest}`)).toBe(200);
  });

  it('the children of an index are manifests: refused through the blobs endpoint', async () => {
    const name = 'del/index';
    const a = await reg.pushImage(name, 'amd64', 'a');
    const index = buildIndex([{ image: a, architecture: 'amd64' }]);
    expect((await reg.putManifest(name, 'multi', index.bytes, OCI_INDEX)).status).toBe(201);
    expect((await del(name, a.manifest.digest)).status).toBe(409);
    expect((await del(name, index.digest)).status).toBe(409);
    expect(await head(`/v2/${name}/manifests/multi`)).toBe(200);
  });

  it('once the manifest is deleted its blobs can go (202), and an unreferenced blob goes at once', async () => {
    const name = 'del/released';
    const image = await reg.pushImage(name, 'v1');
    const loose = Buffer.from('referenced by nothing');
    await reg.pushBlob(name, loose);
    expect((await del(name, sha256(loose))).status).toBe(202);
    expect((await reg.api(`/v2/${name}/manifests/${image.manifest.digest}`, { method: 'DELETE' })).status).toBe(202);
    for (const b of [image.config, ...image.layers]) expect((await del(name, b.digest)).status).toBe(202);
    const listed = (await (await reg.api(`/v2/${name}/tags/list`)).json()) as { tags: string[] };
    expect(listed.tags).toEqual([]);
  });

  it('deleting a manifest keeps its bytes when another manifest names them as a blob', async () => {
    const name = 'del/shared-bytes';
    const inner = await reg.pushImage(name, 'inner');
    await reg.pushBlob(name, inner.manifest.bytes);
    const outer = JSON.stringify({
      schemaVersion: 2,
      mediaType: OCI_MANIFEST,
      config: descriptor(inner.config),
      layers: [descriptor(inner.manifest)],
    });
    expect((await reg.putManifest(name, 'outer', outer)).status).toBe(201);
    expect((await reg.api(`/v2/${name}/manifests/${inner.manifest.digest}`, { method: 'DELETE' })).status).toBe(202);
    expect(await head(`/v2/${name}/manifests/inner`)).toBe(404);
    expect(await head(`/v2/${name}/blobs/${inner.manifest.digest}`)).toBe(200);
    await expectConsistent(name);
  });

  it('deletes racing with manifest pushes never leave a tag without its blobs', async () => {
    const name = 'del/race';
    for (let round = 0; round < 6; round++) {
      const image = await buildImage({ 'r.txt': `round ${round}\n` }, `race-${round}`);
      for (const b of [image.config, ...image.layers]) await reg.pushBlob(name, b);
      const [put, ...deletes] = await Promise.all([
        reg.putManifest(name, `r${round}`, image.manifest.bytes),
        ...[image.config, ...image.layers].map((b) => del(name, b.digest)),
      ]);
      // Either the manifest won (every delete refused) or a delete won (the push names a missing blob).
      if (put!.status === 201) expect(deletes.map((d) => d.status)).toEqual(deletes.map(() => 409));
      else expect(put!.status).toBe(400);
      await expectConsistent(name);
    }
  });
});
