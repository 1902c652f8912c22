// Iptables' transactions asked for while an iptables-restore runs go together in
// the next runs, one per table; a failed joint run is redone per transaction.
// Against a stand-in iptables-restore (no root, no kernel table touched) that
// commits each table at its COMMIT as the real one does: a later table's failure
// leaves the earlier tables applied.
import { chmod, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Iptables } from './iptables.js';
import type { PortSpec } from './port-spec.js';

let dir: string;

// Logs each run as one line (`nat:<host port>` for a DNAT rule, `filter:<container ip>` for a forward accept) and
// appends each committed table's rules to committed.log. A table holding host port 9999 or container 10.0.0.99 is
// refused, and the run stops there.
const standIn = (d: string) => `#!${process.execPath}
const fs = require('node:fs');
const input = fs.readFileSync(0, 'utf8');
const tables = input.split(/^COMMIT$/m).filter((t) => t.trim() !== '');
const name = (line) => {
  const port = / --dport (\\d+) .*-j DNAT/.exec(line);
  if (port) return 'nat:' + port[1];
  const ip = /-d (10\\.0\\.0\\.\\d+)\\/32/.exec(line);
  return ip ? 'filter:' + ip[1] : null;
};
const rules = (t) => t.split('\\n').filter((l) => l.startsWith('-')).map(name).filter(Boolean);
fs.appendFileSync(${JSON.stringify(join(d, 'runs.log'))}, tables.flatMap(rules).join(' ') + '\\n');
for (const t of tables) {
  if (/--dport 9999 |-d 10\\.0\\.0\\.99\\//.test(t)) {
    process.stderr.write('iptables-restore: line 2 failed\\n');
    process.exit(1);
  }
  fs.appendFileSync(${JSON.stringify(join(d, 'committed.log'))}, rules(t).map((r) => r + '\\n').join(''));
}
`;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'berth-iptables-batch-'));
  await writeFile(join(dir, 'iptables-restore'), standIn(dir));
  await chmod(join(dir, 'iptables-restore'), 0o755);
});

afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

const port = (hostPort: number): PortSpec => ({ hostIp: '127.0.0.1', hostPort, containerPort: 80, proto: 'tcp' });

async function lines(file: string): Promise<string[]> {
  return (await readFile(join(dir, file), 'utf8').catch(() => '')).split('\n').filter((l) => l !== '');
}

/** Publishes hostPorts[i] to 10.0.0.<ips[i]> at once; the outcome of each. */
async function publishAtOnce(ipt: Iptables, hostPorts: number[], ips: number[]): Promise<string[]> {
  const results = await Promise.allSettled(
    hostPorts.map((p, i) => ipt.addPortRules(`c${i}`, 'br0', `10.0.0.${ips[i]}`, port(p))),
  );
  return results.map((r) => (r.status === 'fulfilled' ? 'ok' : String(r.reason)));
}

