// A conformance-style check list for any registry that speaks the OCI distribution
// spec v1.1 over HTTP, modelled on the spec's own conformance workflows (pull, push,
// content discovery, content management). It reports pass/fail per check instead of
// stopping at the first failure, so it can show what a peer registry (Debian's
// docker-registry, distribution 2.8) misses next to berth's embedded server.
import { createHash } from 'node:crypto';

export type Workflow = 'pull' | 'push' | 'discovery' | 'management';

export interface CheckResult {
  id: string;
  workflow: Workflow;
  title: string;
  ok: boolean;
  /** What differed from the spec, when the check failed. */
  error?: string;
}

export interface ConformanceOptions {
  /** Base URL of the registry, e.g. http://127.0.0.1:5000. */
  url: string;
  /** Repository the checks write to; must be empty or absent. */
  namespace: string;
  /** A second repository, source of the cross-repository mount. */
  crossmountNamespace: string;
}

interface Check {
  id: string;
  workflow: Workflow;
  title: string;
  run: (s: SuiteState) => Promise<void>;
}

interface SuiteState {
  url: string;
  ns: string;
  other: string;
  config: Buffer;
  layer: Buffer;
  manifest: Buffer;
  manifestDigest: string;
}

const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
const OCI_INDEX = 'application/vnd.oci.image.index.v1+json';
const sha = (b: Buffer | string) => `sha256:${createHash('sha256').update(b).digest('hex')}`;

class Mismatch extends Error {}

function expectThat(condition: boolean, message: string): void {
  if (!condition) throw new Mismatch(message);
}

async function expectStatus(res: Response, ...statuses: number[]): Promise<void> {
  if (!statuses.includes(res.status)) {
    const body = await res.text().catch(() => '');
    throw new Mismatch(
      `status ${res.status}, expected ${statuses.join(' or ')}${body ? `: ${body.slice(0, 200)}` : ''}`,
    );
  }
}

async function expectCode(res: Response, status: number, code: string): Promise<void> {
  expectThat(res.status === status, `status ${res.status}, expected ${status}`);
  const body = (await res.json().catch(() => ({}))) as { errors?: { code?: string }[] };
  const codes = (body.errors ?? []).map((e) => e.code);
  expectThat(codes.includes(code), `error codes ${JSON.stringify(codes)}, expected ${code}`);
}

function call(s: SuiteState, path: string, init: RequestInit = {}): Promise<Response> {
  return fetch(path.startsWith('http') ? path : `${s.url}${path}`, init);
}

/** Resolves a Location header (absolute or relative) against the registry. */
function location(s: SuiteState, res: Response): string {
  const value = res.headers.get('location');
  expectThat(value !== null, 'Location header missing');
  return new URL(value as string, s.url).toString();
}

function withQuery(url: string, query: string): string {
  return url.includes('?') ? `${url}&${query}` : `${url}?${query}`;
}

async function startUpload(s: SuiteState, ns = s.ns): Promise<string> {
  const res = await call(s, `/v2/${ns}/blobs/uploads/`, { method: 'POST' });
  await expectStatus(res, 202);
  return location(s, res);
}

async function pushMonolithic(s: SuiteState, ns: string, blob: Buffer): Promise<void> {
  const loc = await startUpload(s, ns);
  const res = await call(s, withQuery(loc, `digest=${sha(blob)}`), {
    method: 'PUT',
    body: new Uint8Array(blob),
    headers: { 'Content-Type': 'application/octet-stream' },
  });
  await expectStatus(res, 201);
}

