// pull() (and push()) against a real peer: Debian's docker-registry (distribution 2.8) on
// 127.0.0.1, started and stopped by pid per suite, with its token auth answered by
// a token server here that signs RS256 JWTs with a key made by openssl.
import { execa, execaSync, type ResultPromise } from 'execa';
import { createHash, createPrivateKey, createPublicKey, sign } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import { createServer as createNetServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { Graph } from '../graph/graph.js';
import { chainIDs } from '../graph/image-store.js';
import type { Driver } from '../graphdriver/driver.js';
import { vfsPlugin } from '../graphdriver/vfs.js';
import { background } from '../trace/context.js';
import {
  buildImage,
  buildIndex,
  startProxy,
  type Blob,
  type Image,
  type TestProxy,
} from '../registry/client/test-registry.js';
import { pull } from './pull.js';
import { push } from './push.js';
import { Readable } from 'node:stream';
import { buildTar } from '../archive/tar-fixtures.js';
import { digestOf } from '../graph/digest.js';
import { caught } from './pull-test-kit.js';
import { needs, tool } from '../../testkit/needs.js';

const registryBin = 'docker-registry';
const ctx = background();
const fast = { attempts: 4, baseMs: 5, maxMs: 50 };

async function freePort(): Promise<number> {
  const s = createNetServer();
  await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve));
  const port = (s.address() as AddressInfo).port;
  await new Promise<void>((resolve) => s.close(() => resolve()));
  return port;
}

interface Distribution {
  url: string;
  host: string;
  stop(): Promise<void>;
}

