// pull() through a proxy that damages one response (a flipped byte, a body cut short,
// a connection reset mid-body) at each position of the pipeline: the manifest, the
// config, the first layer (streamed into the graph), a layer fetched ahead of the
// one being applied, and the last layer. Every failure must settle in bounded time
// with an error naming the digest, leave the graph lock free and the store empty.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { BerthError } from '../errdefs/errors.js';
import type { Graph } from '../graph/graph.js';
import { chainIDs } from '../graph/image-store.js';
import type { Driver } from '../graphdriver/driver.js';
import { overlay2Plugin } from '../graphdriver/overlay2.js';
import { vfsPlugin } from '../graphdriver/vfs.js';
import { background } from '../trace/context.js';
import { buildImage, pushImage, type Image, type TestProxy } from '../registry/client/test-registry.js';
import { pull } from './pull.js';
import type { RegistryServer } from '../registry/server/index.js';
import {
  expectEmptyStore,
  FAST_RETRY,
  filesUnder,
  noise,
  openFilesUnder,
  openPullWorld,
  settled,
  within,
  type PullWorld,
} from './pull-test-kit.js';
import { corruptingHooks, fetchWhole, type Fault } from './corrupting-proxy.js';
import { needs } from '../../testkit/needs.js';

const ctx = background();
const fast = FAST_RETRY;
/** Runs per position and fault: a pull that hung in half the runs is caught with near certainty. */
const RUNS = Number(process.env.BERTH_PULL_FAULT_RUNS ?? 6);
/** Far above a failing pull's time here; a pull still pending then is hung. */
const SETTLE_MS = 20_000;

type Factory = (root: string) => Promise<Driver>;

async function overlay2Unavailable(): Promise<string | undefined> {
  if (process.getuid?.() !== 0) return 'needs root to mount overlayfs';
  const probe = await mkdtemp(join(tmpdir(), `berth-pull-faults-probe-${process.pid}-`));
  try {
    await (await overlay2Plugin.init(ctx, { root: probe })).cleanup(ctx);
    return undefined;
  } catch (err) {
    return (err as Error).message;
  } finally {
    await rm(probe, { recursive: true, force: true });
  }
}
const overlay2Missing = await overlay2Unavailable();
const drivers: [string, Factory][] = [
  ['vfs', (root) => vfsPlugin.init(ctx, { root })],
  ...(overlay2Missing === undefined
    ? [['overlay2', (root: string) => overlay2Plugin.init(ctx, { root })] as [string, Factory]]
    : []),
];
if (overlay2Missing !== undefined) {
  describe('pull faults on overlay2', () => {
    needs(overlay2Missing).it('runs the pull fault cases on overlay2', () => {});
  });
}

/** The failure p settles with, within SETTLE_MS. */
async function failureOf(p: Promise<unknown>, what: string): Promise<BerthError> {
  const outcome = await settled(p, SETTLE_MS, what);
  if (outcome.ok) throw new Error(`${what}: resolved, expected a failure`);
  expect(outcome.error).toBeInstanceOf(BerthError);
  return outcome.error as BerthError;
}

