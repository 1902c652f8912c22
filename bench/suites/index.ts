// Every suite of the design, in the order a full run takes them. Built suites load
// lazily (a run imports only what it measures); the others are listed so a run
// reports them as not built instead of silently leaving them out.
import type { RegisteredSuite } from '../suite.js';

export const registry: readonly RegisteredSuite[] = [
  {
    name: 'trace',
    description: 'cost of tracing per instrumented call (no subscriber, collector, one boundary channel)',
    load: async () => (await import('./trace.js')).traceSuite,
  },
  {
    name: 'pull',
    description:
      'image pull from the embedded registry: cold/warm, gzip/zstd, layer concurrency, per-phase breakdown; skopeo, docker and the physical reference side by side',
    load: async () => (await import('./pull.js')).pullSuite,
  },
  {
    name: 'run',
    description:
      "container create/start/wait end to end at three levels (in-process through the Engine, over the API socket, through the CLI), berth beside docker, with a per-phase breakdown and the daemons' RSS",
    load: async () => (await import('./run.js')).runSuite,
  },
  {
    name: 'lifecycle',
    description:
      'container lifecycle throughput (create/start/wait or stop/remove at concurrency 1-8) and density (start latency and daemon RSS/PSS against containers running), berth beside docker over the API socket',
    load: async () => (await import('./lifecycle.js')).lifecycleSuite,
  },
  {
    name: 'runtime',
    description:
      'the same OCI bundle on berth (execdriver in-process, berth-runtime), runc and crun, with and without a network namespace',
    load: async () => (await import('./runtime.js')).runtimeSuite,
  },
  {
    name: 'namespaces',
    description: 'clone/unshare cost per namespace kind and set, and creation throughput with 1, 2 and 4 workers',
    load: async () => (await import('./namespaces.js')).namespacesSuite,
  },
  {
    name: 'cgroups',
    description: 'cgroup create, attach, limit writes and destroy per backend (v1, v2) and controller set',
    load: async () => (await import('./cgroups.js')).cgroupsSuite,
  },
  {
    name: 'graphdriver',
    description:
      'vfs, overlay2 and btrfs per backing store: applyDiff vs GNU tar, create+get by chain depth, copy-up, deep reads, diff, remove, disk use',
    load: async () => (await import('./graphdriver.js')).graphdriverSuite,
  },
  {
    name: 'network',
    description:
      'networkdriver setup/teardown per mode (netlink vs ip), TCP throughput and latency into containers vs loopback',
    load: async () => (await import('./network.js')).networkSuite,
  },
  {
    name: 'reliability',
    description:
      "many runs through one berthd: a soak's latency drift, daemon RSS and fd growth and host leftovers; concurrent runs and pulls as throughput with error counts",
    load: async () => (await import('./reliability.js')).reliabilitySuite,
  },
  {
    name: 'workload',
    description:
      'services (ready time on a published port, request latency and throughput), cold start of realistic images with the pull split out, restart under on-failure and daemon restart with containers; berth beside docker',
    load: async () => (await import('./workload.js')).workloadSuite,
  },
];

/** The targets the harness knows; suites list the ones they measure. */
export const knownTargets: readonly string[] = [
  'berth',
  'docker',
  'podman',
  'runc',
  'crun',
  'skopeo',
  'reference',
  'parallel-reference',
];

export function findSuite(name: string): RegisteredSuite | undefined {
  return registry.find((s) => s.name === name);
}
