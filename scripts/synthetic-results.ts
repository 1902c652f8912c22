// Schema-valid result documents with seeded made-up samples: fixtures for tests and for trying
// the notebooks (`tsx scripts/synthetic-results.ts --out F`). Never a baseline: not measurements.
import { realpathSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { writeFileAtomic } from '../engine/fsutil/atomic-write.js';
import {
  UNITS,
  type CaseResult,
  type ParameterValue,
  type PhaseBreakdown,
  type ResultDocument,
  type Unit,
} from '../bench/results/document.js';
import {
  experimentRecord,
  summarizeExperiment,
  summarizeInterleaved,
  validateExperiment,
  type ExperimentRecord,
} from '../bench/compare/experiment.js';
import { validateResult } from '../bench/results/validate.js';
import { createRng, summarize, type Rng } from '../bench/stats.js';
import { exampleResult } from '../results/schema/example-result.js';

/** A normal variate (Box–Muller) from a seeded source. */
export function normal(rng: Rng, mean: number, sd: number): number {
  const u = 1 - rng();
  const v = rng();
  return mean + sd * Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
}

/** `n` seeded normal samples, clamped to stay positive (times and rates are). */
export function normalSamples(seed: number, n: number, mean: number, sd: number): number[] {
  const rng = createRng(seed);
  return Array.from({ length: n }, () => Math.max(normal(rng, mean, sd), mean * 0.01));
}

export interface SyntheticCase {
  suite: string;
  case: string;
  target: string;
  parameters?: Record<string, ParameterValue>;
  unit: Unit;
  direction?: CaseResult['direction'];
  samples: number[];
  phases?: PhaseBreakdown[] | null;
  derived?: CaseResult['derived'];
}

/** A full case record (stats computed from the samples, seed 1). */
export function syntheticCase(c: SyntheticCase): CaseResult {
  return {
    suite: c.suite,
    case: c.case,
    target: c.target,
    parameters: c.parameters ?? {},
    unit: c.unit,
    direction:
      c.direction ?? (['B/s', 'MiB/s', 'Gbit/s', 'ops/s'].includes(c.unit) ? 'higher-is-better' : 'lower-is-better'),
    method: 'Synthetic samples drawn from a seeded normal distribution (test fixture, not a measurement).',
    warmup: 0,
    samples: c.samples,
    stats: summarize(c.samples, { seed: 1, resamples: 200 }),
    phases: c.phases ?? null,
    ...(c.derived !== undefined ? { derived: c.derived } : {}),
    notes: ['synthetic'],
  };
}

export interface DocumentOptions {
  runId?: string;
  startedAt?: string;
  gitCommit?: string | null;
  fingerprint?: string;
  hostname?: string;
}

/** A valid document around `cases`, the host and run taken from the schema's example. */
export function syntheticDocument(cases: CaseResult[], opts: DocumentOptions = {}): ResultDocument {
  const doc = exampleResult();
  const started = opts.startedAt ?? doc.run.startedAt;
  doc.run.id = opts.runId ?? doc.run.id;
  doc.run.startedAt = started;
  doc.run.finishedAt = new Date(Date.parse(started) + 60_000).toISOString();
  if (opts.gitCommit !== undefined) doc.run.gitCommit = opts.gitCommit;
  if (opts.fingerprint !== undefined) doc.host.fingerprint = opts.fingerprint;
  if (opts.hostname !== undefined) doc.host.hostname = opts.hostname;
  const suites = [...new Set(cases.map((c) => c.suite))];
  doc.suites = suites.map((name) => ({ name, status: 'ran', reason: null, durationMs: 1000 }));
  doc.cases = cases;
  doc.warnings = [];
  return validateResult(doc, 'synthetic result document');
}

function phase(name: string, module: string, selfMs: number, totalMs = selfMs): PhaseBreakdown {
  return {
    name,
    module,
    callsPerOp: 1,
    selfNs: { p50: selfMs * 1e6, mean: selfMs * 1.05e6 },
    totalNs: { p50: totalMs * 1e6, mean: totalMs * 1.05e6 },
  };
}

/**
 * One case set per suite the notebooks plot (run, runtime, graphdriver, namespaces,
 * pull, network, lifecycle, workload, trace), with phases where berth traces them. `scale` multiplies
 * every time (1.2 = 20 % slower) so two documents make a comparison. Deterministic for `seed`.
 */
export function syntheticSuiteCases(seed = 1, n = 30, scale = 1): CaseResult[] {
  let s = seed * 1000;
  const time = (mean: number, sd = mean * 0.08) => normalSamples(++s, n, mean * scale, sd * scale);
  const rate = (mean: number, sd = mean * 0.05) => normalSamples(++s, n, mean / scale, sd / scale);
  const cases: SyntheticCase[] = [];
  const runPhases = [
    phase('graph.resolve', 'graph', 0.2),
    phase('graphdriver.overlay2.get', 'graphdriver', 0.6),
    phase('execdriver.create', 'execdriver', 1.1),
    phase('networkdriver.allocate', 'networkdriver', 7.0),
    phase('native.clone', 'native', 0.7),
  ];
  for (const [target, level, mean] of [
    ['berth', 'in-process', 14],
    ['berth', 'api', 19],
    ['docker', 'api', 160],
    ['berth', 'cli', 40],
    ['docker', 'cli', 420],
  ] as const) {
    cases.push({
      suite: 'run',
      case: 'start',
      target,
      parameters: { level, image: 'busybox' },
      unit: 'ms',
      samples: time(mean),
      phases: target === 'berth' && level === 'in-process' ? runPhases : null,
    });
  }
  for (const [target, mean] of [
    ['berth', 9],
    ['runc', 31],
    ['crun', 18],
  ] as const) {
    cases.push({ suite: 'runtime', case: 'bundle-run', target, unit: 'ms', samples: time(mean) });
  }
  for (const driver of ['vfs', 'overlay2', 'btrfs']) {
    for (const depth of [1, 5, 20]) {
      const cost = driver === 'vfs' ? 5 * depth : driver === 'overlay2' ? 0.3 + 0.01 * depth : 2 + 0.05 * depth;
      cases.push({
        suite: 'graphdriver',
        case: 'get',
        target: driver,
        parameters: { driver, depth },
        unit: 'ms',
        samples: time(cost),
      });
      cases.push({
        suite: 'graphdriver',
        case: 'write',
        target: driver,
        parameters: { driver, depth },
        unit: 'MiB/s',
        samples: rate(driver === 'vfs' ? 300 : 250 - depth),
      });
    }
  }
  const nsCost: Record<string, number> = {
    net: 450,
    mnt: 35,
    ipc: 27,
    user: 11,
    pid: 5,
    uts: 2,
    'docker-default': 560,
  };
  for (const [ns, cost] of Object.entries(nsCost)) {
    const flags =
      ns === 'docker-default'
        ? 'CLONE_NEWNS|CLONE_NEWNET|CLONE_NEWPID|CLONE_NEWUTS|CLONE_NEWIPC'
        : `CLONE_NEW${ns.toUpperCase()}`;
    cases.push({
      suite: 'namespaces',
      case: 'unshare',
      target: 'berth',
      parameters: { namespaces: ns, flags },
      unit: 'us',
      samples: time(cost),
    });
    for (const workers of [1, 2, 4]) {
      cases.push({
        suite: 'namespaces',
        case: 'parallel-clone',
        target: 'berth',
        parameters: { namespaces: ns, flags, workers },
        unit: 'us',
        samples: time(cost * (1 + 0.3 * (workers - 1))),
      });
      cases.push({
        suite: 'namespaces',
        case: 'parallel',
        target: 'berth',
        parameters: { namespaces: ns, flags, workers },
        unit: 'ops/s',
        samples: rate((1e6 / cost) * workers * 0.7),
      });
    }
  }
  const pullPhases = [
    phase('registry.fetch', 'registry', 120),
    phase('graph.verify', 'graph', 30),
    phase('graph.apply', 'graphdriver', 200),
  ];
  for (const image of ['alpine', 'debian']) {
    for (const [target, mb] of [
      ['berth', 180],
      ['docker', 120],
      ['skopeo', 150],
      ['podman', 110],
      ['reference', 400],
    ] as const) {
      cases.push({
        suite: 'pull',
        case: 'pull',
        target,
        parameters: { image },
        unit: 'MiB/s',
        samples: rate(mb),
        phases: target === 'berth' ? pullPhases : null,
      });
    }
  }
  for (const mode of ['none', 'host', 'bridge']) {
    cases.push({
      suite: 'network',
      case: 'setup-teardown',
      target: 'berth',
      parameters: { mode, path: 'driver', concurrency: 1 },
      unit: 'ms',
      samples: time(mode === 'bridge' ? 7 : 0.5),
    });
    cases.push({
      suite: 'network',
      case: 'throughput',
      target: 'berth',
      parameters: { mode },
      unit: 'Gbit/s',
      samples: rate(mode === 'bridge' ? 18 : 30),
    });
  }
  cases.push({
    suite: 'network',
    case: 'throughput',
    target: 'loopback',
    parameters: { mode: 'loopback' },
    unit: 'Gbit/s',
    samples: rate(32),
  });
  const startPhases = [
    phase('client.start', 'client', 0.3, 6),
    phase('jobs.start', 'jobs', 1.2, 5.5),
    phase('networkdriver.allocateInterface', 'networkdriver', 3.5),
  ];
  for (const [target, perWorker, startMs, mib] of [
    ['berth', 60, 6, 40],
    ['docker', 9, 90, 160],
  ] as const) {
    for (const workload of ['true', 'sleep']) {
      for (const concurrency of [1, 2, 4, 8]) {
        const gain = Math.min(concurrency, 2) * (1 + 0.05 * Math.log2(concurrency));
        cases.push({
          suite: 'lifecycle',
          case: 'throughput',
          target,
          parameters: { level: 'api', workload, concurrency },
          unit: 'ops/s',
          samples: rate(perWorker * gain),
        });
        for (const [op, ms] of [
          ['create', 3],
          ['start', 5],
          [workload === 'true' ? 'wait' : 'stop', 2],
          ['remove', 3],
        ] as const) {
          cases.push({
            suite: 'lifecycle',
            case: 'op-latency',
            target,
            parameters: { level: 'api', workload, concurrency, op },
            unit: 'ms',
            samples: time((ms * concurrency * (target === 'docker' ? 6 : 1)) / Math.min(concurrency, 2)),
          });
        }
      }
    }
    for (const running of [0, 10, 50, 100]) {
      cases.push({
        suite: 'lifecycle',
        case: 'density-start',
        target,
        parameters: { level: 'api', running },
        unit: 'ms',
        samples: time(startMs * (1 + running / 500)),
        phases: target === 'berth' ? startPhases : null,
      });
      for (const metric of ['rss', 'pss']) {
        const perContainer = target === 'docker' ? (metric === 'rss' ? 9 : 3) : 0.05;
        cases.push({
          suite: 'lifecycle',
          case: 'daemon-memory',
          target,
          parameters: { level: 'daemon', running, metric },
          unit: 'MiB',
          samples: time(mib * (metric === 'rss' ? 1 : 0.8) + perContainer * running, 0.5),
        });
      }
    }
  }
  // the lifecycle loop through each command line (level cli) beside the api rows
  for (const [target, perWorker] of [
    ['berth', 6],
    ['docker', 4],
    ['podman', 2],
  ] as const) {
    for (const concurrency of [1, 2, 4, 8]) {
      cases.push({
        suite: 'lifecycle',
        case: 'throughput',
        target,
        parameters: { level: 'cli', workload: 'true', concurrency },
        unit: 'ops/s',
        samples: rate(perWorker * Math.min(concurrency, 2)),
      });
    }
  }
  // workload: services, cold start split, restarts
  for (const [target, readyMs, requestUs] of [
    ['berth', 40, 90],
    ['docker', 600, 160],
    ['podman', 900, 220],
  ] as const) {
    for (const level of ['api', 'cli'])
      cases.push({
        suite: 'workload',
        case: 'service-ready',
        target,
        parameters: { level, network: 'bridge', publish: '127.0.0.1::8080' },
        unit: 'ms',
        samples: time(readyMs * (level === 'cli' ? 1.5 : 1)),
      });
    for (const mode of ['keep-alive', 'new-connection']) {
      const us = requestUs * (mode === 'keep-alive' ? 1 : 2);
      cases.push({
        suite: 'workload',
        case: 'service-requests',
        target,
        parameters: { mode, requests: 250, publish: '127.0.0.1::8080' },
        unit: 'ms',
        samples: time((us * 250) / 1000),
      });
      cases.push({
        suite: 'workload',
        case: 'service-request-latency',
        target,
        parameters: { mode, requests: 250, publish: '127.0.0.1::8080' },
        unit: 'us',
        samples: time(us),
      });
    }
    for (const image of ['debian', 'app']) {
      const scale = image === 'debian' ? 10 : 1;
      const parts: [string, number][] =
        target === 'podman'
          ? [['pull', 1600 * scale]]
          : [
              ['fetch', 300 * scale],
              ['apply', (target === 'berth' ? 2000 : 900) * scale],
              ['register', 150 * scale],
            ];
      parts.push(
        ['create', target === 'berth' ? 8 : 60],
        ['start', target === 'berth' ? 10 : 120],
        ['first-output', 3],
      );
      cases.push({
        suite: 'workload',
        case: 'cold-start',
        target,
        parameters: { level: 'api', image, network: 'none' },
        unit: 'ms',
        samples: time(parts.reduce((a, [, ms]) => a + ms, 0)),
      });
      for (const [part, ms] of parts)
        cases.push({
          suite: 'workload',
          case: 'cold-start-split',
          target,
          parameters: { level: 'api', image, part },
          unit: 'ms',
          samples: time(ms),
        });
    }
    cases.push({
      suite: 'workload',
      case: 'restart-on-failure',
      target,
      parameters: { level: 'api', policy: 'on-failure:1', network: 'none' },
      unit: 'ms',
      samples: time(target === 'berth' ? 120 : 400),
    });
  }
  for (const containers of [0, 10, 50])
    cases.push({
      suite: 'workload',
      case: 'daemon-restart',
      target: 'berth',
      parameters: { containers, graphdriver: 'overlay2', network: 'none' },
      unit: 'ms',
      samples: time(150 + 4 * containers),
    });
  cases.push({
    suite: 'trace',
    case: 'call',
    target: 'berth',
    parameters: { mode: 'sync', tracing: 'collector' },
    unit: 'ns',
    samples: time(150),
  });
  // outside cross-checks: the outside tool's figure over berth's, one agreeing and one not
  for (const [suite, name, tool, ratio] of [
    ['runtime', 'run', 'hyperfine', 1.03],
    ['namespaces', 'clone', 'nsloop', 0.7],
  ] as const)
    cases.push({
      suite,
      case: `${name}-crosscheck`,
      target: 'berth',
      parameters: { tool },
      unit: 'ratio',
      samples: normalSamples(++s, n, ratio, 0.02),
      derived: { from: [`${suite}/${name}`, `${suite}/${name} tool=${tool}`], how: 'ratio', pairing: 'interleaved' },
    });
  return cases.map(syntheticCase);
}

/**
 * Cases in every unit the schema allows, in a suite no chart knows (`lifecycle`) and in
 * known suites with units their charts do not expect; plus awkward shapes: one sample,
 * all samples equal, negative values, and a phase breakdown with more spans than a
 * legend takes. For tests that every case is drawn or skipped by name, never a crash.
 */
export function syntheticEdgeCases(seed = 1): CaseResult[] {
  let s = seed * 1000;
  const cases: SyntheticCase[] = [];
  const means: Record<Unit, number> = {
    ns: 900,
    us: 90,
    ms: 9,
    s: 2,
    B: 4096,
    KiB: 300,
    MiB: 12,
    'B/s': 5e6,
    'MiB/s': 150,
    'Gbit/s': 9,
    'ops/s': 2000,
    count: 40,
    ratio: 1.2,
    percent: 85,
  };
  for (const unit of UNITS) {
    const m = means[unit];
    cases.push({
      suite: 'lifecycle',
      case: `measure-${unit.replace('/', '-per-')}`,
      target: 'berth',
      parameters: { phase: 'steady', containers: 4 },
      unit,
      samples: normalSamples(++s, 12, m, m * 0.1),
    });
    cases.push({
      suite: 'lifecycle',
      case: 'mixed',
      target: unit === 'ms' ? 'docker' : 'berth',
      parameters: { unit },
      unit,
      samples: normalSamples(++s, 8, m, m * 0.05),
    });
    for (const suite of ['run', 'graphdriver', 'namespaces', 'pull', 'network', 'trace']) {
      cases.push({
        suite,
        case: 'odd-unit',
        target: 'berth',
        parameters: { unit },
        unit,
        samples: normalSamples(++s, 6, m, m * 0.2),
      });
    }
  }
  cases.push({ suite: 'reliability', case: 'single-sample', target: 'berth', unit: 'ms', samples: [5] });
  for (const which of ['one', 'another']) {
    cases.push({
      suite: 'reliability',
      case: 'flat',
      target: 'berth',
      parameters: { label: `a deliberately long parameter value that no column can hold on ${which} line` },
      unit: 'count',
      samples: [3, 3, 3, 3],
    });
  }
  cases.push({
    suite: 'workload',
    case: 'difference',
    target: 'berth',
    unit: 'us',
    direction: 'lower-is-better',
    samples: [-4, -2, 1, 3, -1, 0, 2],
  });
  const spans = Array.from({ length: 30 }, (_, i) =>
    phase(`module${i % 4}.step-${i}`, `module${i % 4}`, 0.1 + (i % 7) * 0.3),
  );
  for (const variant of ['small', 'large']) {
    cases.push({
      suite: 'workload',
      case: 'traced',
      target: 'berth',
      parameters: { variant },
      unit: 'ms',
      samples: normalSamples(++s, 10, 12, 1),
      phases: spans,
    });
  }
  return cases.map(syntheticCase);
}

function invokedDirectly(): boolean {
  if (process.argv[1] === undefined) return false;
  try {
    return realpathSync(process.argv[1]) === realpathSync(fileURLToPath(import.meta.url));
  } catch {
    return false;
  }
}

if (invokedDirectly()) {
  const { values } = parseArgs({
    options: { out: { type: 'string' }, seed: { type: 'string' }, scale: { type: 'string' } },
  });
  if (values.out === undefined) {
    process.stderr.write('usage: tsx scripts/synthetic-results.ts --out <file> [--seed n] [--scale 1.2]\n');
    process.exitCode = 2;
  } else {
    const doc = syntheticDocument(syntheticSuiteCases(Number(values.seed ?? 1), 30, Number(values.scale ?? 1)));
    await writeFileAtomic(values.out, `${JSON.stringify(doc, null, 2)}\n`, {
      mode: 0o644,
      makeDirs: true,
      subject: `file ${values.out}`,
    });
    process.stderr.write(`synthetic result (not a measurement) written to ${values.out}\n`);
  }
}

/**
 * One run of an A/A–A/B experiment with a known truth: 40 trace cases with 2 % noise within
 * and between runs; `slowdown` multiplies case n=0 and records the injected delay. Deterministic for `seed`.
 */
export function syntheticExperimentRun(seed: number, slowdown = 1): ResultDocument {
  const rng = createRng(seed);
  const cases = Array.from({ length: 40 }, (_, i) => {
    const mean = 100 * (1 + normal(rng, 0, 0.02)) * (i === 0 ? slowdown : 1);
    return syntheticCase({
      suite: 'trace',
      case: 'call',
      target: 'berth',
      parameters: { mode: 'sync', n: i },
      unit: 'ns',
      samples: Array.from({ length: 12 }, () => normal(rng, mean, mean * 0.02)),
    });
  });
  // a minute a seed: runs of nearby seeds ran side by side
  const startedAt = new Date(Date.parse('2026-01-01T00:00:00Z') + seed * 61_000).toISOString();
  const doc = syntheticDocument(cases, { runId: `r${seed}`, startedAt });
  if (slowdown !== 1)
    doc.run.injectedDelay = {
      spec: `trace/call n=0:${Math.round((slowdown - 1) * 100)}%`,
      suite: 'trace',
      case: 'call',
      parameters: { n: '0' },
      fraction: slowdown - 1,
    };
  return doc;
}

/**
 * A recorded experiment made by the real analysis from synthetic runs: 5 A runs, 3 B runs at
 * +50 %; with `interleaved`, the runs alternate (A B A B A B A A) and the paired rates are added.
 */
export function syntheticExperiment(interleaved = false): ExperimentRecord {
  const a = (interleaved ? [1, 3, 5, 7, 8] : [1, 2, 3, 4, 5]).map((s) => syntheticExperimentRun(s));
  const b = new Map([[0.5, (interleaved ? [2, 4, 6] : [10, 11, 12]).map((s) => syntheticExperimentRun(s, 1.5))]]);
  const summary = summarizeExperiment(a, b);
  if (interleaved) summary.interleaved = summarizeInterleaved(a, b);
  return validateExperiment(experimentRecord(summary, a, b), 'synthetic experiment');
}
