// The execdriver's OCI completeness on the real kernel (root): createContainer hooks
// run at the child's stop between its mounts and pivot_root, and process.terminal
// gives the container a pty from its own devpts whose master the caller reads.
import { execFileSync } from 'node:child_process';
import {
  closeSync,
  copyFileSync,
  chmodSync,
  existsSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  writeSync,
} from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { native } from '../../native/index.js';
import { packagePath } from '../../native/package-root.js';
import { background } from '../trace/context.js';
import { collect } from '../trace/collector.js';
import { defaultSpec } from './spec/defaults.js';
import type { Spec } from './spec/types.js';
import { validateSpec } from './spec/validate.js';
import { readAll, readMaster, useExecDriverWorld, type ExecDriverWorld } from './test-driver.js';
import { needs, root } from '../../testkit/needs.js';
import { childPids } from '../../testkit/processes.js';

const ctx = background();

let w: ExecDriverWorld;

function bundle(mutate: (spec: Spec) => void, args: string[]): { dir: string; spec: Spec } {
  const raw = defaultSpec({ args, rootfs: w.rootfs });
  mutate(raw);
  return { dir: w.base, spec: validateSpec(raw, w.base) };
}

/** native/workloads/bin/tty, built with the other workloads when missing. */
function ttyBinary(): string {
  const path = packagePath('native', 'workloads', 'bin', 'tty');
  if (!existsSync(path)) execFileSync('sh', [packagePath('native', 'workloads', 'build.sh')], { stdio: 'pipe' });
  return path;
}

