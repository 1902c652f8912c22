import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { fileResult, holdFileLock, parseTap, summarize, summaryLines, usesFixedCgroup } from './conformance-runtime.js';
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
