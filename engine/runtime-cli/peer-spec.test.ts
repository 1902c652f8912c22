// The bundle `runc spec` and `crun spec` write, unmodified, runs under `berth-runtime run`:
// their ambient capabilities (not inheritable) are warned about and left unraised, as runc
// and crun do, and their cgroup mount shows the container its own cgroups read-only. The
// terminal they ask for goes to a console socket (a python3 receiver that types commands).
import { spawn, spawnSync } from 'node:child_process';
import {
  chmodSync,
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  symlinkSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect } from 'vitest';
import { onPath } from '../fsutil/on-path.js';
import { detectLayout } from '../execdriver/cgroups/detect.js';
import { needs, root, tool, when } from '../../testkit/needs.js';

const BIN = fileURLToPath(new URL('./bin.cjs', import.meta.url));

/**
 * Takes the pty master, types `script`, and writes everything the terminal showed to `out` until the container is gone.
 */
const RECEIVER = `
import os, socket, sys
path, out, script = sys.argv[1], sys.argv[2], sys.argv[3]
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.bind(path)
s.listen(1)
print('ready', flush=True)
conn, _ = s.accept()
_, fds, _, _ = socket.recv_fds(conn, 4096, 1)
os.write(fds[0], script.encode() + b'\\n')
data = b''
while True:
    try:
        chunk = os.read(fds[0], 4096)
    except OSError:
        break
    if not chunk:
        break
    data += chunk
with open(out, 'wb') as f:
    f.write(data)
`;

const hasRecvFds = spawnSync('python3', ['-c', 'import socket; socket.recv_fds'], { stdio: 'ignore' }).status === 0;
const busybox = onPath('busybox');
const layout = (() => {
  try {
    return detectLayout();
  } catch {
    return undefined;
  }
})();
// Both specs deny every device through linux.resources.devices, which berth enforces with
// the v1 devices controller; on cgroup v2 that takes an eBPF program berth does not load yet.
const base = [
  root(),
  tool('busybox', 'busybox-static'),
  when(hasRecvFds, 'needs python3 with socket.recv_fds (a console socket receiver)'),
  when(
    layout !== undefined && layout.v1.has('devices'),
    'needs the cgroup v1 devices controller (device rules on cgroup v2 are not enforced yet)',
  ),
];

const dirs: string[] = [];
afterEach(async () => {
  for (const d of dirs.splice(0)) {
    spawnSync(process.execPath, [BIN, '--root', join(d, 'state'), 'delete', '--force', 'peer-spec'], {
      stdio: 'ignore',
    });
    rmSync(d, { recursive: true, force: true });
  }
});

/** A bundle with `<peer> spec`'s config.json as written and a static busybox rootfs. */
function bundleFrom(peer: string): string {
  const dir = mkdtempSync(join(tmpdir(), `berth-peer-spec-${process.pid}-`));
  dirs.push(dir);
  const rootfs = join(dir, 'rootfs');
  for (const d of ['bin', 'proc', 'dev', 'sys', 'tmp']) mkdirSync(join(rootfs, d), { recursive: true });
  copyFileSync(busybox!, join(rootfs, 'bin', 'busybox'));
  chmodSync(join(rootfs, 'bin', 'busybox'), 0o755);
  symlinkSync('busybox', join(rootfs, 'bin', 'sh'));
  const r = spawnSync(peer, ['spec'], { cwd: dir, encoding: 'utf8' });
  expect(r.status, r.stderr).toBe(0);
  return dir;
}

/** berth-runtime run on `dir` with a console socket; the terminal's text and the command's stderr. */
async function runWithConsole(
  dir: string,
  script: string,
): Promise<{ code: number | null; stderr: string; terminal: string }> {
  const sock = join(dir, 'console.sock');
  const out = join(dir, 'terminal.txt');
  const receiver = spawn('python3', ['-c', RECEIVER, sock, out, script], { stdio: ['ignore', 'pipe', 'inherit'] });
  try {
    await new Promise<void>((resolve, reject) => {
      receiver.stdout!.once('data', () => resolve());
      receiver.once('exit', (code) => reject(new Error(`console receiver exited (${code})`)));
    });
    const rt = spawn(
      process.execPath,
      [BIN, '--root', join(dir, 'state'), 'run', '--bundle', dir, '--console-socket', sock, 'peer-spec'],
      { stdio: ['ignore', 'ignore', 'pipe'] },
    );
    let stderr = '';
    rt.stderr!.on('data', (b: Buffer) => (stderr += b.toString()));
    const code = await new Promise<number | null>((resolve) => rt.once('close', (c) => resolve(c)));
    if (receiver.exitCode === null) await new Promise((resolve) => receiver.once('exit', resolve));
    return { code, stderr, terminal: existsSync(out) ? readFileSync(out, 'utf8') : '' };
  } finally {
    if (receiver.exitCode === null && receiver.signalCode === null) receiver.kill('SIGKILL');
  }
}

const SCRIPT = [
  "/bin/busybox grep -E '^Cap(Prm|Amb)' /proc/self/status",
  "/bin/busybox grep ' /sys/fs/cgroup' /proc/self/mountinfo",
  '/bin/busybox cat /proc/self/cgroup',
  '/bin/busybox touch /sys/fs/cgroup/probe || echo REFUSED-TOUCH',
  'exit 0',
].join('; ');

for (const peer of ['runc', 'crun']) {
  const g = needs(...base, tool(peer));
  g.describe(`the bundle \`${peer} spec\` writes`, () => {
    g.it(
      "runs unmodified: ambient capabilities warned about and not raised, the cgroup mount read-only and the container's own",
      async () => {
        const dir = bundleFrom(peer);
        const spec = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8')) as {
          process: { capabilities: { ambient: string[] } };
          mounts: { type: string }[];
        };
        expect(spec.process.capabilities.ambient.length).toBeGreaterThan(0);
        expect(spec.mounts.some((m) => m.type === 'cgroup')).toBe(true);

        const r = await runWithConsole(dir, SCRIPT);
        expect(r.code, r.stderr).toBe(0);
        for (const [i, cap] of spec.process.capabilities.ambient.entries()) {
          expect(r.stderr).toContain(`process.capabilities.ambient[${i}]: ${cap} is not raised`);
        }
        const lines = r.terminal.split(/\r?\n/);
        expect(lines).toContain('CapAmb:\t0000000000000000');
        expect(lines.find((l) => l.startsWith('CapPrm:'))).not.toBe('CapPrm:\t0000000000000000');
        expect(r.terminal).toContain('Read-only file system');
        expect(r.terminal).toContain('REFUSED-TOUCH');

        // Every cgroup mount is read-only, and where the container has a cgroup of its own
        // (berth-runtime/<id>) the mount's root is exactly that cgroup.
        const mounts = lines.filter((l) => / \/sys\/fs\/cgroup(\/\S*)? /.test(l) && / - (cgroup2?|tmpfs) /.test(l));
        expect(mounts.length).toBeGreaterThan(0);
        for (const m of mounts) expect(m.split(' ')[5]!.split(',')).toContain('ro');
        const own = lines.filter((l) => /^\d+:[^:]*:\/berth-runtime\/peer-spec$/.test(l));
        expect(own.length).toBeGreaterThan(0);
        const cgroupMounts = mounts.filter((l) => / - cgroup2? /.test(l));
        expect(cgroupMounts.some((l) => l.split(' ')[3] === '/berth-runtime/peer-spec')).toBe(true);
      },
    );
  });
}
