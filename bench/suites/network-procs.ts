// Processes the network bench starts in the host's or a bench namespace (iperf3,
// the TCP ping-pong server and client): started by pid, ready when they say so,
// and always ended by that pid, never by name.
import { spawn, type ChildProcess } from 'node:child_process';
import net from 'node:net';
import { wrap } from '../../engine/errdefs/errors.js';
import type { BenchNetns } from './network-world.js';

/** Echoes every byte back on each connection; prints `ready` once listening. Args: host port. */
export const PINGPONG_SERVER = `
const net = require('net');
const srv = net.createServer((s) => { s.setNoDelay(true); s.on('data', (d) => s.write(d)); s.on('error', () => {}); });
srv.listen(+process.argv[2], process.argv[1], () => console.log('ready'));
`;

/**
 * Connects once (TCP_NODELAY) and prints \`ready\`; then for each stdin line N
 * sends a 64-byte message, waits for all 64 bytes back, N times, and prints the
 * elapsed nanoseconds. Args: host port.
 */
export const PINGPONG_CLIENT = `
const net = require('net');
const msg = Buffer.alloc(64, 120);
const s = net.connect(+process.argv[2], process.argv[1], () => { s.setNoDelay(true); console.log('ready'); });
s.on('error', (e) => { console.log('error ' + e.code); process.exit(1); });
let pending = null;
s.on('data', (d) => { if (pending) pending(d.length); });
function run(n) {
  return new Promise((resolve) => {
    let left = n, got = 0;
    const t0 = process.hrtime.bigint();
    pending = (len) => {
      got += len;
      if (got < 64) return;
      got -= 64;
      if (--left === 0) { pending = null; resolve(process.hrtime.bigint() - t0); } else s.write(msg);
    };
    s.write(msg);
  });
}
let queue = Promise.resolve();
require('readline').createInterface({ input: process.stdin }).on('line', (line) => {
  queue = queue.then(async () => console.log(String(await run(+line))));
}).on('close', () => queue.then(() => s.destroy()));
`;

/** A child the bench started; stop() ends it by its pid. */
export class BenchProcess {
  private readonly lines: string[] = [];
  private readonly waiters: ((line: string) => void)[] = [];
  private stderr = '';
  /** The stdout line that matched start()'s ready pattern. */
  readyLine = '';
  readonly exited: Promise<number | null>;
  /** Resolves once it exited and its stdout and stderr are read to the end. */
  private readonly closed: Promise<void>;

  private constructor(
    readonly label: string,
    private readonly child: ChildProcess,
  ) {
    this.exited = new Promise((resolve) => child.once('exit', (code) => resolve(code)));
    this.closed = new Promise((resolve) => child.once('close', () => resolve()));
    let buf = '';
    child.stdout!.setEncoding('utf8').on('data', (d: string) => {
      buf += d;
      for (let i = buf.indexOf('\n'); i >= 0; i = buf.indexOf('\n')) {
        const line = buf.slice(0, i).trim();
        buf = buf.slice(i + 1);
        const w = this.waiters.shift();
        if (w !== undefined) w(line);
        else if (this.lines.push(line) > 200) this.lines.shift();
      }
    });
    child.stderr!.setEncoding('utf8').on('data', (d: string) => {
      this.stderr = (this.stderr + d).slice(-2000);
    });
  }

  /**
   * Starts argv, inside ns when given (`nsenter --net`, which execs in the same
   * pid), and waits until a stdout line matches ready. Fails naming the label
   * and the process's stderr when it exits first or not within timeoutMs.
   */
  static async start(
    label: string,
    argv: readonly string[],
    ns: BenchNetns | undefined,
    ready: RegExp,
    timeoutMs = 5000,
  ): Promise<BenchProcess> {
    const full = ns === undefined ? [...argv] : ['nsenter', `--net=${ns.path}`, ...argv];
    const child = spawn(full[0]!, full.slice(1), { stdio: ['pipe', 'pipe', 'pipe'] });
    const p = new BenchProcess(label, child);
    try {
      await new Promise<void>((resolve, reject) => {
        child.once('error', reject);
        void p.exited.then((code) =>
          reject(new Error(`exited (${code}) before it was ready: ${p.stderr.trim() || p.lines.join(' ')}`)),
        );
        const timer = setTimeout(
          () => reject(new Error(`not ready within ${timeoutMs} ms: ${p.stderr.trim()}`)),
          timeoutMs,
        );
        const check = (line: string): void => {
          if (ready.test(line)) {
            p.readyLine = line;
            clearTimeout(timer);
            resolve();
          } else p.waiters.unshift(check);
        };
        const early = p.lines.findIndex((l) => ready.test(l));
        if (early >= 0) {
          p.readyLine = p.lines[early]!;
          p.lines.splice(0, early + 1);
          clearTimeout(timer);
          resolve();
        } else p.waiters.push(check);
      });
    } catch (err) {
      await p.stop();
      throw wrap(err, label);
    }
    p.waiters.length = 0;
    return p;
  }

