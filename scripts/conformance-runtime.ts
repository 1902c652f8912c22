// Runs the OCI runtime-tools validation programs against a runtime and sums up their
// TAP output: files fully passing, ok / not ok / skip counts, and the failing test names
// of every file; writes the same as JSON. It takes an already built runtime-tools
// checkout (README: "Runtime conformance") and never builds or downloads it.
//
//   npm run conformance -- <runtime-tools dir> [berth-runtime|runc|crun|/path/to/runtime]
//       [--timeout SECONDS] [--out FILE] [--only NAME,NAME] [--tap-dir DIR] [--cgroup-lock FILE]
//
// The suite's cgroup programs (linux_cgroups_*, delete_resources,
// delete_only_create_resources) all use one fixed cgroup, /cgrouptest (or
// testdir/cgrouptest/container beside the runtime's own), so two of them running at
// once, from two runs of this script (berth and runc side by side, say), would share
// and remove each other's cgroup. Each of those programs therefore runs holding an
// exclusive flock(2) on a host-wide file (--cgroup-lock, DEFAULT_CGROUP_LOCK); the
// others run freely. The lock is the kernel's: it goes when its holder dies.
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { writeFileAtomic } from '../engine/fsutil/atomic-write.js';
import { onPath } from '../engine/fsutil/on-path.js';

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
  const planMet = r.skippedAll || (r.planned !== undefined && r.planned === r.tests.length);
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

function runOne(
  toolsDir: string,
  name: string,
  runtime: string,
  timeoutMs: number,
): Promise<{ tap: string; stderr: string; exitCode: number | null; timedOut: boolean }> {
  return new Promise((done) => {
    const child = spawn(join('validation', name, `${name}.t`), [], {
      cwd: toolsDir,
      env: { ...process.env, RUNTIME: runtime },
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

async function main(argv: string[]): Promise<number> {
  const positional: string[] = [];
  const opts: Record<string, string> = {};
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a.startsWith('--')) opts[a.slice(2)] = argv[++i] ?? '';
    else positional.push(a);
  }
  const [toolsArg, runtimeName = 'berth-runtime'] = positional;
  if (toolsArg === undefined) {
    process.stderr.write(
      'usage: conformance-runtime <runtime-tools dir> [berth-runtime|runc|crun|PATH] [--timeout S] [--out FILE] [--only A,B] [--tap-dir DIR] [--cgroup-lock FILE]\n' +
        `  programs using the fixed /cgrouptest run one at a time host-wide, under an flock of --cgroup-lock (${DEFAULT_CGROUP_LOCK})\n`,
    );
    return 2;
  }
  const toolsDir = resolve(toolsArg);
  const validation = join(toolsDir, 'validation');
  if (!existsSync(join(toolsDir, 'runtimetest')) || !existsSync(validation)) {
    process.stderr.write(
      `${toolsDir}: not a built runtime-tools checkout (runtimetest and validation/*/*.t are needed; see README)\n`,
    );
    return 2;
  }
  const runtime = resolveRuntime(runtimeName);
  const only = opts.only ? new Set(opts.only.split(',')) : undefined;
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
  if (opts['tap-dir']) mkdirSync(opts['tap-dir'], { recursive: true });
  const results: FileResult[] = [];
  const cgroupLock = opts['cgroup-lock'] || DEFAULT_CGROUP_LOCK;
  for (const name of names) {
    const release = usesFixedCgroup(name) ? await holdFileLock(cgroupLock) : undefined;
    let run;
    try {
      run = await runOne(toolsDir, name, runtime, timeoutMs);
    } finally {
      await release?.();
    }
    if (opts['tap-dir']) writeFileSync(join(opts['tap-dir'], `${name}.tap`), `${run.stderr}${run.tap}`);
    const r = fileResult(name, run.tap, run.exitCode, run.timedOut);
    results.push(r);
    process.stderr.write(`${name}: ${r.passed ? 'pass' : 'FAIL'} (${r.ok} ok, ${r.notOk} not ok, ${r.skip} skip)\n`);
  }
  const summary = summarize(runtime, results);
  for (const line of summaryLines(summary)) console.log(line);
  const out = resolve(opts.out ?? `conformance-${runtimeName.split('/').pop()}.json`);
  await writeFileAtomic(out, `${JSON.stringify(summary, null, 2)}\n`);
  console.log(`summary written to ${out}`);
  return 0;
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