needs(root()).describe('terminal and createContainer hooks', () => {
  w = useExecDriverWorld('tty', ({ rootfs }) => {
    copyFileSync(ttyBinary(), join(rootfs, 'bin', 'tty'));
    chmodSync(join(rootfs, 'bin', 'tty'), 0o755);
  });

  it('runs createContainer hooks after the mounts and before pivot_root, in the container mount namespace', async () => {
    const id = w.nextId();
    const b = bundle(
      (s) => s.mounts!.push({ destination: '/scratch', type: 'tmpfs', source: 'tmpfs', options: ['size=1m'] }),
      ['/bin/probe', 'read:/scratch/marker'],
    );
    const seen: { root: string; mnt: string; procRoot: string }[] = [];
    const { spans } = await collect(async () => {
      const proc = await w.driver.create(ctx, id, b, {
        stdio: ['ignore', 'pipe', 'pipe'],
        createContainerHooks: async (_hctx, pid) => {
          seen.push({
            root: readlinkSync(`/proc/${pid}/root`),
            mnt: readlinkSync(`/proc/${pid}/ns/mnt`),
            procRoot: readlinkSync('/proc/self/ns/mnt'),
          });
          // The scratch tmpfs exists only in the child's mount namespace, at its pre-pivot path.
          execFileSync('nsenter', [
            '--target',
            String(pid),
            '--mount',
            '--',
            'sh',
            '-c',
            `echo from-hook > ${join(w.rootfs, 'scratch', 'marker')}`,
          ]);
        },
      });
      const out = readAll(proc.stdout);
      await w.driver.start(ctx, id);
      expect(await w.driver.wait(ctx, id)).toEqual({ exitCode: 0 });
      const probe = JSON.parse(await out) as { checks: { op: string; path?: string; ok: boolean; text?: string }[] };
      expect(probe.checks).toContainEqual(
        expect.objectContaining({ op: 'read', path: '/scratch/marker', ok: true, text: 'from-hook\n' }),
      );
    });
    expect(seen).toHaveLength(1);
    expect(seen[0]!.root).toBe('/'); // not pivoted yet
    expect(seen[0]!.mnt).not.toBe(seen[0]!.procRoot);
    // Nothing of the tmpfs reached the host.
    expect(existsSync(join(w.rootfs, 'scratch', 'marker'))).toBe(false);
    const names = spans
      .filter((s) => s.name.startsWith('libcontainer.') || s.name === 'execdriver.createContainerHooks')
      .sort((a, c) => a.startNs - c.startNs)
      .map((s) => s.name);
    const at = (n: string) => names.indexOf(n);
    expect(at('libcontainer.mounts')).toBeGreaterThanOrEqual(0);
    expect(at('libcontainer.mounts')).toBeLessThan(at('execdriver.createContainerHooks'));
    expect(at('execdriver.createContainerHooks')).toBeLessThan(at('libcontainer.pivot-root'));
    expect(names).toContain('libcontainer.wait-hooks');
  });

  it('makes no hooks stop when no callback is given', async () => {
    const id = w.nextId();
    const { spans } = await collect(async () => {
      await w.driver.create(
        ctx,
        id,
        bundle(() => {}, ['/bin/true']),
      );
      await w.driver.start(ctx, id);
      await w.driver.wait(ctx, id);
    });
    expect(spans.some((s) => s.name === 'libcontainer.wait-hooks')).toBe(false);
    expect(spans.some((s) => s.name === 'libcontainer.pivot-root')).toBe(true);
  });

  it('a failing createContainer hook fails create and leaves nothing behind', async () => {
    const id = w.nextId();
    const fds = readdirSync('/proc/self/fd').length;
    let hookPid = 0;
    const err = await w.driver
      .create(
        ctx,
        id,
        bundle(() => {}, ['/bin/true']),
        {
          createContainerHooks: async (_hctx, pid) => {
            hookPid = pid;
            throw new Error('hook createContainer[0] /x: exit status 2');
          },
        },
      )
      .catch((e: unknown) => e);
    expect(err).toMatchObject({ message: `container ${id}: hook createContainer[0] /x: exit status 2` });
    expect(hookPid).toBeGreaterThan(0);
    await expect(w.driver.state(ctx, id)).rejects.toMatchObject({ code: 'NOT_FOUND' });
    expect(childPids()).not.toContain(hookPid);
    expect(existsSync(`/proc/${hookPid}`)).toBe(false);
    expect(readFileSync('/proc/self/mountinfo', 'utf8')).not.toContain(w.base);
    expect(readdirSync('/proc/self/fd').length).toBe(fds);
  });

  it('gives a terminal container a pty from its devpts as controlling terminal on 0-2, with the console size', async () => {
    const id = w.nextId();
    const b = bundle(
      (s) => {
        s.process!.terminal = true;
        s.process!.consoleSize = { height: 33, width: 101 };
      },
      ['/bin/tty', 'hello-tty'],
    );
    const proc = await w.driver.create(ctx, id, b, { stdio: 'terminal' });
    expect(proc.terminal).toBeTypeOf('number');
    expect(proc.stdout).toBeUndefined();
    const master = proc.terminal!;
    try {
      const name = native().ptyName(master);
      expect(name).toMatch(/^\/dev\/pts\/\d+$/);
      await w.driver.start(ctx, id);
      const text = readMaster(master);
      expect(await w.driver.wait(ctx, id)).toEqual({ exitCode: 0 });
      // The pty's line discipline turns \n into \r\n.
      const lines = text.split('\r\n');
      const report = JSON.parse(lines[0]!) as {
        isatty: number[];
        name: string;
        rows: number;
        cols: number;
        ctty: number;
        sid: number;
        pid: number;
      };
      expect(report).toMatchObject({ isatty: [1, 1, 1], name, rows: 33, cols: 101, ctty: 1 });
      expect(report.sid).toBe(report.pid); // a session of its own
      expect(lines[1]).toBe('hello-tty');
    } finally {
      closeSync(master);
    }
  });

  it('gives the terminal to the process user', async () => {
    const id = w.nextId();
    const b = bundle(
      (s) => {
        s.process!.terminal = true;
        s.process!.user = { uid: 1234, gid: 1234 };
      },
      ['/bin/tty'],
    );
    const proc = await w.driver.create(ctx, id, b, { stdio: 'terminal' });
    const master = proc.terminal!;
    try {
      await w.driver.start(ctx, id);
      const text = readMaster(master);
      expect(await w.driver.wait(ctx, id)).toEqual({ exitCode: 0 });
      expect(JSON.parse(text.split('\r\n')[0]!)).toMatchObject({ isatty: [1, 1, 1], uid: 1234, owner: 1234, ctty: 1 });
    } finally {
      closeSync(master);
    }
  });

  it('passes input written to the master to the container', async () => {
    const id = w.nextId();
    const b = bundle((s) => (s.process!.terminal = true), ['/bin/probe', 'read:/dev/stdin']);
    const proc = await w.driver.create(ctx, id, b, { stdio: 'terminal' });
    const master = proc.terminal!;
    try {
      // Canonical mode: the line and then EOF (^D) end the container's read.
      writeSync(master, 'typed\n\x04');
      await w.driver.start(ctx, id);
      const text = readMaster(master);
      expect(await w.driver.wait(ctx, id)).toEqual({ exitCode: 0 });
      const json = text.slice(text.indexOf('{"'));
      const probe = JSON.parse(json.replace(/\r\n/g, '\n')) as { checks: { op: string; ok: boolean; text?: string }[] };
      expect(probe.checks).toContainEqual(expect.objectContaining({ op: 'read', ok: true, text: 'typed\n' }));
    } finally {
      closeSync(master);
    }
  });

  it('refuses stdio that does not match process.terminal, and a terminal spec without devpts', async () => {
    const fds = readdirSync('/proc/self/fd').length;
    await expect(
      w.driver.create(
        ctx,
        w.nextId(),
        bundle(() => {}, ['/bin/true']),
        { stdio: 'terminal' },
      ),
    ).rejects.toMatchObject({
      code: 'INVALID_ARGUMENT',
      message: expect.stringMatching(/stdio 'terminal' needs process\.terminal/),
    });
    await expect(
      w.driver.create(
        ctx,
        w.nextId(),
        bundle((s) => (s.process!.terminal = true), ['/bin/true']),
      ),
    ).rejects.toMatchObject({
      code: 'INVALID_ARGUMENT',
      message: expect.stringMatching(/process\.terminal: the container's stdio must be 'terminal'/),
    });
    const noPts = bundle(
      (s) => {
        s.process!.terminal = true;
        s.mounts = s.mounts!.filter((m) => m.destination !== '/dev/pts');
      },
      ['/bin/true'],
    );
    await expect(w.driver.create(ctx, w.nextId(), noPts, { stdio: 'terminal' })).rejects.toMatchObject({
      code: 'INVALID_ARGUMENT',
      message: expect.stringMatching(/process\.terminal: needs a devpts mount/),
    });
    expect(childPids()).toEqual([]);
    expect(readdirSync('/proc/self/fd').length).toBe(fds);
  });
});
