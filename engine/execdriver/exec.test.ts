// exec on the real kernel (root): a new process in a running container's
// namespaces (pid included) and cgroup, with its own user, env, cwd, capabilities
// and the container's seccomp filter; exit codes 127/126 for a missing or
// unrunnable program; a pty with process.terminal.
import { closeSync, existsSync, readFileSync, readlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { isBerthError } from '../errdefs/errors.js';
import { background } from '../trace/context.js';
import { defaultSpec } from './spec/defaults.js';
import type { Process, Spec } from './spec/types.js';
import { validateSpec } from './spec/validate.js';
import { readAll, readMaster, useExecDriverWorld, type ExecDriverWorld } from './test-driver.js';
import { firstMissing, needs, root, when } from '../../testkit/needs.js';

const missing = firstMissing(root(), when(existsSync('/proc/self/ns/cgroup'), 'needs cgroup namespaces'));
const ctx = background();

let w: ExecDriverWorld;

/**
 * A running container: /bin/sleep as pid 1, a tmpfs on /scratch only its mount namespace has, Docker's seccomp profile.
 */
async function runningContainer(mutate: (spec: Spec) => void = () => {}): Promise<{ id: string; pid: number }> {
  const id = w.nextId();
  const raw = defaultSpec({ args: ['/bin/sleep'], rootfs: w.rootfs, hostname: 'exec-box', seccomp: true });
  raw.mounts!.push({ destination: '/scratch', type: 'tmpfs', source: 'tmpfs', options: ['size=1m'] });
  mutate(raw);
  const spec: Spec = validateSpec(raw, w.base);
  const proc = await w.driver.create(ctx, id, { dir: w.base, spec });
  await w.driver.start(ctx, id);
  return { id, pid: proc.pid };
}

function proc(args: string[], extra: Partial<Process> = {}): Process {
  return { args, cwd: '/', user: { uid: 0, gid: 0 }, env: ['PATH=/bin'], ...extra };
}

needs(missing).describe('exec', () => {
  w = useExecDriverWorld('exec', ({ rootfs }) => {
    writeFileSync(join(rootfs, 'etc', 'not-a-program'), 'just text\n', { mode: 0o644 });
  });

  it("runs in the container's namespaces (pid included) and filesystem, with its own user, env and cwd", async () => {
    const c = await runningContainer();
    const p = await w.driver.exec(
      ctx,
      c.id,
      proc(['probe', 'read:/proc/1/cmdline'], {
        cwd: '/tmp',
        user: { uid: 1000, gid: 1001, additionalGids: [5] },
        env: ['PATH=/bin', 'GREETING=hello exec'],
      }),
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    const [out, err] = await Promise.all([readAll(p.stdout), readAll(p.stderr)]);
    expect(await p.exited).toEqual({ exitCode: 0 });
    expect(err).toBe('');
    const probe = JSON.parse(out) as {
      hostname: string;
      pid: number;
      uid: number;
      gid: number;
      groups: number[];
      cwd: string;
      env: string[];
      ns: Record<string, string>;
      mountinfo: string;
      NoNewPrivs: string;
      Seccomp: string;
      checks: { op: string; ok: boolean; text?: string }[];
    };
    for (const ns of ['net', 'uts', 'ipc', 'mnt', 'pid', 'cgroup'])
      expect(probe.ns[ns], ns).toBe(readlinkSync(`/proc/${c.pid}/ns/${ns}`));
    // A pid of the container's namespace (pid 1 is the container's sleep), not the host's.
    expect(probe.pid).toBeGreaterThan(1);
    expect(probe.pid).toBeLessThan(100);
    expect(probe.checks[0]).toMatchObject({ op: 'read', ok: true });
    expect(probe.checks[0]!.text?.startsWith('/bin/sleep')).toBe(true);
    expect(probe.mountinfo).toMatch(/ \/scratch /);
    expect(probe.hostname).toBe('exec-box');
    expect([probe.uid, probe.gid]).toEqual([1000, 1001]);
    expect(probe.groups).toEqual([5]);
    expect(probe.cwd).toBe('/tmp');
    expect(probe.env).toEqual(['PATH=/bin', 'GREETING=hello exec']);
    // The container's seccomp filter applies to exec too.
    expect(probe.Seccomp).toBe('2');
  });

  it("joins the container's user namespace first: root inside is the mapped user outside", async () => {
    const c = await runningContainer((s) => {
      s.linux!.namespaces!.push({ type: 'user' });
      s.linux!.uidMappings = [{ containerID: 0, hostID: 200000, size: 65536 }];
      s.linux!.gidMappings = [{ containerID: 0, hostID: 200000, size: 65536 }];
    });
    const p = await w.driver.exec(ctx, c.id, proc(['/bin/sleep', '600']));
    const status = readFileSync(`/proc/${p.pid}/status`, 'utf8');
    expect(status).toMatch(/^Uid:\s+200000\s/m);
    expect(readlinkSync(`/proc/${p.pid}/ns/user`)).toBe(readlinkSync(`/proc/${c.pid}/ns/user`));
    expect(readlinkSync(`/proc/${p.pid}/ns/mnt`)).toBe(readlinkSync(`/proc/${c.pid}/ns/mnt`));
    p.kill('SIGKILL');
    await p.exited;
  });

  it("joins the container's cgroup, and is killed through its own handle", async () => {
    const c = await runningContainer();
    const p = await w.driver.exec(ctx, c.id, proc(['/bin/sleep', '600']));
    const cgroupOf = (pid: number) =>
      readFileSync(`/proc/${pid}/cgroup`, 'utf8')
        .split('\n')
        .filter((l) => /^0::|:pids:|:memory:/.test(l))
        .sort();
    expect(cgroupOf(p.pid)).toEqual(cgroupOf(c.pid));
    expect(cgroupOf(p.pid).join('\n')).toContain(w.cgroupParent);
    p.kill('SIGKILL');
    expect(await p.exited).toEqual({ signal: 'SIGKILL' });
    // The container keeps running.
    expect((await w.driver.state(ctx, c.id)).status).toBe('running');
  });

  it('reports its exit code, 127 for a missing program and 126 for one that cannot run', async () => {
    const c = await runningContainer();
    const p = await w.driver.exec(ctx, c.id, proc(['probe', 'exit:3']));
    expect(await p.exited).toEqual({ exitCode: 3 });
    for (const [args, code, errno] of [
      [['/bin/nope'], 127, 'ENOENT'],
      [['nope'], 127, 'ENOENT'],
      [['/etc/not-a-program'], 126, 'EACCES'],
    ] as const) {
      const err = await w.driver.exec(ctx, c.id, proc([...args])).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(isBerthError(err), String(err)).toBe(true);
      expect((err as Error).message).toContain(`exec: execve ${args[0]}: ${errno}`);
      expect((err as { details: Record<string, unknown> }).details.exitCode).toBe(code);
    }
  });

  it('applies no_new_privileges and capabilities of the exec process', async () => {
    const c = await runningContainer();
    const p = await w.driver.exec(
      ctx,
      c.id,
      proc(['probe'], {
        noNewPrivileges: true,
        capabilities: { bounding: ['CAP_KILL'], effective: [], permitted: [] },
      }),
      { stdio: ['ignore', 'pipe', 'ignore'] },
    );
    const probe = JSON.parse(await readAll(p.stdout)) as { NoNewPrivs: string; CapEff: string; CapBnd: string };
    await p.exited;
    expect(probe.NoNewPrivs).toBe('1');
    expect(probe.CapEff).toBe('0000000000000000');
    expect(probe.CapBnd).toBe('0000000000000020');
  });

  it("gives a TTY process a pty from the container's devpts", async () => {
    const c = await runningContainer();
    const p = await w.driver.exec(
      ctx,
      c.id,
      proc(['/bin/tty', 'hi'], { terminal: true, consoleSize: { height: 33, width: 101 } }),
      { stdio: 'terminal' },
    );
    expect(p.terminal).toBeTypeOf('number');
    const out = readMaster(p.terminal!);
    closeSync(p.terminal!);
    expect(await p.exited).toEqual({ exitCode: 0 });
    const info = JSON.parse(out.split('\n')[0]!) as Record<string, unknown>;
    expect(info).toMatchObject({ isatty: [1, 1, 1], rows: 33, cols: 101, ctty: 1, uid: 0 });
    expect(String(info.name)).toMatch(/^\/dev\/pts\/\d+$/);
    expect(out).toContain('hi');
  });

  it('refuses a container that is not running, a bad process and an unknown id', async () => {
    const c = await runningContainer();
    await expect(w.driver.exec(ctx, c.id, proc([]))).rejects.toThrow(/exec process.args/);
    await expect(
      w.driver.exec(ctx, c.id, { cwd: '/', user: { uid: 0, gid: 0 } } as unknown as Process),
    ).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
    await expect(w.driver.exec(ctx, c.id, proc(['probe'], { user: { uid: -1, gid: 0 } }))).rejects.toThrow(
      /exec process.user/,
    );
    await expect(w.driver.exec(ctx, c.id, proc(['probe'], { env: ['NOEQUALS'] }))).rejects.toThrow(
      /exec process.env: "NOEQUALS"/,
    );
    await expect(w.driver.exec(ctx, c.id, proc(['probe'], { cwd: 'tmp' }))).rejects.toThrow(/exec process.cwd/);
    await expect(w.driver.exec(ctx, c.id, proc(['probe'], { terminal: true }))).rejects.toThrow(
      /stdio must be 'terminal'/,
    );
    await w.driver.kill(ctx, c.id, 'SIGKILL');
    await w.driver.wait(ctx, c.id);
    await expect(w.driver.exec(ctx, c.id, proc(['probe']))).rejects.toMatchObject({ code: 'FAILED_PRECONDITION' });
    await expect(w.driver.exec(ctx, 'no-such', proc(['probe']))).rejects.toMatchObject({ code: 'NOT_FOUND' });
  });
});
