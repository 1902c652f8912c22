// The registry server over real HTTP on 127.0.0.1: every endpoint of the OCI
// distribution spec v1.1 and every error code, uploads in all their forms,
// ranges, pagination, referrers, mounts, deletes and crash safety.
import { request } from 'node:http';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger, type LogFields } from '../../trace/logger.js';
import { createRegistryServer, type RegistryServer, type RegistryServerOptions } from './registry-server.js';
import { blob, buildImage, descriptor, sha256, type TestBlob } from './test-image.js';

const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
const OCI_INDEX = 'application/vnd.oci.image.index.v1+json';
const DOCKER_MANIFEST = 'application/vnd.docker.distribution.manifest.v2+json';
const DOCKER_LIST = 'application/vnd.docker.distribution.manifest.list.v2+json';

let root: string;
let server: RegistryServer;
const accessLog: LogFields[] = [];
const extraServers: RegistryServer[] = [];

async function startServer(options: Partial<RegistryServerOptions> = {}): Promise<RegistryServer> {
  const s = await createRegistryServer({ root, addr: '127.0.0.1:0', logger: createLogger('silent'), ...options });
  extraServers.push(s);
  return s;
}

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), `berth-registry-${process.pid}-`));
  const logger = createLogger('info', (_level, message, fields) => {
    if (message === 'registry request') accessLog.push(fields);
  });
  server = await createRegistryServer({ root, addr: '127.0.0.1:0', logger, maxManifestBytes: 64 * 1024 });
});

afterAll(async () => {
  await server?.close();
  for (const s of extraServers) await s.close();
  if (root) await rm(root, { recursive: true, force: true });
});

function api(path: string, init: RequestInit = {}, base = server): Promise<Response> {
  return fetch(`${base.url}${path}`, init);
}

async function errorCodes(res: Response): Promise<string[]> {
  const body = (await res.json()) as { errors: { code: string }[] };
  return body.errors.map((e) => e.code);
}

async function pushBlob(name: string, b: TestBlob | Buffer, base = server): Promise<Response> {
  const bytes = Buffer.isBuffer(b) ? b : b.bytes;
  const res = await api(
    `/v2/${name}/blobs/uploads/?digest=${sha256(bytes)}`,
    { method: 'POST', body: new Uint8Array(bytes), headers: { 'Content-Type': 'application/octet-stream' } },
    base,
  );
  expect(res.status).toBe(201);
  return res;
}

async function putManifest(
  name: string,
  ref: string,
  body: string | Buffer,
  mediaType: string,
  base = server,
): Promise<Response> {
  return api(
    `/v2/${name}/manifests/${ref}`,
    {
      method: 'PUT',
      body: typeof body === 'string' ? body : new Uint8Array(body),
      headers: { 'Content-Type': mediaType },
    },
    base,
  );
}

/** Pushes a complete image (blobs then manifest) and returns it. */
async function pushImage(name: string, tag: string, seed = tag) {
  const image = await buildImage({ 'f.txt': `content ${seed}\n` }, seed);
  for (const b of [image.config, ...image.layers]) await pushBlob(name, b);
  const res = await putManifest(name, tag, image.manifest.bytes, OCI_MANIFEST);
  expect(res.status).toBe(201);
  return image;
}

async function startSession(name: string): Promise<string> {
  const res = await api(`/v2/${name}/blobs/uploads/`, { method: 'POST' });
  expect(res.status).toBe(202);
  return res.headers.get('location') as string;
}

describe('base and grammar', () => {
  it('GET /v2/ answers 200 with the API version header', async () => {
    const res = await api('/v2/');
    expect(res.status).toBe(200);
    expect(res.headers.get('docker-distribution-api-version')).toBe('registry/2.0');
  });

  it.each([
    ['UPPER/case', 400],
    ['-leading', 400],
    ['trailing-', 400],
    ['a___b', 400],
    ['a//b', 400],
    [`${'a'.repeat(256)}`, 400],
    ['a__b/c.d/e-f--g', 404],
    ['library/busybox', 404],
  ])('repository name %s → %i', async (name, status) => {
    const res = await api(`/v2/${name}/tags/list`);
    expect(res.status).toBe(status);
    expect(await errorCodes(res)).toEqual([status === 400 ? 'NAME_INVALID' : 'NAME_UNKNOWN']);
  });

  it.each([['-dash'], ['.dot'], [`${'t'.repeat(129)}`], ['with+plus']])('tag %s is TAG_INVALID', async (tag) => {
    const res = await putManifest('grammar/tags', tag, '{}', OCI_MANIFEST);
    expect(res.status).toBe(400);
    expect(await errorCodes(res)).toEqual(['TAG_INVALID']);
  });

  it.each([['sha256:abc'], ['md5:d41d8cd98f00b204e9800998ecf8427e'], [`sha256:${'A'.repeat(64)}`]])(
    'digest %s is DIGEST_INVALID',
    async (digest) => {
      const res = await api(`/v2/grammar/digests/blobs/${digest}`);
      expect(res.status).toBe(400);
      expect(await errorCodes(res)).toEqual(['DIGEST_INVALID']);
    },
  );

  it('unknown paths are 404 and unsupported methods 405 UNSUPPORTED', async () => {
    expect((await api('/v2/a/nothing/here/x')).status).toBe(404);
    const res = await api(`/v2/a/blobs/${sha256('x')}`, { method: 'PUT' });
    expect(res.status).toBe(405);
    expect(await errorCodes(res)).toEqual(['UNSUPPORTED']);
  });
});

