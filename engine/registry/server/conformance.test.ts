// Runs the conformance check list against berth's registry server (every check must
// pass) and against Debian's docker-registry, distribution 2.8 (package
// docker-registry), to show which parts of the v1.1 spec that peer misses.
import { execa, type ResultPromise } from 'execa';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../trace/logger.js';
import { runConformance } from './conformance-suite.js';
import { createRegistryServer, type RegistryServer } from './registry-server.js';
import { needs, tool } from '../../../testkit/needs.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), `berth-conformance-${process.pid}-`));
});
afterAll(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('berth registry server', () => {
  let server: RegistryServer;
  beforeAll(async () => {
    server = await createRegistryServer({ root: join(dir, 'berth'), logger: createLogger('silent') });
  });
  afterAll(async () => {
    await server?.close();
  });

  it('passes every check', async () => {
    const results = await runConformance({
      url: server.url,
      namespace: 'conformance/berth',
      crossmountNamespace: 'conformance/other',
    });
    expect(results.filter((r) => !r.ok)).toEqual([]);
    expect(results.length).toBeGreaterThanOrEqual(25);
  });
});

const registryBin = 'docker-registry';

needs(tool('docker-registry')).describe('Debian docker-registry (distribution 2.8)', () => {
  let child: ResultPromise | undefined;
  let url: string;

  beforeAll(async () => {
    const port = await new Promise<number>((resolve) => {
      const probe = createServer().listen(0, '127.0.0.1', () => {
        const p = (probe.address() as { port: number }).port;
        probe.close(() => resolve(p));
      });
    });
    url = `http://127.0.0.1:${port}`;
    const config = join(dir, 'distribution.yml');
    await writeFile(
      config,
      [
        'version: 0.1',
        'log:',
        '  level: error',
        'storage:',
        '  filesystem:',
        `    rootdirectory: ${join(dir, 'distribution')}`,
        '  delete:',
        '    enabled: true',
        'http:',
        `  addr: 127.0.0.1:${port}`,
        '',
      ].join('\n'),
    );
    child = execa(registryBin, ['serve', config], { reject: false });
    const deadline = Date.now() + 20_000;
    for (;;) {
      const ok = await fetch(`${url}/v2/`).then(
        (r) => r.status === 200,
        () => false,
      );
      if (ok) break;
      if (Date.now() > deadline) throw new Error('docker-registry did not start');
      await new Promise((r) => setTimeout(r, 100));
    }
  }, 30_000);

  afterAll(async () => {
    if (child?.pid !== undefined) {
      process.kill(child.pid, 'SIGTERM');
      await child;
    }
  });

  it('passes the core pull and push checks and shows which v1.1 parts it misses', async () => {
    const results = await runConformance({
      url,
      namespace: 'conformance/distribution',
      crossmountNamespace: 'conformance/other',
    });
    const failed = results.filter((r) => !r.ok);
    console.info(
      `docker-registry misses ${failed.length} of ${results.length} checks:\n${failed.map((r) => `  ${r.id}: ${r.error}`).join('\n')}`,
    );
    const passed = new Set(results.filter((r) => r.ok).map((r) => r.id));
    for (const core of [
      'base',
      'push-post-put',
      'push-chunked',
      'manifest-put',
      'manifest-get',
      'blob-unknown',
      'mount',
      'delete-manifest',
    ]) {
      expect(passed, core).toContain(core);
    }
  });
});