const checks: Check[] = [
  {
    id: 'base',
    workflow: 'pull',
    title: 'GET /v2/ answers 200 with Docker-Distribution-API-Version',
    run: async (s) => {
      const res = await call(s, '/v2/');
      await expectStatus(res, 200);
      expectThat(
        res.headers.get('docker-distribution-api-version') === 'registry/2.0',
        'Docker-Distribution-API-Version header missing',
      );
    },
  },
  {
    id: 'push-post-put',
    workflow: 'push',
    title: 'POST then PUT uploads a blob (201, Location)',
    run: async (s) => {
      await pushMonolithic(s, s.ns, s.config);
    },
  },
  {
    id: 'push-single-post',
    workflow: 'push',
    title: 'a single POST ?digest= uploads a blob (201)',
    run: async (s) => {
      const res = await call(s, `/v2/${s.ns}/blobs/uploads/?digest=${sha(s.layer)}`, {
        method: 'POST',
        body: new Uint8Array(s.layer),
        headers: { 'Content-Type': 'application/octet-stream' },
      });
      if (res.status === 202) {
        await pushMonolithic(s, s.ns, s.layer);
        throw new Mismatch('answered 202 (single-request upload not supported)');
      }
      await expectStatus(res, 201);
    },
  },
  {
    id: 'push-chunked',
    workflow: 'push',
    title: 'PATCH chunks with Content-Range, then PUT closes (202, 202, 201)',
    run: async (s) => {
      const blob = Buffer.from('chunk-one|chunk-two|');
      let loc = await startUpload(s);
      let res = await call(s, loc, {
        method: 'PATCH',
        body: new Uint8Array(blob.subarray(0, 10)),
        headers: { 'Content-Range': '0-9', 'Content-Type': 'application/octet-stream' },
      });
      await expectStatus(res, 202);
      expectThat(res.headers.get('range') === '0-9', `Range ${res.headers.get('range')}, expected 0-9`);
      loc = location(s, res);
      res = await call(s, loc, {
        method: 'PATCH',
        body: new Uint8Array(blob.subarray(10)),
        headers: { 'Content-Range': `10-${blob.length - 1}`, 'Content-Type': 'application/octet-stream' },
      });
      await expectStatus(res, 202);
      loc = location(s, res);
      res = await call(s, withQuery(loc, `digest=${sha(blob)}`), { method: 'PUT' });
      await expectStatus(res, 201);
    },
  },
  {
    id: 'push-chunk-out-of-order',
    workflow: 'push',
    title: 'an out-of-order chunk answers 416',
    run: async (s) => {
      const loc = await startUpload(s);
      const first = await call(s, loc, {
        method: 'PATCH',
        body: 'abcde',
        headers: { 'Content-Range': '0-4', 'Content-Type': 'application/octet-stream' },
      });
      await expectStatus(first, 202);
      const res = await call(s, location(s, first), {
        method: 'PATCH',
        body: 'klmno',
        headers: { 'Content-Range': '10-14', 'Content-Type': 'application/octet-stream' },
      });
      await expectStatus(res, 416);
    },
  },
  {
    id: 'push-streamed',
    workflow: 'push',
    title: 'a PATCH without Content-Range streams the body (202)',
    run: async (s) => {
      const blob = Buffer.from('streamed upload body');
      const loc = await startUpload(s);
      const res = await call(s, loc, {
        method: 'PATCH',
        body: new Uint8Array(blob),
        headers: { 'Content-Type': 'application/octet-stream' },
      });
      await expectStatus(res, 202);
      const done = await call(s, withQuery(location(s, res), `digest=${sha(blob)}`), { method: 'PUT' });
      await expectStatus(done, 201);
    },
  },
  {
    id: 'upload-status',
    workflow: 'push',
    title: 'GET on an upload session answers 204 with Range',
    run: async (s) => {
      const loc = await startUpload(s);
      const patched = await call(s, loc, {
        method: 'PATCH',
        body: 'xyz',
        headers: { 'Content-Range': '0-2', 'Content-Type': 'application/octet-stream' },
      });
      await expectStatus(patched, 202);
      const res = await call(s, location(s, patched));
      await expectStatus(res, 204);
      expectThat(res.headers.get('range') === '0-2', `Range ${res.headers.get('range')}, expected 0-2`);
    },
  },
  {
    id: 'upload-cancel',
    workflow: 'push',
    title: 'DELETE cancels an upload (204), then the session is 404',
    run: async (s) => {
      const loc = await startUpload(s);
      await expectStatus(await call(s, loc, { method: 'DELETE' }), 204);
      await expectCode(await call(s, loc), 404, 'BLOB_UPLOAD_UNKNOWN');
    },
  },
  {
    id: 'upload-digest-invalid',
    workflow: 'push',
    title: 'closing with a wrong digest answers 400 DIGEST_INVALID',
    run: async (s) => {
      const loc = await startUpload(s);
      await expectCode(
        await call(s, withQuery(loc, `digest=${sha('other')}`), {
          method: 'PUT',
          body: 'content',
          headers: { 'Content-Type': 'application/octet-stream' },
        }),
        400,
        'DIGEST_INVALID',
      );
    },
  },
  {
    id: 'manifest-blob-unknown',
    workflow: 'push',
    title: 'a manifest naming an unknown blob answers MANIFEST_BLOB_UNKNOWN',
    run: async (s) => {
      const body = JSON.stringify({
        schemaVersion: 2,
        mediaType: OCI_MANIFEST,
        config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: sha('absent config'), size: 14 },
        layers: [],
      });
      const res = await call(s, `/v2/${s.ns}/manifests/broken`, {
        method: 'PUT',
        body,
        headers: { 'Content-Type': OCI_MANIFEST },
      });
      await expectCode(res, 400, 'MANIFEST_BLOB_UNKNOWN');
    },
  },
  {
    id: 'manifest-put',
    workflow: 'push',
    title: 'PUT manifest by tag answers 201 with Location and Docker-Content-Digest',
    run: async (s) => {
      await pushMonolithic(s, s.ns, s.layer).catch(() => undefined);
      const res = await call(s, `/v2/${s.ns}/manifests/v1`, {
        method: 'PUT',
        body: new Uint8Array(s.manifest),
        headers: { 'Content-Type': OCI_MANIFEST },
      });
      await expectStatus(res, 201);
      expectThat(res.headers.get('location') !== null, 'Location header missing');
      expectThat(
        res.headers.get('docker-content-digest') === s.manifestDigest,
        `Docker-Content-Digest ${res.headers.get('docker-content-digest')}`,
      );
    },
  },
  {
    id: 'tag-invalid',
    workflow: 'push',
    title: 'PUT manifest with an invalid tag answers 400 TAG_INVALID',
    run: async (s) => {
      await expectCode(
        await call(s, `/v2/${s.ns}/manifests/-bad`, {
          method: 'PUT',
          body: new Uint8Array(s.manifest),
          headers: { 'Content-Type': OCI_MANIFEST },
        }),
        400,
        'TAG_INVALID',
      );
    },
  },
  {
    id: 'manifest-get',
    workflow: 'pull',
    title: 'GET manifest by tag and digest returns its bytes, Content-Type and digest',
    run: async (s) => {
      for (const ref of ['v1', s.manifestDigest]) {
        const res = await call(s, `/v2/${s.ns}/manifests/${ref}`, { headers: { Accept: OCI_MANIFEST } });
        await expectStatus(res, 200);
        expectThat(res.headers.get('content-type') === OCI_MANIFEST, `Content-Type ${res.headers.get('content-type')}`);
        expectThat(Buffer.from(await res.arrayBuffer()).equals(s.manifest), 'manifest bytes differ');
      }
      const head = await call(s, `/v2/${s.ns}/manifests/v1`, { method: 'HEAD', headers: { Accept: OCI_MANIFEST } });
      await expectStatus(head, 200);
      expectThat(
        head.headers.get('content-length') === String(s.manifest.length),
        `Content-Length ${head.headers.get('content-length')}`,
      );
    },
  },
  {
    id: 'manifest-unknown',
    workflow: 'pull',
    title: 'an unknown manifest answers 404 MANIFEST_UNKNOWN; a reference no tag can match answers 404',
    run: async (s) => {
      await expectCode(await call(s, `/v2/${s.ns}/manifests/nonexistent`), 404, 'MANIFEST_UNKNOWN');
      // The distribution-spec conformance suite's nonexistent manifest.
      for (const method of ['GET', 'HEAD'])
        await expectStatus(await call(s, `/v2/${s.ns}/manifests/.INVALID_MANIFEST_NAME`, { method }), 404);
    },
  },
  {
    id: 'name-invalid',
    workflow: 'pull',
    title: 'an invalid repository name answers 400 NAME_INVALID',
    run: async (s) => {
      await expectCode(await call(s, `/v2/Invalid_Name/tags/list`), 400, 'NAME_INVALID');
    },
  },
  {
    id: 'name-unknown',
    workflow: 'discovery',
    title: 'the tag list of an unknown repository answers 404 NAME_UNKNOWN',
    run: async (s) => {
      await expectCode(await call(s, `/v2/${s.ns}-absent/tags/list`), 404, 'NAME_UNKNOWN');
    },
  },
  {
    id: 'blob-range',
    workflow: 'pull',
    title: 'GET blob with Range answers 206; an unsatisfiable range 416',
    run: async (s) => {
      const res = await call(s, `/v2/${s.ns}/blobs/${sha(s.config)}`, { headers: { Range: 'bytes=0-3' } });
      await expectStatus(res, 206);
      expectThat(Buffer.from(await res.arrayBuffer()).equals(s.config.subarray(0, 4)), 'range bytes differ');
      const bad = await call(s, `/v2/${s.ns}/blobs/${sha(s.config)}`, {
        headers: { Range: `bytes=${s.config.length + 10}-` },
      });
      await expectStatus(bad, 416);
    },
  },
  {
    id: 'blob-unknown',
    workflow: 'pull',
    title: 'an unknown blob answers 404 BLOB_UNKNOWN',
    run: async (s) => {
      await expectCode(await call(s, `/v2/${s.ns}/blobs/${sha('never pushed')}`), 404, 'BLOB_UNKNOWN');
    },
  },
  {
    id: 'tags-paginated',
    workflow: 'discovery',
    title: 'tags/list with n and last, Link rel="next", n=0 empty',
    run: async (s) => {
      for (const tag of ['v2', 'v3']) {
        await expectStatus(
          await call(s, `/v2/${s.ns}/manifests/${tag}`, {
            method: 'PUT',
            body: new Uint8Array(s.manifest),
            headers: { 'Content-Type': OCI_MANIFEST },
          }),
          201,
        );
      }
      const first = await call(s, `/v2/${s.ns}/tags/list?n=2`);
      await expectStatus(first, 200);
      const page = (await first.json()) as { tags: string[] };
      expectThat(JSON.stringify(page.tags) === '["v1","v2"]', `first page ${JSON.stringify(page.tags)}`);
      expectThat(/rel="next"/.test(first.headers.get('link') ?? ''), 'Link rel="next" missing');
      const rest = (await (await call(s, `/v2/${s.ns}/tags/list?n=2&last=v2`)).json()) as { tags: string[] };
      expectThat(JSON.stringify(rest.tags) === '["v3"]', `second page ${JSON.stringify(rest.tags)}`);
      const none = await call(s, `/v2/${s.ns}/tags/list?n=0`);
      const empty = (await none.json()) as { tags: string[] | null };
      expectThat(
        (empty.tags ?? []).length === 0 && none.headers.get('link') === null,
        `n=0 gave ${JSON.stringify(empty.tags)}`,
      );
    },
  },
  {
    id: 'referrers-subject',
    workflow: 'discovery',
    title: 'PUT of a manifest with subject answers OCI-Subject',
    run: async (s) => {
      const empty = Buffer.from('{}');
      await pushMonolithic(s, s.ns, empty);
      const body = JSON.stringify({
        schemaVersion: 2,
        mediaType: OCI_MANIFEST,
        artifactType: 'application/vnd.berth.test',
        config: { mediaType: 'application/vnd.oci.empty.v1+json', digest: sha(empty), size: 2 },
        layers: [{ mediaType: 'application/vnd.oci.empty.v1+json', digest: sha(empty), size: 2 }],
        subject: { mediaType: OCI_MANIFEST, digest: s.manifestDigest, size: s.manifest.length },
      });
      const res = await call(s, `/v2/${s.ns}/manifests/${sha(body)}`, {
        method: 'PUT',
        body,
        headers: { 'Content-Type': OCI_MANIFEST },
      });
      await expectStatus(res, 201);
      expectThat(res.headers.get('oci-subject') === s.manifestDigest, 'OCI-Subject header missing');
    },
  },
  {
    id: 'referrers-list',
    workflow: 'discovery',
    title: 'GET referrers lists the referrer; artifactType filter with OCI-Filters-Applied',
    run: async (s) => {
      const res = await call(s, `/v2/${s.ns}/referrers/${s.manifestDigest}`);
      await expectStatus(res, 200);
      expectThat(res.headers.get('content-type') === OCI_INDEX, `Content-Type ${res.headers.get('content-type')}`);
      const index = (await res.json()) as { manifests: { artifactType?: string }[] };
      expectThat(
        index.manifests.some((m) => m.artifactType === 'application/vnd.berth.test'),
        'referrer missing',
      );
      const filtered = await call(s, `/v2/${s.ns}/referrers/${s.manifestDigest}?artifactType=application/vnd.other`);
      expectThat(filtered.headers.get('oci-filters-applied') === 'artifactType', 'OCI-Filters-Applied missing');
      expectThat(((await filtered.json()) as { manifests: unknown[] }).manifests.length === 0, 'filter not applied');
    },
  },
  {
    id: 'mount',
    workflow: 'push',
    title: 'POST ?mount=&from= mounts a blob (201); an absent source falls back to 202',
    run: async (s) => {
      const blob = Buffer.from(`mountable ${s.ns}`);
      await pushMonolithic(s, s.other, blob);
      await expectStatus(
        await call(s, `/v2/${s.ns}/blobs/uploads/?mount=${sha(blob)}&from=${s.other}`, { method: 'POST' }),
        201,
      );
      await expectStatus(await call(s, `/v2/${s.ns}/blobs/${sha(blob)}`, { method: 'HEAD' }), 200);
      await expectStatus(
        await call(s, `/v2/${s.ns}/blobs/uploads/?mount=${sha('absent')}&from=${s.other}`, { method: 'POST' }),
        202,
      );
    },
  },
  {
    id: 'delete-tag',
    workflow: 'management',
    title: 'DELETE of a tag answers 202; the manifest stays pullable by digest',
    run: async (s) => {
      await expectStatus(await call(s, `/v2/${s.ns}/manifests/v3`, { method: 'DELETE' }), 202);
      await expectStatus(await call(s, `/v2/${s.ns}/manifests/v3`), 404);
      await expectStatus(
        await call(s, `/v2/${s.ns}/manifests/${s.manifestDigest}`, { headers: { Accept: OCI_MANIFEST } }),
        200,
      );
    },
  },
  {
    id: 'delete-manifest',
    workflow: 'management',
    title: 'DELETE of a manifest by digest answers 202, then 404',
    run: async (s) => {
      await expectStatus(await call(s, `/v2/${s.ns}/manifests/${s.manifestDigest}`, { method: 'DELETE' }), 202);
      await expectStatus(await call(s, `/v2/${s.ns}/manifests/${s.manifestDigest}`), 404);
    },
  },
  {
    id: 'delete-blob',
    workflow: 'management',
    title: 'DELETE of a blob answers 202, then 404',
    run: async (s) => {
      await expectStatus(await call(s, `/v2/${s.ns}/blobs/${sha(s.config)}`, { method: 'DELETE' }), 202);
      await expectStatus(await call(s, `/v2/${s.ns}/blobs/${sha(s.config)}`, { method: 'HEAD' }), 404);
    },
  },
];

