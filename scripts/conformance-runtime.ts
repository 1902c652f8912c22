// Runs the OCI runtime-tools validation programs against one or more runtimes side by
// side and sums up their TAP output: files fully passing, ok / not ok / skip counts, and
// the failing test names of every file; after each program it removes what the program
// left (scripts/conformance-cleanup.ts) and writes one schema-checked JSON record of the
// run. It takes an already built runtime-tools checkout (README: "Runtime conformance")
// and never builds or downloads it.
//
//   npm run conformance -- <runtime-tools dir> [berth-runtime|runc|crun|/path/to/runtime ...]
//       [--timeout SECONDS] [--out FILE] [--record] [--only NAME,NAME] [--tap-dir DIR] [--cgroup-lock FILE]
//
// The suite's cgroup programs (linux_cgroups_*, delete_resources,
// delete_only_create_resources) all use one fixed cgroup, /cgrouptest (or
// testdir/cgrouptest/container beside the runtime's own), so two of them running at
// once, from two runs of this script (berth and runc side by side, say), would share
// and remove each other's cgroup. Each of those programs therefore runs holding an
// exclusive flock(2) on a host-wide file (--cgroup-lock, DEFAULT_CGROUP_LOCK); the
// others run freely. The lock is the kernel's: it goes when its holder dies.
import { spawn } from 'node:child_process';
import {
  chmodSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { basename, dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { Ajv2020 } from 'ajv/dist/2020.js';
import { collectHostInfo } from '../bench/host.js';
import { hostClass } from '../bench/compare/host-class.js';
import { crunQuirks, shellQuote } from '../bench/peers/quirks.js';
import { describeSchemaError } from '../bench/results/validate.js';
import { writeFileAtomic } from '../engine/fsutil/atomic-write.js';
import { onPath } from '../engine/fsutil/on-path.js';
import { cleanUpAfter, isUnder, mountsUnder, type Leftovers } from './conformance-cleanup.js';

/** The host-wide lock every run of this script takes around a program using the fixed cgroup. */
export const DEFAULT_CGROUP_LOCK = '/run/lock/oci-runtime-tools-cgrouptest.lock';

/** Whether validation program `name` uses the suite's fixed cgroup path (cgroups.AbsCgroupPath or RelCgroupPath). */
export function usesFixedCgroup(name: string): boolean {
  return name.startsWith('linux_cgroups_') || name === 'delete_resources' || name === 'delete_only_create_resources';
}

/**
 * Takes an exclusive flock on `file` (created if missing) in a small holder process
 * (flock(1) of util-linux) and resolves once it is held; the returned function
 * releases it (the holder's stdin closes and it exits). Waits as long as another
 * holder keeps it.
 */
export function holdFileLock(file: string): Promise<() => Promise<void>> {
  return new Promise((resolveHeld, reject) => {
    const holder = spawn('flock', ['--exclusive', file, 'sh', '-c', 'echo held; exec cat >/dev/null'], {
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    let held = false;
    const closed = new Promise<void>((done) => holder.on('close', () => done()));
    holder.stderr.setEncoding('utf8').on('data', (d: string) => (err += d));
    holder.stdout.setEncoding('utf8').on('data', (d: string) => {
      out += d;
      if (!held && out.includes('held\n')) {
        held = true;
        resolveHeld(async () => {
          holder.stdin.end();
          await closed;
        });
      }
    });
    holder.on('error', (e) => reject(new Error(`lock ${file}: flock: ${e.message}`)));
    holder.on('close', (code) => {
      if (!held) reject(new Error(`lock ${file}: flock exited with ${code}: ${err.trim()}`));
    });
  });
}

export interface TapTest {
  n: number;
  name: string;
  status: 'ok' | 'not ok' | 'skip';
}

export interface TapResult {
  tests: TapTest[];
  ok: number;
  notOk: number;
  skip: number;
  /** The plan's count (1..N), or undefined when the output has none (the program died early). */
  planned: number | undefined;
  /** A plan of 1..0 # SKIP: the whole file skipped. */
  skippedAll: boolean;
}

const testLine = /^(not ok|ok)\b\s*(\d+)?\s*(?:-\s*)?([^#]*?)\s*(?:#\s*(.*))?$/;

/**
 * Parses TAP 13 text: test lines, their SKIP/TODO directives and the plan; YAML blocks and diagnostics are passed over.
 */
export function parseTap(text: string): TapResult {
  const tests: TapTest[] = [];
  let planned: number | undefined;
  let skippedAll = false;
  let inYaml = false;
  for (const raw of text.split('\n')) {
    const line = raw.replace(/\r$/, '');
    if (inYaml) {
      if (/^\s*\.\.\.\s*$/.test(line)) inYaml = false;
      continue;
    }
    if (/^\s+---\s*$/.test(line)) {
      inYaml = true;
      continue;
    }
    const plan = /^1\.\.(\d+)\s*(?:#\s*(.*))?$/.exec(line);
    if (plan) {
      // the first plan counts: some programs print a second, empty one (1..0) when they end
      if (planned !== undefined) continue;
      planned = Number(plan[1]);
      skippedAll = planned === 0 && /^skip/i.test(plan[2] ?? '');
      continue;
    }
    const m = testLine.exec(line);
    if (!m) continue;
    const directive = m[4] ?? '';
    const n = m[2] !== undefined ? Number(m[2]) : tests.length + 1;
    const status: TapTest['status'] = /^skip/i.test(directive)
      ? 'skip'
      : m[1] === 'ok' || /^todo/i.test(directive)
        ? 'ok'
        : 'not ok';
    tests.push({ n, name: m[3] || directive.replace(/^(skip|todo)\S*\s*/i, ''), status });
  }
  const count = (s: TapTest['status']) => tests.filter((t) => t.status === s).length;
  return { tests, ok: count('ok'), notOk: count('not ok'), skip: count('skip'), planned, skippedAll };
}

export interface FileResult {
  name: string;
  exitCode: number | null;
  timedOut: boolean;
  ok: number;
  notOk: number;
  skip: number;
  planned: number | undefined;
  /** No failure, exit status 0, and the plan met (every planned test reported). */
  passed: boolean;
  failing: string[];
}

/** One program's result from its TAP text and how it ended. */
export function fileResult(name: string, tap: string, exitCode: number | null, timedOut: boolean): FileResult {
  const r = parseTap(tap);
  // The suite's *_fail programs (a config the runtime must refuse) print no TAP at all: they exit 0 when
  // the runtime refused it and 1 (util.Fatal) when it did not. A silent exit 0 is such a pass.
  const silent = r.planned === undefined && r.tests.length === 0 && exitCode === 0;
  const planMet = silent || r.skippedAll || (r.planned !== undefined && r.planned === r.tests.length);
  const failing = r.tests.filter((t) => t.status === 'not ok').map((t) => `${t.n} ${t.name}`);
  if (!planMet)
    failing.push(
      r.planned === undefined
        ? 'no TAP plan (the program stopped early)'
        : `${r.tests.length} of ${r.planned} planned tests reported`,
    );
  if (timedOut) failing.push('timed out');
  return {
    name,
    exitCode,
    timedOut,
    ok: r.ok,
    notOk: r.notOk,
    skip: r.skip,
    planned: r.planned,
    passed: !timedOut && exitCode === 0 && r.notOk === 0 && planMet,
    failing,
  };
}

export interface Summary {
  runtime: string;
  files: number;
  passedFiles: number;
  ok: number;
  notOk: number;
  skip: number;
  results: FileResult[];
}

export function summarize(runtime: string, results: FileResult[]): Summary {
  const sum = (k: 'ok' | 'notOk' | 'skip') => results.reduce((a, r) => a + r[k], 0);
  return {
    runtime,
    files: results.length,
    passedFiles: results.filter((r) => r.passed).length,
    ok: sum('ok'),
    notOk: sum('notOk'),
    skip: sum('skip'),
    results,
  };
}

export function summaryLines(s: Summary): string[] {
  const lines = [
    `runtime: ${s.runtime}`,
    `${'file'.padEnd(36)} ${'ok'.padStart(5)} ${'not ok'.padStart(7)} ${'skip'.padStart(5)}  result`,
  ];
  for (const r of s.results) {
    lines.push(
      `${r.name.padEnd(36)} ${String(r.ok).padStart(5)} ${String(r.notOk).padStart(7)} ${String(r.skip).padStart(5)}  ${r.passed ? 'pass' : 'FAIL'}`,
    );
  }
  lines.push(`${s.passedFiles} of ${s.files} files fully passing; ${s.ok} ok, ${s.notOk} not ok, ${s.skip} skip`);
  const failing = s.results.filter((r) => r.failing.length > 0);
  if (failing.length > 0) lines.push('failing:');
  for (const r of failing) for (const f of r.failing) lines.push(`  ${r.name}: ${f}`);
  return lines;
}

const repo = resolve(dirname(fileURLToPath(import.meta.url)), '..');

/** berth-runtime (this checkout's), runc or crun on PATH, or a path. */
export function resolveRuntime(name: string): string {
  if (name === 'berth-runtime') return join(repo, 'node_modules', '.bin', 'berth-runtime');
  if (!name.includes('/')) {
    const found = onPath(name);
    if (found === undefined) throw new Error(`runtime ${name}: not found on PATH`);
    return found;
  }
  const p = resolve(name);
  if (!existsSync(p)) throw new Error(`runtime ${p}: no such file`);
  return p;
}

/** A workaround the run applies to a runtime, recorded with its result. */
export interface RuntimeQuirk {
  id: string;
  description: string;
}

/**
 * crun 1.8 refuses the suite's `ociVersion` 1.3.0 ("unknown version specified"): before
 * `create` or `run`, the wrapper rewrites a 1.2+ ociVersion in the bundle's config.json
 * to 1.1.0 (the suite checks no field that 1.1.0 lacks).
 */
export const CRUN_OCI_VERSION_QUIRK: RuntimeQuirk = {
  id: 'crun-oci-version',
  description: 'config.json ociVersion 1.2+ rewritten to 1.1.0 before create/run (crun 1.8 refuses 1.3.0)',
};

/**
 * The wrapper script (sh) that runs `crun` with its quirks: the ociVersion rewrite and,
 * when `hybridWrap` is given (bench/peers/quirks.ts, crun-hybrid-cgroup), the private
 * mount namespace without the cgroup2 mount.
 */
export function crunWrapperScript(crun: string, hybridWrap: readonly string[] | undefined): string {
  const exec = hybridWrap ? hybridWrap.map(shellQuote).join(' ') : shellQuote(crun);
  return [
    '#!/bin/sh',
    '# crun for the runtime-tools suite, with the quirks of this host (scripts/conformance-runtime.ts)',
    'case "$1" in create|run)',
    '  bundle=.; prev=',
    '  for a in "$@"; do [ "$prev" = --bundle ] && bundle=$a; prev=$a; done',
    '  if [ -f "$bundle/config.json" ]; then',
    `    sed -i -E 's/"ociVersion"( *): *"1\\.([2-9]|[1-9][0-9])[^"]*"/"ociVersion": "1.1.0"/' "$bundle/config.json"`,
    '  fi;;',
    'esac',
    `exec ${exec} "$@"`,
    '',
  ].join('\n');
}

/** The command the suite runs as RUNTIME for `name`, and the quirks it carries (a crun wrapper in `workDir`). */
export function runtimeCommand(
  name: string,
  workDir: string,
): { path: string; command: string; quirks: RuntimeQuirk[] } {
  const path = resolveRuntime(name);
  if (basename(path) !== 'crun') return { path, command: path, quirks: [] };
  const hybrid = crunQuirks()[0];
  const quirks = [CRUN_OCI_VERSION_QUIRK, ...(hybrid ? [{ id: hybrid.id, description: hybrid.description }] : [])];
  const wrapper = join(workDir, 'crun-wrapper.sh');
  writeFileSync(wrapper, crunWrapperScript(path, hybrid?.wrap([path])), { mode: 0o755 });
  return { path, command: wrapper, quirks };
}

function runOne(
  toolsDir: string,
  name: string,
  runtime: string,
  tmp: string,
  timeoutMs: number,
): Promise<{ tap: string; stderr: string; exitCode: number | null; timedOut: boolean }> {
  return new Promise((done) => {
    const child = spawn(join('validation', name, `${name}.t`), [], {
      cwd: toolsDir,
      // TMPDIR: the program's bundles (os.MkdirTemp) land in a directory of its own, which cleanup goes through
      env: { ...process.env, RUNTIME: runtime, TMPDIR: tmp },
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true,
    });
    let tap = '';
    let stderr = '';
    let timedOut = false;
    child.stdout.setEncoding('utf8').on('data', (d: string) => (tap += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const timer = setTimeout(() => {
      timedOut = true;
      try {
        process.kill(-child.pid!, 'SIGKILL'); // the program's own group, which this script made
      } catch {
        // already gone
      }
    }, timeoutMs);
    child.on('error', (err) => {
      clearTimeout(timer);
      done({ tap, stderr: `${stderr}${err.message}\n`, exitCode: null, timedOut });
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      done({ tap, stderr, exitCode: code, timedOut });
    });
  });
}

/** One file's result with what the cleanup after it found. */
export interface RecordedFile extends FileResult {
  /** Wall-clock time the program took (on a loaded host, mostly the load's). */
  seconds: number;
  leftovers: Leftovers;
}

export interface RuntimeRecord extends Omit<Summary, 'results'> {
  name: string;
  path: string;
  version: string | null;
  quirks: RuntimeQuirk[];
  results: RecordedFile[];
}

/** The document this script writes (results/schema/conformance-runtime.schema.json). */
export interface ConformanceRecord {
  schemaVersion: 1;
  suite: { name: 'opencontainers/runtime-tools'; commit: string | null; files: number };
  startedAt: string;
  finishedAt: string;
  berth: { commit: string | null; dirty: boolean | null };
  host: {
    hostClass: string | null;
    kernel: string;
    cpus: number;
    loadAverage: { start: [number, number, number]; end: [number, number, number] };
  };
  timeoutSeconds: number;
  only: string[] | null;
  runtimes: RuntimeRecord[];
  warnings: string[];
}

export const CONFORMANCE_SCHEMA_URL = new URL('../results/schema/conformance-runtime.schema.json', import.meta.url);

/** Schema problems of a record as `<pointer>: <what>` lines, plus counts that do not add up; empty when valid. */
export function recordProblems(record: unknown): string[] {
  const schema = JSON.parse(readFileSync(CONFORMANCE_SCHEMA_URL, 'utf8')) as object;
  const ajv = new Ajv2020({ allErrors: true, strict: true, strictTuples: false, allowUnionTypes: true });
  const validate = ajv.compile(schema);
  if (!validate(record)) return (validate.errors ?? []).map(describeSchemaError);
  const problems: string[] = [];
  const r = record as ConformanceRecord;
  r.runtimes.forEach((rt, i) => {
    const sum = (k: 'ok' | 'notOk' | 'skip') => rt.results.reduce((a, f) => a + f[k], 0);
    if (rt.files !== rt.results.length) problems.push(`/runtimes/${i}/files: is not the number of results`);
    if (rt.passedFiles !== rt.results.filter((f) => f.passed).length)
      problems.push(`/runtimes/${i}/passedFiles: is not the number of passing results`);
    for (const k of ['ok', 'notOk', 'skip'] as const)
      if (rt[k] !== sum(k)) problems.push(`/runtimes/${i}/${k}: is not the sum over its results`);
  });
  return problems;
}

function commandOutput(argv: string[], cwd?: string): Promise<string | null> {
  return new Promise((done) => {
    const child = spawn(argv[0] as string, argv.slice(1), { cwd, stdio: ['ignore', 'pipe', 'ignore'] });
    let out = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
    child.on('error', () => done(null));
    child.on('close', (code) => done(code === 0 ? out : null));
  });
}

/** Runs every program against one runtime, in name order, cleaning up after each. */
async function runRuntime(
  toolsDir: string,
  names: string[],
  runtimeName: string,
  workDir: string,
  timeoutMs: number,
  cgroupLock: string,
  tapDir: string | undefined,
): Promise<RuntimeRecord> {
  mkdirSync(workDir, { recursive: true });
  const { path, command, quirks } = runtimeCommand(runtimeName, workDir);
  const version = ((await commandOutput([path, '--version'])) ?? '').trim().split('\n')[0] || null;
  const results: RecordedFile[] = [];
  const label = runtimeName.split('/').pop() as string;
  for (const name of names) {
    const tmp = join(workDir, name);
    mkdirSync(tmp, { recursive: true });
    const fixed = usesFixedCgroup(name);
    const release = fixed ? await holdFileLock(cgroupLock) : undefined;
    let run;
    let leftovers: Leftovers;
    let seconds = 0;
    try {
      const t0 = performance.now();
      run = await runOne(toolsDir, name, command, tmp, timeoutMs);
      seconds = Math.round(performance.now() - t0) / 1000;
      leftovers = await cleanUpAfter(command, tmp, fixed);
    } finally {
      await release?.();
    }
    if (tapDir) writeFileSync(join(tapDir, `${label}-${name}.tap`), `${run.stderr}${run.tap}`);
    const r = fileResult(name, run.tap, run.exitCode, run.timedOut);
    results.push({ ...r, seconds, leftovers });
    const left = [
      leftovers.containers.length && `${leftovers.containers.length} containers`,
      leftovers.mounts.length && `${leftovers.mounts.length} mounts`,
      leftovers.cgroups.length && `${leftovers.cgroups.length} cgroups`,
    ].filter(Boolean);
    process.stderr.write(
      `${label} ${name}: ${r.passed ? 'pass' : 'FAIL'} (${r.ok} ok, ${r.notOk} not ok, ${r.skip} skip, ${seconds} s)` +
        (left.length > 0 ? `; removed what it left: ${left.join(', ')}` : '') +
        (leftovers.errors.length > 0 ? `; cleanup failed: ${leftovers.errors.join('; ')}` : '') +
        '\n',
    );
  }
  const summary = summarize(label, results);
  // a runtime of this checkout is named relative to it: the record says nothing of where the checkout was
  const shown = isUnder(path, repo) ? relative(repo, path) : path;
  return { ...summary, name: label, path: shown, version, quirks, results };
}

/**
 * The run's working directory (each program's TMPDIR is below it), searchable by all (0755, where
 * mkdtemp gives 0700): a container in a user namespace of its own (linux_ns_nopath, linux_uid_mappings)
 * has a root mapped to another uid, which must still reach its bundle, as it does in /tmp itself.
 */
export function makeWorkDir(parent: string = tmpdir()): string {
  const dir = mkdtempSync(join(parent, 'berth-conformance-'));
  chmodSync(dir, 0o755);
  return dir;
}

/** Where a full run is filed: results/conformance/<host class>/runtime-tools.json. */
export function recordPath(hostClassName: string): string {
  return join(repo, 'results', 'conformance', hostClassName, 'runtime-tools.json');
}

async function main(argv: string[]): Promise<number> {
  const positional: string[] = [];
  const opts: Record<string, string> = {};
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i] as string;
    if (a === '--record') opts.record = 'yes';
    else if (a.startsWith('--')) opts[a.slice(2)] = argv[++i] ?? '';
    else positional.push(a);
  }
  const [toolsArg, ...runtimeArgs] = positional;
  if (toolsArg === undefined) {
    process.stderr.write(
      'usage: conformance-runtime <runtime-tools dir> [berth-runtime|runc|crun|PATH ...] [--timeout S] [--out FILE] [--record]\n' +
        '         [--only A,B] [--tap-dir DIR] [--cgroup-lock FILE]\n' +
        '  several runtimes run side by side; --record files the result under results/conformance/<host class>/\n' +
        `  programs using the fixed /cgrouptest run one at a time host-wide, under an flock of --cgroup-lock (${DEFAULT_CGROUP_LOCK})\n`,
    );
    return 2;
  }
  const runtimeNames = runtimeArgs.length > 0 ? runtimeArgs : ['berth-runtime'];
  const toolsDir = resolve(toolsArg);
  const validation = join(toolsDir, 'validation');
  if (!existsSync(join(toolsDir, 'runtimetest')) || !existsSync(validation)) {
    process.stderr.write(
      `${toolsDir}: not a built runtime-tools checkout (runtimetest and validation/*/*.t are needed; see README)\n`,
    );
    return 2;
  }
  for (const n of runtimeNames) resolveRuntime(n); // a missing runtime fails before anything runs
  const only = opts.only ? new Set(opts.only.split(',')) : undefined;
  if (only !== undefined && opts.record) {
    process.stderr.write('--record files full runs only: drop --only\n');
    return 2;
  }
  const names = readdirSync(validation, { withFileTypes: true })
    .filter(
      (e) =>
        e.isDirectory() &&
        existsSync(join(validation, e.name, `${e.name}.t`)) &&
        (only === undefined || only.has(e.name)),
    )
    .map((e) => e.name)
    .sort();
  const timeoutMs = Number(opts.timeout ?? 60) * 1000;
  const tapDir = opts['tap-dir'] ? resolve(opts['tap-dir']) : undefined;
  if (tapDir) mkdirSync(tapDir, { recursive: true });
  const cgroupLock = opts['cgroup-lock'] || DEFAULT_CGROUP_LOCK;
  // the checkout as it was when berth-runtime started running (edits during a run do not count)
  const commit = ((await commandOutput(['git', 'rev-parse', 'HEAD'], repo)) ?? '').trim() || null;
  const status = await commandOutput(['git', 'status', '--porcelain', '--untracked-files=no'], repo);
  const startedAt = new Date().toISOString();
  const loadStart = loadavg() as [number, number, number];
  const work = makeWorkDir();
  let runtimes: RuntimeRecord[];
  try {
    runtimes = await Promise.all(
      runtimeNames.map((n, i) =>
        runRuntime(toolsDir, names, n, join(work, `${i}-${basename(n)}`), timeoutMs, cgroupLock, tapDir),
      ),
    );
  } finally {
    // what the cleanup after each program kept (a mount it could not remove) stays for a look
    const still = mountsUnder(readFileSync('/proc/self/mountinfo', 'utf8'), work);
    if (still.length > 0) process.stderr.write(`${work}: kept, still mounted: ${still.join(', ')}\n`);
    else rmSync(work, { recursive: true, force: true });
  }
  const host = await collectHostInfo({ dataRoot: tmpdir(), peers: [] });
  let klass: string | null = null;
  try {
    klass = hostClass(host);
  } catch {
    klass = null;
  }
  const suiteCommit = ((await commandOutput(['git', 'rev-parse', 'HEAD'], toolsDir)) ?? '').trim() || null;
  const loadEnd = loadavg() as [number, number, number];
  const warnings: string[] = [];
  const cores = host.cpu.cores ?? 1;
  if (Math.max(loadStart[0], loadEnd[0]) > cores * 0.5)
    warnings.push(
      `host busy: load average ${loadStart[0].toFixed(1)} at the start, ${loadEnd[0].toFixed(1)} at the end, on ${cores} CPUs; timeouts may be the load's`,
    );
  if (runtimes.length > 1) warnings.push(`runtimes ${runtimes.map((r) => r.name).join(', ')} ran side by side`);
  const record: ConformanceRecord = {
    schemaVersion: 1,
    suite: { name: 'opencontainers/runtime-tools', commit: suiteCommit, files: names.length },
    startedAt,
    finishedAt: new Date().toISOString(),
    berth: { commit, dirty: status === null ? null : status.trim() !== '' },
    host: { hostClass: klass, kernel: host.kernel, cpus: cores, loadAverage: { start: loadStart, end: loadEnd } },
    timeoutSeconds: timeoutMs / 1000,
    only: only === undefined ? null : [...only].sort(),
    runtimes,
    warnings,
  };
  for (const rt of runtimes) {
    for (const line of summaryLines({ ...rt, runtime: `${rt.name} (${rt.version ?? 'version unknown'})` }))
      console.log(line);
    console.log('');
  }
  console.log(countsTable(record).join('\n'));
  const problems = recordProblems(record);
  if (problems.length > 0) {
    process.stderr.write(`the record is not valid, not written:\n  ${problems.join('\n  ')}\n`);
    return 1;
  }
  const outs = [resolve(opts.out ?? 'conformance-runtime.json')];
  if (opts.record) {
    if (klass === null) {
      process.stderr.write('--record: this host has no host class (core count unknown)\n');
      return 1;
    }
    outs.push(recordPath(klass));
  }
  for (const out of outs) {
    mkdirSync(dirname(out), { recursive: true });
    await writeFileAtomic(out, `${JSON.stringify(record, null, 2)}\n`);
    console.log(`record written to ${out}`);
  }
  return 0;
}

/** The counts as a Markdown table, one row per runtime, for the README. */
export function countsTable(record: ConformanceRecord): string[] {
  const load = record.host.loadAverage;
  return [
    `runtime-tools ${record.suite.commit?.slice(0, 7) ?? '?'}, ${record.startedAt.slice(0, 10)}, berth ${record.berth.commit?.slice(0, 7) ?? '?'}` +
      `${record.berth.dirty ? ' (dirty)' : ''}, load ${load.start[0].toFixed(1)}–${load.end[0].toFixed(1)} on ${record.host.cpus} CPUs`,
    '',
    '| runtime | files fully passing | ok | not ok | skip |',
    '|---|---|---|---|---|',
    ...record.runtimes.map(
      (r) => `| ${r.version ?? r.name} | ${r.passedFiles} of ${r.files} | ${r.ok} | ${r.notOk} | ${r.skip} |`,
    ),
  ];
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  main(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (err: unknown) => {
      process.stderr.write(`${(err as Error).message}\n`);
      process.exit(1);
    },
  );
}