describe('blobs', () => {
  const name = 'blobs/repo';
  const data = blob('application/octet-stream', Buffer.from('0123456789abcdefghijklmnopqrstuvwxyz'));

  beforeAll(async () => {
    await pushBlob(name, data);
  });

  it('a monolithic POST ?digest= answers 201 with Location and Docker-Content-Digest', async () => {
    const b = Buffer.from('monolithic');
    const res = await pushBlob(name, b);
    expect(res.headers.get('location')).toBe(`/v2/${name}/blobs/${sha256(b)}`);
    expect(res.headers.get('docker-content-digest')).toBe(sha256(b));
    const got = await api(`/v2/${name}/blobs/${sha256(b)}`);
    expect(Buffer.from(await got.arrayBuffer()).toString()).toBe('monolithic');
  });

  it('GET and HEAD return the blob, its length and digest', async () => {
    const head = await api(`/v2/${name}/blobs/${data.digest}`, { method: 'HEAD' });
    expect(head.status).toBe(200);
    expect(head.headers.get('content-length')).toBe(String(data.size));
    expect(head.headers.get('docker-content-digest')).toBe(data.digest);
    const get = await api(`/v2/${name}/blobs/${data.digest}`);
    expect(Buffer.from(await get.arrayBuffer()).equals(data.bytes)).toBe(true);
  });

  it('an unknown blob is 404 BLOB_UNKNOWN, also in an unknown repository', async () => {
    for (const repo of [name, 'blobs/none']) {
      const res = await api(`/v2/${repo}/blobs/${sha256('missing')}`);
      expect(res.status).toBe(404);
      expect(await errorCodes(res)).toEqual(['BLOB_UNKNOWN']);
    }
  });

  it.each([
    ['bytes=0-3', 206, '0123', 'bytes 0-3/36'],
    ['bytes=30-', 206, 'uvwxyz', 'bytes 30-35/36'],
    ['bytes=-4', 206, 'wxyz', 'bytes 32-35/36'],
    ['bytes=34-100', 206, 'yz', 'bytes 34-35/36'],
    ['bytes=36-40', 416, '', 'bytes */36'],
    ['bytes=-0', 416, '', 'bytes */36'],
    ['bytes=0-1,4-5', 200, '0123456789abcdefghijklmnopqrstuvwxyz', null],
  ])('Range %s → %i', async (range, status, body, contentRange) => {
    const res = await api(`/v2/${name}/blobs/${data.digest}`, { headers: { Range: range } });
    expect(res.status).toBe(status);
    expect(res.headers.get('content-range')).toBe(contentRange);
    if (status !== 416) expect(Buffer.from(await res.arrayBuffer()).toString()).toBe(body);
  });

  it('revalidation with If-None-Match answers 304', async () => {
    const res = await api(`/v2/${name}/blobs/${data.digest}`, { headers: { 'If-None-Match': `"${data.digest}"` } });
    expect(res.status).toBe(304);
  });

  it('a monolithic POST with a wrong digest is 400 DIGEST_INVALID and stores nothing', async () => {
    const wrong = sha256('other');
    const res = await api(`/v2/${name}/blobs/uploads/?digest=${wrong}`, { method: 'POST', body: 'payload' });
    expect(res.status).toBe(400);
    expect(await errorCodes(res)).toEqual(['DIGEST_INVALID']);
    expect((await api(`/v2/${name}/blobs/${wrong}`, { method: 'HEAD' })).status).toBe(404);
    expect((await api(`/v2/${name}/blobs/${sha256('payload')}`, { method: 'HEAD' })).status).toBe(404);
  });

  it('DELETE removes a blob (202), then 404 BLOB_UNKNOWN', async () => {
    const b = Buffer.from('to delete');
    await pushBlob(name, b);
    expect((await api(`/v2/${name}/blobs/${sha256(b)}`, { method: 'DELETE' })).status).toBe(202);
    expect((await api(`/v2/${name}/blobs/${sha256(b)}`, { method: 'HEAD' })).status).toBe(404);
    const again = await api(`/v2/${name}/blobs/${sha256(b)}`, { method: 'DELETE' });
    expect(again.status).toBe(404);
    expect(await errorCodes(again)).toEqual(['BLOB_UNKNOWN']);
  });
});