  /** True once the process exited. */
  get done(): boolean {
    return this.child.exitCode !== null || this.child.signalCode !== null;
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  /** The process's last stderr output (trimmed). */
  get errorOutput(): string {
    return this.stderr.trim();
  }

  /** Its next stdout line (one already printed, or the next to come); fails when it exits first or after timeoutMs. */
  async nextLine(timeoutMs = 30_000): Promise<string> {
    const ready = this.lines.shift();
    if (ready !== undefined) return ready;
    return new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`${this.label}: no output within ${timeoutMs} ms`)), timeoutMs);
      // after 'close' every line it printed has been delivered
      void this.closed.then(() => {
        clearTimeout(timer);
        reject(
          new Error(
            `${this.label}: exited (${this.child.exitCode ?? this.child.signalCode}) without a line: ${this.errorOutput}`,
          ),
        );
      });
      this.waiters.push((l) => {
        clearTimeout(timer);
        resolve(l);
      });
    });
  }

  /** Writes a line to its stdin and resolves with its next stdout line. */
  async ask(line: string, timeoutMs = 30_000): Promise<string> {
    const reply = this.lines.shift();
    if (reply !== undefined) throw new Error(`${this.label}: unexpected output ${reply}`);
    return new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`${this.label}: no answer within ${timeoutMs} ms`)), timeoutMs);
      void this.exited.then((code) => {
        clearTimeout(timer);
        reject(new Error(`${this.label}: exited (${code}): ${this.errorOutput}`));
      });
      this.waiters.push((l) => {
        clearTimeout(timer);
        resolve(l);
      });
      this.child.stdin!.write(`${line}\n`);
    });
  }

  /** Sends signal to it by pid (when it still runs). */
  signal(signal: NodeJS.Signals): void {
    if (this.done || this.child.pid === undefined) return;
    try {
      process.kill(this.child.pid, signal);
    } catch {
      // exited meanwhile
    }
  }

  /** Waits up to graceMs for it to exit on its own, then SIGKILLs it by pid. Idempotent. */
  async stop(graceMs = 0): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null || this.child.pid === undefined) return;
    if (graceMs > 0) {
      const done = await Promise.race([
        this.exited.then(() => true),
        new Promise<boolean>((r) => setTimeout(() => r(false), graceMs).unref()),
      ]);
      if (done) return;
    }
    try {
      process.kill(this.child.pid, 'SIGKILL');
    } catch {
      return;
    }
    await this.exited;
  }
}

/**
 * `n` distinct TCP ports on 127.0.0.1 that were free a moment ago: each bound to port 0, all held until the last is
 * bound, then closed (closed one by one, the kernel may hand the same port out again: a DNAT rule binds nothing).
 */
export async function freeLoopbackPorts(n: number): Promise<number[]> {
  const servers: net.Server[] = [];
  try {
    const ports: number[] = [];
    for (let i = 0; i < n; i++) {
      const srv = net.createServer();
      servers.push(srv);
      ports.push(
        await new Promise<number>((resolve, reject) => {
          srv.once('error', reject);
          srv.listen(0, '127.0.0.1', () => resolve((srv.address() as net.AddressInfo).port));
        }),
      );
    }
    return ports;
  } finally {
    await Promise.all(servers.map((srv) => new Promise<void>((resolve) => srv.close(() => resolve()))));
  }
}

/** A TCP port on 127.0.0.1 that was free a moment ago (bound to port 0, then closed). */
export async function freeLoopbackPort(): Promise<number> {
  return (await freeLoopbackPorts(1))[0]!;
}
