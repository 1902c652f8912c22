// Tests of the outside cross-checks: the agreement case and its warning, the parsers of the
// outside tools' output, the C loop itself, and each suite's pairing of outside and berth cases.
import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import type { CaseInfo, MeasuredCase } from '../suite.js';
import { agreementCase, commandLine, hyperfineOnce, parseHyperfineSeconds } from './crosscheck.js';
import { deriveNamespaceCrosschecks, nsloopPath, parseNsloop } from './crosscheck-namespaces.js';
import { deriveNetworkCrosschecks } from './crosscheck-network.js';
import { derivePullCrosschecks } from './crosscheck-pull.js';
import { deriveRuntimeCrosschecks } from './crosscheck-runtime.js';
import { needs, root, tool, when } from '../../testkit/needs.js';

function measured(info: Partial<CaseInfo> & Pick<CaseInfo, 'case'>, samples: number[]): MeasuredCase {
  return {
    info: {
      suite: 's',
      target: 'berth',
      parameters: {},
      unit: 'ms',
      direction: 'lower-is-better',
      method: 'm',
      ...info,
    },
    samples,
    rounds: [samples],
  };
}

describe('agreementCase', () => {
  it('pairs interleaved samples, agrees within 10 % and warns about nothing', () => {
    const berth = measured({ case: 'op' }, [10, 20, 10]);
    const outside = measured({ case: 'op', parameters: { tool: 'hyperfine' } }, [10.5, 21, 10.2, 99]);
    const d = agreementCase(outside, berth, { interleaved: true, what: 'op' })!;
    expect(d.case).toBe('op-crosscheck');
    expect(d.parameters).toEqual({ tool: 'hyperfine' });
    expect(d.unit).toBe('ratio');
    expect(d.samples).toEqual([1.05, 1.05, 1.02]);
    expect(d.derived).toMatchObject({ how: 'ratio', pairing: 'interleaved' });
    expect(d.derived.from).toEqual([outside.info, berth.info]);
    expect(d.notes?.[0]).toMatch(/^Agrees within 10 %: hyperfine median 10\.5/);
    expect(d.warnings).toEqual([]);
  });

  it('flags a difference beyond 10 % in a warning naming the case and both figures', () => {
    const berth = measured({ case: 'op', parameters: { n: 1 } }, [10, 10, 10]);
    const outside = measured({ case: 'op', parameters: { n: 1, tool: 'c-loop' } }, [12, 12, 12]);
    const d = agreementCase(outside, berth, { interleaved: false, what: 'op' })!;
    expect(d.derived.pairing).toBe('reference-median');
    expect(d.notes?.[0]).toMatch(/^DISAGREES by more than 10 %/);
    expect(d.warnings).toHaveLength(1);
    expect(d.warnings![0]).toMatch(
      /^cross-check s\/op n=1 berth against c-loop: the figures differ by more than 10 %: c-loop median 12\.000 ms vs berth's 10\.000 ms \(median ratio 1\.200\)/,
    );
  });

  it('subtracts a start-up case sample by sample and lists it among the inputs', () => {
    const berth = measured({ case: 'pull' }, [100, 100]);
    const whole = measured({ case: 'proc', parameters: { tool: 'hyperfine' } }, [160, 170]);
    const start = measured({ case: 'start', parameters: { tool: 'hyperfine' } }, [60, 68]);
    const d = agreementCase(whole, berth, {
      interleaved: true,
      what: 'pull',
      minus: { case: start, text: 'start-up' },
    })!;
    expect(d.samples).toEqual([1, 1.02]);
    expect(d.derived.from).toHaveLength(3);
    expect(d.method).toContain('minus start-up');
    expect(d.warnings).toEqual([]);
  });

  it('gives nothing without samples', () => {
    expect(
      agreementCase(measured({ case: 'a' }, []), measured({ case: 'a' }, [1]), { interleaved: true, what: 'x' }),
    ).toBeUndefined();
  });
});