describe('upload sessions', () => {
  const name = 'uploads/repo';

  it('POST starts a session: 202, Location, Docker-Upload-UUID, Range 0-0', async () => {
    const res = await api(`/v2/${name}/blobs/uploads/`, { method: 'POST' });
    expect(res.status).toBe(202);
    const uuid = res.headers.get('docker-upload-uuid');
    expect(res.headers.get('location')).toBe(`/v2/${name}/blobs/uploads/${uuid}`);
    expect(res.headers.get('range')).toBe('0-0');
  });

  it('POST then PUT with the whole body completes a monolithic upload', async () => {
    const location = await startSession(name);
    const b = Buffer.from('post then put');
    const res = await api(`${location}?digest=${sha256(b)}`, { method: 'PUT', body: b });
    expect(res.status).toBe(201);
    expect(res.headers.get('location')).toBe(`/v2/${name}/blobs/${sha256(b)}`);
    expect((await api(`/v2/${name}/blobs/${sha256(b)}`, { method: 'HEAD' })).status).toBe(200);
  });

  it('chunked upload: in-order chunks 202, an out-of-order chunk 416 with the current Range, close with a final chunk', async () => {
    const whole = Buffer.from('aaaaaaaaaabbbbbbbbbbcccccccccc');
    const location = await startSession(name);
    let res = await api(location, {
      method: 'PATCH',
      body: whole.subarray(0, 10),
      headers: { 'Content-Range': '0-9' },
    });
    expect(res.status).toBe(202);
    expect(res.headers.get('range')).toBe('0-9');
    const next = res.headers.get('location') as string;
    res = await api(next, { method: 'PATCH', body: whole.subarray(20, 30), headers: { 'Content-Range': '20-29' } });
    expect(res.status).toBe(416);
    expect(res.headers.get('range')).toBe('0-9');
    expect(await errorCodes(res)).toEqual(['BLOB_UPLOAD_INVALID']);
    res = await api(next);
    expect(res.status).toBe(204);
    expect(res.headers.get('range')).toBe('0-9');
    res = await api(next, { method: 'PATCH', body: whole.subarray(10, 20), headers: { 'Content-Range': '10-19' } });
    expect(res.status).toBe(202);
    expect(res.headers.get('range')).toBe('0-19');
    res = await api(`${next}?digest=${sha256(whole)}`, {
      method: 'PUT',
      body: whole.subarray(20),
      headers: { 'Content-Range': '20-29' },
    });
    expect(res.status).toBe(201);
    const got = await api(`/v2/${name}/blobs/${sha256(whole)}`);
    expect(Buffer.from(await got.arrayBuffer()).equals(whole)).toBe(true);
  });

  it('a streamed PATCH without Content-Range (chunked transfer) then an empty PUT', async () => {
    const location = await startSession(name);
    const parts = [Buffer.from('stream-'), Buffer.from('ed '), Buffer.from('body')];
    const body = new ReadableStream<Uint8Array>({
      start(controller) {
        for (const p of parts) controller.enqueue(p);
        controller.close();
      },
    });
    let res = await api(location, { method: 'PATCH', body, duplex: 'half' } as RequestInit);
    expect(res.status).toBe(202);
    expect(res.headers.get('range')).toBe('0-13');
    const whole = Buffer.concat(parts);
    res = await api(`${location}?digest=${sha256(whole)}`, { method: 'PUT' });
    expect(res.status).toBe(201);
    expect(res.headers.get('docker-content-digest')).toBe(sha256(whole));
  });

  it('a sha512 digest is verified too', async () => {
    const location = await startSession(name);
    const b = Buffer.from('sha512 content');
    const { createHash } = await import('node:crypto');
    const digest = `sha512:${createHash('sha512').update(b).digest('hex')}`;
    const res = await api(`${location}?digest=${digest}`, { method: 'PUT', body: b });
    expect(res.status).toBe(201);
    expect((await api(`/v2/${name}/blobs/${digest}`, { method: 'HEAD' })).status).toBe(200);
  });

  it('closing with a wrong digest is 400 DIGEST_INVALID and ends the session', async () => {
    const location = await startSession(name);
    await api(location, { method: 'PATCH', body: 'xyz', headers: { 'Content-Range': '0-2' } });
    const res = await api(`${location}?digest=${sha256('not xyz')}`, { method: 'PUT' });
    expect(res.status).toBe(400);
    expect(await errorCodes(res)).toEqual(['DIGEST_INVALID']);
    const status = await api(location);
    expect(status.status).toBe(404);
    expect(await errorCodes(status)).toEqual(['BLOB_UPLOAD_UNKNOWN']);
  });

  it('closing without a digest is 400 DIGEST_INVALID', async () => {
    const location = await startSession(name);
    const res = await api(location, { method: 'PUT', body: 'abc' });
    expect(res.status).toBe(400);
    expect(await errorCodes(res)).toEqual(['DIGEST_INVALID']);
  });

  it('a malformed Content-Range is 416; a body longer than its range is SIZE_INVALID', async () => {
    const location = await startSession(name);
    let res = await api(location, { method: 'PATCH', body: 'abc', headers: { 'Content-Range': 'bytes=zero' } });
    expect(res.status).toBe(416);
    expect(await errorCodes(res)).toEqual(['BLOB_UPLOAD_INVALID']);
    res = await api(location, { method: 'PATCH', body: 'abcdef', headers: { 'Content-Range': '0-2' } });
    expect(await errorCodes(res)).toEqual(['SIZE_INVALID']);
    expect((await api(location)).headers.get('range')).toBe('0-0');
  });

  it('DELETE cancels a session (204); unknown or foreign sessions are 404 BLOB_UPLOAD_UNKNOWN', async () => {
    const location = await startSession(name);
    expect((await api(location, { method: 'DELETE' })).status).toBe(204);
    expect((await api(location)).status).toBe(404);
    const other = await startSession(name);
    const foreign = other.replace(`/v2/${name}/`, '/v2/uploads/elsewhere/');
    const res = await api(foreign, { method: 'PATCH', body: 'x' });
    expect(res.status).toBe(404);
    expect(await errorCodes(res)).toEqual(['BLOB_UPLOAD_UNKNOWN']);
    expect(await errorCodes(await api(`/v2/${name}/blobs/uploads/00000000-0000-0000-0000-000000000000`))).toEqual([
      'BLOB_UPLOAD_UNKNOWN',
    ]);
  });
});

describe('cross-repository mount', () => {
  it('mounts a blob of another repository (201) and falls back to a session (202) when absent', async () => {
    const b = Buffer.from('mount me');
    await pushBlob('mount/source', b);
    let res = await api(`/v2/mount/target/blobs/uploads/?mount=${sha256(b)}&from=mount/source`, { method: 'POST' });
    expect(res.status).toBe(201);
    expect(res.headers.get('location')).toBe(`/v2/mount/target/blobs/${sha256(b)}`);
    expect(res.headers.get('docker-content-digest')).toBe(sha256(b));
    const got = await api(`/v2/mount/target/blobs/${sha256(b)}`);
    expect(Buffer.from(await got.arrayBuffer()).equals(b)).toBe(true);

    for (const query of [
      `mount=${sha256('absent')}&from=mount/source`,
      `mount=${sha256(b)}&from=mount/nowhere`,
      'mount=bogus&from=mount/source',
    ]) {
      res = await api(`/v2/mount/third/blobs/uploads/?${query}`, { method: 'POST' });
      expect(res.status).toBe(202);
      expect(res.headers.get('location')).toMatch(/^\/v2\/mount\/third\/blobs\/uploads\/[0-9a-f-]{36}$/);
    }
  });
});

