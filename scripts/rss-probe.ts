// berthd's idle memory outside the bench, for A/B comparisons of daemon changes (issue #11): the run suite's private
// berthd (the static image pulled from an embedded registry), read idle after its start and pull, then after N API
// runs (create → wait → start → exit → delete, none and bridge in turn) and idle again past the allocator trim, as the
// run suite reads it (daemon-memory.ts idleRssReads). Per start: VmRSS, the smaps breakdown by mapping kind, the
// daemon's CPU (utime + stime) over start + pull and over the runs, the runs' wall time and the first run after the
// idle read (a run that meets whatever the idle path dropped). Variants are environments given to the daemon
// (`name:VAR=value,VAR2=value`), run in rounds that alternate their order; the 1-minute load is recorded per start.
//
//   node --import tsx scripts/rss-probe.ts [--variants 'base:,low:BERTH_X=1'] [--rounds 3] [--runs 20] [--out F.json]
//     [--smaps PREFIX]   (/proc/PID/smaps at both reads, to PREFIX.<variant>.<round>.start|idle)
import { readdirSync, readFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { parseArgs } from 'node:util';
import { invalidArgument } from '../engine/errdefs/errors.js';
import { background } from '../engine/trace/index.js';
import { tracedClient } from '../bench/suites/daemon-spans.js';
import { idleRssReads } from '../bench/suites/daemon-memory.js';
import { apiRunOnce } from '../bench/suites/run-levels.js';
import { staticImageBerthd } from '../bench/suites/run-berthd.js';
import { runIfMain } from './run-main.js';

interface Variant {
  name: string;
  env: Record<string, string>;
}

/**
 * Resident KiB of `pid` by mapping kind, from /proc/<pid>/smaps: the node binary by permissions, shared libraries,
 * the addon, the brk heap, thread stacks, and anonymous memory split into glibc's thread arenas (a read-write start
 * of a 64 MiB reservation aligned on 64 MiB), V8's 256 KiB pages and the rest.
 */
export function smapsBreakdown(pid: number): Record<string, number> {
  interface Mapping {
    start: bigint;
    end: bigint;
    perms: string;
    path: string;
    rss: number;
  }
  const maps: Mapping[] = [];
  for (const line of readFileSync(`/proc/${pid}/smaps`, 'utf8').split('\n')) {
    const head = /^([0-9a-f]+)-([0-9a-f]+) (\S+) \S+ \S+ \S+\s*(.*)$/.exec(line);
    if (head !== null) {
      maps.push({
        start: BigInt(`0x${head[1]}`),
        end: BigInt(`0x${head[2]}`),
        perms: head[3]!,
        path: head[4]!,
        rss: 0,
      });
      continue;
    }
    const rss = /^Rss:\s+(\d+) kB$/.exec(line);
    if (rss !== null && maps.length > 0) maps[maps.length - 1]!.rss = Number(rss[1]);
  }
  const ARENA = 64n << 20n;
  const out: Record<string, number> = {};
  maps.forEach((m, i) => {
    let kind: string;
    if (m.path === '') {
      const next = maps[i + 1];
      if (
        m.perms.startsWith('rw') &&
        m.start % ARENA === 0n &&
        next !== undefined &&
        next.path === '' &&
        next.start === m.end &&
        next.end - m.start === ARENA
      )
        kind = 'arena';
      else if (m.end - m.start === 256n << 10n) kind = 'v8 page';
      else kind = 'anon';
    } else if (m.path === '[heap]') kind = 'brk';
    else if (m.path.startsWith('[stack')) kind = 'stack';
    else if (m.path.startsWith('[')) kind = 'vdso';
    else if (m.path === process.execPath || /\/node$/.test(m.path)) kind = `node ${m.perms}`;
    else if (m.path.endsWith('.node')) kind = 'addon';
    else if (/\.so/.test(m.path)) kind = 'libs';
    else kind = 'files';
    out[kind] = (out[kind] ?? 0) + m.rss;
  });
  return out;
}

/** CPU time of every thread of `pid` (ms), from their schedstat (threads that ended meanwhile are not counted). */
function cpuMs(pid: number): number {
  let ns = 0;
  for (const t of readdirSync(`/proc/${pid}/task`)) {
    try {
      ns += Number(readFileSync(`/proc/${pid}/task/${t}/schedstat`, 'utf8').split(' ')[0]);
    } catch {
      // the thread ended meanwhile
    }
  }
  return Math.round(ns / 1e5) / 10;
}

const median = (xs: readonly number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length === 0 ? NaN : s.length % 2 === 1 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};
const load = (): number => Number(readFileSync('/proc/loadavg', 'utf8').split(' ')[0]);
const mib = (kib: Record<string, number>) =>
  Object.fromEntries(Object.entries(kib).map(([k, v]) => [k, Math.round((v / 1024) * 100) / 100]));

function parseVariants(text: string): Variant[] {
  return text.split(/,(?=[a-z0-9-]+:)/).map((part) => {
    const m = /^([a-z0-9-]+):(.*)$/.exec(part);
    if (m === null) throw invalidArgument(`rss-probe: variant ${JSON.stringify(part)} is not name:VAR=value,...`);
    const env: Record<string, string> = {};
    for (const kv of m[2]!.split(',').filter((s) => s !== '')) {
      const eq = kv.indexOf('=');
      if (eq <= 0) throw invalidArgument(`rss-probe: variant ${m[1]}: ${JSON.stringify(kv)} is not VAR=value`);
      env[kv.slice(0, eq)] = kv.slice(eq + 1);
    }
    return { name: m[1]!, env };
  });
}

/** `--name`'s value as a whole number ≥ 1; INVALID_ARGUMENT naming the option otherwise. */
export function positiveCount(value: string, name: string): number {
  const n = Number(value);
  if (!/^\d+$/.test(value) || !Number.isSafeInteger(n) || n < 1)
    throw invalidArgument(`rss-probe: --${name} ${JSON.stringify(value)}: must be a whole number of 1 or more`);
  return n;
}

async function main(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      variants: { type: 'string', default: 'base:' },
      rounds: { type: 'string', default: '3' },
      runs: { type: 'string', default: '20' },
      out: { type: 'string' },
      smaps: { type: 'string' },
    },
  });
  const variants = parseVariants(values.variants!);
  const rounds = positiveCount(values.rounds!, 'rounds');
  const runs = positiveCount(values.runs!, 'runs');
  const ctx = background();
  const samples: Record<string, unknown>[] = [];
  for (let round = 0; round < rounds; round++) {
    const order = round % 2 === 0 ? variants : [...variants].reverse();
    for (const v of order) {
      const saved = { ...process.env };
      Object.assign(process.env, v.env);
      const berthd = staticImageBerthd(tmpdir());
      const loadStart = load();
      try {
        await berthd.acquire(ctx);
      } finally {
        for (const k of Object.keys(v.env)) if (saved[k] === undefined) delete process.env[k];
        Object.assign(process.env, saved);
      }
      try {
        const pid = berthd.pid!;
        const start = median(berthd.rssAfterStart);
        const startParts = mib(smapsBreakdown(pid));
        const dump = async (when: string) => {
          if (values.smaps !== undefined)
            await writeFile(`${values.smaps}.${v.name}.${round}.${when}`, readFileSync(`/proc/${pid}/smaps`));
        };
        await dump('start');
        const cpuStart = cpuMs(pid);
        const traced = tracedClient(ctx, berthd.host, false);
        const ms: number[] = [];
        for (let i = 0; i < runs; i++) ms.push(await apiRunOnce(traced, i % 2 === 0 ? 'none' : 'bridge'));
        const cpuRuns = cpuMs(pid) - cpuStart;
        const cpuBeforeIdle = cpuMs(pid);
        const idle = median(await idleRssReads(pid));
        const cpuIdle = cpuMs(pid) - cpuBeforeIdle;
        const idleParts = mib(smapsBreakdown(pid));
        await dump('idle');
        const cpuBeforeFirst = cpuMs(pid);
        const first = await apiRunOnce(traced, 'none');
        const cpuFirst = cpuMs(pid) - cpuBeforeFirst;
        const cpuBeforeSecond = cpuMs(pid);
        await apiRunOnce(traced, 'none');
        const cpuSecond = cpuMs(pid) - cpuBeforeSecond;
        const s = {
          round,
          variant: v.name,
          start,
          idle,
          cpuStartMs: cpuStart,
          cpuRunsMs: cpuRuns,
          cpuIdleMs: cpuIdle,
          runMs: median(ms),
          firstAfterIdleMs: first,
          cpuFirstMs: cpuFirst,
          cpuSecondMs: cpuSecond,
          load: `${loadStart}-${load()}`,
          startParts,
          idleParts,
        };
        samples.push(s);
        process.stdout.write(
          `${round} ${v.name.padEnd(10)} start ${start.toFixed(1)} idle ${idle.toFixed(1)} cpu ${cpuStart}/${cpuRuns}/${cpuIdle} ms` +
            ` run ${median(ms).toFixed(1)} first ${first.toFixed(1)} cpu ${cpuFirst.toFixed(1)}/${cpuSecond.toFixed(1)} load ${s.load}\n`,
        );
      } finally {
        await berthd.release(ctx);
      }
    }
  }
  for (const v of variants) {
    const of = samples.filter((s) => s.variant === v.name);
    const m = (k: string) => median(of.map((s) => s[k] as number)).toFixed(1);
    process.stdout.write(
      `${v.name.padEnd(10)} n=${of.length} start ${m('start')} idle ${m('idle')} cpuStart ${m('cpuStartMs')} ` +
        `cpuRuns ${m('cpuRunsMs')} cpuIdle ${m('cpuIdleMs')} run ${m('runMs')} first ${m('firstAfterIdleMs')} cpuFirst ${m('cpuFirstMs')} cpuSecond ${m('cpuSecondMs')}\n`,
    );
  }
  if (values.out !== undefined) await writeFile(values.out, `${JSON.stringify(samples, null, 1)}\n`);
  return 0;
}

runIfMain(import.meta.url, 'rss-probe', main);
