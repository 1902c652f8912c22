// Runs the OCI distribution-spec conformance suite (its `conformance/` directory built
// with `go test -c`; README: "Registry conformance") against berth-registry of this
// checkout, with all four workflows (pull, push, content discovery, content
// management): starts the registry on 127.0.0.1 (a free port) with a fresh root in a
// temporary directory, runs the suite, stops the registry and removes the root, also
// when the suite fails. Prints specs passed / failed / skipped and the failing specs
// with their first message, and writes the same as JSON. It never builds or downloads
// the suite.
//
//   npm run conformance:registry -- <conformance test binary> [--out FILE] [--timeout SECONDS]
//       [--report-dir DIR] [--automatic-crossmount true|false]
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { writeFileAtomic } from '../engine/fsutil/atomic-write.js';

export interface SpecResult {
  name: string;
  status: 'passed' | 'failed' | 'skipped' | 'pending';
  /** The failure's message on one line (at most 200 characters), for a failed spec. */
  message?: string;
}

export interface RegistrySummary {
  registry: string;
  specs: number;
  passed: number;
  failed: number;
  skipped: number;
  failing: { name: string; message: string }[];
  skippedNames: string[];
}

const entities: Record<string, string> = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'" };

function unescapeXml(text: string): string {
  return text.replace(/&(#x[0-9a-fA-F]+|#\d+|amp|lt|gt|quot|apos);/g, (_m, e: string) =>
    e.startsWith('#x')
      ? String.fromCodePoint(parseInt(e.slice(2), 16))
      : e.startsWith('#')
        ? String.fromCodePoint(Number(e.slice(1)))
        : (entities[e] as string),
  );
}

/**
 * The specs of a Ginkgo JUnit report (the suite's junit.xml): one per `testcase`, with
 * its status; report nodes (the suite's HTML reporter, `[BeforeSuite]` and the like) are
 * not specs and are left out.
 */
export function parseJunit(xml: string): SpecResult[] {
  const specs: SpecResult[] = [];
  const re = /<testcase\b([^>]*?)(\/>|>([\s\S]*?)<\/testcase>)/g;
  for (const m of xml.matchAll(re)) {
    const attrs = m[1] as string;
    const body = m[3] ?? '';
    const name = unescapeXml(/\bname="([^"]*)"/.exec(attrs)?.[1] ?? '');
    if (name === '' || name.startsWith('[') || / custom reporter$/.test(name)) continue;
    const status = /\bstatus="([^"]*)"/.exec(attrs)?.[1];
    const failure = /<(failure|error)\b([^>]*)>/.exec(body);
    const spec: SpecResult = {
      name,
      status:
        failure !== null || status === 'failed' || status === 'panicked' || status === 'interrupted'
          ? 'failed'
          : status === 'skipped'
            ? 'skipped'
            : status === 'pending'
              ? 'pending'
              : 'passed',
    };
    if (spec.status === 'failed') {
      const message = unescapeXml(/\bmessage="([^"]*)"/.exec(failure?.[2] ?? '')?.[1] ?? status ?? 'failed');
      // Gomega's messages span lines ("Expected\n    <int>: 201\nto equal …"): one line, shortened.
      const flat = message.replace(/\s+/g, ' ').trim();
      spec.message = flat.length > 200 ? `${flat.slice(0, 199)}…` : flat;
    }
    specs.push(spec);
  }
  return specs;
}

export function summarizeSpecs(registry: string, specs: SpecResult[]): RegistrySummary {
  return {
    registry,
    specs: specs.length,
    passed: specs.filter((s) => s.status === 'passed').length,
    failed: specs.filter((s) => s.status === 'failed').length,
    skipped: specs.filter((s) => s.status === 'skipped' || s.status === 'pending').length,
    failing: specs.filter((s) => s.status === 'failed').map((s) => ({ name: s.name, message: s.message ?? '' })),
    skippedNames: specs.filter((s) => s.status === 'skipped' || s.status === 'pending').map((s) => s.name),
  };
}

export function registrySummaryLines(s: RegistrySummary): string[] {
  const run = s.passed + s.failed;
  const lines = [
    `registry: ${s.registry}`,
    `${s.passed} of ${run} specs run passed; ${s.failed} failed, ${s.skipped} skipped (${s.specs} specs)`,
  ];
  if (s.failing.length > 0) lines.push('failing:');
  for (const f of s.failing) lines.push(`  ${f.name}: ${f.message}`);
  if (s.skippedNames.length > 0) lines.push('skipped:');
  for (const n of s.skippedNames) lines.push(`  ${n}`);
  return lines;
}

const repo = resolve(dirname(fileURLToPath(import.meta.url)), '..');

export interface RunningRegistry {
  url: string;
  root: string;
  /** Stops the registry and removes its root. */
  stop(): Promise<void>;
}