describe('manifests', () => {
  const name = 'manifests/repo';
  let image: Awaited<ReturnType<typeof buildImage>>;

  beforeAll(async () => {
    image = await pushImage(name, 'v1');
  });

  it('GET by tag and by digest returns the exact bytes, Content-Type and Docker-Content-Digest', async () => {
    for (const ref of ['v1', image.manifest.digest]) {
      const res = await api(`/v2/${name}/manifests/${ref}`, { headers: { Accept: OCI_MANIFEST } });
      expect(res.status).toBe(200);
      expect(res.headers.get('content-type')).toBe(OCI_MANIFEST);
      expect(res.headers.get('docker-content-digest')).toBe(image.manifest.digest);
      expect(Buffer.from(await res.arrayBuffer()).equals(image.manifest.bytes)).toBe(true);
    }
    const head = await api(`/v2/${name}/manifests/v1`, { method: 'HEAD' });
    expect(head.status).toBe(200);
    expect(head.headers.get('content-length')).toBe(String(image.manifest.size));
  });

  it('the repository folder is a valid OCI image layout with the tag as ref.name', async () => {
    const dir = server.layoutDir(name);
    expect(JSON.parse(await readFile(join(dir, 'oci-layout'), 'utf8'))).toEqual({ imageLayoutVersion: '1.0.0' });
    const index = JSON.parse(await readFile(join(dir, 'index.json'), 'utf8'));
    expect(index.manifests).toContainEqual({
      ...descriptor(image.manifest),
      annotations: { 'org.opencontainers.image.ref.name': 'v1' },
    });
    expect(await readFile(join(dir, 'blobs', 'sha256', image.manifest.digest.slice(7)))).toEqual(image.manifest.bytes);
  });

  it('PUT answers 201 with Location and Docker-Content-Digest', async () => {
    const res = await putManifest(name, 'again', image.manifest.bytes, OCI_MANIFEST);
    expect(res.status).toBe(201);
    expect(res.headers.get('location')).toBe(`/v2/${name}/manifests/${image.manifest.digest}`);
    expect(res.headers.get('docker-content-digest')).toBe(image.manifest.digest);
  });

  it.each([
    [
      DOCKER_MANIFEST,
      'application/vnd.docker.container.image.v1+json',
      'application/vnd.docker.image.rootfs.diff.tar.gzip',
    ],
    [OCI_MANIFEST, 'application/vnd.oci.image.config.v1+json', 'application/vnd.oci.image.layer.v1.tar+gzip'],
  ])('image manifests of type %s round-trip', async (mediaType, configType, layerType) => {
    const body = JSON.stringify({
      schemaVersion: 2,
      mediaType,
      config: { ...descriptor(image.config), mediaType: configType },
      layers: [{ ...descriptor(image.layers[0]!), mediaType: layerType }],
    });
    const res = await putManifest(name, `type-${mediaType.length}`, body, mediaType);
    expect(res.status).toBe(201);
    const got = await api(`/v2/${name}/manifests/type-${mediaType.length}`);
    expect(got.headers.get('content-type')).toBe(mediaType);
    expect(await got.text()).toBe(body);
  });

  it.each([[OCI_INDEX], [DOCKER_LIST]])(
    'an index of type %s needs its children in the repository',
    async (mediaType) => {
      const child = { ...descriptor(image.manifest), platform: { architecture: 'amd64', os: 'linux' } };
      const good = JSON.stringify({ schemaVersion: 2, mediaType, manifests: [child] });
      const res = await putManifest(name, 'multi', good, mediaType);
      expect(res.status).toBe(201);
      expect((await api(`/v2/${name}/manifests/multi`)).headers.get('content-type')).toBe(mediaType);
      const missing = { ...child, digest: sha256('no such manifest') };
      const bad = await putManifest(
        name,
        'multi-bad',
        JSON.stringify({ schemaVersion: 2, mediaType, manifests: [missing] }),
        mediaType,
      );
      expect(bad.status).toBe(400);
      expect(await errorCodes(bad)).toEqual(['MANIFEST_BLOB_UNKNOWN']);
    },
  );

  it('a manifest naming unknown blobs is MANIFEST_BLOB_UNKNOWN, one error per blob', async () => {
    const body = JSON.stringify({
      schemaVersion: 2,
      mediaType: OCI_MANIFEST,
      config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: sha256('no config'), size: 9 },
      layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar', digest: sha256('no layer'), size: 8 }],
    });
    const res = await putManifest(name, 'broken', body, OCI_MANIFEST);
    expect(res.status).toBe(400);
    expect(await errorCodes(res)).toEqual(['MANIFEST_BLOB_UNKNOWN', 'MANIFEST_BLOB_UNKNOWN']);
    expect((await api(`/v2/${name}/manifests/broken`)).status).toBe(404);
  });

  it('foreign layers (with urls) need not be in the repository', async () => {
    const body = JSON.stringify({
      schemaVersion: 2,
      mediaType: DOCKER_MANIFEST,
      config: { ...descriptor(image.config), mediaType: 'application/vnd.docker.container.image.v1+json' },
      layers: [
        {
          mediaType: 'application/vnd.docker.image.rootfs.foreign.diff.tar.gzip',
          digest: sha256('windows base'),
          size: 12,
          urls: ['https://example.invalid/layer'],
        },
      ],
    });
    expect((await putManifest(name, 'foreign', body, DOCKER_MANIFEST)).status).toBe(201);
  });

  it('manifests revalidate with If-None-Match (304)', async () => {
    const res = await api(`/v2/${name}/manifests/v1`, { headers: { 'If-None-Match': `"${image.manifest.digest}"` } });
    expect(res.status).toBe(304);
    expect(res.headers.get('docker-content-digest')).toBe(image.manifest.digest);
  });

  it('a PUT by digest checks the digest', async () => {
    const wrong = await putManifest(name, sha256('something else'), image.manifest.bytes, OCI_MANIFEST);
    expect(wrong.status).toBe(400);
    expect(await errorCodes(wrong)).toEqual(['DIGEST_INVALID']);
    const right = await putManifest(name, image.manifest.digest, image.manifest.bytes, OCI_MANIFEST);
    expect(right.status).toBe(201);
  });

  it.each([
    ['not JSON', '{', OCI_MANIFEST],
    [
      'schema 1',
      JSON.stringify({ schemaVersion: 1, name: 'x' }),
      'application/vnd.docker.distribution.manifest.v1+json',
    ],
    [
      'unknown media type',
      JSON.stringify({ schemaVersion: 2, mediaType: 'text/plain', config: {}, layers: [] }),
      'text/plain',
    ],
    [
      'mediaType ≠ Content-Type',
      JSON.stringify({ schemaVersion: 2, mediaType: OCI_INDEX, manifests: [] }),
      OCI_MANIFEST,
    ],
    [
      'bad descriptor',
      JSON.stringify({
        schemaVersion: 2,
        mediaType: OCI_MANIFEST,
        config: { mediaType: 'x', digest: 'nope', size: 1 },
        layers: [],
      }),
      OCI_MANIFEST,
    ],
  ])('%s is MANIFEST_INVALID', async (_what, body, mediaType) => {
    const res = await putManifest(name, 'invalid', body, mediaType);
    expect(res.status).toBe(400);
    expect(await errorCodes(res)).toEqual(['MANIFEST_INVALID']);
  });

  it('a manifest above the size limit is 413', async () => {
    const res = await putManifest(name, 'huge', Buffer.alloc(100 * 1024, 0x20), OCI_MANIFEST);
    expect(res.status).toBe(413);
    expect(await errorCodes(res)).toEqual(['SIZE_INVALID']);
  });

  it('unknown manifests are 404 MANIFEST_UNKNOWN, unknown repositories 404 NAME_UNKNOWN', async () => {
    const res = await api(`/v2/${name}/manifests/nope`);
    expect(res.status).toBe(404);
    expect(await errorCodes(res)).toEqual(['MANIFEST_UNKNOWN']);
    const none = await api(`/v2/manifests/none/manifests/latest`);
    expect(none.status).toBe(404);
    expect(await errorCodes(none)).toEqual(['NAME_UNKNOWN']);
  });

  it('a reference no tag can match (.INVALID_MANIFEST_NAME) is an unknown manifest to GET, HEAD and DELETE, invalid to PUT', async () => {
    for (const method of ['GET', 'HEAD', 'DELETE']) {
      const res = await api(`/v2/${name}/manifests/.INVALID_MANIFEST_NAME`, { method });
      expect(res.status, method).toBe(404);
      if (method !== 'HEAD') expect(await errorCodes(res)).toEqual(['MANIFEST_UNKNOWN']);
    }
    const put = await putManifest(name, '.INVALID_MANIFEST_NAME', image.manifest.bytes, OCI_MANIFEST);
    expect(put.status).toBe(400);
    expect(await errorCodes(put)).toEqual(['TAG_INVALID']);
  });

  it('DELETE of a tag keeps the manifest; DELETE by digest removes it and all its tags', async () => {
    const img = await pushImage('manifests/delete', 'one');
    expect((await putManifest('manifests/delete', 'two', img.manifest.bytes, OCI_MANIFEST)).status).toBe(201);
    expect((await api(`/v2/manifests/delete/manifests/one`, { method: 'DELETE' })).status).toBe(202);
    expect((await api(`/v2/manifests/delete/manifests/one`)).status).toBe(404);
    expect((await api(`/v2/manifests/delete/manifests/two`)).status).toBe(200);
    expect((await api(`/v2/manifests/delete/manifests/${img.manifest.digest}`)).status).toBe(200);
    expect((await api(`/v2/manifests/delete/manifests/${img.manifest.digest}`, { method: 'DELETE' })).status).toBe(202);
    for (const ref of ['two', img.manifest.digest]) {
      const res = await api(`/v2/manifests/delete/manifests/${ref}`);
      expect(res.status).toBe(404);
      expect(await errorCodes(res)).toEqual(['MANIFEST_UNKNOWN']);
    }
    const again = await api(`/v2/manifests/delete/manifests/${img.manifest.digest}`, { method: 'DELETE' });
    expect(again.status).toBe(404);
    expect(await errorCodes(again)).toEqual(['MANIFEST_UNKNOWN']);
  });

  it('moving a tag leaves the old manifest pullable by digest', async () => {
    const a = await pushImage('manifests/move', 'latest', 'a');
    await pushImage('manifests/move', 'latest', 'b');
    expect((await api(`/v2/manifests/move/manifests/${a.manifest.digest}`)).status).toBe(200);
    const latest = await api(`/v2/manifests/move/manifests/latest`);
    expect(latest.headers.get('docker-content-digest')).not.toBe(a.manifest.digest);
  });
});

