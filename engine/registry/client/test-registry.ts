// Test fixtures for the distribution client: images with gzip, zstd or plain
// layers, a push helper speaking the distribution API, and a fault-injecting
// proxy on 127.0.0.1 (dropped connections, 503s, corrupted bytes, Bearer tokens).
import { createHash } from 'node:crypto';
import { createServer, request, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { gzipSync } from 'node:zlib';
import { buildTar, type FixtureEntry } from '../../archive/tar-fixtures.js';

export interface Blob {
  mediaType: string;
  digest: string;
  size: number;
  bytes: Buffer;
}

export interface Image {
  config: Blob;
  layers: Blob[];
  manifest: Blob;
  diffIDs: string[];
}

export type LayerKind = 'gzip' | 'zstd' | 'none';

export function sha256(b: Buffer | string): string {
  return `sha256:${createHash('sha256').update(b).digest('hex')}`;
}

export function blobOf(mediaType: string, bytes: Buffer | string): Blob {
  const b = Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes);
  return { mediaType, digest: sha256(b), size: b.length, bytes: b };
}

const desc = (b: Blob): { mediaType: string; digest: string; size: number } => ({
  mediaType: b.mediaType,
  digest: b.digest,
  size: b.size,
});

/** A zstd frame of raw (stored) blocks: valid zstd any decoder reads, without needing a compressor. */
export function zstdStored(data: Buffer): Buffer {
  const parts: Buffer[] = [Buffer.from([0x28, 0xb5, 0x2f, 0xfd, 0x00, 0x38])]; // magic, FHD 0, window 128 KiB
  const max = 64 * 1024;
  let off = 0;
  do {
    const n = Math.min(max, data.length - off);
    const last = off + n >= data.length ? 1 : 0;
    const h = last | (0 << 1) | (n << 3);
    parts.push(Buffer.from([h & 0xff, (h >> 8) & 0xff, (h >> 16) & 0xff]), data.subarray(off, off + n));
    off += n;
  } while (off < data.length);
  return Buffer.concat(parts);
}

const layerTypes = {
  oci: {
    gzip: 'application/vnd.oci.image.layer.v1.tar+gzip',
    zstd: 'application/vnd.oci.image.layer.v1.tar+zstd',
    none: 'application/vnd.oci.image.layer.v1.tar',
  },
  docker: {
    gzip: 'application/vnd.docker.image.rootfs.diff.tar.gzip',
    zstd: 'application/vnd.docker.image.rootfs.diff.tar.zstd',
    none: 'application/vnd.docker.image.rootfs.diff.tar',
  },
};

export interface LayerSpec {
  files?: Record<string, string | Buffer>;
  /** Tar entries of any kind, written after `files`. */
  entries?: FixtureEntry[];
  kind?: LayerKind;
}

/** An image whose layers hold `layers[i].files`; `format` picks OCI or Docker schema 2 media types. */
export async function buildImage(
  layers: LayerSpec[],
  opts: { format?: 'oci' | 'docker'; architecture?: string; seed?: string } = {},
): Promise<Image> {
  const format = opts.format ?? 'oci';
  const blobs: Blob[] = [];
  const diffIDs: string[] = [];
  for (const l of layers) {
    const tar = await buildTar([
      ...Object.entries(l.files ?? {}).map(([name, content]) => ({ name, content, mode: 0o644, mtime: new Date(0) })),
      ...(l.entries ?? []),
    ]);
    diffIDs.push(sha256(tar));
    const kind = l.kind ?? 'gzip';
    const bytes = kind === 'gzip' ? gzipSync(tar) : kind === 'zstd' ? zstdStored(tar) : tar;
    blobs.push(blobOf(layerTypes[format][kind], bytes));
  }
  const config = blobOf(
    format === 'oci' ? 'application/vnd.oci.image.config.v1+json' : 'application/vnd.docker.container.image.v1+json',
    JSON.stringify({
      architecture: opts.architecture ?? 'amd64',
      os: 'linux',
      config: { Cmd: ['/bin/sh'], Labels: { seed: opts.seed ?? '' } },
      rootfs: { type: 'layers', diff_ids: diffIDs },
    }),
  );
  const mt =
    format === 'oci'
      ? 'application/vnd.oci.image.manifest.v1+json'
      : 'application/vnd.docker.distribution.manifest.v2+json';
  const manifest = blobOf(
    mt,
    JSON.stringify({ schemaVersion: 2, mediaType: mt, config: desc(config), layers: blobs.map(desc) }),
  );
  return { config, layers: blobs, manifest, diffIDs };
}

/** An index (OCI or Docker manifest list) of `entries`. */
export function buildIndex(
  entries: { image: Image; platform: { os: string; architecture: string; variant?: string } }[],
  format: 'oci' | 'docker' = 'oci',
): Blob {
  const mt =
    format === 'oci'
      ? 'application/vnd.oci.image.index.v1+json'
      : 'application/vnd.docker.distribution.manifest.list.v2+json';
  return blobOf(
    mt,
    JSON.stringify({
      schemaVersion: 2,
      mediaType: mt,
      manifests: entries.map((e) => ({ ...desc(e.image.manifest), platform: e.platform })),
    }),
  );
}

async function call(
  method: string,
  url: string,
  body?: Buffer,
  headers: Record<string, string> = {},
): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const r = request(
      url,
      { method, headers: { ...headers, ...(body ? { 'Content-Length': String(body.length) } : {}) } },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString() }));
        res.on('error', reject);
      },
    );
    r.on('error', reject);
    r.end(body);
  });
}

