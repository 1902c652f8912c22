// The CLI's verbs that need no container process of berth's own (spec, state, kill,
// delete), driven in-process through main() against containers recorded by hand around
// processes this test spawns.
import { spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { defaultSpec } from '../execdriver/spec/defaults.js';
import { validateSpec } from '../execdriver/spec/validate.js';
import { main } from './main.js';
import { processInfo } from './process-info.js';
import { StateStore, type ContainerRecord } from './state-store.js';

let dir: string;
let root: string;
const children: ChildProcess[] = [];

function capture(): { stream: Writable; text: () => string } {
  let text = '';
  const stream = new Writable({
    write(chunk, _enc, cb) {
      text += chunk.toString();
      cb();
    },
  });
  return { stream, text: () => text };
}

async function cli(...argv: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const out = capture();
  const err = capture();
  const code = await main(['--root', root, ...argv], { stdout: out.stream, stderr: err.stream });
  return { code, stdout: out.text(), stderr: err.text() };
}

function exited(child: ChildProcess): Promise<NodeJS.Signals | null> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(child.signalCode);
  return new Promise((resolve) => child.once('exit', (_c, s) => resolve(s)));
}

/** Records a container whose "init" is a sleep this test owns; created = exec.fifo present. */
async function recordContainer(
  id: string,
  phase: 'created' | 'running',
  extra: Partial<ContainerRecord> = {},
): Promise<ChildProcess> {
  const child = spawn('sleep', ['30'], { stdio: 'ignore' });
  children.push(child);
  const store = new StateStore(root);
  await store.reserve(id);
  if (phase === 'created') writeFileSync(store.fifoPath(id), '');
  const spec = validateSpec(defaultSpec(), dir);
  await store.write({
    id,
    ociVersion: '1.0.2',
    bundle: dir,
    phase,
    pid: child.pid,
    pidStartTime: processInfo(child.pid!)!.startTime,
    created: new Date().toISOString(),
    annotations: { 'org.berth.test': 'yes' },
    spec,
    ...extra,
  });
  return child;
}

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), `berth-cli-${process.pid}-`));
  root = join(dir, 'state');
  mkdirSync(join(dir, 'rootfs')); // validateSpec needs the bundle's rootfs
});

afterEach(async () => {
  for (const child of children.splice(0)) {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGKILL');
      await exited(child);
    }
  }
  rmSync(dir, { recursive: true, force: true });
});

