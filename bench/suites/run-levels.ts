// The `run` suite's api and cli levels: one run of the static image through a
// daemon's socket with the typed API client (create, wait, start, exit, delete) and
// through the whole command line (`berth run --rm`, `docker run --rm`), berth and
// docker side by side; plus the daemons' idle RSS and the goals read from the medians.
import { nodeStartNotes } from './node-start-notes.js';
import { unavailable } from '../../engine/errdefs/errors.js';
import { call } from '../peers/index.js';
import type { DerivedCase, MacroCase, MeasuredCase } from '../suite.js';
import { percentile } from '../stats.js';
import { tracedClient, type TracedClient } from './daemon-spans.js';
import { IDLE_READ_WAIT_MS } from './daemon-memory.js';
import type { PrivateBerthd } from './private-berthd.js';
import type { PrivateDockerd } from './runtime-docker.js';
import { STATIC_IMAGE } from './runtime-image.js';

const SUITE = 'run';

function median(xs: readonly number[]): number {
  return percentile(
    [...xs].sort((a, b) => a - b),
    0.5,
  );
}
export type RunLevel = 'in-process' | 'api' | 'cli';
type Network = 'none' | 'bridge';
/** Goals recorded in the notes: berthd idle RSS, cli ratio to docker, api run with network none. */
export const GOAL_RSS_MB = 60;
export const GOAL_CLI_RATIO = 0.2;
export const GOAL_API_NONE_MS = 10;

/**
 * One run --rm over a daemon's API: create, wait (next-exit, armed before start),
 * start, the exit, delete. Each call is a step of the traced client (a `client` span
 * whose id goes out in the `traceparent` header when anyone collects spans). The delete runs also when a
 * step failed; a non-zero exit fails the run. Returns the elapsed ms of the calls.
 */
export async function apiRunOnce({ client, step }: TracedClient, network: Network | 'host'): Promise<number> {
  const t0 = process.hrtime.bigint();
  const { Id: id } = await step('create', () =>
    client.containerCreate({ Image: STATIC_IMAGE, Cmd: ['/bin/true'], HostConfig: { NetworkMode: network } }),
  );
  let failure: unknown;
  try {
    const { result } = await step('wait', () => client.containerWait(id, 'next-exit'));
    await step('start', () => client.containerStart(id));
    const { StatusCode } = await step('exit', () => result);
    if (StatusCode !== 0) throw unavailable(`container ${id}: /bin/true ended with exit code ${StatusCode}`);
  } catch (err) {
    failure = err;
  }
  try {
    await step('delete', () => client.containerRemove(id, { force: true }));
  } catch (err) {
    failure ??= err;
  }
  const elapsed = Number(process.hrtime.bigint() - t0) / 1e6;
  if (failure !== undefined) throw failure;
  return elapsed;
}

const NETWORK_NOTE: Record<Network, string> = {
  none: 'network none: the container gets its own network namespace with only lo.',
  bridge:
    "network bridge: the daemon's default network on a bridge of the suite's own (a veth per container, no iptables rules for docker).",
};

/**
 * berth at the api level: the typed API client over berthd's unix socket; phases from the client's and berthd's spans.
 */
export function berthApiCase(berthd: PrivateBerthd, network: Network): MacroCase {
  return {
    kind: 'macro',
    suite: SUITE,
    case: 'run',
    target: 'berth',
    parameters: { level: 'api', graphdriver: 'overlay2', network, image: STATIC_IMAGE },
    unit: 'ms',
    direction: 'lower-is-better',
    group: 'run-berthd',
    phases: true,
    method:
      `Wall time in ms of create -> wait (next-exit) -> start -> exit -> delete of ${STATIC_IMAGE} with /bin/true and --network ${network}, ` +
      "sent with berth's typed API client (engine/client/api-client.ts) over the unix socket of a private berthd, on connections kept between runs as one long-lived client keeps them (its own process started from its bundle; " +
      'overlay2 on a tmpfs root, own exec root, socket, bridge and /24; the image pulled from an embedded registry on 127.0.0.1). ' +
      "Each request carries a traceparent; berthd's spans of the trace are fetched after the timed calls (untimed) and joined under the client's. " +
      'After each sample (untimed) the daemon must list no container.',
    notes: [
      NETWORK_NOTE[network],
      "Phases: the client's call spans (module client) with berthd's request, job, driver and native spans beneath (berthd collects spans only for requests carrying a traceparent, as the in-process case collects around each sample).",
    ],
    setup: (ctx) => berthd.acquire(ctx),
    sample: async (ctx) => {
      const traced = tracedClient(ctx, berthd.host);
      const ms = await apiRunOnce(traced, network);
      // no collector listening (a warm-up run): no traceparent went out, nothing to join
      await traced.join();
      return ms;
    },
    afterSample: async () => {
      const left = await berthd.containers();
      if (left.length > 0) throw unavailable(`berthd: the run left container(s) ${left.join(', ')}`);
    },
    resultNotes: (result) => {
      if (network !== 'none') return [];
      const p50 = result.stats.p50;
      return [
        `Goal: api-level create->start->wait->delete with --network none <= ${GOAL_API_NONE_MS} ms: ${p50 <= GOAL_API_NONE_MS ? 'met' : 'not met'} (median ${p50.toFixed(2)} ms).`,
      ];
    },
    teardown: (ctx) => berthd.release(ctx),
  };
}