describe.each(drivers)('pull through a corrupting proxy on %s', (_name, makeDriver) => {
  let world: PullWorld;
  let root: string;
  let graph: Graph;
  let registry: RegistryServer;
  let proxy: TestProxy;
  let image: Image;

  beforeEach(async () => {
    world = await openPullWorld('pull-faults', { driver: makeDriver });
    ({ root, graph, registry, proxy } = world);
    // four layers large enough that the ones after the first are still downloading while it is applied
    image = await buildImage(
      [0, 1, 2, 3].map((i) => ({
        files: { [`l${i}.bin`]: noise(i + 1, 600_000 + i * 50_000), [`l${i}.txt`]: `layer ${i}\n` },
      })),
      { seed: 'faults' },
    );
    await pushImage(registry.url, 'faulty', image, 'v1');
  });

  afterEach(async () => {
    await world?.close();
  });

  /**
   * The checks after every failed pull: gc runs (the lock is free), nothing of the pull is left, no file of the graph
   * is open. (The registry serving in this process may still hold the blob whose answer the proxy cut, until it sees
   * its socket close: that is the fixture's, not the pull's.)
   */
  async function expectCleanAfter(what: string): Promise<void> {
    await within(graph.gc(ctx, { graceMs: 0 }), SETTLE_MS, `${what}: gc after the failure`);
    await expectEmptyStore(ctx, graph);
    expect(await openFilesUnder(join(root, 'graph')), what).toEqual([]);
    expect(await filesUnder(join(root, 'graph', 'content')), what).toEqual([]);
    expect(
      (await filesUnder(join(root, 'graph', 'image'))).filter((f) => !f.endsWith('.json') || f.includes('/tmp/')),
      what,
    ).toEqual([]);
  }

  it(`a corrupt layer fetched ahead fails while the layer the graph waits for is being committed (${RUNS} runs)`, async () => {
    const chains = chainIDs(image.diffIDs);
    const waited = image.layers[2]!;
    const ahead = image.layers[3]!;
    for (let run = 0; run < RUNS; run++) {
      // both bodies are held one byte short until the graph waits for `waited`; then `waited`
      // completes (its commit runs) and right after it `ahead` completes with a flipped byte
      const held = new Map<string, () => void>();
      const release = async (): Promise<void> => {
        if (held.size < 2) return;
        while (!(await graph.layers.has(ctx, chains[1]!))) await new Promise((r) => setImmediate(r));
        held.get(waited.digest)!();
      };
      proxy.hooks = {
        before(req, res) {
          const digest = [waited.digest, ahead.digest].find((d) => req.url?.endsWith(d));
          if (digest === undefined) return false;
          fetchWhole(registry.url, req, res, (ures, body) => {
            const out = Buffer.from(body);
            if (digest === ahead.digest) out[out.length >> 1] ^= 0x01;
            res.writeHead(ures.statusCode ?? 502, ures.headers);
            res.write(out.subarray(0, -1), () => {
              held.set(digest, () =>
                res.end(out.subarray(-1), digest === waited.digest ? () => held.get(ahead.digest)!() : undefined),
              );
              void release();
            });
          });
          return true;
        },
      };
      const what = `run ${run}: pull with ${ahead.digest} corrupt while ${waited.digest} commits`;
      const err = await failureOf(pull(ctx, graph, `${proxy.host}/faulty:v1`, { retry: fast, concurrency: 3 }), what);
      expect(err.message, what).toContain(ahead.digest);
      expect(err.message, what).toContain('digest mismatch');
      await expectCleanAfter(what);
    }
  });

  const positions: { name: string; target: (img: Image) => string }[] = [
    { name: 'the manifest', target: (img) => img.manifest.digest },
    { name: 'the config', target: (img) => img.config.digest },
    { name: 'the first layer', target: (img) => img.layers[0]!.digest },
    { name: 'a prefetched layer', target: (img) => img.layers[1]!.digest },
    { name: 'the last layer', target: (img) => img.layers[3]!.digest },
  ];
  const faults: Fault[] = ['flip', 'truncate', 'reset'];

  for (const pos of positions) {
    for (const fault of faults) {
      it(`${fault} in ${pos.name}: pull fails naming it, settles, frees the lock and leaves nothing (${RUNS} runs)`, async () => {
        const digest = pos.target(image);
        for (let run = 0; run < RUNS; run++) {
          proxy.hooks = corruptingHooks(registry.url, {
            fault,
            digest,
            manifestTag: pos.name === 'the manifest' ? 'v1' : undefined,
            seed: run * 7919 + 17,
          });
          const what = `run ${run}: pull with ${fault} in ${pos.name} ${digest}`;
          const err = await failureOf(pull(ctx, graph, `${proxy.host}/faulty:v1`, { retry: fast }), what);
          expect(err.message, what).toContain(digest);
          await expectCleanAfter(what);
        }
        // and the same image pulls once the proxy behaves
        proxy.hooks = {};
        const res = await within(pull(ctx, graph, `${proxy.host}/faulty:v1`, { retry: fast }), SETTLE_MS, 'clean pull');
        expect(res.imageId).toBe(image.config.digest);
      });
    }
  }
});