describe('berth-runtime', () => {
  it('prints usage and version', async () => {
    expect((await cli('--help')).stdout).toMatch(/^usage: berth-runtime/);
    expect((await cli('--version')).stdout).toMatch(/^berth-runtime version /);
    const none = await main([], { stdout: capture().stream, stderr: capture().stream });
    expect(none).toBe(1);
  });

  it('names an unknown command or flag', async () => {
    expect(await cli('frobnicate')).toMatchObject({
      code: 1,
      stderr: 'berth-runtime: berth-runtime: unknown command "frobnicate" (see berth-runtime --help)\n',
    });
    expect(await cli('state', '--bogus', 'x')).toMatchObject({
      code: 1,
      stderr: 'berth-runtime: state: unknown flag --bogus\n',
    });
    expect(await cli('--systemd-cgroup', 'state', 'x')).toMatchObject({
      code: 1,
      stderr: expect.stringMatching(/--systemd-cgroup is not supported/),
    });
  });

  it('spec writes a config.json that validates, and never overwrites one', async () => {
    const bundle = join(dir, 'b');
    mkdirSync(join(bundle, 'rootfs'), { recursive: true });
    expect((await cli('spec', '--bundle', bundle)).code).toBe(0);
    const written = JSON.parse(readFileSync(join(bundle, 'config.json'), 'utf8'));
    expect(written).toEqual(defaultSpec());
    expect(validateSpec(written, bundle).root?.path).toBe(join(bundle, 'rootfs'));
    const again = await cli('spec', '-b', bundle);
    expect(again.code).toBe(1);
    expect(again.stderr).toBe(`berth-runtime: spec: ${join(bundle, 'config.json')} exists: remove it first\n`);
    expect((await cli('spec', '--rootless')).stderr).toMatch(/--rootless is not supported/);
  });

  it('state reports created, running and stopped', async () => {
    const child = await recordContainer('c1', 'created');
    const created = await cli('state', 'c1');
    expect(created.code).toBe(0);
    expect(JSON.parse(created.stdout)).toEqual({
      ociVersion: '1.0.2',
      id: 'c1',
      status: 'created',
      pid: child.pid,
      bundle: dir,
      annotations: { 'org.berth.test': 'yes' },
    });
    rmSync(new StateStore(root).fifoPath('c1'));
    expect(JSON.parse((await cli('state', 'c1')).stdout).status).toBe('running');
    child.kill('SIGKILL');
    await exited(child);
    const stopped = JSON.parse((await cli('state', 'c1')).stdout);
    expect(stopped.status).toBe('stopped');
    expect(stopped.pid).toBeUndefined();
  });

  it('state treats a recycled pid as stopped', async () => {
    await recordContainer('c2', 'running', { pidStartTime: '1' });
    expect(JSON.parse((await cli('state', 'c2')).stdout).status).toBe('stopped');
  });

  it('state of an unknown container fails naming it', async () => {
    expect(await cli('state', 'ghost')).toMatchObject({
      code: 1,
      stderr: 'berth-runtime: container ghost: does not exist\n',
    });
    expect(await cli('state', '../etc')).toMatchObject({
      code: 1,
      stderr: expect.stringMatching(/container "\.\.\/etc": invalid id/),
    });
  });

  it('kill sends a signal by name or number', async () => {
    const child = await recordContainer('k1', 'running');
    expect((await cli('kill', 'k1', 'USR1')).code).toBe(0);
    expect(await exited(child)).toBe('SIGUSR1');
    const child2 = await recordContainer('k2', 'running');
    expect((await cli('kill', 'k2', '15')).code).toBe(0);
    expect(await exited(child2)).toBe('SIGTERM');
    expect(await cli('kill', 'k2')).toMatchObject({
      code: 1,
      stderr: 'berth-runtime: container k2: cannot kill: container is stopped\n',
    });
    expect(await cli('kill', 'k2', 'NOPE')).toMatchObject({
      code: 1,
      stderr: 'berth-runtime: signal "NOPE": unknown signal name\n',
    });
  });

  it('delete refuses a running container unless forced', async () => {
    const child = await recordContainer('d1', 'running');
    expect(await cli('delete', 'd1')).toMatchObject({
      code: 1,
      stderr: 'berth-runtime: container d1: cannot delete a running container (stop it first, or use --force)\n',
    });
    expect(existsSync(join(root, 'd1'))).toBe(true);
    expect((await cli('delete', '--force', 'd1')).code).toBe(0);
    expect(await exited(child)).toBe('SIGKILL');
    expect(existsSync(join(root, 'd1'))).toBe(false);
    expect(await cli('delete', 'd1')).toMatchObject({
      code: 1,
      stderr: 'berth-runtime: container d1: does not exist\n',
    });
    expect((await cli('delete', '-f', 'd1')).code).toBe(0);
  });

  it('delete refuses a created container (not stopped) unless forced, then runs poststop hooks', async () => {
    const marker = join(dir, 'poststop.json');
    const hook = join(dir, 'poststop.sh');
    writeFileSync(hook, `#!/bin/sh\ncat > ${marker}\n`);
    chmodSync(hook, 0o755);
    const spec = validateSpec({ ...defaultSpec(), hooks: { poststop: [{ path: hook }] } }, dir);
    const child = await recordContainer('d2', 'created', { spec });
    expect(await cli('delete', 'd2')).toMatchObject({
      code: 1,
      stderr: 'berth-runtime: container d2: cannot delete a created container (stop it first, or use --force)\n',
    });
    expect(existsSync(join(root, 'd2'))).toBe(true);
    expect(existsSync(marker)).toBe(false);
    expect(JSON.parse((await cli('state', 'd2')).stdout)).toMatchObject({ status: 'created' });
    expect((await cli('delete', '--force', 'd2')).code).toBe(0);
    expect(await exited(child)).toBe('SIGKILL');
    expect(JSON.parse(readFileSync(marker, 'utf8'))).toMatchObject({ id: 'd2', status: 'stopped', bundle: dir });
    expect(existsSync(join(root, 'd2'))).toBe(false);
  });

  it('delete of a stopped container succeeds and a failing poststop only warns', async () => {
    const hook = join(dir, 'fail.sh');
    writeFileSync(hook, '#!/bin/sh\nexit 2\n');
    chmodSync(hook, 0o755);
    const spec = validateSpec({ ...defaultSpec(), hooks: { poststop: [{ path: hook }] } }, dir);
    const child = await recordContainer('d3', 'running', { spec });
    child.kill('SIGKILL');
    await exited(child);
    const r = await cli('delete', 'd3');
    expect(r.code).toBe(0);
    expect(r.stderr).toMatch(/warn: container d3: hook poststop\[0\] .*fail\.sh: exit status 2/);
    expect(existsSync(join(root, 'd3'))).toBe(false);
  });

  it('list shows every recorded container with its status', async () => {
    expect((await cli('list', '-q')).stdout).toBe('');
    const child = await recordContainer('l1', 'created');
    await recordContainer('l2', 'running');
    const rows = JSON.parse((await cli('list', '--format', 'json')).stdout) as {
      id: string;
      status: string;
      pid: number;
    }[];
    expect(rows.map((r) => [r.id, r.status])).toEqual([
      ['l1', 'created'],
      ['l2', 'running'],
    ]);
    expect(rows[0].pid).toBe(child.pid);
    expect((await cli('list', '--quiet')).stdout).toBe('l1\nl2\n');
    const table = (await cli('list')).stdout.split('\n');
    expect(table[0]).toMatch(/^ID\s+PID\s+STATUS\s+BUNDLE\s+CREATED$/);
    expect(table[1]).toMatch(new RegExp(`^l1\\s+${child.pid}\\s+created\\s+`));
    expect((await cli('list', '--format', 'yaml')).stderr).toMatch(/--format "yaml": expected table or json/);
  });

  it('writes errors to --log as JSON', async () => {
    const log = join(dir, 'log.json');
    const out = capture();
    const code = await main(['--root', root, '--log', log, '--log-format', 'json', 'state', 'ghost'], {
      stdout: out.stream,
      stderr: capture().stream,
    });
    expect(code).toBe(1);
    expect(JSON.parse(readFileSync(log, 'utf8').trim())).toMatchObject({
      level: 'error',
      msg: 'container ghost: does not exist',
      code: 'NOT_FOUND',
    });
  });
});
