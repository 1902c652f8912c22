// Seeded random pulls through the corrupting proxy: random images (1-4 layers, gzip,
// zstd or plain), concurrency, damaged response (manifest, config or any layer), fault
// and offset, damaged once or on every attempt. A fault on every attempt (or any flipped
// byte) must fail the pull naming the digest and leave the store empty; a cut or reset
// connection once must be resumed into a correct image. Bounded in cases and time:
// BERTH_PULL_RANDOM_CASES (default 24), BERTH_PULL_RANDOM_SEED (default 1) to replay.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { BerthError } from '../errdefs/errors.js';
import type { Graph } from '../graph/graph.js';
import { chainIDs } from '../graph/image-store.js';
import type { Driver } from '../graphdriver/driver.js';
import { background } from '../trace/context.js';
import { buildImage, pushImage, type LayerKind, type TestProxy } from '../registry/client/test-registry.js';
import { corruptingHooks, share, type Fault } from './corrupting-proxy.js';
import { pull } from './pull.js';
import type { RegistryServer } from '../registry/server/index.js';
import {
  expectEmptyStore,
  FAST_RETRY,
  noise,
  openFilesUnder,
  openPullWorld,
  settled,
  type PullWorld,
} from './pull-test-kit.js';

const ctx = background();
const fast = FAST_RETRY;
const CASES = Number(process.env.BERTH_PULL_RANDOM_CASES ?? 24);
const SEED = Number(process.env.BERTH_PULL_RANDOM_SEED ?? 1);
/** The whole run stops starting new cases after this long. */
const BUDGET_MS = 150_000;
const SETTLE_MS = 20_000;

/** A small seeded generator: next() in [0, 1). */
function random(seed: number): { next(): number; pick<T>(xs: readonly T[]): T; int(lo: number, hi: number): number } {
  let n = seed;
  const next = (): number => share(n++);
  return {
    next,
    pick: (xs) => xs[Math.floor(next() * xs.length)]!,
    int: (lo, hi) => lo + Math.floor(next() * (hi - lo + 1)),
  };
}

describe('pull under random faults (vfs)', () => {
  let world: PullWorld;
  let root: string;
  let driver: Driver;
  let graph: Graph;
  let registry: RegistryServer;
  let proxy: TestProxy;

  beforeEach(async () => {
    world = await openPullWorld('pull-random');
    ({ root, driver, graph, registry, proxy } = world);
  });

  afterEach(async () => {
    await world?.close();
  });

  it(
    `${CASES} seeded cases from seed ${SEED} settle as the fault says and leave the store clean`,
    { timeout: BUDGET_MS + 120_000 },
    async () => {
      const started = Date.now();
      let ran = 0;
      for (let c = 0; c < CASES && Date.now() - started < BUDGET_MS; c++, ran++) {
        const seed = SEED * 100_003 + c;
        const r = random(seed);
        const kinds: LayerKind[] = ['gzip', 'zstd', 'none'];
        const layerCount = r.int(1, 4);
        const specs = Array.from({ length: layerCount }, (_, i) => ({
          files: { [`f${i}.bin`]: noise(seed * 8 + i, r.int(1_000, 400_000)), [`f${i}.txt`]: `case ${c} layer ${i}\n` },
          kind: r.pick(kinds),
        }));
        const image = await buildImage(specs, { seed: String(seed), format: r.pick(['oci', 'docker'] as const) });
        const repo = `random/case${c}`;
        await pushImage(registry.url, repo, image, 'v1');
        const targets = [
          { name: 'manifest', digest: image.manifest.digest },
          { name: 'config', digest: image.config.digest },
          ...image.layers.map((l, i) => ({ name: `layer ${i}`, digest: l.digest })),
        ];
        const target = r.pick(targets);
        const fault: Fault = r.pick(['flip', 'truncate', 'reset'] as const);
        const once = r.next() < 0.5;
        const concurrency = r.int(1, 4);
        const what = `case ${c} (seed ${seed}): ${fault} ${once ? 'once' : 'always'} in the ${target.name} ${target.digest}, ${layerCount} layers ${specs.map((s) => s.kind).join('/')}, concurrency ${concurrency}`;
        const hits = { count: 0 };
        proxy.hooks = corruptingHooks(
          registry.url,
          {
            fault,
            digest: target.digest,
            manifestTag: target.name === 'manifest' ? 'v1' : undefined,
            seed,
            ...(once ? { times: 1 } : {}),
          },
          hits,
        );
        const ref = `${proxy.host}/${repo}:v1`;
        const outcome = await settled(pull(ctx, graph, ref, { retry: fast, concurrency }), SETTLE_MS, what);
        proxy.hooks = {};
        expect(hits.count, `${what}: the fault was applied`).toBeGreaterThan(0);
        if (fault === 'flip' || !once) {
          expect(outcome.ok, `${what}: expected a failure`).toBe(false);
          const err = (outcome as { error: unknown }).error;
          expect(err, what).toBeInstanceOf(BerthError);
          expect((err as Error).message, what).toContain(target.digest);
        } else {
          if (!outcome.ok) throw new Error(`${what}: expected the pull to recover, got ${String(outcome.error)}`);
          const chains = chainIDs(image.diffIDs);
          const top = await graph.layers.get(ctx, chains.at(-1)!);
          const dir = join(driver.home, 'dir', top.driverID);
          for (const [i, s] of specs.entries())
            expect(await readFile(join(dir, `f${i}.txt`), 'utf8'), what).toBe(`case ${c} layer ${i}\n`);
          await graph.deleteImage(ctx, ref);
        }
        const gc = await settled(graph.gc(ctx, { graceMs: 0 }), SETTLE_MS, `${what}: gc`);
        expect(gc.ok, `${what}: gc`).toBe(true);
        await expectEmptyStore(ctx, graph);
        // the graph's files only: the in-process registry may still hold a blob whose answer the proxy cut
        expect(await openFilesUnder(join(root, 'graph')), what).toEqual([]);
      }
      expect(ran).toBeGreaterThan(0);
    },
  );
});