/** Starts docker-registry with `auth` (YAML lines under `auth:`) on a free loopback port; waits for /v2/. */
async function startDistribution(dir: string, auth?: string): Promise<Distribution> {
  const port = await freePort();
  const config = join(dir, `config-${port}.yml`);
  await writeFile(
    config,
    [
      'version: 0.1',
      'log:',
      '  level: error',
      '  accesslog:',
      '    disabled: true',
      'storage:',
      '  filesystem:',
      `    rootdirectory: ${join(dir, `data-${port}`)}`,
      '  delete:',
      '    enabled: true',
      'http:',
      `  addr: 127.0.0.1:${port}`,
      ...(auth ? ['auth:', auth] : []),
      '',
    ].join('\n'),
  );
  const proc: ResultPromise = execa(registryBin, ['serve', config], {
    reject: false,
    stdout: 'ignore',
    stderr: { file: join(dir, `registry-${port}.log`) },
  });
  const url = `http://127.0.0.1:${port}`;
  const running = (): boolean => proc.exitCode === null && proc.signalCode === null;
  const signal = (sig: NodeJS.Signals): void => {
    if (proc.pid === undefined || !running()) return;
    try {
      process.kill(proc.pid, sig);
    } catch {
      // already gone
    }
  };
  const stop = async (): Promise<void> => {
    signal('SIGTERM');
    const timer = setTimeout(() => signal('SIGKILL'), 3000); // it drains open connections first
    await proc;
    clearTimeout(timer);
  };
  const deadline = Date.now() + 15_000;
  for (;;) {
    const status = await fetch(`${url}/v2/`).then(
      (r) => r.status,
      () => 0,
    );
    if (status === 200 || status === 401) break;
    if (Date.now() > deadline || !running()) {
      await stop();
      throw new Error(`docker-registry did not start (see ${join(dir, `registry-${port}.log`)})`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  return { url, host: `127.0.0.1:${port}`, stop };
}

/** Pushes blobs (POST then PUT with the digest: distribution 2.8 has no single-POST upload) and a manifest or index. */
async function pushDist(
  base: string,
  repo: string,
  blobs: Blob[],
  top: Blob,
  tag?: string,
  headers: Record<string, string> = {},
): Promise<void> {
  for (const b of blobs) {
    const start = await fetch(`${base}/v2/${repo}/blobs/uploads/`, { method: 'POST', headers });
    if (start.status !== 202)
      throw new Error(`push blob ${b.digest}: start: HTTP ${start.status} ${await start.text()}`);
    const location = new URL(start.headers.get('location') ?? '', base);
    location.searchParams.set('digest', b.digest);
    const put = await fetch(location, {
      method: 'PUT',
      body: new Uint8Array(b.bytes),
      headers: { ...headers, 'Content-Type': 'application/octet-stream' },
    });
    if (put.status !== 201) throw new Error(`push blob ${b.digest}: HTTP ${put.status} ${await put.text()}`);
  }
  const res = await fetch(`${base}/v2/${repo}/manifests/${tag ?? top.digest}`, {
    method: 'PUT',
    body: new Uint8Array(top.bytes),
    headers: { ...headers, 'Content-Type': top.mediaType },
  });
  if (res.status !== 201) throw new Error(`push manifest ${top.digest}: HTTP ${res.status} ${await res.text()}`);
}

const pushImageDist = (
  base: string,
  repo: string,
  image: Image,
  tag?: string,
  headers: Record<string, string> = {},
): Promise<void> => pushDist(base, repo, [image.config, ...image.layers], image.manifest, tag, headers);

const big = (seed: string, n = 200_000): Buffer => {
  const b = Buffer.alloc(n);
  let x = seed.length * 7919 + 13;
  for (let i = 0; i < n; i++) {
    x = (x * 1103515245 + 12345) >>> 0;
    b[i] = x >>> 24;
  }
  return b;
};

needs(tool('docker-registry')).describe('pull from distribution 2.8', () => {
  let dir: string;
  let registry: Distribution | undefined;
  let root: string;
  let driver: Driver;
  let graph: Graph;
  const closers: (() => Promise<void>)[] = [];

  async function fileIn(chainID: string, name: string): Promise<string> {
    const layer = await graph.layers.get(ctx, chainID);
    return readFile(join(driver.home, 'dir', layer.driverID, name), 'utf8');
  }

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), `berth-dist-${process.pid}-`));
    registry = await startDistribution(dir);
  }, 30_000);

  afterAll(async () => {
    try {
      await registry?.stop();
    } finally {
      if (dir) await rm(dir, { recursive: true, force: true });
    }
  });

  beforeEach(async () => {
    root = await mkdtemp(join(tmpdir(), `berth-dist-graph-${process.pid}-`));
    driver = await vfsPlugin.init(ctx, { root });
    graph = await Graph.open(ctx, { root, driver });
  });

  afterEach(async () => {
    try {
      for (const c of closers.splice(0).reverse()) await c().catch(() => {});
      await driver?.cleanup(ctx);
    } finally {
      await rm(root, { recursive: true, force: true });
    }
  });

  it('push to distribution 2.8: a pulled image whole (its manifest digest kept), a local one in chunks, layers already there, a mount; pulled back identical', async () => {
    const r = registry!;
    const image = await buildImage(
      [
        { files: { 'base.txt': 'base\n', 'big.bin': big('push-base') } },
        { files: { 'app.txt': 'pushed to distribution\n' } },
      ],
      { format: 'docker', seed: 'push-dist' },
    );
    await pushImageDist(r.url, 'dist/push-src', image, 'v1');
    await pull(ctx, graph, `${r.host}/dist/push-src:v1`, { retry: fast });
    // only the target names the image on this registry: nothing to mount from, the blobs are uploaded
    await graph.tag(ctx, `${r.host}/dist/pushed:v1`, `${r.host}/dist/push-src:v1`);
    await graph.deleteImage(ctx, `${r.host}/dist/push-src:v1`);
    const pushed = await push(ctx, graph, `${r.host}/dist/pushed:v1`, { retry: fast });
    expect(pushed.digest).toBe(image.manifest.digest);
    expect(pushed.layers.map((l) => l.outcome)).toEqual(['pushed', 'pushed']);
    const again = await push(ctx, graph, `${r.host}/dist/pushed:v1`, { retry: fast });
    expect(again.layers.map((l) => l.outcome)).toEqual(['exists', 'exists']);
    // another repository of the same registry: mounted from the first
    await graph.tag(ctx, `${r.host}/dist/mounted:v1`, `${r.host}/dist/pushed:v1`);
    const mounted = await push(ctx, graph, `${r.host}/dist/mounted:v1`, { retry: fast });
    expect(mounted.layers.map((l) => l.outcome)).toEqual(['mounted', 'mounted']);
    expect(mounted.digest).toBe(image.manifest.digest);

    // a locally made image, its blobs made from the diff, uploaded in PATCH chunks
    const tar = await buildTar([
      { name: 'local.bin', content: big('push-local', 300_000), mode: 0o644, mtime: new Date(0) },
    ]);
    const config = JSON.stringify({
      architecture: 'amd64',
      os: 'linux',
      rootfs: { type: 'layers', diff_ids: [digestOf(tar)] },
    });
    await graph.putImage(ctx, config, [Readable.from([tar])], { references: [`${r.host}/dist/local:v1`] });
    const local = await push(ctx, graph, `${r.host}/dist/local:v1`, { retry: fast, chunkSize: 100_000 });
    expect(local.layers.map((l) => [l.outcome, l.compressed])).toEqual([['pushed', true]]);

    // both pulled back into a fresh graph: same ids and manifest digests, same files
    const root2 = await mkdtemp(join(tmpdir(), `berth-dist-push-back-${process.pid}-`));
    const driver2 = await vfsPlugin.init(ctx, { root: root2 });
    closers.push(async () => {
      await driver2.cleanup(ctx);
      await rm(root2, { recursive: true, force: true });
    });
    const fresh = await Graph.open(ctx, { root: root2, driver: driver2 });
    const back = await pull(ctx, fresh, `${r.host}/dist/mounted:v1`, { retry: fast });
    expect([back.imageId, back.manifestDigest]).toEqual([image.config.digest, image.manifest.digest]);
    const top = await fresh.layers.get(ctx, chainIDs(image.diffIDs)[1]!);
    expect(await readFile(join(driver2.home, 'dir', top.driverID, 'app.txt'), 'utf8')).toBe('pushed to distribution\n');
    const backLocal = await pull(ctx, fresh, `${r.host}/dist/local:v1`, { retry: fast });
    expect([backLocal.imageId, backLocal.manifestDigest]).toEqual([digestOf(config), local.digest]);
    const localLayer = await fresh.layers.get(ctx, chainIDs([digestOf(tar)])[0]!);
    expect(
      (await readFile(join(driver2.home, 'dir', localLayer.driverID, 'local.bin'))).equals(big('push-local', 300_000)),
    ).toBe(true);
  });

  it.each([
    ['oci', 'gzip'],
    ['oci', 'none'],
    ['docker', 'gzip'],
    ['docker', 'none'],
  ] as const)('pulls a %s manifest with %s layers', async (format, kind) => {
    const r = registry!;
    const image = await buildImage(
      [
        { files: { 'base.txt': 'base\n', 'big.bin': big(`${format}${kind}`) }, kind },
        { files: { 'app.txt': `app ${format} ${kind}\n` }, kind },
      ],
      { format, seed: `${format}-${kind}` },
    );
    await pushImageDist(r.url, `dist/${format}-${kind}`, image, 'v1');
    const res = await pull(ctx, graph, `${r.host}/dist/${format}-${kind}:v1`, { retry: fast });
    expect(res.imageId).toBe(image.config.digest);
    expect(res.manifestDigest).toBe(image.manifest.digest);
    expect(res.layers.map((l) => l.diffID)).toEqual(image.diffIDs);
    const chains = chainIDs(image.diffIDs);
    expect(await fileIn(chains[1]!, 'app.txt')).toBe(`app ${format} ${kind}\n`);
    expect(await fileIn(chains[1]!, 'base.txt')).toBe('base\n');
    expect((await graph.getImage(ctx, `${r.host}/dist/${format}-${kind}:v1`)).id).toBe(image.config.digest);
    expect(await graph.content.ingests(ctx)).toEqual([]);
  });

  it.each(['oci', 'docker'] as const)(
    'chooses linux/amd64 from a %s index; a missing platform is NOT_FOUND listing the platforms',
    async (format) => {
      const r = registry!;
      const amd = await buildImage([{ files: { 'arch.txt': 'amd64\n' } }], {
        architecture: 'amd64',
        format,
        seed: `amd-${format}`,
      });
      const arm = await buildImage([{ files: { 'arch.txt': 'arm64\n' } }], {
        architecture: 'arm64',
        format,
        seed: `arm-${format}`,
      });
      const repo = `dist/multi-${format}`;
      await pushImageDist(r.url, repo, amd);
      await pushImageDist(r.url, repo, arm);
      const index = buildIndex(
        [
          { image: arm, platform: { os: 'linux', architecture: 'arm64', variant: 'v8' } },
          { image: amd, platform: { os: 'linux', architecture: 'amd64' } },
        ],
        format,
      );
      await pushDist(r.url, repo, [], index, 'multi');
      const res = await pull(ctx, graph, `${r.host}/${repo}:multi`, { platform: 'linux/amd64' });
      expect(res.indexDigest).toBe(index.digest);
      expect(res.manifestDigest).toBe(amd.manifest.digest);
      expect(res.platform).toBe('linux/amd64');
      expect(await fileIn(chainIDs(amd.diffIDs)[0]!, 'arch.txt')).toBe('amd64\n');
      const err = await caught(pull(ctx, graph, `${r.host}/${repo}:multi`, { platform: 'linux/riscv64' }));
      expect(err.code).toBe('NOT_FOUND');
      expect(err.message).toContain('linux/riscv64');
      expect(err.message).toContain('linux/arm64/v8, linux/amd64');
      expect(err.message).toContain(`${r.host}/${repo}:multi`);
    },
  );

  it('pulls by digest and stores the digest reference', async () => {
    const r = registry!;
    const image = await buildImage([{ files: { 'pinned.txt': 'pinned\n' } }], { seed: 'by-digest' });
    await pushImageDist(r.url, 'dist/pinned', image, 'v1');
    const ref = `${r.host}/dist/pinned@${image.manifest.digest}`;
    const res = await pull(ctx, graph, ref);
    expect(res.reference).toBe(ref);
    expect((await graph.getImage(ctx, ref)).id).toBe(image.config.digest);
    expect(await fileIn(chainIDs(image.diffIDs)[0]!, 'pinned.txt')).toBe('pinned\n');
  });

  it('resumes a layer with a Range request after the connection drops (fault proxy in front)', async () => {
    const r = registry!;
    const image = await buildImage([{ files: { 'big.bin': big('dist-resume', 500_000) }, kind: 'none' }], {
      seed: 'resume',
    });
    await pushImageDist(r.url, 'dist/resume', image, 'v1');
    const p: TestProxy = await startProxy(r.url);
    closers.push(() => p.close());
    const layer = image.layers[0]!;
    // past half the layer, the proxy forwards nothing more and drops the connection a
    // moment later, so the bytes already written reach the client first
    let cut: IncomingMessage | undefined;
    p.hooks = {
      chunk: (req, chunk, sent) => {
        if (cut === req) return Buffer.alloc(0);
        if (cut !== undefined || !req.url?.includes(layer.digest)) return chunk;
        if (sent + chunk.length > layer.size / 2) {
          cut = req;
          setTimeout(() => req.socket.destroy(), 100);
          return Buffer.alloc(0);
        }
        return chunk;
      },
    };
    const res = await pull(ctx, graph, `${p.host}/dist/resume:v1`, { retry: fast });
    expect(cut).toBeDefined();
    const gets = p.log.filter((l) => l.includes(layer.digest));
    expect(gets, gets.join('\n')).toHaveLength(2);
    expect(gets[1]).toMatch(/range=bytes=\d+-$/);
    const from = Number(/range=bytes=(\d+)-$/.exec(gets[1]!)?.[1]);
    expect(from).toBeGreaterThan(0);
    expect(from).toBeLessThan(layer.size);
    expect(res.layers[0]!.diffID).toBe(image.diffIDs[0]);
    expect(await graph.content.has(ctx, layer.digest)).toBe(true);
  });

  // The token service's signing key and certificate come from openssl.
  needs(tool('openssl')).describe('with distribution token auth', () => {
    let authDir: string;
    let secured: Distribution | undefined;
    let tokenServer: Server | undefined;
    let tokenURL: string;
    const issued: string[] = [];
    const service = `berth-dist-${process.pid}`;
    const issuer = 'berth-test-token-issuer';

    /** distribution (libtrust) key id: base32 of the first 240 bits of sha256(SPKI DER), in 12 groups of 4. */
    function keyID(pem: string): string {
      const der = createPublicKey(pem).export({ type: 'spki', format: 'der' });
      const bytes = createHash('sha256').update(der).digest().subarray(0, 30);
      const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
      let bits = '';
      for (const b of bytes) bits += b.toString(2).padStart(8, '0');
      let text = '';
      for (let i = 0; i < bits.length; i += 5) text += alphabet[parseInt(bits.slice(i, i + 5), 2)];
      return text.match(/.{4}/g)!.join(':');
    }

    let mint: (access: { type: string; name: string; actions: string[] }[]) => string;

    beforeAll(async () => {
      authDir = await mkdtemp(join(tmpdir(), `berth-dist-auth-${process.pid}-`));
      const key = join(authDir, 'token.key');
      const cert = join(authDir, 'token.crt');
      execaSync('openssl', [
        'req',
        '-x509',
        '-newkey',
        'rsa:2048',
        '-nodes',
        '-keyout',
        key,
        '-out',
        cert,
        '-days',
        '1',
        '-subj',
        '/CN=berth token signer',
      ]);
      const privateKey = createPrivateKey(await readFile(key, 'utf8'));
      const kid = keyID(await readFile(cert, 'utf8'));
      const b64 = (v: unknown): string => Buffer.from(JSON.stringify(v)).toString('base64url');
      let jti = 0;
      mint = (access) => {
        const now = Math.floor(Date.now() / 1000);
        const head = b64({ typ: 'JWT', alg: 'RS256', kid });
        const claims = b64({
          iss: issuer,
          sub: 'alice',
          aud: service,
          exp: now + 300,
          nbf: now - 10,
          iat: now,
          jti: `t${++jti}`,
          access,
        });
        return `${head}.${claims}.${sign('sha256', Buffer.from(`${head}.${claims}`), privateKey).toString('base64url')}`;
      };
      tokenServer = createServer((req, res) => {
        const url = new URL(req.url ?? '/', 'http://x');
        const ok = req.headers.authorization === `Basic ${Buffer.from('alice:s3cret').toString('base64')}`;
        if (url.pathname !== '/token' || !ok || url.searchParams.get('service') !== service) {
          res.writeHead(401, { 'Content-Type': 'application/json' }).end('{"errors":[{"code":"UNAUTHORIZED"}]}');
          return;
        }
        const scope = url.searchParams.get('scope') ?? '';
        issued.push(scope);
        const m = /^repository:([^:]+):(.+)$/.exec(scope);
        const access = m
          ? [{ type: 'repository', name: m[1]!, actions: m[2]!.split(',').filter((a) => a === 'pull') }]
          : [];
        res
          .writeHead(200, { 'Content-Type': 'application/json' })
          .end(JSON.stringify({ token: mint(access), expires_in: 300 }));
      });
      await new Promise<void>((resolve) => tokenServer!.listen(0, '127.0.0.1', resolve));
      tokenURL = `http://127.0.0.1:${(tokenServer.address() as AddressInfo).port}/token`;
      secured = await startDistribution(
        authDir,
        [
          '  token:',
          `    realm: ${tokenURL}`,
          `    service: ${service}`,
          `    issuer: ${issuer}`,
          `    rootcertbundle: ${cert}`,
        ].join('\n'),
      );
    }, 30_000);

    afterAll(async () => {
      try {
        await secured?.stop();
        if (tokenServer) {
          tokenServer.closeAllConnections();
          await new Promise<void>((resolve) => tokenServer!.close(() => resolve()));
        }
      } finally {
        if (authDir) await rm(authDir, { recursive: true, force: true });
      }
    });

    it('pulls with a token the registry verified; no or wrong credentials give UNAUTHENTICATED naming registry and repository', async () => {
      const s = secured!;
      const image = await buildImage([{ files: { 'secret.txt': 'token auth\n' } }], { seed: 'token' });
      const repo = 'private/app';
      const pushToken = mint([{ type: 'repository', name: repo, actions: ['pull', 'push'] }]);
      await pushImageDist(s.url, repo, image, 'v1', { Authorization: `Bearer ${pushToken}` });
      // the registry itself checks tokens: one for another repository is refused
      const other = await fetch(`${s.url}/v2/${repo}/manifests/v1`, {
        headers: { Authorization: `Bearer ${mint([{ type: 'repository', name: 'other', actions: ['pull'] }])}` },
      });
      expect(other.status).toBe(401);

      const creds = (h: string) => (h === s.host ? { username: 'alice', password: 's3cret' } : undefined);
      const res = await pull(ctx, graph, `${s.host}/${repo}:v1`, { auth: creds });
      expect(res.imageId).toBe(image.config.digest);
      expect(await fileIn(chainIDs(image.diffIDs)[0]!, 'secret.txt')).toBe('token auth\n');
      expect(issued).toContain(`repository:${repo}:pull`);

      await graph.deleteImage(ctx, `${s.host}/${repo}:v1`);
      const none = await caught(pull(ctx, graph, `${s.host}/${repo}:v1`));
      expect(none.code).toBe('UNAUTHENTICATED');
      expect(none.message).toContain(`registry ${s.host}: repository ${repo}`);
      const wrong = await caught(
        pull(ctx, graph, `${s.host}/${repo}:v1`, { auth: () => ({ username: 'alice', password: 'nope' }) }),
      );
      expect(wrong.code).toBe('UNAUTHENTICATED');
      expect(await graph.listImages(ctx)).toEqual([]);
    });
  });
});