describe('outside tools: parsing and quoting', () => {
  it('reads the one run of a hyperfine export and refuses a failed or empty one', () => {
    const doc = (r: object) => JSON.stringify({ results: [r] });
    expect(parseHyperfineSeconds(doc({ times: [0.25], exit_codes: [0] }), 'x')).toBe(0.25);
    expect(() => parseHyperfineSeconds(doc({ times: [0.25], exit_codes: [1] }), 'crun run')).toThrow(
      /^crun run: the command under hyperfine ended with 1/,
    );
    expect(() => parseHyperfineSeconds(doc({}), 'x')).toThrow(/^x: hyperfine's JSON export has no time/);
    expect(() => parseHyperfineSeconds('nope', 'x')).toThrow(/^x: hyperfine's JSON export: /);
  });

  it('quotes arguments for hyperfine -N as a POSIX shell would read them', () => {
    expect(commandLine(['/usr/bin/crun', '--root', '/a/b', 'run'])).toBe('/usr/bin/crun --root /a/b run');
    expect(commandLine(['sh', '-c', `umount '/x' && exec "$0"`])).toBe(`sh -c 'umount '\\''/x'\\'' && exec "$0"'`);
  });

  it("reads nsloop's lines as µs and names a bad line", () => {
    expect(parseNsloop('1500\n2500\n', 'nsloop')).toEqual([1.5, 2.5]);
    expect(() => parseNsloop('12\nboom\n', 'nsloop unshare net')).toThrow(/^nsloop unshare net: nsloop printed "boom"/);
  });

  needs(tool('hyperfine')).it('times a command with hyperfine, with an argument that needs quoting', async () => {
    const s = await hyperfineOnce('sh under hyperfine', ['sh', '-c', 'test "$0" = "a b"', 'a b']);
    expect(s).toBeGreaterThan(0);
    expect(s).toBeLessThan(60);
    await expect(hyperfineOnce('false under hyperfine', ['false'])).rejects.toThrow(
      /^false under hyperfine: hyperfine/,
    );
  });
});

describe('nsloop (the C loop)', () => {
  const bin = nsloopPath();
  needs(when(bin !== undefined, 'needs nsloop built (sh native/workloads/build.sh)')).it(
    'refuses bad arguments with its usage',
    () => {
      for (const args of [
        [],
        ['unshare', 'net'],
        ['fork', 'net', '1'],
        ['unshare', 'bogus', '1'],
        ['clone', 'net', '0'],
      ]) {
        const r = spawnSync(bin!, args, { encoding: 'utf8' });
        expect(r.status).toBe(2);
        expect(r.stderr).toMatch(/^usage: nsloop/);
      }
    },
  );

  needs(root(), when(bin !== undefined, 'needs nsloop built (sh native/workloads/build.sh)')).it(
    'times COUNT ops of unshare and clone, leaving no child',
    () => {
      for (const mode of ['unshare', 'clone']) {
        const r = spawnSync(bin!, [mode, 'net,uts', '3'], { encoding: 'utf8' });
        expect(r.status, r.stderr).toBe(0);
        const us = parseNsloop(r.stdout, mode);
        expect(us).toHaveLength(3);
        for (const v of us) expect(v).toBeGreaterThan(0);
      }
    },
  );
});

describe("each suite's agreement cases", () => {
  it('runtime: hyperfine against the cli case of the same runtime and variant, not the in-process one', () => {
    const cli = measured({ case: 'cse', target: 'crun', parameters: { netns: false, level: 'cli' } }, [8, 8]);
    const inproc = measured({ case: 'cse', target: 'crun', parameters: { netns: false, level: 'in-process' } }, [1, 1]);
    const other = measured({ case: 'cse', target: 'crun', parameters: { netns: true, level: 'cli' } }, [20, 20]);
    const hf = measured(
      { case: 'cse', target: 'crun', parameters: { netns: false, level: 'cli', tool: 'hyperfine' } },
      [8.4, 8.4],
    );
    const d = deriveRuntimeCrosschecks([inproc, other, cli, hf], 'cse');
    expect(d).toHaveLength(1);
    expect(d[0]!.derived.from[1]).toBe(cli.info);
    expect(d[0]!.samples).toEqual([1.05, 1.05]);
  });

  it('namespaces: the C loop against the case of the same name and set', () => {
    const cases = [
      measured({ case: 'unshare', parameters: { namespaces: 'mnt' } }, [30]),
      measured({ case: 'unshare', parameters: { namespaces: 'net' } }, [400]),
      measured({ case: 'clone', parameters: { namespaces: 'net' } }, [300]),
      measured({ case: 'unshare', parameters: { namespaces: 'net', tool: 'c-loop' } }, [500]),
    ];
    const d = deriveNamespaceCrosschecks(cases);
    expect(d.map((c) => [c.case, c.samples])).toEqual([['unshare-crosscheck', [1.25]]]);
    expect(d[0]!.warnings).toHaveLength(1);
  });

  it('network: iperf3 over tcp-sink on the same target, path and MTU', () => {
    const t = (path: string, mtu: number, tool: string, v: number) =>
      measured({ case: 'tcp-throughput', unit: 'Gbit/s', parameters: { path, mtu, tool } }, [v]);
    const d = deriveNetworkCrosschecks([
      t('loopback', 65536, 'iperf3', 40),
      t('container-to-container', 65520, 'iperf3', 20),
      t('container-to-container', 1500, 'iperf3', 9),
      t('loopback', 65536, 'tcp-sink', 38),
      t('container-to-container', 65520, 'tcp-sink', 21),
    ]);
    expect(d.map((c) => `${c.parameters.path}@${c.parameters.mtu} ${c.parameters.tool}`)).toEqual([
      'loopback@65536 iperf3',
      'container-to-container@65520 iperf3',
    ]);
    expect(d.every((c) => c.derived.pairing === 'reference-median')).toBe(true);
    expect(d.every((c) => c.warnings?.length === 0)).toBe(true);
  });

  it('pull: the two-pull process minus the one-pull process, against the in-process cold pull of the group', () => {
    const g = { group: 'cold/app/gzip' };
    const d = derivePullCrosschecks([
      measured({ case: 'cold-pull', ...g, parameters: { concurrency: 3 } }, [200, 200]),
      measured({ case: 'cold-pull', target: 'reference', ...g, parameters: {} }, [100, 100]),
      measured({ case: 'pull-process-second', ...g, parameters: { concurrency: 3, tool: 'hyperfine' } }, [900, 940]),
      measured({ case: 'pull-process-first', ...g, parameters: { concurrency: 3, tool: 'hyperfine' } }, [680, 680]),
    ]);
    expect(d.map((c) => [c.case, c.samples])).toEqual([['cold-pull-crosscheck', [1.1, 1.3]]]);
    expect(d[0]!.derived.from.map((f) => f.case)).toEqual(['pull-process-second', 'cold-pull', 'pull-process-first']);
    expect(d[0]!.warnings).toHaveLength(1);
  });
});
