// berthd under seeded pull and push requests (api-fuzz.ts registryFuzzCase) against a
// berth-registry on 127.0.0.1 holding one image: bad references, tags and platforms,
// X-Registry-Auth garbage, early disconnects. Every answer is well-formed and below
// 500, nothing hangs past the bound, other clients are answered all along, and
// afterwards the store holds the one image, whole, and nothing else: no partial
// image, no layer or blob a gc would still find. Bounded and repeatable:
// BERTH_API_FUZZ_REGISTRY_CASES cases (default 200) from BERTH_API_FUZZ_SEED (default 1).
import { afterAll, beforeAll, expect, it } from 'vitest';
import { ApiClient } from '../../client/api-client.js';
import { Graph } from '../../graph/graph.js';
import { graphdriverPlugin } from '../../graphdriver/builtins.js';
import { noise } from '../../jobs/pull-test-kit.js';
import { buildImage, pushImage, type Image } from '../../registry/client/test-registry.js';
import type { RegistryServer } from '../../registry/server/index.js';
import { background } from '../../trace/context.js';
import { needs } from '../../../testkit/needs.js';
import { answerProblem, FUZZ_REPO, registryFuzzCase, send } from './api-fuzz.js';
import {
  e2eSkipReason,
  hostLeftovers,
  makeWorld,
  spawnDaemon,
  startRegistry,
  stopDaemon,
  stopDaemonWorld,
  type DaemonSetup,
} from './e2e-kit.js';

const ctx = background();
const CASES = Number(process.env.BERTH_API_FUZZ_REGISTRY_CASES ?? 200);
const SEED = Number(process.env.BERTH_API_FUZZ_SEED ?? 1);
/** No answer within this long is a hang (a pull of the whole image included, on a busy host). */
const BOUND_MS = 60_000;
const PARALLEL = 4;

needs(e2eSkipReason()).describe(`berthd pull and push fuzz (seed ${SEED}, ${CASES} cases)`, () => {
  let s: Partial<DaemonSetup> = {};
  let image: Image;

  beforeAll(async () => {
    s.world = makeWorld();
    s.registry = await startRegistry(s.world.dir);
    image = await buildImage(
      [0, 1].map((i) => ({ files: { [`l${i}.bin`]: noise(i + 3, 300_000), [`l${i}.txt`]: `layer ${i}\n` } })),
      { seed: 'fuzz', architecture: process.arch === 'x64' ? 'amd64' : process.arch },
    );
    await pushImage(s.registry.url, FUZZ_REPO, image, 'v1');
    s.daemon = await spawnDaemon(s.world);
  }, 120_000);

  afterAll(() => stopDaemonWorld(s), 120_000);

  it('answers every pull and push well, keeps serving others, and leaves only the whole image', async () => {
    const registry = s.registry as RegistryServer;
    const client = new ApiClient(s.daemon!.host);
    const failures: string[] = [];
    const kinds = new Map<string, number>();
    // Another client all along: each answer within the bound.
    let fuzzing = true;
    let slowest = 0;
    const others = (async () => {
      while (fuzzing) {
        const t0 = Date.now();
        const timeout = AbortSignal.timeout(BOUND_MS);
        try {
          await client.ping(timeout);
          await client.call('GET', '/images/json', { signal: timeout });
        } catch (err) {
          failures.push(`another client: ${(err as Error).message}`);
        }
        slowest = Math.max(slowest, Date.now() - t0);
        await new Promise((r) => setTimeout(r, 200));
      }
    })();
    let next = 0;
    await Promise.all(
      Array.from({ length: PARALLEL }, async () => {
        for (let i = next++; i < CASES; i = next++) {
          const c = registryFuzzCase(SEED, i, registry.host);
          const a = await send(s.world!.socket, c, BOUND_MS);
          const kind = `${c.label.split(' ')[1]} ${a.status}`;
          kinds.set(kind, (kinds.get(kind) ?? 0) + 1);
          const p = answerProblem(c, a, BOUND_MS);
          if (p !== undefined) failures.push(`${c.label}: ${p}`);
        }
      }),
    );
    fuzzing = false;
    await others;
    expect(failures).toEqual([]);
    expect(slowest).toBeLessThan(BOUND_MS);
    // The cases reached both routes, and some pulls got through to the registry and succeeded.
    expect([...kinds.keys()].some((k) => k.startsWith('push'))).toBe(true);
    expect([...kinds.keys()].some((k) => k.startsWith('pull 200'))).toBe(true);

    expect((await client.ping()).apiVersion).toBeDefined();
    expect(s.daemon!.child.exitCode).toBeNull();
    expect(s.daemon!.stderr()).not.toContain('request failed');
    const ids = new Set((await client.images({ all: true })).map((i) => i.Id));
    expect([...ids].filter((id) => id !== image.config.digest)).toEqual([]);
    // The image is whole when it is there (the seed may or may not have pulled it).
    const ref = `${registry.host}/${FUZZ_REPO}:v1`;
    if (ids.size > 0) expect((await client.imageInspect(ref)).RootFS.Layers).toEqual(image.diffIDs);
    expect(hostLeftovers(s.world!)).toEqual([]);

    // A clean stop, then gc on the root: nothing half-pulled or unreferenced is left to collect.
    const driverName = (await client.info()).Driver;
    await stopDaemon(s.daemon!);
    s.daemon = undefined;
    const driver = await graphdriverPlugin(driverName).init(ctx, { root: s.world!.root });
    try {
      const graph = await Graph.open(ctx, { root: s.world!.root, driver });
      const gc = await graph.gc(ctx, { graceMs: 0 });
      expect(gc.layers).toEqual([]);
      expect(gc.blobs).toEqual([]);
      expect(await graph.content.ingests(ctx)).toEqual([]);
    } finally {
      await driver.cleanup(ctx);
    }
    // The registry still serves the image whole: pushes of garbage did not damage it.
    s.daemon = await spawnDaemon(s.world!);
    const again = new ApiClient(s.daemon.host);
    await again.pull(ref);
    expect((await again.imageInspect(ref)).RootFS.Layers).toEqual(image.diffIDs);
  }, 900_000);
});