/** Pushes blobs (monolithic uploads) and then a manifest or index under `tag` (or its digest). */
export async function push(
  base: string,
  repo: string,
  blobs: Blob[],
  top: Blob,
  tag?: string,
  headers: Record<string, string> = {},
): Promise<void> {
  for (const b of blobs) {
    const r = await call('POST', `${base}/v2/${repo}/blobs/uploads/?digest=${b.digest}`, b.bytes, {
      ...headers,
      'Content-Type': 'application/octet-stream',
    });
    if (r.status !== 201) throw new Error(`push blob ${b.digest}: HTTP ${r.status} ${r.text}`);
  }
  const r = await call('PUT', `${base}/v2/${repo}/manifests/${tag ?? top.digest}`, top.bytes, {
    ...headers,
    'Content-Type': top.mediaType,
  });
  if (r.status !== 201) throw new Error(`push manifest ${top.digest}: HTTP ${r.status} ${r.text}`);
}

/** Pushes an image's config, layers and manifest. */
export async function pushImage(
  base: string,
  repo: string,
  image: Image,
  tag?: string,
  headers: Record<string, string> = {},
): Promise<void> {
  await push(base, repo, [image.config, ...image.layers], image.manifest, tag, headers);
}

/**
 * What a proxy hook may do with a request: answer it itself (true) or let it through, optionally altering the response
 * body.
 */
export interface ProxyHooks {
  /** Return true when the hook answered the request. */
  before?(req: IncomingMessage, res: ServerResponse): boolean;
  /** Awaited before a request is forwarded (to hold it for a while). */
  hold?(req: IncomingMessage): Promise<void>;
  /** Called per response body chunk of a forwarded request; return the chunk to send, or null to cut the connection. */
  chunk?(req: IncomingMessage, chunk: Buffer, sentSoFar: number): Buffer | null;
}

export interface TestProxy {
  url: string;
  host: string;
  /** Request paths seen, in order (`GET /v2/x/blobs/sha256:…`, with a `range=` suffix when ranged). */
  log: string[];
  hooks: ProxyHooks;
  close(): Promise<void>;
}

/** A proxy on 127.0.0.1 in front of `target` (a registry base URL). */
export async function startProxy(target: string, hooks: ProxyHooks = {}): Promise<TestProxy> {
  const log: string[] = [];
  const state = { hooks };
  const server: Server = createServer((req, res) => {
    log.push(`${req.method} ${req.url}${req.headers.range ? ` range=${req.headers.range}` : ''}`);
    if (state.hooks.before?.(req, res)) return;
    if (state.hooks.hold) {
      req.pause();
      void state.hooks.hold(req).then(() => forward(req, res));
    } else forward(req, res);
  });
  const forward = (req: IncomingMessage, res: ServerResponse): void => {
    const headers = { ...req.headers };
    delete headers.host;
    const up = request(new URL(req.url ?? '/', target), { method: req.method, headers }, (ures) => {
      // hop-by-hop headers are the proxy's own (its Keep-Alive timeout is not the registry's)
      const { connection: _c, 'keep-alive': _k, ...forwarded } = ures.headers;
      res.writeHead(ures.statusCode ?? 502, forwarded);
      let sent = 0;
      ures.on('data', (c: Buffer) => {
        const out = state.hooks.chunk ? state.hooks.chunk(req, c, sent) : c;
        if (out === null) {
          ures.destroy();
          res.socket?.destroy();
          return;
        }
        sent += out.length;
        res.write(out);
      });
      ures.on('end', () => res.end());
    });
    up.on('error', () => res.destroy());
    req.pipe(up);
    req.resume();
  };
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}`,
    host: `127.0.0.1:${port}`,
    log,
    get hooks() {
      return state.hooks;
    },
    set hooks(h: ProxyHooks) {
      state.hooks = h;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/**
 * Hooks making a proxy demand Bearer tokens from its own `/token` endpoint, which
 * wants Basic `username:password` and hands out a token per scope. `issued` counts tokens.
 */
export function bearerHooks(
  proxyURL: () => string,
  username: string,
  password: string,
  issued: { count: number; scopes: string[] },
): ProxyHooks {
  const tokens = new Set<string>();
  return {
    before(req, res) {
      const url = new URL(req.url ?? '/', 'http://x');
      if (url.pathname === '/token') {
        const want = `Basic ${Buffer.from(`${username}:${password}`).toString('base64')}`;
        if (req.headers.authorization !== want) {
          res.writeHead(401, { 'Content-Type': 'application/json' }).end('{"errors":[{"code":"UNAUTHORIZED"}]}');
          return true;
        }
        const token = `tok-${issued.count++}-${url.searchParams.get('scope')}`;
        issued.scopes.push(`${url.searchParams.get('service')} ${url.searchParams.get('scope')}`);
        tokens.add(token);
        res.writeHead(200, { 'Content-Type': 'application/json' }).end(JSON.stringify({ token, expires_in: 300 }));
        return true;
      }
      const auth = req.headers.authorization ?? '';
      if (auth.startsWith('Bearer ') && tokens.has(auth.slice(7))) {
        delete req.headers.authorization;
        return false;
      }
      const repo = /^\/v2\/(.+?)\/(manifests|blobs)\//.exec(url.pathname)?.[1] ?? '';
      res
        .writeHead(401, {
          'Content-Type': 'application/json',
          'WWW-Authenticate': `Bearer realm="${proxyURL()}/token",service="berth-test",scope="repository:${repo}:pull"`,
        })
        .end('{"errors":[{"code":"UNAUTHORIZED"}]}');
      return true;
    },
  };
}
