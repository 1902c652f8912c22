// A complete, valid result document with every field filled: the reference example
// for readers of result.schema.json, and the fixture its tests start from.
import type { ResultDocument } from '../../bench/results/document.js';

/** A fresh copy on every call, so a caller may change it freely. */
export function exampleResult(): ResultDocument {
  return {
    schemaVersion: 2,
    run: {
      id: '5b0e8c1e-3f0a-4d6e-9c55-0f6f2a8f9d11',
      startedAt: '2026-11-28T04:01:27.000Z',
      finishedAt: '2026-11-28T04:09:02.512Z',
      gitCommit: '0370d2b5f1c9a4e3d2b1a0f9e8d7c6b5a4f3e2d1',
      gitDirty: false,
      profile: 'quick',
      argv: ['--profile', 'quick', '--suite', 'namespaces'],
      seed: 42,
      berthVersion: '0.1.0',
      cpuPinning: [1],
    },
    host: {
      hostname: 'bench-1',
      kernel: '6.1.0-13-amd64',
      os: 'Debian GNU/Linux 12 (bookworm)',
      arch: 'x64',
      cpu: { model: 'AMD EPYC', cores: 2, mhz: 2596.122 },
      memoryBytes: 25_276_059_648,
      dataRoot: {
        path: '/tmp/berth-bench',
        filesystem: 'ext4',
        mountPoint: '/',
        mountSource: '/dev/vda',
        mountOptions: 'rw,relatime',
        superOptions: 'rw,discard',
      },
      cgroup: { version: 'hybrid', v2Path: '/sys/fs/cgroup/unified', controllers: ['blkio', 'cpu', 'cpuacct', 'memory', 'pids'] },
      node: 'v20.20.0',
      loadAverage: [0.02, 0.05, 0.01],
      peers: {
        runc: { found: true, version: '1.1.5', path: '/usr/sbin/runc' },
        crun: { found: false, version: null, path: null },
      },
      fingerprint: '3f9a0c2d71b4e865',
    },
    suites: [
      { name: 'namespaces', status: 'ran', reason: null, durationMs: 4210.5 },
      { name: 'pull', status: 'skipped', reason: 'no registry on 127.0.0.1', durationMs: 0.2 },
      { name: 'cgroups', status: 'not-built', reason: 'not built yet', durationMs: null },
    ],
    cases: [
      {
        suite: 'namespaces',
        case: 'unshare',
        target: 'berth',
        parameters: { namespace: 'net', workers: 1, cached: false },
        unit: 'us',
        direction: 'lower-is-better',
        method: 'One sample times clone(CLONE_NEWNET) to the child’s exit, after 3 warm-up runs.',
        warmup: 3,
        samples: [450, 470, 440, 460, 455],
        stats: {
          n: 5,
          min: 440,
          p50: 455,
          p95: 468,
          p99: 469.6,
          max: 470,
          mean: 455,
          stddev: 11.180339887498949,
          ci95: { low: 440, high: 470, level: 0.95, resamples: 2000, method: 'bootstrap-percentile' },
        },
        phases: [
          {
            name: 'native.clone',
            module: 'native',
            callsPerOp: 1,
            selfNs: { p50: 440_000, mean: 441_000 },
            totalNs: { p50: 450_000, mean: 452_000 },
            samples: 5,
          },
        ],
        notes: ['veth creation not included'],
      },
    ],
    warnings: ['suite pull: skipped (no registry on 127.0.0.1)'],
  };
}