/** berth at the cli level: `berth run --rm` from spawn to exit, against the same berthd. */
export function berthCliCase(berthd: PrivateBerthd, network: Network): MacroCase {
  const argv = ['run', '--rm', '--network', network, STATIC_IMAGE, '/bin/true'];
  return {
    kind: 'macro',
    suite: SUITE,
    case: 'run',
    target: 'berth',
    parameters: { level: 'cli', graphdriver: 'overlay2', network, image: STATIC_IMAGE },
    unit: 'ms',
    direction: 'lower-is-better',
    group: 'run-berthd',
    method:
      `Wall time in ms from spawning \`berth -H unix://… ${argv.join(' ')}\` (the berth bin: sh drops NODE_EXTRA_CA_CERTS and runs node on it, which starts from its esbuild bundle) ` +
      'to its exit, ' +
      'against the private berthd of the api cases. After each sample (untimed) the daemon must list no container.',
    notes: [
      NETWORK_NOTE[network],
      "Includes node's start-up, the bundle's freshness check and load (with V8's code cache of `run`), and the CLI's API calls (create, attach, wait, start, remove).",
      // the bin drops NODE_EXTRA_CA_CERTS before node starts: only the other settings apply
      ...nodeStartNotes({ ...process.env, NODE_EXTRA_CA_CERTS: undefined }),
    ],
    setup: (ctx) => berthd.acquire(ctx),
    sample: async () => {
      const r = await call(berthd.cli(argv));
      if (r.code !== 0) throw unavailable(`berth ${argv.join(' ')}: exit ${r.code ?? r.signal}: ${r.stderr.trim()}`);
    },
    afterSample: async () => {
      const left = await berthd.containers();
      if (left.length > 0) throw unavailable(`berth run --rm left container(s) ${left.join(', ')}`);
    },
    teardown: (ctx) => berthd.release(ctx),
  };
}

/**
 * docker at the api level: the same typed client and sequence over the private dockerd's socket (it speaks the Docker
 * API).
 */
export function dockerApiCase(dockerd: PrivateDockerd, network: Network): MacroCase {
  return {
    kind: 'macro',
    suite: SUITE,
    case: 'run',
    target: 'docker',
    parameters: { level: 'api', graphdriver: 'overlay2', network, image: STATIC_IMAGE },
    unit: 'ms',
    direction: 'lower-is-better',
    group: 'run-docker',
    method:
      `Wall time in ms of create -> wait (next-exit) -> start -> exit -> delete of ${STATIC_IMAGE} with /bin/true and --network ${network}, ` +
      "sent with berth's typed API client (Docker Engine API v1.41) over the unix socket of the private dockerd of the cli cases, on connections kept between runs. " +
      'After each sample (untimed) the daemon must list no container.',
    notes: [NETWORK_NOTE[network]],
    setup: async () => {
      await dockerd.acquire();
    },
    sample: async (ctx) => apiRunOnce(tracedClient(ctx, `unix://${dockerd.socket}`, false), network),
    afterSample: async () => {
      const left = await dockerd.containers();
      if (left.length > 0) throw unavailable(`dockerd: the run left container(s) ${left.join(', ')}`);
    },
    teardown: () => dockerd.release(),
  };
}

/** The figures a daemon world read beside the cases (RSS), for derive(). */
export interface DaemonFigures {
  berthd?: PrivateBerthd;
  dockerd?: PrivateDockerd;
}

