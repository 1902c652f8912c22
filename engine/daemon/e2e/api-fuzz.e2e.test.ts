// berthd under a seeded API fuzzer (api-fuzz.ts): every answer is a well-formed
// HTTP reply, every refusal a 4xx with a JSON {"message"} body — never a 5xx, a
// malformed reply or a request left hanging past the bound — and the daemon still
// serves /_ping afterwards and logged no failed request. Bounded and repeatable:
// BERTH_API_FUZZ_CASES cases (default 400) from BERTH_API_FUZZ_SEED (default 1).
import { afterAll, beforeAll, expect, it } from 'vitest';
import { ApiClient } from '../../client/api-client.js';
import { needs } from '../../../testkit/needs.js';
import { answerProblem, fuzzCase, send } from './api-fuzz.js';
import {
  e2eSkipReason,
  hostLeftovers,
  makeWorld,
  removeWorld,
  resetNetwork,
  spawnDaemon,
  stopDaemon,
  type DaemonProcess,
  type DaemonWorld,
} from './e2e-kit.js';

const skip = e2eSkipReason();
const CASES = Number(process.env.BERTH_API_FUZZ_CASES ?? 400);
const SEED = Number(process.env.BERTH_API_FUZZ_SEED ?? 1);
/** No answer within this long is a hang. */
const BOUND_MS = 15_000;
const PARALLEL = 4;

let world: DaemonWorld;
let daemon: DaemonProcess | undefined;

needs(skip).describe(`berthd API fuzz (seed ${SEED}, ${CASES} cases)`, () => {
  beforeAll(async () => {
    world = makeWorld();
    daemon = await spawnDaemon(world);
  }, 120_000);

  afterAll(async () => {
    try {
      if (daemon !== undefined) await stopDaemon(daemon);
      if (world !== undefined) await resetNetwork(world);
    } finally {
      if (world !== undefined) removeWorld(world.dir);
    }
  }, 120_000);

  it('answers every case with a well-formed reply below 500 and stays up', async () => {
    const failures: string[] = [];
    const statuses = new Map<number, number>();
    let next = 0;
    await Promise.all(
      Array.from({ length: PARALLEL }, async () => {
        for (let i = next++; i < CASES; i = next++) {
          const c = fuzzCase(SEED, i);
          const a = await send(world.socket, c, BOUND_MS);
          statuses.set(a.status, (statuses.get(a.status) ?? 0) + 1);
          const p = answerProblem(c, a, BOUND_MS);
          if (p !== undefined) failures.push(`${c.label}: ${p}`);
        }
      }),
    );
    expect(failures).toEqual([]);
    // The cases reach the routes: most are refused, some succeed.
    const refused = [...statuses].filter(([s]) => s >= 400).reduce((n, [, k]) => n + k, 0);
    expect(refused).toBeGreaterThan(CASES / 2);
    const client = new ApiClient(daemon!.host);
    expect((await client.ping()).apiVersion).toBe('1.41');
    expect(daemon!.child.exitCode).toBeNull();
    expect(daemon!.stderr()).not.toContain('request failed');
    expect(hostLeftovers(world)).toEqual([]);
    // and it still shuts down cleanly on SIGTERM
    const d = daemon!;
    daemon = undefined;
    expect(await stopDaemon(d), d.stderr().slice(-2000)).toBe(0);
  }, 600_000);
});