/** Starts this checkout's berth-registry on 127.0.0.1 (a free port) with a new root under the system's tmpdir. */
export async function startRegistry(timeoutMs = 60_000): Promise<RunningRegistry> {
  const root = mkdtempSync(join(tmpdir(), `berth-registry-conformance-${process.pid}-`));
  const child = spawn(
    process.execPath,
    [
      join(repo, 'engine', 'registry', 'bin.mjs'),
      '--root',
      root,
      '--addr',
      '127.0.0.1:0',
      '--exit-with-stdin',
      '--log-level',
      'warn',
    ],
    { stdio: ['pipe', 'pipe', 'pipe'] },
  );
  const exited = new Promise<void>((done) => child.once('close', () => done()));
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.stdin?.end();
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(timer);
    }
    rmSync(root, { recursive: true, force: true });
  };
  try {
    const url = await listeningUrl(child, timeoutMs);
    return { url, root, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}

function listeningUrl(child: ChildProcess, timeoutMs: number): Promise<string> {
  return new Promise((done, fail) => {
    let out = '';
    let err = '';
    const timer = setTimeout(
      () => fail(new Error(`berth-registry: no "listening on" line within ${timeoutMs / 1000} s: ${err.trim()}`)),
      timeoutMs,
    );
    child.stderr!.setEncoding('utf8').on('data', (d: string) => (err += d));
    child.stdout!.setEncoding('utf8').on('data', (d: string) => {
      out += d;
      const m = /listening on (\S+)/.exec(out);
      if (m) {
        clearTimeout(timer);
        done(m[1] as string);
      }
    });
    child.once('close', (code) => {
      clearTimeout(timer);
      fail(new Error(`berth-registry exited with ${code} before listening: ${err.trim()}`));
    });
  });
}

/**
 * The suite's environment for all four workflows against `url`. `automaticCrossmount`
 * sets OCI_AUTOMATIC_CROSSMOUNT (left unset by default, as the suite's own default run:
 * then neither of its two "mount without from" specs runs).
 */
export function suiteEnv(url: string, reportDir: string, automaticCrossmount?: boolean): Record<string, string> {
  return {
    OCI_ROOT_URL: url,
    OCI_NAMESPACE: 'conformance/one',
    OCI_CROSSMOUNT_NAMESPACE: 'conformance/two',
    OCI_TEST_PULL: '1',
    OCI_TEST_PUSH: '1',
    OCI_TEST_CONTENT_DISCOVERY: '1',
    OCI_TEST_CONTENT_MANAGEMENT: '1',
    ...(automaticCrossmount === undefined ? {} : { OCI_AUTOMATIC_CROSSMOUNT: String(automaticCrossmount) }),
    OCI_HIDE_SKIPPED_WORKFLOWS: '0',
    OCI_REPORT_DIR: reportDir,
  };
}

function runSuite(binary: string, env: Record<string, string>, cwd: string, timeoutMs: number): Promise<number | null> {
  return new Promise((done) => {
    const child = spawn(binary, [], { cwd, env: { ...process.env, ...env }, stdio: ['ignore', 'inherit', 'inherit'] });
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.once('error', (err) => {
      clearTimeout(timer);
      process.stderr.write(`${binary}: ${err.message}\n`);
      done(null);
    });
    child.once('close', (code) => {
      clearTimeout(timer);
      done(code);
    });
  });
}

async function main(argv: string[]): Promise<number> {
  const positional: string[] = [];
  const opts: Record<string, string> = {};
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i] as string;
    if (a.startsWith('--')) opts[a.slice(2)] = argv[++i] ?? '';
    else positional.push(a);
  }
  const [binaryArg] = positional;
  if (binaryArg === undefined) {
    process.stderr.write(
      'usage: conformance-registry <distribution-spec conformance test binary> [--out FILE] [--timeout S] [--report-dir DIR] [--automatic-crossmount true|false]\n',
    );
    return 2;
  }
  const binary = resolve(binaryArg);
  if (!existsSync(binary)) {
    process.stderr.write(
      `${binary}: no such file (build it with go test -c in the suite's conformance/; see README)\n`,
    );
    return 2;
  }
  const auto = opts['automatic-crossmount'];
  if (auto !== undefined && auto !== 'true' && auto !== 'false') {
    process.stderr.write(`--automatic-crossmount: ${JSON.stringify(auto)} is not true or false\n`);
    return 2;
  }
  const keepReports = opts['report-dir'] !== undefined;
  const reportDir = keepReports
    ? resolve(opts['report-dir'] as string)
    : mkdtempSync(join(tmpdir(), `berth-registry-report-${process.pid}-`));
  const registry = await startRegistry();
  // Interrupted: the registry goes and its root with it.
  const onSignal = () => void registry.stop().finally(() => process.exit(130));
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  let code: number | null;
  try {
    process.stderr.write(`berth-registry on ${registry.url}, root ${registry.root}\n`);
    const env = suiteEnv(registry.url, reportDir, auto === undefined ? undefined : auto === 'true');
    code = await runSuite(binary, env, reportDir, Number(opts.timeout ?? 600) * 1000);
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    await registry.stop();
  }
  const junit = join(reportDir, 'junit.xml');
  if (!existsSync(junit)) {
    process.stderr.write(`the suite wrote no ${junit} (exit ${code})\n`);
    if (!keepReports) rmSync(reportDir, { recursive: true, force: true });
    return 1;
  }
  const summary = summarizeSpecs('berth-registry', parseJunit(readFileSync(junit, 'utf8')));
  if (!keepReports) rmSync(reportDir, { recursive: true, force: true });
  for (const line of registrySummaryLines(summary)) console.log(line);
  const out = resolve(opts.out ?? 'conformance-berth-registry.json');
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
