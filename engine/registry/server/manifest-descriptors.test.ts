// A manifest's descriptors must tell the truth about the content they name:
// clients trust the sizes (they bound downloads by them), so a descriptor whose
// size differs from the stored blob or manifest is refused, naming the descriptor.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { errorsOf, OCI_INDEX, OCI_MANIFEST, startTestRegistry, type TestRegistry } from './registry-test-kit.js';
import { blob, buildIndex, buildImage, descriptor } from './test-image.js';

let reg: TestRegistry;

beforeAll(async () => {
  reg = await startTestRegistry();
});

afterAll(async () => {
  await reg?.close();
});

function manifestOf(config: object, layers: object[], extra: object = {}): string {
  return JSON.stringify({ schemaVersion: 2, mediaType: OCI_MANIFEST, config, layers, ...extra });
}

describe('descriptor sizes', () => {
  const name = 'sizes/repo';
  let image: Awaited<ReturnType<typeof buildImage>>;
  const big = blob('application/vnd.oci.image.layer.v1.tar', Buffer.alloc(1024 * 1024, 0x61));

  beforeAll(async () => {
    image = await reg.pushImage(name, 'base');
    await reg.pushBlob(name, big);
  });

  it.each([
    [
      'layers[1]',
      () => ({
        body: manifestOf(descriptor(image.config), [descriptor(image.layers[0]!), { ...descriptor(big), size: 5 }]),
        declared: 5,
        actual: big.size,
      }),
    ],
    [
      'config',
      () => ({
        body: manifestOf({ ...descriptor(image.config), size: image.config.size + 1 }, [descriptor(big)]),
        declared: image.config.size + 1,
        actual: image.config.size,
      }),
    ],
  ])('a wrong size in %s is MANIFEST_INVALID naming it', async (where, make) => {
    const { body, declared, actual } = make();
    const res = await reg.putManifest(name, 'liar', body);
    expect(res.status).toBe(400);
    const errors = await errorsOf(res);
    expect(errors.map((e) => e.code)).toEqual(['MANIFEST_INVALID']);
    expect(errors[0]?.message).toContain(where);
    expect(errors[0]?.detail).toMatchObject({ descriptor: where, size: declared, actual });
    expect((await reg.api(`/v2/${name}/manifests/liar`)).status).toBe(404);
  });

  it('an index child with a wrong size is refused', async () => {
    const index = JSON.parse(buildIndex([{ image, architecture: 'amd64' }]).bytes.toString()) as {
      manifests: { size: number }[];
    };
    index.manifests[0]!.size += 10;
    const res = await reg.putManifest(name, 'liar-index', JSON.stringify(index), OCI_INDEX);
    expect(res.status).toBe(400);
    const errors = await errorsOf(res);
    expect(errors.map((e) => e.code)).toEqual(['MANIFEST_INVALID']);
    expect(errors[0]?.message).toContain('manifests[0]');
  });

  it('a subject of the repository with a wrong size is refused; an absent subject is accepted', async () => {
    const artifact = blob('application/vnd.example.sbom', '{}');
    await reg.pushBlob(name, artifact);
    const subject = descriptor(image.manifest);
    const lying = manifestOf(descriptor(artifact), [], { subject: { ...subject, size: 1 } });
    const res = await reg.putManifest(name, 'liar-referrer', lying);
    expect(res.status).toBe(400);
    const errors = await errorsOf(res);
    expect(errors[0]?.message).toContain('subject');
    const absent = manifestOf(descriptor(artifact), [], {
      subject: { ...subject, digest: `sha256:${'0'.repeat(64)}`, size: 1 },
    });
    expect((await reg.putManifest(name, 'dangling-referrer', absent)).status).toBe(201);
  });

  it('true sizes are accepted, foreign layers not in the repository are not checked', async () => {
    const foreign = {
      mediaType: 'application/vnd.docker.image.rootfs.foreign.diff.tar.gzip',
      digest: `sha256:${'f'.repeat(64)}`,
      size: 12345,
      urls: ['https://example.invalid/layer'],
    };
    const body = manifestOf(descriptor(image.config), [descriptor(big), foreign]);
    expect((await reg.putManifest(name, 'honest', body)).status).toBe(201);
    const index = buildIndex([{ image, architecture: 'amd64' }]);
    expect((await reg.putManifest(name, 'honest-index', index.bytes, OCI_INDEX)).status).toBe(201);
  });
});
