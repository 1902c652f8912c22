import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  countsTable,
  crunWrapperScript,
  fileResult,
  holdFileLock,
  makeWorkDir,
  parseTap,
  recordProblems,
  summarize,
  summaryLines,
  usesFixedCgroup,
  type ConformanceRecord,
} from './conformance-runtime.js';
import { needs, tool } from '../testkit/needs.js';

const tap = `TAP version 13
ok 1 - root filesystem
ok 2 - hostname
  ---
  {
    "actual": "a",
    "expected": "b"
  }
  ...
not ok 3 - has expected soft RLIMIT_NOFILE
  ---
  {
    "actual": 4000,
    "expected": 3000
  }
  ...
ok 4 # SKIP /dev/null (default device) has unconfigured permissions
ok 5 - todo thing # TODO later
not ok 6 - memory kernel is set correctly
# expect: 50593792, actual: 9223372036854771712
1..6
`;

describe('conformance TAP parsing', () => {
  it('counts ok, not ok and skips, passing over YAML blocks and diagnostics', () => {
    const r = parseTap(tap);
    expect(r).toMatchObject({ ok: 3, notOk: 2, skip: 1, planned: 6, skippedAll: false });
    expect(r.tests.filter((t) => t.status === 'not ok').map((t) => `${t.n} ${t.name}`)).toEqual([
      '3 has expected soft RLIMIT_NOFILE',
      '6 memory kernel is set correctly',
    ]);
    expect(r.tests[3]).toEqual({
      n: 4,
      name: '/dev/null (default device) has unconfigured permissions',
      status: 'skip',
    });
  });

  it('a file passes only with no failure, exit 0 and its plan met', () => {
    expect(fileResult('a', 'TAP version 13\nok 1 - x\nok 2 # SKIP y\n1..2\n', 0, false).passed).toBe(true);
    expect(fileResult('a', 'TAP version 13\nok 1 - x\n1..2\n', 0, false)).toMatchObject({
      passed: false,
      failing: ['1 of 2 planned tests reported'],
    });
    expect(fileResult('a', 'TAP version 13\nfailed to create the container\n', 1, false)).toMatchObject({
      passed: false,
      failing: ['no TAP plan (the program stopped early)'],
    });
    expect(fileResult('a', '1..0 # SKIP not on this OS\n', 0, false)).toMatchObject({ passed: true, skip: 0 });
    // a *_fail program: silent and exit 0 when the runtime refused the config, exit 1 when it did not
    expect(fileResult('a', '', 0, false)).toMatchObject({ passed: true, failing: [] });
    expect(fileResult('a', '', 1, false)).toMatchObject({
      passed: false,
      failing: ['no TAP plan (the program stopped early)'],
    });
    expect(fileResult('a', 'ok 1 - x\n1..1\n1..0\n', 0, false)).toMatchObject({ passed: true, planned: 1 });
    expect(fileResult('a', 'ok 1 - x\n1..1\n', null, true)).toMatchObject({ passed: false, failing: ['timed out'] });
    expect(fileResult('a', tap, 1, false).failing).toEqual([
      '3 has expected soft RLIMIT_NOFILE',
      '6 memory kernel is set correctly',
    ]);
  });

  it('sums files and lists the failing tests', () => {
    const s = summarize('/usr/bin/x', [
      fileResult('good', 'ok 1 - a\n1..1\n', 0, false),
      fileResult('bad', tap, 1, false),
    ]);
    expect(s).toMatchObject({ files: 2, passedFiles: 1, ok: 4, notOk: 2, skip: 1 });
    const lines = summaryLines(s);
    expect(lines).toContain('1 of 2 files fully passing; 4 ok, 2 not ok, 1 skip');
    expect(lines).toContain('  bad: 3 has expected soft RLIMIT_NOFILE');
  });
});