describe('Iptables transactions asked for at once', () => {
  it('apply the first alone and the ones asked for meanwhile in one run per table', async () => {
    const ipt = new Iptables(join(dir, 'iptables'));
    expect(await publishAtOnce(ipt, [1001, 1002, 1003, 1004], [2, 3, 4, 5])).toEqual(['ok', 'ok', 'ok', 'ok']);
    expect(await lines('runs.log')).toEqual([
      'nat:1001 filter:10.0.0.2',
      'nat:1002 nat:1003 nat:1004',
      'filter:10.0.0.3 filter:10.0.0.4 filter:10.0.0.5',
    ]);
    // one after the other, each its own run
    await ipt.addPortRules('c9', 'br0', '10.0.0.9', port(1009));
    expect((await lines('runs.log')).at(-1)).toEqual('nat:1009 filter:10.0.0.9');
    expect((await lines('committed.log')).sort()).toEqual(
      ['nat:1001', 'nat:1002', 'nat:1003', 'nat:1004', 'nat:1009']
        .concat(['2', '3', '4', '5', '9'].map((i) => `filter:10.0.0.${i}`))
        .sort(),
    );
  });

  it('redo a table whose joint run failed per transaction: only the failing one fails, naming its port', async () => {
    const ipt = new Iptables(join(dir, 'iptables'));
    const out = await publishAtOnce(ipt, [1001, 1002, 9999, 1004], [2, 3, 4, 5]);
    expect(out.slice(0, 2).concat(out[3])).toEqual(['ok', 'ok', 'ok']);
    expect(out[2]).toMatch(/port 127\.0\.0\.1:9999\/tcp: .*iptables-restore: .*line 2 failed/);
    expect(await lines('runs.log')).toEqual([
      'nat:1001 filter:10.0.0.2',
      'nat:1002 nat:9999 nat:1004',
      'nat:1002',
      'nat:9999',
      'nat:1004',
      // the refused transaction gets no filter run, as when it runs alone
      'filter:10.0.0.3 filter:10.0.0.5',
    ]);
    expect((await lines('committed.log')).sort()).toEqual(
      ['nat:1001', 'nat:1002', 'nat:1004', 'filter:10.0.0.2', 'filter:10.0.0.3', 'filter:10.0.0.5'].sort(),
    );
  });

  it('never applies a rule twice when a later table of a joint run fails', async () => {
    const ipt = new Iptables(join(dir, 'iptables'));
    const out = await publishAtOnce(ipt, [1001, 1002, 1003, 1004], [2, 3, 99, 5]);
    expect(out.map((o) => (o === 'ok' ? 'ok' : 'failed'))).toEqual(['ok', 'ok', 'failed', 'ok']);
    // nat went in once jointly; filter's joint run failed and was redone per transaction
    expect(await lines('runs.log')).toEqual([
      'nat:1001 filter:10.0.0.2',
      'nat:1002 nat:1003 nat:1004',
      'filter:10.0.0.3 filter:10.0.0.99 filter:10.0.0.5',
      'filter:10.0.0.3',
      'filter:10.0.0.99',
      'filter:10.0.0.5',
    ]);
    const committed = await lines('committed.log');
    expect(new Set(committed).size).toBe(committed.length);
    // the failed transaction's nat rule stays applied, as when it runs alone (iptables-restore commits per table)
    expect(committed.sort()).toEqual(
      ['nat:1001', 'nat:1002', 'nat:1003', 'nat:1004', 'filter:10.0.0.2', 'filter:10.0.0.3', 'filter:10.0.0.5'].sort(),
    );
  });
});

// A stand-in xtables: `iptables` (-N, -C, -I, -A, -S on one chain) and `iptables-restore` (-A lines, each table
// applied whole at its COMMIT, a later table's failure leaving the earlier ones in) over one state file, each run
// holding a lock (a folder) from start to exit as the xtables lock does for `-w`.
const xtables = (state: string) => `#!${process.execPath}
const fs = require('node:fs');
const lock = ${JSON.stringify(state)} + '.lock';
for (;;) {
  try { fs.mkdirSync(lock); break; } catch { Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 2); }
}
process.on('exit', () => fs.rmdirSync(lock));
fs.appendFileSync(${JSON.stringify(state)} + '.runs', process.argv.slice(2).join(' ') + '\\n');
const st = JSON.parse(fs.readFileSync(${JSON.stringify(state)}, 'utf8'));
const save = () => fs.writeFileSync(${JSON.stringify(state)}, JSON.stringify(st));
const fail = (msg) => { process.stderr.write(msg + '\\n'); process.exit(1); };
const args = process.argv.slice(2).filter((a) => a !== '-w' && a !== '--noflush');
if (process.argv[1].endsWith('-restore')) {
  let table, tx;
  for (const line of fs.readFileSync(0, 'utf8').split('\\n')) {
    if (line.startsWith('*')) { table = line.slice(1); tx = JSON.parse(JSON.stringify(st[table])); }
    else if (line === 'COMMIT') { st[table] = tx; save(); }
    else if (line.startsWith('-A ')) {
      const [, chain, ...rule] = line.split(' ');
      if (tx[chain] === undefined) fail("iptables-restore: Chain '" + chain + "' does not exist");
      tx[chain].push(rule.join(' '));
    }
  }
} else {
  const table = st[args[1]];
  const [op, chain, ...rest] = args.slice(2);
  if (op === '-N') { if (table[chain]) fail('iptables: Chain already exists.'); table[chain] = []; }
  else if (table[chain] === undefined) fail("iptables: Chain '" + chain + "' does not exist");
  else if (op === '-C') process.exit(table[chain].includes(rest.join(' ')) ? 0 : 1);
  else if (op === '-I') table[chain].unshift(rest.slice(1).join(' '));
  else if (op === '-A') table[chain].push(rest.join(' '));
  else if (op === '-S') process.stdout.write(table[chain].map((r) => '-A ' + chain + ' ' + r + '\\n').join(''));
  else fail('stand-in iptables: ' + op + ' not handled');
  save();
}
`;

