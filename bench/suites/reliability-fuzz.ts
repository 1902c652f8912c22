// The fuzz case of the `reliability` suite: batches of the seeded API fuzzer of the e2e
// tests (engine/daemon/e2e/api-fuzz.ts: malformed requests, huge heads and bodies, slow
// clients, early disconnects) sent to the private berthd's unix socket while another
// client pings it. A sample is that client's median /_ping time during the batch; every
// answer the fuzzer judges wrong (a hang past the bound, no reply, a 5xx, a refusal
// without a message), every failed ping and a daemon that died count as failures.
import { answerProblem, fuzzCase, send } from '../../engine/daemon/e2e/api-fuzz.js';
import { unavailable } from '../../engine/errdefs/errors.js';
import { median } from '../stats.js';
import type { MacroCase } from '../suite.js';
import type { PrivateBerthd } from './private-berthd.js';

/** No answer within this long is a hang. */
const BOUND_MS = 15_000;
/** Fuzz connections open at once. */
const PARALLEL = 4;

/** What one fuzz batch found. */
export interface FuzzOutcome {
  requests: number;
  /** One line per wrong answer or failed ping. */
  failures: string[];
  pings: number;
}

/** The fuzz case on `berthd` (shared): `requests` fuzz requests per sample from the run's `seed`. */
export function fuzzApiCase(
  suite: string,
  berthd: PrivateBerthd,
  requests: number,
  seed: number,
  outcomes: FuzzOutcome[],
): MacroCase {
  let batch = 0;
  return {
    kind: 'macro',
    suite,
    case: 'ping-under-fuzz',
    target: 'berth',
    parameters: { level: 'api', requests, parallel: PARALLEL },
    unit: 'ms',
    direction: 'lower-is-better',
    group: 'reliability-fuzz',
    sampling: { warmup: 0 },
    method:
      `${requests} requests of berth's seeded API fuzzer (the e2e tests' api-fuzz: random and malformed requests, huge heads and bodies, ` +
      `slow clients, early disconnects; run seed ${seed}, a new stretch of cases per sample) sent ${PARALLEL} at a time to the private ` +
      "berthd's unix socket, each bounded to 15 s, while one API client pings the daemon in a loop; a sample is that client's median " +
      '/_ping time during the batch, in ms. Wrong answers, failed pings and a daemon that died are counted (fuzz-failures).',
    setup: (ctx) => berthd.acquire(ctx),
    sample: async () => {
      const pid = berthd.pid;
      const first = batch++ * requests;
      const out: FuzzOutcome = { requests, failures: [], pings: 0 };
      outcomes.push(out);
      let next = first;
      let fuzzing = true;
      const fuzz = Promise.all(
        Array.from({ length: PARALLEL }, async () => {
          for (let i = next++; i < first + requests; i = next++) {
            const c = fuzzCase(seed, i);
            const p = answerProblem(c, await send(berthd.socket, c, BOUND_MS), BOUND_MS);
            if (p !== undefined) out.failures.push(`${c.label}: ${p}`);
          }
        }),
      ).finally(() => (fuzzing = false));
      const client = berthd.client();
      const times: number[] = [];
      while (fuzzing) {
        const t0 = process.hrtime.bigint();
        try {
          await client.ping();
          times.push(Number(process.hrtime.bigint() - t0) / 1e6);
        } catch (err) {
          out.failures.push(`/_ping during the fuzz: ${err instanceof Error ? err.message : String(err)}`);
          break;
        }
      }
      await fuzz;
      out.pings = times.length;
      if (!berthd.running || berthd.pid !== pid)
        throw unavailable(`berthd: the daemon (pid ${pid}) died under the fuzz: ${berthd.logTail()}`);
      try {
        await client.ping();
      } catch (err) {
        out.failures.push(`/_ping after the fuzz: ${err instanceof Error ? err.message : String(err)}`);
      }
      if (times.length === 0) throw unavailable('berthd: no /_ping answered during the fuzz batch');
      return median(times);
    },
    afterSample: () => berthd.removeAll(),
    teardown: (ctx) => berthd.release(ctx),
  };
}