describe('the fixed /cgrouptest of the suite', () => {
  it('names every program that uses it, and no other', () => {
    for (const n of [
      'linux_cgroups_pids',
      'linux_cgroups_relative_memory',
      'delete_resources',
      'delete_only_create_resources',
    ]) {
      expect(usesFixedCgroup(n), n).toBe(true);
    }
    for (const n of ['delete', 'linux_ns_path', 'hooks_stdin', 'linux_cgroups'])
      expect(usesFixedCgroup(n), n).toBe(false);
  });

  needs(tool('flock', 'util-linux')).it(
    'holds a host-wide lock: a second holder (another run) waits until the first releases it',
    async () => {
      const dir = mkdtempSync(join(tmpdir(), `berth-cgroup-lock-${process.pid}-`));
      try {
        const file = join(dir, 'lock');
        const releaseA = await holdFileLock(file);
        let bHeld = false;
        const b = holdFileLock(file).then((release) => {
          bHeld = true;
          return release;
        });
        await new Promise((r) => setTimeout(r, 500));
        expect(bHeld).toBe(false);
        await releaseA();
        const releaseB = await b;
        expect(bHeld).toBe(true);
        await releaseB();
        // free again: taken at once
        await (
          await holdFileLock(file)
        )();
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    },
  );
});

describe('the record of a run', () => {
  const file = {
    name: 'kill',
    exitCode: 0,
    timedOut: false,
    ok: 5,
    notOk: 0,
    skip: 0,
    planned: 5,
    passed: true,
    failing: [],
    seconds: 3.2,
    leftovers: { containers: [], mounts: [], cgroups: [], errors: [] },
  };
  const record: ConformanceRecord = {
    schemaVersion: 1,
    suite: { name: 'opencontainers/runtime-tools', commit: '5e63903', files: 1 },
    startedAt: '2026-12-07T13:00:00.000Z',
    finishedAt: '2026-12-07T13:01:00.000Z',
    berth: { commit: 'abcdef0', dirty: false },
    host: {
      hostClass: 'x64-2cpu-24gib-ext4-cgroup-hybrid',
      kernel: '6.18',
      cpus: 2,
      loadAverage: { start: [1, 2, 3], end: [1, 2, 3] },
    },
    timeoutSeconds: 60,
    only: ['kill'],
    runtimes: [
      {
        runtime: 'runc',
        name: 'runc',
        path: '/usr/sbin/runc',
        version: 'runc version 1.1.5',
        quirks: [],
        files: 1,
        passedFiles: 1,
        ok: 5,
        notOk: 0,
        skip: 0,
        results: [file],
      },
    ],
    warnings: [],
  };

  it('a well-formed record has no problems, and its counts table has one row per runtime', () => {
    expect(recordProblems(record)).toEqual([]);
    expect(countsTable(record).at(-1)).toBe('| runc version 1.1.5 | 1 of 1 | 5 | 0 | 0 |');
  });

  it('names a schema error and counts that do not add up', () => {
    expect(recordProblems({ ...record, schemaVersion: 2 })).toEqual(['/schemaVersion: must be 1']);
    const wrong = { ...record, runtimes: [{ ...record.runtimes[0]!, ok: 6, passedFiles: 0 }] };
    expect(recordProblems(wrong)).toEqual([
      '/runtimes/0/passedFiles: is not the number of passing results',
      '/runtimes/0/ok: is not the sum over its results',
    ]);
  });
});

describe('the crun wrapper', () => {
  it('rewrites a 1.2+ ociVersion of the bundle before create and run, and keeps 1.0/1.1', () => {
    const dir = mkdtempSync(join(tmpdir(), `berth-crun-wrap-${process.pid}-`));
    try {
      const script = crunWrapperScript('/bin/echo', undefined);
      const wrapper = join(dir, 'crun.sh');
      writeFileSync(wrapper, script, { mode: 0o755 });
      for (const [given, expected] of [
        ['1.3.0', '1.1.0'],
        ['1.2.1', '1.1.0'],
        ['1.1.0', '1.1.0'],
        ['1.0.2-dev', '1.0.2-dev'],
      ]) {
        writeFileSync(join(dir, 'config.json'), `{"ociVersion": "${given}", "x": 1}`);
        const out = execFileSync(wrapper, ['create', '--bundle', dir, 'id1'], { encoding: 'utf8' });
        expect(out.trim()).toBe(`create --bundle ${dir} id1`);
        expect(JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8'))).toEqual({ ociVersion: expected, x: 1 });
      }
      writeFileSync(join(dir, 'config.json'), '{"ociVersion": "1.3.0"}');
      execFileSync(wrapper, ['state', dir]);
      expect(readFileSync(join(dir, 'config.json'), 'utf8')).toContain('1.3.0');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('the working directory of a run', () => {
  it('is searchable by others, so a container root mapped to another uid reaches its bundle', () => {
    const parent = mkdtempSync(join(tmpdir(), `berth-conformance-parent-${process.pid}-`));
    try {
      const dir = makeWorkDir(parent);
      expect(statSync(dir).mode & 0o777).toBe(0o755);
    } finally {
      rmSync(parent, { recursive: true, force: true });
    }
  });
});

describe('the filed records', () => {
  it('every results/conformance/<host class>/runtime-tools.json is valid', () => {
    const root = new URL('../results/conformance/', import.meta.url);
    const classes = existsSync(root) ? readdirSync(root) : [];
    for (const c of classes) {
      const file = new URL(`${c}/runtime-tools.json`, root);
      if (!existsSync(file)) continue;
      expect(recordProblems(JSON.parse(readFileSync(file, 'utf8'))), c).toEqual([]);
    }
  });
});
