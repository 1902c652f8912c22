// A quick look at the density goal outside the bench: the start of one more `sleep` container on the
// bridge network of a private berthd (the lifecycle suite's density world) with 0, 10, 50, 100 … idle ones running,
// in rounds that visit the steps in alternating order (the fleet grown and cleared in between), so a loaded host's
// drift hits every step alike. Per sample: the start's wall time, berth's phases from the spans, berthd's CPU over
// the start (every thread's schedstat) and the container child's CPU up to its execve and a little after (its
// schedstat). Prints the medians per step, the ratio of the last step to the first and the per-round ratios.
//
//   node --import tsx scripts/density-probe.ts [--steps 0,100] [--rounds 3] [--per 6] [--out FILE.json]
import { readdirSync, readFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { parseArgs } from 'node:util';
import { invalidArgument } from '../engine/errdefs/errors.js';
import { background, SpanCollector, summarize } from '../engine/trace/index.js';
import { berthDaemon } from '../bench/suites/lifecycle-daemons.js';
import { createProbeContainer, IdleFleet, timedStart } from '../bench/suites/lifecycle-density.js';
import { staticImageBerthd } from '../bench/suites/run-berthd.js';
import { runIfMain } from './run-main.js';

interface Sample {
  round: number;
  running: number;
  ms: number;
  /** berthd's CPU over the start (ms). */
  daemonCpuMs: number;
  /** The container's CPU from its clone until read after the start (ms): its set-up, execve and a bit of sleep. */
  childCpuMs: number;
  /** Total time per span name (ms). */
  phases: Record<string, number>;
  load: string;
}

const median = (xs: number[]): number => {
  const s = xs.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length === 0 ? NaN : s.length % 2 === 1 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};

/** CPU time (ms) of every thread of pid, from schedstat (threads that ended are not counted). */
function threadsCpuMs(pid: number): number {
  let ns = 0;
  for (const t of readdirSync(`/proc/${pid}/task`)) {
    try {
      ns += Number(readFileSync(`/proc/${pid}/task/${t}/schedstat`, 'utf8').split(' ')[0]);
    } catch {
      // the thread ended meanwhile
    }
  }
  return ns / 1e6;
}

function report(samples: readonly Sample[], steps: readonly number[]): string {
  const at = (n: number) => samples.filter((s) => s.running === n);
  const row = (label: string, f: (s: Sample) => number, digits = 2) =>
    `${label.padEnd(36)}${steps.map((n) => median(at(n).map(f)).toFixed(digits).padStart(9)).join('')}`;
  const first = steps[0]!;
  const last = steps[steps.length - 1]!;
  const rounds = [...new Set(samples.map((s) => s.round))].map((r) => {
    const of = (n: number) => median(samples.filter((s) => s.round === r && s.running === n).map((s) => s.ms));
    return (of(last) / of(first)).toFixed(2);
  });
  const names = [...new Set(samples.flatMap((s) => Object.keys(s.phases)))];
  const growth = (name: string) =>
    median(at(last).map((s) => s.phases[name] ?? 0)) - median(at(first).map((s) => s.phases[name] ?? 0));
  names.sort((a, b) => growth(b) - growth(a));
  return [
    `${'running'.padEnd(36)}${steps.map((n) => String(n).padStart(9)).join('')}`,
    row('start (ms)', (s) => s.ms),
    row('berthd CPU (ms)', (s) => s.daemonCpuMs),
    row('container child CPU (ms)', (s) => s.childCpuMs, 3),
    `ratio ${last}/${first}: ${(median(at(last).map((s) => s.ms)) / median(at(first).map((s) => s.ms))).toFixed(3)}; per round: ${rounds.join(' ')}`,
    'phases (total ms), largest growth first:',
    ...names.slice(0, 16).map((name) => row(`  ${name}`, (s) => s.phases[name] ?? 0)),
  ].join('\n');
}

async function main(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      steps: { type: 'string', default: '0,100' },
      rounds: { type: 'string', default: '3' },
      per: { type: 'string', default: '6' },
      out: { type: 'string' },
    },
  });
  const steps = values.steps.split(',').map(Number);
  const rounds = Number(values.rounds);
  const per = Number(values.per);
  if (steps.some((n) => !Number.isInteger(n) || n < 0) || steps.length < 2)
    throw invalidArgument(`--steps ${values.steps}: two or more counts of running containers, e.g. 0,100`);
  if (!(rounds >= 1 && per >= 1)) throw invalidArgument('--rounds and --per: positive integers');
  const ctx = background();
  const berthd = staticImageBerthd(tmpdir());
  const daemon = berthDaemon(berthd);
  const fleet = new IdleFleet(daemon);
  const samples: Sample[] = [];
  await berthd.acquire(ctx);
  try {
    for (let round = 0; round < rounds; round++) {
      for (const running of round % 2 === 0 ? steps : [...steps].reverse()) {
        if (fleet.ids.length > running) await fleet.clear();
        await fleet.growTo(running);
        for (let i = 0; i < per; i++) {
          const id = await createProbeContainer(daemon);
          const collector = new SpanCollector().start();
          const cpu0 = threadsCpuMs(berthd.pid!);
          const ms = await timedStart(ctx, daemon, id);
          const daemonCpuMs = threadsCpuMs(berthd.pid!) - cpu0;
          const phases: Record<string, number> = {};
          for (const p of summarize(collector.stop())) phases[p.name] = p.totalNs / 1e6;
          const pid = (await berthd.client().containerInspect(id)).State.Pid;
          const childCpuMs = Number(readFileSync(`/proc/${pid}/schedstat`, 'utf8').split(' ')[0]) / 1e6;
          const load = readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');
          samples.push({ round, running, ms, daemonCpuMs, childCpuMs, phases, load });
          await berthd.client().containerRemove(id, { force: true });
        }
      }
    }
  } finally {
    await fleet.clear().finally(() => berthd.release(ctx));
  }
  if (values.out !== undefined) await writeFile(values.out, JSON.stringify(samples));
  const loads = samples.map((s) => Number(s.load.split(' ')[0]));
  process.stdout.write(
    `${report(samples, steps)}\n1-minute load ${Math.min(...loads)}–${Math.max(...loads)}, ${samples.length} samples\n`,
  );
  return 0;
}

runIfMain(import.meta.url, 'density-probe', main);