describe('concurrency', () => {
  it('parallel pushes of blobs and tags to one repository all land in index.json', async () => {
    const name = 'concurrent/repo';
    const image = await buildImage({ 'c.txt': 'concurrent\n' }, 'concurrent');
    await Promise.all([image.config, ...image.layers].map((b) => pushBlob(name, b)));
    const extra = Array.from({ length: 12 }, (_, i) => Buffer.from(`parallel blob ${i}`));
    const tags = Array.from({ length: 24 }, (_, i) => `t${String(i).padStart(2, '0')}`);
    const results = await Promise.all([
      ...extra.map((b) => pushBlob(name, b)),
      ...tags.map((tag) => putManifest(name, tag, image.manifest.bytes, OCI_MANIFEST)),
    ]);
    expect(results.every((r) => r.status === 201)).toBe(true);
    const listed = (await (await api(`/v2/${name}/tags/list`)).json()) as { tags: string[] };
    expect(listed.tags).toEqual(tags);
    for (const b of extra) expect((await api(`/v2/${name}/blobs/${sha256(b)}`, { method: 'HEAD' })).status).toBe(200);
  });
});

describe('tag listing', () => {
  const name = 'tags/repo';
  beforeAll(async () => {
    const image = await pushImage(name, 'c');
    for (const tag of ['e', 'a', 'd', 'b'])
      expect((await putManifest(name, tag, image.manifest.bytes, OCI_MANIFEST)).status).toBe(201);
  });

  it('lists all tags in order', async () => {
    const res = await api(`/v2/${name}/tags/list`);
    expect(await res.json()).toEqual({ name, tags: ['a', 'b', 'c', 'd', 'e'] });
    expect(res.headers.get('link')).toBeNull();
  });

  it('paginates with n and last following the Link header', async () => {
    const pages: string[][] = [];
    let path: string | null = `/v2/${name}/tags/list?n=2`;
    while (path) {
      const res = await api(path);
      expect(res.status).toBe(200);
      pages.push(((await res.json()) as { tags: string[] }).tags);
      const link = res.headers.get('link');
      path = link ? (/^<([^>]+)>; rel="next"$/.exec(link)?.[1] ?? null) : null;
    }
    expect(pages).toEqual([['a', 'b'], ['c', 'd'], ['e']]);
  });

  it.each([
    ['n=0', [], false],
    ['last=c', ['d', 'e'], false],
    ['n=1&last=a', ['b'], true],
    ['n=10', ['a', 'b', 'c', 'd', 'e'], false],
    ['n=3&last=e', [], false],
  ])('%s → %j', async (query, tags, hasLink) => {
    const res = await api(`/v2/${name}/tags/list?${query}`);
    expect(((await res.json()) as { tags: string[] }).tags).toEqual(tags);
    expect(res.headers.get('link') !== null).toBe(hasLink);
  });

  it('a malformed n is 400', async () => {
    expect((await api(`/v2/${name}/tags/list?n=-1`)).status).toBe(400);
  });
});

