// A real client against the registry server: skopeo (containers/image) copies an
// OCI image layout built here into the registry and back out, converts it to Docker
// schema 2 on the way, lists tags, inspects and deletes. Needs the `skopeo` package.
import { execa } from 'execa';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger, parseLogLevel } from '../../trace/logger.js';
import { createRegistryServer, type RegistryServer } from './registry-server.js';
import { buildImage, buildIndex, imageBlobs, writeOciLayout, type TestImage } from './test-image.js';
import { needs, tool } from '../../../testkit/needs.js';

needs(tool('skopeo')).describe('skopeo against the registry server', () => {
  let dir: string;
  let server: RegistryServer;
  let image: TestImage;

  async function skopeo(...args: string[]) {
    return execa('skopeo', ['--policy', join(dir, 'policy.json'), ...args], {
      env: { REGISTRY_AUTH_FILE: join(dir, 'auth.json'), HOME: dir, TMPDIR: dir },
      timeout: 60_000,
    });
  }

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), `berth-skopeo-${process.pid}-`));
    await writeFile(join(dir, 'policy.json'), JSON.stringify({ default: [{ type: 'insecureAcceptAnything' }] }));
    await writeFile(join(dir, 'auth.json'), '{"auths":{}}');
    image = await buildImage({ 'hello.txt': 'hello from berth\n', 'etc/os-release': 'ID=berth\n' }, 'skopeo');
    await writeOciLayout(join(dir, 'src'), imageBlobs(image), image.manifest, 'v1');
    server = await createRegistryServer({
      root: join(dir, 'registry'),
      addr: '127.0.0.1:0',
      logger: createLogger(parseLogLevel(process.env.BERTH_LOG, 'silent')),
    });
  });

  afterAll(async () => {
    await server?.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('copies an OCI layout into the registry byte for byte', async () => {
    await skopeo(
      'copy',
      '--dest-tls-verify=false',
      `oci:${join(dir, 'src')}:v1`,
      `docker://${server.host}/berth/hello:v1`,
    );
    const res = await fetch(`${server.url}/v2/berth/hello/manifests/v1`, {
      headers: { Accept: image.manifest.mediaType },
    });
    expect(res.status).toBe(200);
    expect(res.headers.get('docker-content-digest')).toBe(image.manifest.digest);
    for (const b of [image.config, ...image.layers]) {
      const blob = await fetch(`${server.url}/v2/berth/hello/blobs/${b.digest}`);
      expect(Buffer.from(await blob.arrayBuffer()).equals(b.bytes)).toBe(true);
    }
  });

  it('copies it back out of the registry into a new OCI layout', async () => {
    await skopeo(
      'copy',
      '--src-tls-verify=false',
      `docker://${server.host}/berth/hello:v1`,
      `oci:${join(dir, 'out')}:v1`,
    );
    const index = JSON.parse(await readFile(join(dir, 'out', 'index.json'), 'utf8')) as {
      manifests: { digest: string }[];
    };
    expect(index.manifests.map((m) => m.digest)).toEqual([image.manifest.digest]);
    const layer = await readFile(join(dir, 'out', 'blobs', 'sha256', image.layers[0]!.digest.slice(7)));
    expect(layer.equals(image.layers[0]!.bytes)).toBe(true);
  });

  it('pushes a Docker schema 2 conversion between repositories and reads it back', async () => {
    await skopeo(
      'copy',
      '--src-tls-verify=false',
      '--dest-tls-verify=false',
      '--format',
      'v2s2',
      `docker://${server.host}/berth/hello:v1`,
      `docker://${server.host}/berth/converted:v2`,
    );
    const res = await fetch(`${server.url}/v2/berth/converted/manifests/v2`, { method: 'HEAD' });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('application/vnd.docker.distribution.manifest.v2+json');
    const inspect = await skopeo('inspect', '--tls-verify=false', `docker://${server.host}/berth/converted:v2`);
    const info = JSON.parse(inspect.stdout) as { Layers: string[]; Os: string };
    expect(info.Layers).toEqual([image.layers[0]!.digest]);
    expect(info.Os).toBe('linux');
  });

  it('copies a multi-platform index with --all in and out, children by digest first', async () => {
    const arm = await buildImage({ 'hello.txt': 'hello from arm64\n' }, 'arm64');
    const index = buildIndex([
      { image, architecture: 'amd64' },
      { image: arm, architecture: 'arm64' },
    ]);
    await writeOciLayout(join(dir, 'multi-src'), [...imageBlobs(image), ...imageBlobs(arm)], index, 'multi');
    await skopeo(
      'copy',
      '--all',
      '--dest-tls-verify=false',
      `oci:${join(dir, 'multi-src')}:multi`,
      `docker://${server.host}/berth/multi:latest`,
    );
    const res = await fetch(`${server.url}/v2/berth/multi/manifests/latest`);
    expect(res.headers.get('content-type')).toBe('application/vnd.oci.image.index.v1+json');
    expect(res.headers.get('docker-content-digest')).toBe(index.digest);
    await skopeo(
      'copy',
      '--all',
      '--src-tls-verify=false',
      `docker://${server.host}/berth/multi:latest`,
      `oci:${join(dir, 'multi-out')}:multi`,
    );
    const armLayer = await readFile(join(dir, 'multi-out', 'blobs', 'sha256', arm.layers[0]!.digest.slice(7)));
    expect(armLayer.equals(arm.layers[0]!.bytes)).toBe(true);
  });

  it('lists tags and deletes an image', async () => {
    await skopeo(
      'copy',
      '--src-tls-verify=false',
      '--dest-tls-verify=false',
      `docker://${server.host}/berth/hello:v1`,
      `docker://${server.host}/berth/hello:v1.1`,
    );
    const tags = JSON.parse(
      (await skopeo('list-tags', '--tls-verify=false', `docker://${server.host}/berth/hello`)).stdout,
    ) as { Tags: string[] };
    expect(tags.Tags).toEqual(['v1', 'v1.1']);
    await skopeo('delete', '--tls-verify=false', `docker://${server.host}/berth/hello:v1.1`);
    const gone = await fetch(`${server.url}/v2/berth/hello/manifests/v1`);
    expect(gone.status).toBe(404);
  });
});