function rssCase(
  target: string,
  state: string,
  samples: number[],
  method: string,
  notes: string[],
  from: readonly MeasuredCase[],
): DerivedCase {
  return {
    suite: SUITE,
    case: 'daemon-rss',
    target,
    parameters: { level: 'daemon', state },
    unit: 'MiB',
    direction: 'lower-is-better',
    method,
    notes,
    samples,
    derived: { from: from.map((m) => m.info), how: 'recorded-alongside', pairing: 'same-sample' },
  };
}

function rssGoal(mib: number): string {
  const mb = (mib * 1024 * 1024) / 1e6;
  return `Goal: berthd idle RSS <= ${GOAL_RSS_MB} MB: ${mb <= GOAL_RSS_MB ? 'met' : 'not met'} (median ${mb.toFixed(1)} MB = ${mib.toFixed(1)} MiB).`;
}

/**
 * The derived cases: daemon RSS (berthd idle after start and after the run cases,
 * dockerd + containerd idle), and berth/docker ratios only between cases of the same
 * level and network (each berth sample over docker's median), with the cli goal.
 */
export function deriveLevels(measured: readonly MeasuredCase[], figures: DaemonFigures): DerivedCase[] {
  const out: DerivedCase[] = [];
  const b = figures.berthd;
  const vmrss = 'VmRSS from /proc/<pid>/status, read 5 times 50 ms apart';
  // the RSS figures are read beside the daemon's run cases: those are what they go with
  const daemonCases = (target: string) =>
    measured.filter(
      (m) =>
        m.info.case === 'run' &&
        m.info.target === target &&
        (m.info.parameters.level === 'api' || m.info.parameters.level === 'cli'),
    );
  if (b !== undefined && b.rssAfterStart.length > 0) {
    out.push(
      rssCase(
        'berth',
        'idle-after-start',
        b.rssAfterStart,
        `${vmrss}, of the private berthd once it answered /_ping, pulled the image and then idled ${IDLE_READ_WAIT_MS / 1000} s without a request (past its allocator trim), before any run case.`,
        [rssGoal(median(b.rssAfterStart))],
        daemonCases('berth'),
      ),
    );
  }
  if (b !== undefined && b.rssAfterRuns.length > 0) {
    out.push(
      rssCase(
        'berth',
        'idle-after-runs',
        b.rssAfterRuns,
        `${vmrss}, of the private berthd after its last api/cli case and ${IDLE_READ_WAIT_MS / 1000} s without a request (past its allocator trim), before SIGTERM.`,
        [rssGoal(median(b.rssAfterRuns))],
        daemonCases('berth'),
      ),
    );
  }
  const d = figures.dockerd;
  if (d !== undefined && d.idleRss.length > 0) {
    out.push(
      rssCase(
        'docker',
        'idle-after-start',
        d.idleRss,
        `${vmrss} and summed over dockerd, its containerd and any containerd-shim (${d.idleRssProcesses} processes, found by name and by the private folder in their command lines), of the private dockerd once it answered, imported the image and then idled ${IDLE_READ_WAIT_MS / 1000} s without a request, before any run case.`,
        [],
        daemonCases('docker'),
      ),
    );
  }
  const find = (target: string, level: RunLevel, network: string) =>
    measured.find(
      (m) =>
        m.info.case === 'run' &&
        m.info.target === target &&
        m.info.parameters.level === level &&
        m.info.parameters.network === network,
    );
  for (const level of ['api', 'cli'] as const) {
    for (const network of ['none', 'bridge'] as const) {
      const berth = find('berth', level, network);
      const docker = find('docker', level, network);
      if (berth === undefined || docker === undefined) continue;
      const ref = median(docker.samples);
      const samples = berth.samples.map((x) => x / ref);
      const ratio = median(berth.samples) / ref;
      out.push({
        suite: SUITE,
        case: 'run-ratio',
        target: 'berth',
        parameters: { level, network, reference: 'docker', image: STATIC_IMAGE },
        unit: 'ratio',
        direction: 'lower-is-better',
        method: `Each ${level}-level berth run sample (--network ${network}) over the median of docker's ${level}-level samples of the same run.`,
        notes:
          level === 'cli'
            ? [
                `Goal: end to end (cli) <= ${GOAL_CLI_RATIO}x docker with --network ${network}: ${ratio <= GOAL_CLI_RATIO ? 'met' : 'not met'} (ratio of medians ${ratio.toFixed(3)}).`,
              ]
            : [],
        samples,
        derived: { from: [berth.info, docker.info], how: 'ratio', pairing: 'reference-median' },
      });
    }
  }
  return out;
}