describe('referrers', () => {
  const name = 'referrers/repo';
  let subject: Awaited<ReturnType<typeof buildImage>>;
  const sbomConfig = blob('application/vnd.example.sbom.config', '{}');
  const sigConfig = blob('application/vnd.example.signature.v1', '{"sig":1}');
  const empty = blob('application/vnd.oci.empty.v1+json', '{}');
  const referrers: { digest: string; artifactType: string; annotations: Record<string, string> }[] = [];

  beforeAll(async () => {
    subject = await pushImage(name, 'subject');
    for (const b of [sbomConfig, sigConfig, empty]) await pushBlob(name, b);
    const withArtifactType = JSON.stringify({
      schemaVersion: 2,
      mediaType: OCI_MANIFEST,
      artifactType: 'application/vnd.example.sbom.v1',
      config: descriptor(empty),
      layers: [descriptor(sbomConfig)],
      subject: descriptor(subject.manifest),
      annotations: { 'org.example.format': 'json' },
    });
    const viaConfig = JSON.stringify({
      schemaVersion: 2,
      mediaType: OCI_MANIFEST,
      config: descriptor(sigConfig),
      layers: [],
      subject: descriptor(subject.manifest),
      annotations: { 'org.example.key': 'abcd' },
    });
    for (const body of [withArtifactType, viaConfig]) {
      const res = await putManifest(name, sha256(body), body, OCI_MANIFEST);
      expect(res.status).toBe(201);
      expect(res.headers.get('oci-subject')).toBe(subject.manifest.digest);
      referrers.push({ digest: sha256(body), ...JSON.parse(body) });
    }
  });

  it('lists the referrers with artifactType (declared, or the config media type) and annotations', async () => {
    const res = await api(`/v2/${name}/referrers/${subject.manifest.digest}`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe(OCI_INDEX);
    const index = (await res.json()) as { mediaType: string; manifests: Record<string, unknown>[] };
    expect(index.mediaType).toBe(OCI_INDEX);
    expect(index.manifests.map((m) => [m.digest, m.artifactType, m.annotations])).toEqual([
      [referrers[0]!.digest, 'application/vnd.example.sbom.v1', { 'org.example.format': 'json' }],
      [referrers[1]!.digest, 'application/vnd.example.signature.v1', { 'org.example.key': 'abcd' }],
    ]);
  });

  it('an index referrer without artifactType is listed without one', async () => {
    const body = JSON.stringify({
      schemaVersion: 2,
      mediaType: OCI_INDEX,
      manifests: [],
      subject: descriptor(subject.manifest),
      annotations: { kind: 'index' },
    });
    const res = await putManifest(name, sha256(body), body, OCI_INDEX);
    expect(res.status).toBe(201);
    expect(res.headers.get('oci-subject')).toBe(subject.manifest.digest);
    const index = (await (await api(`/v2/${name}/referrers/${subject.manifest.digest}`)).json()) as {
      manifests: Record<string, unknown>[];
    };
    const entry = index.manifests.find((m) => m.digest === sha256(body));
    expect(entry).toEqual({
      mediaType: OCI_INDEX,
      digest: sha256(body),
      size: Buffer.byteLength(body),
      annotations: { kind: 'index' },
    });
    expect((await api(`/v2/${name}/manifests/${sha256(body)}`, { method: 'DELETE' })).status).toBe(202);
  });

  it('filters by artifactType and says so in OCI-Filters-Applied', async () => {
    const res = await api(
      `/v2/${name}/referrers/${subject.manifest.digest}?artifactType=application/vnd.example.signature.v1`,
    );
    expect(res.headers.get('oci-filters-applied')).toBe('artifactType');
    const index = (await res.json()) as { manifests: { digest: string }[] };
    expect(index.manifests.map((m) => m.digest)).toEqual([referrers[1]!.digest]);
  });

  it('an unknown subject gives an empty index (never 404); a bad digest 400 DIGEST_INVALID', async () => {
    for (const repo of [name, 'referrers/none']) {
      const res = await api(`/v2/${repo}/referrers/${sha256('nothing refers to me')}`);
      expect(res.status).toBe(200);
      expect(((await res.json()) as { manifests: unknown[] }).manifests).toEqual([]);
    }
    const bad = await api(`/v2/${name}/referrers/sha256:xyz`);
    expect(bad.status).toBe(400);
    expect(await errorCodes(bad)).toEqual(['DIGEST_INVALID']);
  });

  it('accepts a referrer whose subject does not exist, and forgets deleted referrers', async () => {
    const ghost = { mediaType: OCI_MANIFEST, digest: sha256('ghost'), size: 5 };
    const body = JSON.stringify({
      schemaVersion: 2,
      mediaType: OCI_MANIFEST,
      config: descriptor(empty),
      layers: [],
      subject: ghost,
    });
    const res = await putManifest(name, sha256(body), body, OCI_MANIFEST);
    expect(res.status).toBe(201);
    let list = (await (await api(`/v2/${name}/referrers/${ghost.digest}`)).json()) as { manifests: unknown[] };
    expect(list.manifests).toHaveLength(1);
    expect((await api(`/v2/${name}/manifests/${sha256(body)}`, { method: 'DELETE' })).status).toBe(202);
    list = (await (await api(`/v2/${name}/referrers/${ghost.digest}`)).json()) as { manifests: unknown[] };
    expect(list.manifests).toEqual([]);
  });
});

describe('server modes and access control', () => {
  it('a read-only server serves pulls and answers every write with 405 UNSUPPORTED', async () => {
    const image = await pushImage('modes/ro', 'v1');
    const ro = await startServer({ readOnly: true });
    expect((await api('/v2/modes/ro/manifests/v1', {}, ro)).status).toBe(200);
    const writes: [string, RequestInit][] = [
      [`/v2/modes/ro/blobs/uploads/`, { method: 'POST' }],
      [
        `/v2/modes/ro/manifests/v2`,
        { method: 'PUT', body: new Uint8Array(image.manifest.bytes), headers: { 'Content-Type': OCI_MANIFEST } },
      ],
      [`/v2/modes/ro/manifests/v1`, { method: 'DELETE' }],
      [`/v2/modes/ro/blobs/${image.config.digest}`, { method: 'DELETE' }],
    ];
    for (const [path, init] of writes) {
      const res = await api(path, init, ro);
      expect(res.status).toBe(405);
      expect(await errorCodes(res)).toEqual(['UNSUPPORTED']);
    }
  });

  it('with deletes disabled, DELETE is 405 UNSUPPORTED and pushes still work', async () => {
    const image = await pushImage('modes/nodelete', 'v1');
    const nd = await startServer({ deleteEnabled: false });
    for (const path of ['/v2/modes/nodelete/manifests/v1', `/v2/modes/nodelete/blobs/${image.config.digest}`]) {
      const res = await api(path, { method: 'DELETE' }, nd);
      expect(res.status).toBe(405);
      expect(await errorCodes(res)).toEqual(['UNSUPPORTED']);
    }
    expect((await putManifest('modes/nodelete', 'v2', image.manifest.bytes, OCI_MANIFEST, nd)).status).toBe(201);
  });

  it('credentials: 401 UNAUTHORIZED with a Basic challenge, 200 with them', async () => {
    const s = await startServer({ credentials: { username: 'berth', password: 'secret' } });
    const res = await api('/v2/', {}, s);
    expect(res.status).toBe(401);
    expect(res.headers.get('www-authenticate')).toBe('Basic realm="berth-registry"');
    expect(await errorCodes(res)).toEqual(['UNAUTHORIZED']);
    const wrong = await api(
      '/v2/',
      { headers: { Authorization: `Basic ${Buffer.from('berth:nope').toString('base64')}` } },
      s,
    );
    expect(wrong.status).toBe(401);
    const ok = await api(
      '/v2/',
      { headers: { Authorization: `Basic ${Buffer.from('berth:secret').toString('base64')}` } },
      s,
    );
    expect(ok.status).toBe(200);
  });

  it('an access policy that refuses is 403 DENIED', async () => {
    const s = await startServer({ authorize: ({ action }) => action === 'pull' });
    const res = await api('/v2/modes/denied/blobs/uploads/', { method: 'POST' }, s);
    expect(res.status).toBe(403);
    expect(await errorCodes(res)).toEqual(['DENIED']);
    expect((await api('/v2/modes/denied/tags/list', {}, s)).status).toBe(404);
  });

  it('a rate limit answers 429 TOOMANYREQUESTS once the bucket is empty', async () => {
    const s = await startServer({ rateLimit: { requestsPerSecond: 0.001, burst: 2 } });
    expect((await api('/v2/', {}, s)).status).toBe(200);
    expect((await api('/v2/', {}, s)).status).toBe(200);
    const res = await api('/v2/', {}, s);
    expect(res.status).toBe(429);
    expect(res.headers.get('retry-after')).toBe('1');
    expect(await errorCodes(res)).toEqual(['TOOMANYREQUESTS']);
  });

  it('refuses a non-loopback listen address unless allowed', async () => {
    await expect(createRegistryServer({ root, addr: '0.0.0.0:0', logger: createLogger('silent') })).rejects.toThrow(
      /not a loopback address/,
    );
  });

  it('writes one access-log line per request through the logger', async () => {
    await api('/v2/');
    await new Promise((r) => setTimeout(r, 20));
    expect(accessLog.some((f) => f.method === 'GET' && f.path === '/v2/' && f.status === 200)).toBe(true);
  });
});

/** Retries `check` until it passes or 5 s have gone by (for effects the server applies after a reset). */
async function eventually(check: () => Promise<void>): Promise<void> {
  const deadline = Date.now() + 5_000;
  for (;;) {
    try {
      return await check();
    } catch (err) {
      if (Date.now() > deadline) throw err;
      await new Promise((r) => setTimeout(r, 20));
    }
  }
}

describe('crash safety', () => {
  /** Sends the headers and half of a declared body, then resets the connection. */
  function abortedRequest(
    method: string,
    path: string,
    total: number,
    sent: Buffer,
    headers: Record<string, string> = {},
  ): Promise<void> {
    return new Promise((resolve) => {
      const req = request(`${server.url}${path}`, { method, headers: { 'Content-Length': String(total), ...headers } });
      req.on('error', () => resolve());
      req.write(sent, () =>
        setTimeout(() => {
          req.destroy();
          setTimeout(resolve, 100);
        }, 50),
      );
    });
  }

  it('an aborted monolithic upload leaves no blob, no session and no temp file', async () => {
    const name = 'crash/mono';
    const whole = Buffer.alloc(256 * 1024, 7);
    const sessionsBefore = await readdir(join(root, 'uploads'));
    await abortedRequest(
      'POST',
      `/v2/${name}/blobs/uploads/?digest=${sha256(whole)}`,
      whole.length,
      whole.subarray(0, 1000),
    );
    expect((await api(`/v2/${name}/blobs/${sha256(whole)}`, { method: 'HEAD' })).status).toBe(404);
    await eventually(async () => expect(await readdir(join(root, 'uploads'))).toEqual(sessionsBefore));
    const leftovers = await readdir(join(root, 'tmp'));
    expect(leftovers).toEqual([]);
    const blobs = await readdir(join(server.layoutDir(name), 'blobs', 'sha256')).catch(() => []);
    expect(blobs).toEqual([]);
  });

  it('an aborted chunk is rolled back: the session resumes from the last complete chunk', async () => {
    const name = 'crash/chunk';
    const whole = Buffer.from('first-chunk|second-chunk');
    const location = await startSession(name);
    expect(
      (await api(location, { method: 'PATCH', body: whole.subarray(0, 12), headers: { 'Content-Range': '0-11' } }))
        .status,
    ).toBe(202);
    await abortedRequest('PATCH', location, 12, whole.subarray(12, 18), { 'Content-Range': '12-23' });
    // The server notices the reset asynchronously; until then the session is busy (416).
    await eventually(async () => {
      expect(
        (await api(location, { method: 'PATCH', body: whole.subarray(12), headers: { 'Content-Range': '12-23' } }))
          .status,
      ).toBe(202);
    });
    const res = await api(`${location}?digest=${sha256(whole)}`, { method: 'PUT' });
    expect(res.status).toBe(201);
  });

  it('an upload session survives a server restart', async () => {
    const name = 'crash/restart';
    const whole = Buffer.from('before restart|after restart');
    const location = await startSession(name);
    await api(location, { method: 'PATCH', body: whole.subarray(0, 15), headers: { 'Content-Range': '0-14' } });
    const s = await startServer();
    const status = await api(location, {}, s);
    expect(status.status).toBe(204);
    expect(status.headers.get('range')).toBe('0-14');
    expect(
      (
        await api(
          location,
          { method: 'PATCH', body: whole.subarray(15), headers: { 'Content-Range': `15-${whole.length - 1}` } },
          s,
        )
      ).status,
    ).toBe(202);
    const res = await api(`${location}?digest=${sha256(whole)}`, { method: 'PUT' }, s);
    expect(res.status).toBe(201);
    expect((await api(`/v2/${name}/blobs/${sha256(whole)}`, { method: 'HEAD' })).status).toBe(200);
  });
});

describe('lifecycle', () => {
  it('removes idle upload sessions when a server starts', async () => {
    const own = await mkdtemp(join(tmpdir(), `berth-registry-idle-${process.pid}-`));
    try {
      const a = await createRegistryServer({ root: own, logger: createLogger('silent') });
      const res = await api('/v2/idle/repo/blobs/uploads/', { method: 'POST' }, a);
      const location = res.headers.get('location') as string;
      await a.close();
      const kept = await createRegistryServer({ root: own, logger: createLogger('silent') });
      expect((await api(location, {}, kept)).status).toBe(204);
      await kept.close();
      const b = await createRegistryServer({ root: own, logger: createLogger('silent'), uploadIdleMs: 0 });
      const status = await api(location, {}, b);
      expect(status.status).toBe(404);
      expect(await errorCodes(status)).toEqual(['BLOB_UPLOAD_UNKNOWN']);
      await b.close();
    } finally {
      await rm(own, { recursive: true, force: true });
    }
  });

  it('removes half-written files of an interrupted run from tmp/ at start', async () => {
    const own = await mkdtemp(join(tmpdir(), `berth-registry-tmp-${process.pid}-`));
    try {
      await mkdir(join(own, 'tmp'), { recursive: true });
      await writeFile(join(own, 'tmp', 'half-written'), 'partial manifest');
      const s = await createRegistryServer({ root: own, logger: createLogger('silent') });
      expect(await readdir(join(own, 'tmp'))).toEqual([]);
      await s.close();
    } finally {
      await rm(own, { recursive: true, force: true });
    }
  });

  it('close() lets a download in flight finish, then refuses connections', async () => {
    const own = await mkdtemp(join(tmpdir(), `berth-registry-close-${process.pid}-`));
    try {
      const s = await createRegistryServer({ root: own, logger: createLogger('silent') });
      const big = Buffer.alloc(8 * 1024 * 1024, 3);
      await pushBlob('close/repo', big, s);
      const res = await api(`/v2/close/repo/blobs/${sha256(big)}`, {}, s);
      expect(res.status).toBe(200);
      const closed = s.close(10_000);
      const body = Buffer.from(await res.arrayBuffer());
      expect(body.length).toBe(big.length);
      await closed;
      await expect(api('/v2/', {}, s)).rejects.toThrow();
    } finally {
      await rm(own, { recursive: true, force: true });
    }
  });
});
