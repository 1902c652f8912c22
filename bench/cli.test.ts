// Tests of `npm run bench` as a user runs it (tsx bench/cli.ts in a child process):
// usage errors exit 2 naming the culprit, --list and --help, and an end-to-end
// quick run of the trace suite that writes a schema-valid result file.
import { execa } from 'execa';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { main, parseCli } from './cli.js';
import { validateResult } from './results/validate.js';
import { knownTargets, registry } from './suites/index.js';

const root = fileURLToPath(new URL('..', import.meta.url));
const tsx = path.join(root, 'node_modules', '.bin', 'tsx');

function bench(args: string[]) {
  return execa(tsx, ['bench/cli.ts', ...args], { cwd: root, reject: false, timeout: 120_000 });
}

let tmp: string;
beforeAll(async () => {
  tmp = await mkdtemp(path.join(os.tmpdir(), `berth-bench-cli-${process.pid}-`));
});
afterAll(async () => {
  await rm(tmp, { recursive: true, force: true });
});

describe('bench CLI usage errors', () => {
  it.each([
    [['--suite', 'nosuch'], /suite "nosuch": unknown \(known: trace, pull,/],
    [['--suite', 'trace,bogus'], /suite "bogus": unknown/],
    [['--profile', 'turbo'], /profile "turbo": unknown \(expected quick, default, full\)/],
    [['--frobnicate'], /Unknown option '--frobnicate'/],
    [['--target', 'lxc'], /target "lxc": unknown/],
    [['--seed', 'abc'], /--seed "abc": expected an integer/],
    [['--cpu=-1'], /--cpu "-1": expected an integer ≥ 0/],
    [['--cpu', '1.5'], /--cpu "1.5": expected an integer ≥ 0/],
  ])('%j exits 2 with a message naming it', async (args, message) => {
    const r = await bench(args);
    expect(r.exitCode).toBe(2);
    expect(r.stderr).toMatch(message);
    expect(r.stderr).toContain('usage: npm run bench');
  });

  it('accepts with --target every target a suite measures', async () => {
    const suites = await Promise.all(registry.flatMap((s) => (s.load === undefined ? [] : [s.load()])));
    const declared = new Set(suites.flatMap((s) => s.targets ?? []));
    expect([...declared].filter((t) => !knownTargets.includes(t))).toEqual([]);
    expect(parseCli(['--target', 'berth,parallel-reference']).targets).toEqual(['berth', 'parallel-reference']);
  });

  it('parses the flags it knows', () => {
    const o = parseCli([
      '--suite',
      'trace,pull',
      '--target',
      'berth',
      '--profile',
      'full',
      '--seed',
      '9',
      '--cpu',
      '1',
      '--data-root',
      'x',
      '--out',
      'o.json',
    ]);
    expect(o.suites.map((s) => s.name)).toEqual(['trace', 'pull']);
    expect(o.targets).toEqual(['berth']);
    expect(o.settings.name).toBe('full');
    expect([o.seed, o.cpu, o.out]).toEqual([9, 1, 'o.json']);
    expect(o.dataRoot).toBe(path.resolve('x'));
    const d = parseCli([]);
    expect(d.settings.name).toBe('default');
    expect(d.suites.map((s) => s.name)).toEqual([
      'trace',
      'pull',
      'run',
      'lifecycle',
      'runtime',
      'namespaces',
      'cgroups',
      'graphdriver',
      'network',
      'reliability',
      'workload',
    ]);
    expect(d.dataRoot).toBe(os.tmpdir());
    expect(d.repeat).toBe(1);
    expect(parseCli(['--repeat', '5']).repeat).toBe(5);
    expect(() => parseCli(['--repeat', '0'])).toThrow(/--repeat "0": expected an integer ≥ 1/);
  });
});

describe('bench CLI', () => {
  it('writes the file and exits 1 when a suite fails, the other suites still run', async () => {
    const out = path.join(tmp, 'failing.json');
    const failing = {
      name: 'failing',
      description: 'x',
      load: async () => ({
        name: 'failing',
        description: 'x',
        cases: () => {
          throw new Error('corpus missing');
        },
      }),
    };
    const code = await main(
      ['--suite', 'failing,trace', '--profile', 'quick', '--target', 'berth', '--out', out],
      [failing, registry[0]],
    );
    expect(code).toBe(1);
    const doc = validateResult(JSON.parse(await readFile(out, 'utf8')));
    expect(doc.suites.map((s) => [s.name, s.status, s.reason])).toEqual([
      ['failing', 'failed', 'suite failing: corpus missing'],
      ['trace', 'ran', null],
    ]);
    expect(doc.cases.length).toBeGreaterThan(0);
  });

  it('--help prints the usage and exits 0', async () => {
    const r = await bench(['--help']);
    expect(r.exitCode).toBe(0);
    expect(r.stdout).toContain('--profile <name>');
  });

  it('--list shows each suite with its status', async () => {
    const r = await bench(['--list']);
    expect(r.exitCode).toBe(0);
    expect(r.stdout).toMatch(/^trace\s+ready\s/m);
    for (const suite of registry) {
      // a built suite is ready or says why it is skipped here; the others say they are not built
      const status = suite.load === undefined ? 'not built yet' : '(ready|skipped here: .+|broken: .+)';
      expect(r.stdout).toMatch(new RegExp(`^${suite.name}\\s+${status}`, 'm'));
      expect(r.stdout).not.toMatch(new RegExp(`^${suite.name}\\s+broken`, 'm'));
    }
  });

  it.each([
    ['SIGINT', 130],
    ['SIGTERM', 143],
  ] as const)('on %s stops, still writes the file and exits %i', async (signal, code) => {
    const out = path.join(tmp, `interrupted-${signal}.json`);
    // node itself (not the tsx wrapper, which kills a child that does not answer a relayed signal within 30 ms)
    const child = execa(
      process.execPath,
      ['--import', 'tsx', 'bench/cli.ts', '--suite', 'trace', '--profile', 'default', '--out', out],
      {
        cwd: root,
        reject: false,
        timeout: 120_000,
      },
    );
    let sent = false;
    child.stderr!.on('data', (chunk: Buffer) => {
      if (!sent && chunk.toString().includes('suite trace: running')) {
        sent = true;
        child.kill(signal);
      }
    });
    const r = await child;
    expect(sent).toBe(true);
    expect(r.exitCode, r.stderr).toBe(code);
    const doc = validateResult(JSON.parse(await readFile(out, 'utf8')));
    expect(doc.suites[0].status).toBe('failed');
    expect(doc.suites[0].reason).toContain(`cancelled (interrupted by ${signal})`);
  });

  it('records a suite that is not built as such, without a number', async () => {
    const out = path.join(tmp, 'not-built.json');
    const later = { name: 'later', description: 'a suite of the design that is not built yet' };
    const code = await main(['--suite', 'later', '--profile', 'quick', '--out', out], [registry[0], later]);
    expect(code).toBe(0);
    const doc = validateResult(JSON.parse(await readFile(out, 'utf8')));
    expect(doc.suites.map((s) => [s.name, s.status])).toEqual([['later', 'not-built']]);
    expect(doc.cases).toEqual([]);
  });

  it('runs the trace suite (quick) end to end into a schema-valid file', async () => {
    const out = path.join(tmp, 'nested', 'quick.json');
    const r = await bench(['--suite', 'trace', '--profile', 'quick', '--seed', '3', '--out', out]);
    expect(r.stderr).toContain(`result written to ${out}`);
    expect(r.exitCode, r.stderr).toBe(0);
    const doc = validateResult(JSON.parse(await readFile(out, 'utf8')));
    expect(doc.run.profile).toBe('quick');
    expect(doc.run.seed).toBe(3);
    expect(doc.run.argv).toEqual(['--suite', 'trace', '--profile', 'quick', '--seed', '3', '--out', out]);
    expect(doc.suites.map((s) => [s.name, s.status])).toEqual([['trace', 'ran']]);
    expect(doc.host.cpu.cores).toBeGreaterThan(0);
    expect(doc.host.dataRoot.path).toBe(await import('node:fs/promises').then((fs) => fs.realpath(os.tmpdir())));
    const calls = doc.cases.filter((c) => c.case === 'call');
    expect(calls).toHaveLength(8);
    for (const c of calls) {
      expect(c.unit).toBe('ns');
      expect(c.samples.length).toBeGreaterThanOrEqual(10);
      expect(c.samples.every((x) => x > 0)).toBe(true);
      expect(c.warmup).toBeGreaterThan(0);
    }
    const overheads = doc.cases.filter((c) => c.case === 'overhead');
    expect(overheads.map((c) => `${c.parameters.mode}/${c.parameters.tracing}`)).toEqual([
      'sync/no-subscriber',
      'sync/collector',
      'sync/boundary-channel',
      'async/no-subscriber',
      'async/collector',
      'async/boundary-channel',
    ]);
    for (const c of overheads) {
      expect(c.method).toContain('matched by interleaved round');
      expect(c.notes.join(' ')).toMatch(/(meets|misses) the target/);
    }
    // the table on stdout lists every case
    expect(r.stdout.split('\n').filter((l) => l.startsWith('trace/'))).toHaveLength(14);
  });
});