/**
 * Runs every check in order against `options.url` (checks build on earlier ones:
 * pushes before pulls before deletes) and returns one result per check. Never
 * throws for a registry's answer; a network failure fails the check it happens in.
 */
export async function runConformance(options: ConformanceOptions): Promise<CheckResult[]> {
  const config = Buffer.from(
    JSON.stringify({
      architecture: 'amd64',
      os: 'linux',
      rootfs: { type: 'layers', diff_ids: [] },
      berth: options.namespace,
    }),
  );
  const layer = Buffer.from(`layer of ${options.namespace}`);
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: OCI_MANIFEST,
      config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: sha(config), size: config.length },
      layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar', digest: sha(layer), size: layer.length }],
    }),
  );
  const state: SuiteState = {
    url: options.url,
    ns: options.namespace,
    other: options.crossmountNamespace,
    config,
    layer,
    manifest,
    manifestDigest: sha(manifest),
  };
  const results: CheckResult[] = [];
  for (const check of checks) {
    try {
      await check.run(state);
      results.push({ id: check.id, workflow: check.workflow, title: check.title, ok: true });
    } catch (err) {
      results.push({
        id: check.id,
        workflow: check.workflow,
        title: check.title,
        ok: false,
        error: err instanceof Error ? err.message : String(err),
      });
    }
  }
  return results;
}
