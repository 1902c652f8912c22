// berth-runtime end to end, as runc's users drive it: separate create / start / state /
// kill / delete processes on a real bundle (a busybox rootfs), with hooks at every
// lifecycle point written as shell scripts. Needs root, the native core and busybox.
import { spawn } from 'node:child_process';
import { execFileSync, type ChildProcess } from 'node:child_process';
import {
  chmodSync,
  closeSync,
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  realpathSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { detectLayout } from '../execdriver/cgroups/detect.js';
import { defaultSpec } from '../execdriver/spec/defaults.js';
import { ROOTFS_IDMAP_ANNOTATION } from '../execdriver/native-config.js';
import type { Hook, Spec } from '../execdriver/spec/types.js';
import { onPath } from '../fsutil/on-path.js';
import { native } from '../../native/index.js';
import { packagePath } from '../../native/package-root.js';
import { workloadBinary } from '../execdriver/workload-rootfs.js';
import { isSameProcessAlive } from './process-info.js';

/**
 * A console socket receiver as runc's users write one: accepts one connection, takes
 * the fd (socket.recv_fds), writes the payload (the pty's name) on one line and then
 * everything read from the master until EIO (the container is gone) to `out`.
 */
const RECEIVER = `
import os, socket, sys
path, out = sys.argv[1], sys.argv[2]
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.bind(path)
s.listen(1)
print('ready', flush=True)
conn, _ = s.accept()
name, fds, _, _ = socket.recv_fds(conn, 4096, 1)
data = b''
while True:
    try:
        chunk = os.read(fds[0], 4096)
    except OSError:
        break
    if not chunk:
        break
    data += chunk
with open(out + '.tmp', 'wb') as f:
    f.write(name + b'\\n' + data)
os.rename(out + '.tmp', out)
`;
import { needs, root as asRoot, tool, when } from '../../testkit/needs.js';
import { idmappedMounts } from '../../testkit/idmap.js';
const hasPython = (() => {
  try {
    execFileSync('python3', ['-c', 'import socket; socket.recv_fds'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
})();

/** native/workloads/bin/tty, built with the other workloads when missing. */
function ttyBinary(): string {
  const path = packagePath('native', 'workloads', 'bin', 'tty');
  if (!existsSync(path)) execFileSync('sh', [packagePath('native', 'workloads', 'build.sh')], { stdio: 'pipe' });
  return path;
}

const BIN = fileURLToPath(new URL('./bin.cjs', import.meta.url));
const BUSYBOX = onPath('busybox');

let dir: string;
let bundle: string;
let root: string;
let n = 0;
const ids: string[] = [];

function newId(): string {
  const id = `berth-rt-${process.pid}-${n++}`;
  ids.push(id);
  return id;
}

/**
 * Runs berth-runtime with stdout and stderr in files: a created container inherits them
 * (as from runc), so pipes would stay open after the command exits.
 */
async function rt(...args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const out = join(dir, `out-${Math.random().toString(36).slice(2)}`);
  const outFd = openSync(`${out}.1`, 'w');
  const errFd = openSync(`${out}.2`, 'w');
  try {
    const child = spawn(process.execPath, [BIN, '--root', root, ...args], { stdio: ['ignore', outFd, errFd] });
    const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
    const code = await new Promise<number | null>((resolve) => child.once('exit', (c) => resolve(c)));
    clearTimeout(timer);
    return { code, stdout: readFileSync(`${out}.1`, 'utf8').trim(), stderr: readFileSync(`${out}.2`, 'utf8').trim() };
  } finally {
    closeSync(outFd);
    closeSync(errFd);
  }
}

/** rt() with `extra` fds inherited by berth-runtime as its fds 3, 4, … (not close-on-exec there). */
async function rtWithFds(extra: number[], ...args: string[]): Promise<{ code: number | null; stdout: string }> {
  const out = join(dir, `out-${Math.random().toString(36).slice(2)}`);
  const outFd = openSync(out, 'w');
  try {
    const child = spawn(process.execPath, [BIN, '--root', root, ...args], {
      stdio: ['ignore', outFd, outFd, ...extra],
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
    const code = await new Promise<number | null>((resolve) => child.once('exit', (c) => resolve(c)));
    clearTimeout(timer);
    return { code, stdout: readFileSync(out, 'utf8').trim() };
  } finally {
    closeSync(outFd);
  }
}

/** Copies a static workload into the bundle's /bin. */
function addWorkload(name: 'probe' | 'escape'): void {
  copyFileSync(workloadBinary(name), join(bundle, 'rootfs', 'bin', name));
  chmodSync(join(bundle, 'rootfs', 'bin', name), 0o755);
}

async function state(id: string): Promise<Record<string, unknown>> {
  const r = await rt('state', id);
  expect(r.code).toBe(0);
  return JSON.parse(r.stdout) as Record<string, unknown>;
}

function script(path: string, body: string, shell = '/bin/sh'): string {
  writeFileSync(path, `#!${shell}\n${body}\n`);
  chmodSync(path, 0o755);
  return path;
}

function writeSpec(mutate: (s: Spec) => void = () => undefined): Spec {
  const spec = defaultSpec({ args: ['sleep', '30'] });
  spec.root!.readonly = false;
  mutate(spec);
  writeFileSync(join(bundle, 'config.json'), JSON.stringify(spec));
  return spec;
}

const layout = (() => {
  try {
    return detectLayout();
  } catch {
    return undefined;
  }
})();
/** Where the container's cgroup shows up: the memory hierarchy (v1) or the unified one. */
const cgroupDir = (id: string) =>
  join(layout?.v1.get('memory') ?? layout?.unified ?? '/sys/fs/cgroup', 'berth-runtime', id);

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), `berth-rt-${process.pid}-`));
  bundle = join(dir, 'bundle');
  root = join(dir, 'state');
  const rootfs = join(bundle, 'rootfs');
  for (const d of ['bin', 'proc', 'dev', 'sys', 'tmp', 'hooks']) mkdirSync(join(rootfs, d), { recursive: true });
  if (BUSYBOX !== undefined) {
    copyFileSync(BUSYBOX, join(rootfs, 'bin/busybox'));
    chmodSync(join(rootfs, 'bin/busybox'), 0o755);
    for (const tool of ['sh', 'sleep', 'cat', 'hostname', 'echo', 'true'])
      symlinkSync('busybox', join(rootfs, 'bin', tool));
  }
});

afterEach(async () => {
  for (const id of ids.splice(0)) {
    const pidFile = join(root, id, 'state.json');
    if (existsSync(pidFile)) {
      const { pid, pidStartTime } = JSON.parse(readFileSync(pidFile, 'utf8')) as {
        pid?: number;
        pidStartTime?: string;
      };
      await rt('delete', '--force', id);
      if (pid !== undefined && isSameProcessAlive(pid, pidStartTime)) process.kill(pid, 'SIGKILL');
    }
  }
  rmSync(dir, { recursive: true, force: true });
});

needs(asRoot(), tool('busybox', 'busybox-static')).describe('berth-runtime lifecycle', () => {
  it('create leaves a waiting init, start runs it, delete removes everything', async () => {
    writeSpec();
    const id = newId();
    const pidFile = join(dir, 'init.pid');
    const created = await rt('create', '--bundle', bundle, '--pid-file', pidFile, id);
    expect(created).toMatchObject({ code: 0, stderr: '' });
    const pid = Number(readFileSync(pidFile, 'utf8'));
    expect(await state(id)).toEqual({ ociVersion: '1.0.2', id, status: 'created', pid, bundle });
    expect(existsSync(join(root, id, 'exec.fifo'))).toBe(true);
    expect(existsSync(cgroupDir(id))).toBe(true);
    expect(readFileSync(join(cgroupDir(id), 'cgroup.procs'), 'utf8').trim()).toBe(String(pid));

    expect(await rt('start', id)).toMatchObject({ code: 0 });
    expect(await state(id)).toMatchObject({ status: 'running', pid });
    expect(readFileSync(`/proc/${pid}/cmdline`, 'utf8')).toBe('sleep\x0030\x00');
    expect(await rt('start', id)).toMatchObject({
      code: 1,
      stderr: `berth-runtime: container ${id}: cannot start: container is running`,
    });

    expect(await rt('delete', id)).toMatchObject({
      code: 1,
      stderr: expect.stringMatching(/cannot delete a running container/),
    });
    expect(await rt('kill', id, 'KILL')).toMatchObject({ code: 0 });
    for (let i = 0; i < 100 && (await state(id)).status !== 'stopped'; i++) await new Promise((r) => setTimeout(r, 20));
    expect(await state(id)).toEqual({ ociVersion: '1.0.2', id, status: 'stopped', bundle });
    expect(await rt('delete', id)).toMatchObject({ code: 0 });
    expect(existsSync(join(root, id))).toBe(false);
    expect(existsSync(cgroupDir(id))).toBe(false);
    // the shared parent goes with its last container (unless another one still uses it)
    const parent = dirname(cgroupDir(id));
    if (existsSync(parent) && readdirSync(parent, { withFileTypes: true }).every((e) => !e.isDirectory())) {
      expect.fail('an empty berth-runtime parent cgroup was left behind');
    }
    expect(await rt('state', id)).toMatchObject({ code: 1, stderr: `berth-runtime: container ${id}: does not exist` });
  });

  it('delete --force stops a running container and removes a created one', async () => {
    writeSpec();
    const a = newId();
    const b = newId();
    expect((await rt('run', '--detach', '--bundle', bundle, a)).code).toBe(0);
    expect(await state(a)).toMatchObject({ status: 'running' });
    expect((await rt('create', '--bundle', bundle, b)).code).toBe(0);
    const pidB = (await state(b)).pid as number;
    expect(await rt('delete', '--force', a)).toMatchObject({ code: 0 });
    expect(await rt('delete', b)).toMatchObject({ code: 1, stderr: expect.stringMatching(/cannot delete a created/) });
    expect(await state(b)).toMatchObject({ status: 'created', pid: pidB });
    expect(await rt('delete', '--force', b)).toMatchObject({ code: 0 });
    expect(isSameProcessAlive(pidB, undefined)).toBe(false);
    for (const id of [a, b]) {
      expect(existsSync(join(root, id))).toBe(false);
      expect(existsSync(cgroupDir(id))).toBe(false);
    }
  });

  it('kill --all signals every process in the cgroup', async () => {
    writeSpec((s) => (s.process!.args = ['sh', '-c', 'sleep 30 & sleep 30 & wait']));
    const id = newId();
    expect((await rt('run', '-d', '-b', bundle, id)).code).toBe(0);
    for (
      let i = 0;
      i < 100 &&
      readFileSync(join(cgroupDir(id), 'cgroup.procs'), 'utf8')
        .trim()
        .split('\n').length < 3;
      i++
    )
      await new Promise((r) => setTimeout(r, 20));
    expect(await rt('kill', '--all', id, '9')).toMatchObject({ code: 0 });
    for (let i = 0; i < 100 && readFileSync(join(cgroupDir(id), 'cgroup.procs'), 'utf8').trim() !== ''; i++)
      await new Promise((r) => setTimeout(r, 20));
    expect(readFileSync(join(cgroupDir(id), 'cgroup.procs'), 'utf8').trim()).toBe('');
    expect((await rt('delete', id)).code).toBe(0);
  });

  it('run in the foreground exits with the container status and leaves nothing', async () => {
    writeSpec((s) => (s.process!.args = ['sh', '-c', 'echo out-$(hostname); echo err >&2; exit 7']));
    const id = newId();
    const r = await rt('run', '--bundle', bundle, id);
    expect(r).toMatchObject({ code: 7, stdout: 'out-berth', stderr: 'err' });
    expect(existsSync(join(root, id))).toBe(false);
    expect(existsSync(cgroupDir(id))).toBe(false);
  });

  /** Mount points at or under the bundle's rootfs in this process's mount namespace. */
  const rootfsMounts = () =>
    readFileSync('/proc/self/mountinfo', 'utf8')
      .split('\n')
      .map((l) => l.split(' ')[4])
      .filter((p) => p !== undefined && (p === join(bundle, 'rootfs') || p.startsWith(`${join(bundle, 'rootfs')}/`)));

  const waitStopped = async (id: string) => {
    for (let i = 0; i < 250 && (await state(id)).status !== 'stopped'; i++) await new Promise((r) => setTimeout(r, 20));
  };

  needs(tool('unshare', 'util-linux')).it(
    'joins a mount namespace by path and sets its rootfs up there, leaving the host untouched',
    async () => {
      const holder = spawn('unshare', ['--mount', '--propagation', 'private', 'sleep', '60'], { stdio: 'ignore' });
      try {
        const own = readlinkSync('/proc/self/ns/mnt');
        let theirs = own;
        for (let i = 0; i < 250 && theirs === own; i++) {
          await new Promise((r) => setTimeout(r, 20));
          theirs = readlinkSync(`/proc/${holder.pid}/ns/mnt`);
        }
        expect(theirs).not.toBe(own);
        writeSpec((s) => {
          s.linux!.namespaces = s.linux!.namespaces!.map((ns) =>
            ns.type === 'mount' ? { type: 'mount', path: `/proc/${holder.pid}/ns/mnt` } : ns,
          );
          s.process!.args = ['sh', '-c', 'cat /proc/self/mountinfo; sleep 30'];
        });
        const id = newId();
        expect(await rt('create', '-b', bundle, id)).toMatchObject({ code: 0, stderr: '' });
        const pid = (await state(id)).pid as number;
        expect(readlinkSync(`/proc/${pid}/ns/mnt`)).toBe(theirs);
        // the container's root is its rootfs (busybox is there), its /proc its own
        expect(existsSync(`/proc/${pid}/root/bin/busybox`)).toBe(true);
        expect(rootfsMounts()).toEqual([]);
        expect(await rt('delete', '--force', id)).toMatchObject({ code: 0 });
      } finally {
        holder.kill('SIGKILL');
      }
    },
  );

  it("shares the runtime's mount namespace when the spec has none; delete removes its mounts", async () => {
    writeSpec((s) => {
      s.linux!.namespaces = s.linux!.namespaces!.filter((ns) => ns.type !== 'mount');
      s.process!.args = ['sh', '-c', 'echo pid-$$ > /tmp/ran; sleep 30'];
    });
    const id = newId();
    expect(await rt('create', '-b', bundle, id)).toMatchObject({ code: 0, stderr: '' });
    const pid = (await state(id)).pid as number;
    expect(readlinkSync(`/proc/${pid}/ns/mnt`)).toBe(readlinkSync('/proc/self/ns/mnt'));
    // the rootfs bind and the spec's mounts (/proc among them) sit under the rootfs, in this namespace
    expect(rootfsMounts()).toContain(join(bundle, 'rootfs', 'proc'));
    expect(await rt('start', id)).toMatchObject({ code: 0 });
    for (let i = 0; i < 250 && !existsSync(join(bundle, 'rootfs/tmp/ran')); i++)
      await new Promise((r) => setTimeout(r, 20));
    // chrooted into the rootfs, in its own pid namespace
    expect(readFileSync(join(bundle, 'rootfs/tmp/ran'), 'utf8')).toBe('pid-1\n');
    expect(await rt('kill', id, 'KILL')).toMatchObject({ code: 0 });
    await waitStopped(id);
    expect(await rt('delete', id)).toMatchObject({ code: 0 });
    expect(rootfsMounts()).toEqual([]);

    // a failed create leaves no mount behind either
    writeSpec((s) => {
      s.linux!.namespaces = s.linux!.namespaces!.filter((ns) => ns.type !== 'mount');
      s.process!.cwd = '/no/such/dir';
    });
    const failed = newId();
    expect((await rt('create', '-b', bundle, failed)).code).toBe(1);
    expect(rootfsMounts()).toEqual([]);
    expect(existsSync(join(root, failed))).toBe(false);
  });

  it('runs every hook at its point with the state on stdin', async () => {
    const log = join(dir, 'hooks');
    mkdirSync(log);
    const host = (name: string): Hook => ({
      path: script(join(dir, `${name}.sh`), `cat > ${log}/${name}.json; echo ${name} >> ${log}/order`),
      args: [name],
    });
    // Inside the container: the path resolves in its rootfs, the output lands in its /tmp.
    const inner = (name: string): Hook => {
      script(join(bundle, 'rootfs/hooks', `${name}.sh`), `cat > /tmp/${name}.json; hostname > /tmp/${name}.host`);
      return { path: `/hooks/${name}.sh` };
    };
    // createContainer: in the container's mount namespace before pivot_root, so the path
    // resolves in the host's tree and the container's mounts (its /proc) sit under the rootfs.
    const rootfs = join(bundle, 'rootfs');
    const createContainer: Hook = {
      path: script(
        join(dir, 'createContainer.sh'),
        [
          `cat > ${rootfs}/tmp/createContainer.json`,
          `readlink /proc/self/ns/mnt > ${log}/createContainer.mnt`,
          `if [ -e ${rootfs}/proc/self/status ]; then echo mounted; else echo missing; fi > ${log}/createContainer.proc`,
          `echo createContainer >> ${log}/order`,
        ].join('\n'),
      ),
    };
    writeSpec((s) => {
      s.annotations = { 'org.berth.test': 'hooks' };
      s.hooks = {
        prestart: [host('prestart')],
        createRuntime: [host('createRuntime')],
        createContainer: [createContainer],
        startContainer: [inner('startContainer')],
        poststart: [host('poststart')],
        poststop: [host('poststop')],
      };
    });
    const id = newId();
    expect(await rt('create', '-b', bundle, id)).toMatchObject({ code: 0 });
    expect(readFileSync(join(log, 'order'), 'utf8')).toBe('prestart\ncreateRuntime\ncreateContainer\n');
    const pid = (await state(id)).pid;
    const prestart = JSON.parse(readFileSync(join(log, 'prestart.json'), 'utf8'));
    expect(prestart).toEqual({
      ociVersion: '1.0.2',
      id,
      status: 'created',
      pid,
      bundle,
      annotations: { 'org.berth.test': 'hooks' },
    });
    expect(JSON.parse(readFileSync(join(log, 'createRuntime.json'), 'utf8'))).toMatchObject({
      id,
      status: 'created',
      pid,
    });
    expect(JSON.parse(readFileSync(join(bundle, 'rootfs/tmp/createContainer.json'), 'utf8'))).toMatchObject({
      id,
      status: 'created',
      pid,
    });
    expect(readFileSync(join(log, 'createContainer.mnt'), 'utf8').trim()).toBe(readlinkSync(`/proc/${pid}/ns/mnt`));
    expect(readFileSync(join(log, 'createContainer.mnt'), 'utf8').trim()).not.toBe(readlinkSync('/proc/self/ns/mnt'));
    expect(readFileSync(join(log, 'createContainer.proc'), 'utf8').trim()).toBe('mounted');
    expect(existsSync(join(rootfs, 'proc/self'))).toBe(false);
    expect(existsSync(join(bundle, 'rootfs/tmp/startContainer.json'))).toBe(false);

    expect(await rt('start', id)).toMatchObject({ code: 0 });
    expect(JSON.parse(readFileSync(join(bundle, 'rootfs/tmp/startContainer.json'), 'utf8'))).toMatchObject({
      id,
      status: 'created',
      pid,
    });
    expect(readFileSync(join(bundle, 'rootfs/tmp/startContainer.host'), 'utf8').trim()).toBe('berth');
    expect(JSON.parse(readFileSync(join(log, 'poststart.json'), 'utf8'))).toMatchObject({ id, status: 'running', pid });

    expect(await rt('delete', '-f', id)).toMatchObject({ code: 0 });
    expect(readFileSync(join(log, 'order'), 'utf8')).toBe(
      'prestart\ncreateRuntime\ncreateContainer\npoststart\npoststop\n',
    );
    const poststop = JSON.parse(readFileSync(join(log, 'poststop.json'), 'utf8'));
    expect(poststop).toMatchObject({ id, status: 'stopped' });
    expect(poststop.pid).toBeUndefined();
  });

  it('a failing prestart hook fails create, undoes it and runs poststop', async () => {
    const marker = join(dir, 'poststop.ran');
    writeSpec((s) => {
      s.hooks = {
        prestart: [{ path: script(join(dir, 'bad.sh'), 'echo "cannot wire network" >&2; exit 4') }],
        poststop: [{ path: script(join(dir, 'stop.sh'), `cat > ${marker}`) }],
      };
    });
    const id = newId();
    const pidFile = join(dir, 'pid');
    const r = await rt('create', '-b', bundle, '--pid-file', pidFile, id);
    expect(r.code).toBe(1);
    expect(r.stderr).toBe(
      `berth-runtime: container ${id}: hook prestart[0] ${join(dir, 'bad.sh')}: exit status 4: cannot wire network`,
    );
    expect(existsSync(join(root, id))).toBe(false);
    expect(existsSync(cgroupDir(id))).toBe(false);
    expect(existsSync(pidFile)).toBe(false);
    expect(JSON.parse(readFileSync(marker, 'utf8'))).toMatchObject({ id, status: 'stopped' });
  });

  it('a failing createContainer hook fails create before pivot_root and leaves nothing behind', async () => {
    const marker = join(dir, 'poststop.ran');
    const order = join(dir, 'order');
    writeSpec((s) => {
      s.hooks = {
        createRuntime: [{ path: script(join(dir, 'rt.sh'), `echo createRuntime >> ${order}`) }],
        createContainer: [
          { path: script(join(dir, 'cc.sh'), `echo createContainer >> ${order}; echo "no gpu" >&2; exit 9`) },
        ],
        poststop: [{ path: script(join(dir, 'stop.sh'), `cat > ${marker}`) }],
      };
    });
    const id = newId();
    const r = await rt('create', '-b', bundle, id);
    expect(r).toMatchObject({
      code: 1,
      stderr: `berth-runtime: container ${id}: hook createContainer[0] ${join(dir, 'cc.sh')}: exit status 9: no gpu`,
    });
    expect(readFileSync(order, 'utf8')).toBe('createRuntime\ncreateContainer\n');
    expect(existsSync(join(root, id))).toBe(false);
    expect(existsSync(cgroupDir(id))).toBe(false);
    expect(readFileSync('/proc/self/mountinfo', 'utf8')).not.toContain(bundle);
    expect(JSON.parse(readFileSync(marker, 'utf8'))).toMatchObject({ id, status: 'stopped' });
  });

  it('a hook past its timeout fails create', async () => {
    writeSpec(
      (s) => (s.hooks = { createRuntime: [{ path: script(join(dir, 'slow.sh'), 'exec sleep 30'), timeout: 1 }] }),
    );
    const id = newId();
    const r = await rt('create', '-b', bundle, id);
    expect(r).toMatchObject({
      code: 1,
      stderr: `berth-runtime: container ${id}: hook createRuntime[0] ${join(dir, 'slow.sh')}: timed out after 1s`,
    });
    expect(existsSync(join(root, id))).toBe(false);
  });

  it('a failing startContainer hook stops the container; a failing poststart only warns', async () => {
    script(join(bundle, 'rootfs/hooks/no.sh'), 'exit 5');
    writeSpec((s) => (s.hooks = { startContainer: [{ path: '/hooks/no.sh' }] }));
    const id = newId();
    expect((await rt('create', '-b', bundle, id)).code).toBe(0);
    const r = await rt('start', id);
    expect(r).toMatchObject({
      code: 1,
      stderr: `berth-runtime: container ${id}: hook startContainer[0] /hooks/no.sh: exit status 5`,
    });
    expect(await state(id)).toMatchObject({ status: 'stopped' });
    expect((await rt('delete', id)).code).toBe(0);

    writeSpec((s) => (s.hooks = { poststart: [{ path: script(join(dir, 'warn.sh'), 'exit 6') }] }));
    const id2 = newId();
    expect((await rt('create', '-b', bundle, id2)).code).toBe(0);
    const started = await rt('start', id2);
    expect(started.code).toBe(0);
    expect(started.stderr).toMatch(
      new RegExp(`warn: container ${id2}: hook poststart\\[0\\] .*warn\\.sh: exit status 6`),
    );
    expect(await state(id2)).toMatchObject({ status: 'running' });
  });

  it('refuses bad bundles and flags naming the subject, leaving nothing behind', async () => {
    writeSpec((s) => (s.linux!.namespaces![0] = { type: 'time2' as never }));
    const id = newId();
    expect(await rt('create', '-b', bundle, id)).toMatchObject({
      code: 1,
      stderr: `berth-runtime: bundle ${bundle}: config.json: linux.namespaces[0].type: unknown namespace type "time2" (expected one of "pid", "network", "mount", "ipc", "uts", "user", "cgroup")`,
    });
    expect(existsSync(join(root, id))).toBe(false);
    writeSpec((s) => s.process!.capabilities!.bounding!.push('CAP_SYS_RESOURCE'));
    expect((await rt('create', '-b', bundle, id)).stderr).toMatch(
      /process\.capabilities\.bounding\[14\]: CAP_SYS_RESOURCE is not in this host's bounding set/,
    );
    writeSpec();
    expect((await rt('create', '-b', bundle, '--console-socket', '/tmp/x.sock', id)).stderr).toBe(
      `berth-runtime: container ${id}: --console-socket /tmp/x.sock: the spec does not ask for a terminal (process.terminal)`,
    );
    writeSpec((s) => (s.process!.terminal = true));
    expect((await rt('create', '-b', bundle, id)).stderr).toMatch(
      /^berth-runtime: container .*: process\.terminal needs --console-socket/,
    );
    expect((await rt('create', '-b', bundle, '--console-socket', join(dir, 'nobody.sock'), id)).stderr).toMatch(
      new RegExp(`^berth-runtime: container ${id}: console socket ${join(dir, 'nobody.sock')}: connect: ENOENT`),
    );
    expect(existsSync(join(root, id))).toBe(false);
    expect(existsSync(cgroupDir(id))).toBe(false);
    expect((await rt('create', '-b', join(dir, 'nope'), id)).stderr).toMatch(
      /^berth-runtime: bundle .*nope: config\.json: ENOENT/,
    );
    expect(existsSync(join(root, id))).toBe(false);
  });

  it("a created container's init, still the runtime's binary, is closed to a container sharing its pid namespace", async () => {
    // Until execve the init runs berth-runtime's node; a process of container A sees it in A's pid namespace and
    // must not reach that binary through /proc/<pid>/exe. The child makes itself non-dumpable for this. On the 6.18
    // kernel this was written on, removing PR_SET_DUMPABLE alone did not make the test fail (the access was still
    // refused, by a check not pinned down), so here it guards the end state rather than that one line.
    addWorkload('escape');
    symlinkSync('busybox', join(bundle, 'rootfs', 'bin', 'mv'));
    writeSpec((s) => {
      s.process!.args = [
        'sh',
        '-c',
        'while :; do /bin/escape procexe > /tmp/scan.new; mv /tmp/scan.new /tmp/scan; sleep 0.1; done',
      ];
    });
    const a = newId();
    expect((await rt('run', '--detach', '--bundle', bundle, a)).code).toBe(0);
    const pidA = (await state(a)).pid as number;
    writeSpec((s) => {
      s.process!.args = ['true'];
      s.linux!.namespaces = s.linux!.namespaces!.map((n) =>
        n.type === 'pid' ? { type: 'pid', path: `/proc/${pidA}/ns/pid` } : n,
      );
    });
    const b = newId();
    expect((await rt('create', '--bundle', bundle, b)).code).toBe(0);
    const pidB = (await state(b)).pid as number;
    const inA = readFileSync(`/proc/${pidB}/status`, 'utf8').match(/^NSpid:\s+\d+\s+(\d+)/m)![1]!;
    const node = realpathSync(process.execPath);
    let seen: { name: string; ok: boolean; errno: string | null }[] = [];
    for (let i = 0; i < 300; i++) {
      try {
        const scan = JSON.parse(readFileSync(join(bundle, 'rootfs', 'tmp', 'scan'), 'utf8')) as {
          attempts: typeof seen;
        };
        seen = scan.attempts.filter((t) => t.name.includes(`/proc/${inA}/exe`));
        if (seen.length === 3) break;
      } catch {
        // not written yet
      }
      await new Promise((r) => setTimeout(r, 100));
    }
    expect(seen.map((t) => [t.name.split(' ')[0], t.ok, t.errno])).toEqual([
      ['readlink', false, 'EACCES'],
      ['open-r', false, 'EACCES'],
      ['open-w', false, 'EACCES'],
    ]);
    expect(seen.some((t) => t.name.includes(node))).toBe(false);
  });

  it('fds berth-runtime inherits never reach the container, and a cwd through one is refused', async () => {
    // The child closes what it inherits (close_except at its start and in setup_stdio), marks the rest
    // close-on-exec (close_fds), and refuses a cwd with no path from the root. Checked by removing them: without
    // the two close_except calls and close_fds the probe lists an inherited fd; without the two close_except calls
    // and the getcwd check it starts in the host directory (its getcwd fails).
    addWorkload('probe');
    const hostDir = openSync(dir, 'r');
    try {
      writeSpec((s) => (s.process!.args = ['/bin/probe']));
      const seen = await rtWithFds([hostDir, hostDir], 'run', '--bundle', bundle, newId());
      expect(seen.code).toBe(0);
      expect((JSON.parse(seen.stdout) as { fds: number[] }).fds).toEqual([0, 1, 2]);
      writeSpec((s) => {
        s.process!.args = ['/bin/probe'];
        s.process!.cwd = '/proc/self/fd/3';
      });
      const cwd = await rtWithFds([hostDir], 'run', '--bundle', bundle, newId());
      expect(cwd.stdout).not.toContain('"cwd"');
      expect(cwd.code).not.toBe(0);
      expect(cwd.stdout).toMatch(/cwd.*\/proc\/self\/fd\/3/);
    } finally {
      closeSync(hostDir);
    }
  });

  it('runs a bundle with a user namespace: container root is an unprivileged host uid and gid', async () => {
    // The maps are written by the native parent (C, before the child is let on); the rootfs keeps its host owners,
    // so root inside cannot write where only host root may.
    const base = 200_000 + (process.pid % 1000) * 65_536;
    // The mapped root must be able to reach the rootfs: mkdtemp made the test's folder private to host root.
    chmodSync(dir, 0o755);
    writeSpec((s) => {
      s.linux!.namespaces!.push({ type: 'user' });
      s.linux!.uidMappings = [{ containerID: 0, hostID: base, size: 65_536 }];
      s.linux!.gidMappings = [{ containerID: 0, hostID: base, size: 65_536 }];
      s.process!.args = [
        'sh',
        '-c',
        'cat /proc/self/uid_map /proc/self/gid_map; echo > /rootfs-write && echo wrote || echo refused',
      ];
    });
    const r = await rt('run', '--bundle', bundle, newId());
    expect(r.code, r.stderr).toBe(0);
    const [uid, gid, write] = r.stdout.split('\n').map((l) => l.trim().split(/\s+/).join(' '));
    expect([uid, gid]).toEqual([`0 ${base} 65536`, `0 ${base} 65536`]);
    expect(write).toBe('refused');
    expect(existsSync(join(bundle, 'rootfs', 'rootfs-write'))).toBe(false);
  });

  needs(idmappedMounts()).it(
    "runs a bundle with a user namespace and an idmapped rootfs: the host root's files are the container root's",
    async () => {
      const base = 200_000 + (process.pid % 1000) * 65_536;
      chmodSync(dir, 0o755);
      writeFileSync(join(bundle, 'rootfs', 'host-file'), 'x\n');
      chmodSync(join(bundle, 'rootfs', 'host-file'), 0o600);
      writeSpec((s) => {
        s.annotations = { [ROOTFS_IDMAP_ANNOTATION]: 'true' };
        s.linux!.namespaces!.push({ type: 'user' });
        s.linux!.uidMappings = [{ containerID: 0, hostID: base, size: 65_536 }];
        s.linux!.gidMappings = [{ containerID: 0, hostID: base, size: 65_536 }];
        s.process!.args = [
          'sh',
          '-c',
          'cat /proc/self/uid_map; stat -c "%u %g" /host-file; cat /host-file; echo y > /made && stat -c "%u" /made',
        ];
      });
      const r = await rt('run', '--bundle', bundle, newId());
      expect(r.code, r.stderr).toBe(0);
      const [map, owner, content, made] = r.stdout.split('\n').map((l) => l.trim().split(/\s+/).join(' '));
      expect([map, owner, content, made]).toEqual([`0 ${base} 65536`, '0 0', 'x', '0']);
      // What the container root made is stored unmapped: owned by the host's root on disk.
      const st = statSync(join(bundle, 'rootfs', 'made'));
      expect([st.uid, st.gid]).toEqual([0, 0]);
      // The idmapped mount lived in the container's mount namespace only.
      expect(readFileSync('/proc/self/mountinfo', 'utf8')).not.toContain(join(bundle, 'rootfs'));
    },
  );

  needs(idmappedMounts()).it(
    "runs a bundle with an idmapped bind (mounts[].uidMappings): its mount point is made, the host root's files are the container root's",
    async () => {
      const base = 200_000 + (process.pid % 1000) * 65_536;
      chmodSync(dir, 0o755);
      const src = join(dir, 'idmap-src');
      mkdirSync(src);
      writeFileSync(join(src, 'host-file'), 'h\n', { mode: 0o600 });
      const maps = [{ containerID: 0, hostID: base, size: 65_536 }];
      writeSpec((s) => {
        s.annotations = { [ROOTFS_IDMAP_ANNOTATION]: 'true' };
        s.linux!.namespaces!.push({ type: 'user' });
        s.linux!.uidMappings = maps;
        s.linux!.gidMappings = maps;
        // the mount point does not exist in the rootfs: made there, beneath the rootfs, as for any other mount
        s.mounts!.push({
          destination: '/data/in',
          type: 'bind',
          source: src,
          options: ['rbind'],
          uidMappings: maps,
          gidMappings: maps,
        });
        s.process!.args = [
          'sh',
          '-c',
          'stat -c "%u %g" /data/in/host-file; cat /data/in/host-file; echo y > /data/in/made',
        ];
      });
      const r = await rt('run', '--bundle', bundle, newId());
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout.split('\n').slice(0, 2)).toEqual(['0 0', 'h']);
      expect([statSync(join(src, 'made')).uid, statSync(join(src, 'made')).gid]).toEqual([0, 0]);
      expect(statSync(join(bundle, 'rootfs', 'data', 'in')).isDirectory()).toBe(true);
    },
  );

  it('refuses an idmapped bind of a filesystem that cannot be idmapped, naming the mount', async () => {
    const base = 200_000 + (process.pid % 1000) * 65_536;
    chmodSync(dir, 0o755);
    let index = -1;
    writeSpec((s) => {
      s.linux!.namespaces!.push({ type: 'user' });
      s.linux!.uidMappings = [{ containerID: 0, hostID: base, size: 65_536 }];
      s.linux!.gidMappings = [{ containerID: 0, hostID: base, size: 65_536 }];
      index = s.mounts!.push({ destination: '/proc-sys', type: 'bind', source: '/proc/sys', options: ['ridmap'] }) - 1;
    });
    const r = await rt('run', '--bundle', bundle, newId());
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(
      `mounts[${index}]: idmapped mount of /proc/sys on /proc-sys (its filesystem cannot be idmapped): EINVAL`,
    );
  });

  it('refuses an idmapped rootfs without a user namespace', async () => {
    writeSpec((s) => (s.annotations = { [ROOTFS_IDMAP_ANNOTATION]: 'true' }));
    const r = await rt('run', '--bundle', bundle, newId());
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`annotations.${ROOTFS_IDMAP_ANNOTATION}: an idmapped rootfs needs a new user namespace`);
  });

  it('refuses an id that exists without touching that container', async () => {
    writeSpec();
    const id = newId();
    expect((await rt('create', '-b', bundle, id)).code).toBe(0);
    const before = await state(id);
    expect(await rt('create', '-b', bundle, id)).toMatchObject({
      code: 1,
      stderr: `berth-runtime: container ${id}: already exists`,
    });
    expect(await state(id)).toEqual(before);
  });

  needs(when(hasPython, 'needs python3 with socket.recv_fds')).it(
    "sends a terminal container's pty master to --console-socket (python3 socket.recv_fds receiver)",
    async () => {
      copyFileSync(ttyBinary(), join(bundle, 'rootfs/bin/tty'));
      chmodSync(join(bundle, 'rootfs/bin/tty'), 0o755);
      writeSpec((s) => {
        s.process!.terminal = true;
        s.process!.consoleSize = { height: 24, width: 80 };
        s.process!.args = ['/bin/tty', 'over-the-socket'];
      });
      const sock = join(dir, 'console.sock');
      const out = join(dir, 'console.out');
      let receiver: ChildProcess | undefined;
      try {
        receiver = spawn('python3', ['-c', RECEIVER, sock, out], { stdio: ['ignore', 'pipe', 'inherit'] });
        await new Promise<void>((resolve, reject) => {
          receiver!.stdout!.once('data', () => resolve());
          receiver!.once('exit', (code) => reject(new Error(`receiver exited ${code}`)));
        });
        const id = newId();
        expect(await rt('create', '-b', bundle, '--console-socket', sock, id)).toMatchObject({ code: 0, stderr: '' });
        expect(await rt('start', id)).toMatchObject({ code: 0 });
        const exited = await new Promise<number | null>((resolve) => {
          if (receiver!.exitCode !== null) resolve(receiver!.exitCode);
          else receiver!.once('exit', (code) => resolve(code));
        });
        expect(exited).toBe(0);
        const [name, report, echoed] = readFileSync(out, 'utf8').split(/\r?\n/);
        expect(name).toMatch(/^\/dev\/pts\/\d+$/);
        expect(JSON.parse(report!)).toMatchObject({ isatty: [1, 1, 1], name, rows: 24, cols: 80, ctty: 1 });
        expect(echoed).toBe('over-the-socket');
        for (let i = 0; i < 100 && (await state(id)).status !== 'stopped'; i++)
          await new Promise((r) => setTimeout(r, 20));
        expect((await rt('delete', id)).code).toBe(0);
      } finally {
        if (receiver !== undefined && receiver.exitCode === null) receiver.kill('SIGKILL');
      }
    },
  );
});
