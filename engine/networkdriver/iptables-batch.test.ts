// Iptables' transactions asked for while an iptables-restore runs go together in
// the next run; a failing run is redone per transaction. Against a stand-in
// iptables-restore that logs its input (no root, no kernel tables touched).
import { chmod, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Iptables } from './iptables.js';
import type { PortSpec } from './port-spec.js';

let dir: string;
let log: string;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'berth-iptables-batch-'));
  log = join(dir, 'runs.log');
  // each run appends a RUN line and its input; an input naming a refused port fails as a whole, as the kernel does
  await writeFile(
    join(dir, 'iptables-restore'),
    `#!/bin/sh\ninput=$(cat)\nprintf 'RUN %s\\n%s\\n' "$*" "$input" >> '${log}'\n` +
      `case "$input" in *'--dport 9999 '*) echo 'iptables-restore: line 2 failed' >&2; exit 1;; esac\n`,
  );
  await chmod(join(dir, 'iptables-restore'), 0o755);
});

afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

const port = (hostPort: number): PortSpec => ({ hostIp: '127.0.0.1', hostPort, containerPort: 80, proto: 'tcp' });

/** The runs the stand-in logged: the DNAT host ports of each, in order. */
async function runs(): Promise<number[][]> {
  const text = await readFile(log, 'utf8');
  return text
    .split(/^RUN .*\n/m)
    .slice(1)
    .map((input) =>
      [...input.matchAll(/-A BERTH -d 127\.0\.0\.1\/32 -p tcp -m tcp --dport (\d+) /g)].map((m) => Number(m[1])),
    );
}

describe('Iptables transactions asked for at once', () => {
  it('apply the first alone and the ones asked for meanwhile in one more iptables-restore run', async () => {
    const ipt = new Iptables(join(dir, 'iptables'));
    await Promise.all(
      [1001, 1002, 1003, 1004].map((p, i) => ipt.addPortRules(`c${i}`, 'br0', `10.0.0.${i + 2}`, port(p))),
    );
    expect(await runs()).toEqual([[1001], [1002, 1003, 1004]]);
    expect(await readFile(log, 'utf8')).toMatch(/^RUN -w --noflush$/m);
    // one after the other, each its own run
    await ipt.addPortRules('c9', 'br0', '10.0.0.9', port(1009));
    expect((await runs()).at(-1)).toEqual([1009]);
  });

  it('redo a failed run per transaction: only the failing one fails, naming its port', async () => {
    const ipt = new Iptables(join(dir, 'iptables'));
    const results = await Promise.allSettled(
      [1001, 1002, 9999, 1004].map((p, i) => ipt.addPortRules(`c${i}`, 'br0', `10.0.0.${i + 2}`, port(p))),
    );
    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'fulfilled', 'rejected', 'fulfilled']);
    expect(String((results[2] as PromiseRejectedResult).reason)).toMatch(
      /port 127\.0\.0\.1:9999\/tcp: .*iptables-restore: .*line 2 failed/,
    );
    // the first alone, the three together (refused), then each of the three alone
    expect(await runs()).toEqual([[1001], [1002, 9999, 1004], [1002], [9999], [1004]]);
  });
});
