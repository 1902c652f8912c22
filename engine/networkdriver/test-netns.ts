// Test fixtures for the networkdriver's kernel tests: network namespaces named
// `berthtest-<pid>-<n>`, TCP echo servers started inside them by pid, and
// clients run inside them. Everything made is listed so cleanup() removes it.
import { spawn, type ChildProcess } from 'node:child_process';
import net from 'node:net';
import { execa } from 'execa';

const ECHO_SERVER = `require('net').createServer((s) => s.on('data', (d) => s.end('echo:' + d))).listen(+process.argv[1], '0.0.0.0', () => console.log('ready'))`;
const TCP_CLIENT = `const s = require('net').connect(+process.argv[2], process.argv[1], () => s.write('ping')); let out = ''; s.on('data', (d) => out += d); s.on('close', () => console.log(out)); s.on('error', (e) => { console.log('error:' + e.code); }); setTimeout(() => { console.log('timeout'); process.exit(0); }, 3000).unref();`;

export class NetnsFixture {
  private n = 0;
  private readonly names: string[] = [];
  private readonly children: ChildProcess[] = [];

  /** Creates a fresh named network namespace; returns its name and path. */
  async create(): Promise<{ name: string; path: string }> {
    const name = `berthtest-${process.pid}-${this.n++}`;
    await execa('ip', ['netns', 'add', name]);
    this.names.push(name);
    return { name, path: `/run/netns/${name}` };
  }

  /** Starts `unshare --net sleep` (a process with a namespace of its own); returns its pid. */
  async processWithNetns(): Promise<number> {
    const child = spawn('unshare', ['--net', 'sleep', '600'], { stdio: 'ignore' });
    this.children.push(child);
    await new Promise<void>((resolve, reject) => {
      child.once('spawn', resolve);
      child.once('error', reject);
    });
    // unshare execs sleep in the same process once the namespace exists.
    for (let i = 0; i < 200; i++) {
      const r = await execa('readlink', [`/proc/${child.pid}/exe`], { reject: false });
      if (r.stdout.endsWith('/sleep')) return child.pid!;
      await new Promise((r2) => setTimeout(r2, 5));
    }
    throw new Error('unshare --net sleep did not start');
  }

  /** Starts a TCP echo server inside the namespace (answers `echo:<data>`). */
  async echoServer(ns: string, port: number): Promise<void> {
    const child = spawn('ip', ['netns', 'exec', ns, process.execPath, '-e', ECHO_SERVER, String(port)], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    this.children.push(child);
    await new Promise<void>((resolve, reject) => {
      child.once('exit', (code) => reject(new Error(`echo server in ${ns} exited ${code}`)));
      child.stdout!.once('data', () => resolve());
    });
  }

  /** Connects from inside ns to host:port, sends `ping`, returns what came back. */
  async clientIn(ns: string, host: string, port: number): Promise<string> {
    const r = await execa('ip', ['netns', 'exec', ns, process.execPath, '-e', TCP_CLIENT, host, String(port)]);
    return r.stdout.trim();
  }

  async links(ns: string): Promise<string[]> {
    const r = await execa('ip', ['-n', ns, '-o', 'link', 'show']);
    return r.stdout.split('\n').map((l) => l.split(': ')[1]!.split('@')[0]!);
  }

  /** Kills the servers (by pid) and deletes the namespaces. Safe to call twice. */
  async cleanup(): Promise<void> {
    for (const c of this.children.splice(0)) {
      if (c.exitCode === null && c.pid !== undefined) {
        const exited = new Promise((r) => c.once('exit', r));
        process.kill(c.pid, 'SIGKILL');
        await exited;
      }
    }
    for (const name of this.names.splice(0)) await execa('ip', ['netns', 'del', name], { reject: false });
  }
}

/** Connects from this process to host:port, sends `ping`, returns the reply. */
export function clientFromHost(host: string, port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = net.connect(port, host, () => s.write('ping'));
    let out = '';
    s.setTimeout(3000, () => s.destroy(new Error('timeout')));
    s.on('data', (d) => (out += String(d)));
    s.on('close', () => resolve(out));
    s.on('error', reject);
  });
}

/** Host interfaces whose names start with prefix, sorted. */
export async function hostLinks(prefix: string): Promise<string[]> {
  const r = await execa('ip', ['-o', 'link', 'show']);
  return r.stdout
    .split('\n')
    .map((l) => l.split(': ')[1]?.split('@')[0] ?? '')
    .filter((n) => n.startsWith(prefix))
    .sort();
}

/**
 * The given bridge and berth's host veths (`berth` + 10 hex) enslaved to it, sorted.
 * Only this bridge's: other processes on the host may have berth veths of their own.
 */
export async function berthLinks(bridge: string): Promise<string[]> {
  const r = await execa('ip', ['-o', 'link', 'show', 'master', bridge], { reject: false });
  const ports = r.stdout
    .split('\n')
    .map((l) => l.split(': ')[1]?.split('@')[0] ?? '')
    .filter((n) => /^berth[0-9a-f]{10}$/.test(n));
  return [...(await hostLinks(bridge)).filter((n) => n === bridge), ...ports].sort();
}