/** Installs the stand-in xtables in dir with the built-in chains only; its state file's path. */
async function standInXtables(): Promise<string> {
  const state = join(dir, 'state.json');
  for (const name of ['iptables', 'iptables-restore']) {
    await writeFile(join(dir, name), xtables(state));
    await chmod(join(dir, name), 0o755);
  }
  await writeFile(
    state,
    JSON.stringify({ nat: { PREROUTING: [], OUTPUT: [], POSTROUTING: [] }, filter: { FORWARD: [] } }),
  );
  return state;
}

describe('Iptables.addPortRules after a chain vanished', () => {
  it.each([1, 3])(
    'adds each rule once when %i publish(es) found the filter chain gone after nat committed',
    async (n) => {
      const state = await standInXtables();
      const ipt = new Iptables(join(dir, 'iptables'));
      await ipt.ensureChains();
      // another instance removed berth's filter chain, empty, and its jump; nat's chains stay
      const st = JSON.parse(await readFile(state, 'utf8'));
      delete st.filter['BERTH-FORWARD'];
      st.filter.FORWARD = [];
      await writeFile(state, JSON.stringify(st));

      const ips = Array.from({ length: n }, (_, i) => i + 2);
      const hostPorts = ips.map((i) => 1000 + i);
      expect(await publishAtOnce(ipt, hostPorts, ips)).toEqual(ips.map(() => 'ok'));
      const after = JSON.parse(await readFile(state, 'utf8'));
      const dnat = (i: number) =>
        `--dport ${1000 + i} -m comment --comment berth:c${i - 2} -j DNAT --to-destination 10.0.0.${i}:80`;
      const accept = (i: number) =>
        `-d 10.0.0.${i}/32 -o br0 -p tcp -m tcp --dport 80 -m comment --comment berth:c${i - 2} -j ACCEPT`;
      expect([...after.nat.BERTH].sort()).toEqual(ips.map((i) => `-d 127.0.0.1/32 -p tcp -m tcp ${dnat(i)}`).sort());
      expect([...after.filter['BERTH-FORWARD']].sort()).toEqual(ips.map(accept).sort());
      expect(after.filter.FORWARD).toEqual(['-j BERTH-FORWARD']);
    },
  );

  it('ensureChains called again while it runs shares that run (no jump checked and inserted twice)', async () => {
    const state = await standInXtables();
    const ipt = new Iptables(join(dir, 'iptables'));
    await Promise.all([ipt.ensureChains(), ipt.ensureChains(), ipt.ensureChains()]);
    const runs = (await readFile(`${state}.runs`, 'utf8')).split('\n').filter((l) => l !== '');
    // three chains made, four jumps checked and inserted: once each
    expect(runs.filter((r) => / -N /.test(r))).toHaveLength(3);
    expect(runs.filter((r) => / -I /.test(r))).toHaveLength(4);
    const after = JSON.parse(await readFile(state, 'utf8'));
    expect(after.filter.FORWARD).toEqual(['-j BERTH-FORWARD']);
    await ipt.ensureChains();
    expect((await readFile(`${state}.runs`, 'utf8')).split('\n').filter((l) => / -N /.test(l))).toHaveLength(6);
  });
});
