// Outside cross-checks: a headline case of a suite re-timed in the same run by a tool that
// is not the harness (hyperfine, a small C loop, iperf3, a whole process's wall clock). The
// outside figure is a case of its own whose `tool` parameter names the tool; the agreement
// case is derived from the pair (outside ÷ berth, sample by sample when they interleaved)
// and carries a warning when the two medians differ by more than AGREEMENT_TOLERANCE.
import { execFile } from 'node:child_process';
import { readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { caseLabel } from '../compare/case-key.js';
import { median } from '../stats.js';
import { AGREEMENT_TOLERANCE, agreementName, agrees as withinTolerance } from './crosscheck-agreement.js';
import type { CaseInfo, DerivedCase, MeasuredCase } from '../suite.js';

export { AGREEMENT_TOLERANCE, agreementName } from './crosscheck-agreement.js';

/** The parameter of an outside case that names its tool. */
export type OutsideTool = 'hyperfine' | 'c-loop' | 'iperf3' | 'process-wall';

/**
 * The agreement of an outside case with the berth case it re-times: per sample outside ÷
 * berth (pairs taken side by side when `interleaved`, else each outside sample over the berth
 * median), as a derived ratio case named after the berth case with the outside case's
 * parameters. Its note says whether the medians agree within the tolerance; when they do not,
 * `warnings` names the case and both figures. Undefined when either has no samples.
 */
export function agreementCase(
  outside: MeasuredCase,
  berth: MeasuredCase,
  opts: {
    interleaved: boolean;
    what: string;
    /** An outside case subtracted from `outside` sample by sample first (interleaved only): a process's start-up. */
    minus?: { case: MeasuredCase; text: string };
  },
): DerivedCase | undefined {
  const minus = opts.interleaved ? opts.minus?.case : undefined;
  const lengths = [outside.samples.length, ...(opts.interleaved ? [berth.samples.length] : [])];
  if (minus !== undefined) lengths.push(minus.samples.length);
  const n = Math.min(...lengths);
  if (n === 0 || berth.samples.length === 0) return undefined;
  const net = outside.samples.slice(0, n).map((v, i) => v - (minus === undefined ? 0 : minus.samples[i]!));
  const berthMedian = median(berth.samples);
  const samples = opts.interleaved ? net.map((v, i) => v / berth.samples[i]!) : net.map((v) => v / berthMedian);
  const ratio = median(samples);
  const outsideMedian = median(net);
  const tool = String(outside.info.parameters.tool ?? 'outside tool');
  const info: CaseInfo = {
    suite: berth.info.suite,
    case: agreementName(berth.info.case),
    target: berth.info.target,
    parameters: { ...outside.info.parameters },
    unit: 'ratio',
    direction: 'lower-is-better',
    method:
      `Derived: ${opts.what}: the ${tool} figure${minus !== undefined ? ` minus ${opts.minus!.text} (sample by sample)` : ''} divided by berth's own figure ` +
      (opts.interleaved
        ? 'sample by sample in the order taken (the two cases ran interleaved). '
        : "for each outside sample, over the median of berth's samples. ") +
      `1 means the two clocks agree; beyond 1 ± ${AGREEMENT_TOLERANCE} the run warns.`,
    notes: [],
  };
  const agrees = withinTolerance(ratio);
  const figures =
    `${tool} median ${fmt(outsideMedian)} ${outside.info.unit}${minus !== undefined ? ` (after subtracting ${opts.minus!.text})` : ''} vs berth's ${fmt(berthMedian)} ${berth.info.unit} ` +
    `(median ratio ${ratio.toFixed(3)})`;
  info.notes = [
    agrees
      ? `Agrees within ${AGREEMENT_TOLERANCE * 100} %: ${figures}.`
      : `DISAGREES by more than ${AGREEMENT_TOLERANCE * 100} %: ${figures}.`,
  ];
  return {
    ...info,
    samples,
    derived: {
      from: [outside.info, berth.info, ...(minus !== undefined ? [minus.info] : [])],
      how: 'ratio',
      pairing: opts.interleaved ? 'interleaved' : 'reference-median',
    },
    warnings: agrees
      ? []
      : [
          `cross-check ${caseLabel(berth.info)} against ${tool}: the figures differ by more than ${AGREEMENT_TOLERANCE * 100} %: ${figures}`,
        ],
  };
}

function fmt(v: number): string {
  return Math.abs(v) >= 100 ? v.toFixed(1) : Math.abs(v) >= 1 ? v.toFixed(3) : v.toPrecision(3);
}

/** What a command printed and how it ended. */
export interface ToolRun {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs argv to its end (never rejects; a spawn failure is code null with the error in stderr). */
export function runTool(
  argv: readonly string[],
  opts: { cwd?: string | undefined; timeoutMs?: number } = {},
): Promise<ToolRun> {
  return new Promise((resolve) => {
    execFile(
      argv[0]!,
      argv.slice(1),
      { timeout: opts.timeoutMs ?? 120_000, maxBuffer: 16 << 20, encoding: 'utf8', cwd: opts.cwd },
      (err, stdout, stderr) => {
        const code = err === null ? 0 : typeof err.code === 'number' ? err.code : null;
        resolve({ code, stdout, stderr: err !== null && code === null ? `${stderr}${err.message}` : stderr });
      },
    );
  });
}

/** argv as one command line in POSIX shell quoting (hyperfine -N splits it back without a shell). */
export function commandLine(argv: readonly string[]): string {
  return argv.map((a) => (/^[\w/.,:=+@%-]+$/.test(a) ? a : `'${a.replace(/'/g, `'\\''`)}'`)).join(' ');
}

/**
 * The wall time in seconds hyperfine measured for one run of `argv` (`hyperfine -N --runs 1
 * --export-json`, no shell between hyperfine and the command), run in `cwd`. Fails naming the
 * subject when hyperfine or the command fails.
 */
export async function hyperfineOnce(subject: string, argv: readonly string[], cwd?: string): Promise<number> {
  const out = join(tmpdir(), `berth-hyperfine-${process.pid}-${exportSerial++}.json`);
  try {
    const r = await runTool(
      ['hyperfine', '-N', '--runs', '1', '--style', 'none', '--export-json', out, commandLine(argv)],
      { cwd },
    );
    if (r.code !== 0) throw new Error(`${subject}: hyperfine: exit ${r.code}: ${r.stderr.trim()}`);
    return parseHyperfineSeconds(await readFile(out, 'utf8'), subject);
  } finally {
    await rm(out, { force: true });
  }
}

let exportSerial = 0;

/** The single run's time (s) in hyperfine's JSON export. */
export function parseHyperfineSeconds(text: string, subject: string): number {
  let doc: { results?: { times?: number[]; mean?: number; exit_codes?: (number | null)[] }[] };
  try {
    doc = JSON.parse(text) as typeof doc;
  } catch (err) {
    throw new Error(`${subject}: hyperfine's JSON export: ${err instanceof Error ? err.message : String(err)}`);
  }
  const res = doc.results?.[0];
  const t = res?.times?.[0] ?? res?.mean;
  if (typeof t !== 'number' || !(t > 0)) throw new Error(`${subject}: hyperfine's JSON export has no time`);
  const code = res?.exit_codes?.[0];
  if (code !== undefined && code !== 0) throw new Error(`${subject}: the command under hyperfine ended with ${code}`);
  return t;
}
