// A long-lived `sh` that runs the network bench's helper commands (`ip netns add`
// and `del` around samples, the netns-floor program) so that the bench process does
// not fork for them. After a fork every page the parent writes next takes a
// copy-on-write fault: a cost of the harness that the next sample of whatever case
// runs then (berth's driver path, say) would pay, while a C program timing itself
// (the kernel floor) never does.
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';

/** What one command printed (stdout and stderr, in order) and its exit status. */
export interface ShellResult {
  exitCode: number;
  output: string;
}

interface Pending {
  marker: string;
  lines: string[];
  resolve: (r: ShellResult) => void;
  reject: (e: Error) => void;
  timer: NodeJS.Timeout;
}

/** Quotes an argument for sh: single quotes, each `'` written as `'\''`. */
export function shellQuote(arg: string): string {
  return `'${arg.replace(/'/g, `'\\''`)}'`;
}

/**
 * Runs scripts one after another in one `sh -s` started on first use. Each
 * script's output comes back when it ends, followed by a marker line of its own
 * the shell echoes with `$?`. A script that runs past its timeout or a shell that
 * exits fails every pending script; the next run() starts a fresh shell.
 */
export class CommandShell {
  private proc: ChildProcessWithoutNullStreams | undefined;
  private pending: Pending[] = [];
  private partial = '';
  private seq = 0;
  private readonly token = `@@berth-shell-${process.pid}-${Math.random().toString(36).slice(2)}`;

  constructor(private readonly subject = 'bench shell') {}

  /** Runs script (one or more lines of sh) and resolves with its output and exit status. */
  run(script: string, timeoutMs = 60_000): Promise<ShellResult> {
    const proc = this.proc ?? this.start();
    const marker = `${this.token}-${this.seq++}`;
    return new Promise<ShellResult>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.fail(new Error(`${this.subject}: a command ran longer than ${timeoutMs} ms: ${script.split('\n')[0]}`));
      }, timeoutMs);
      this.pending.push({ marker, lines: [], resolve, reject, timer });
      // a subshell, so that `exit` in the script ends the script, not the shell
      proc.stdin.write(`(\n${script}\n) 2>&1 </dev/null; echo "${marker} $?"\n`);
    });
  }

  /** Runs argv as one command (each argument quoted). */
  runArgv(argv: readonly string[], timeoutMs?: number): Promise<ShellResult> {
    return this.run(argv.map(shellQuote).join(' '), timeoutMs);
  }

  /** Ends the shell (after the scripts already sent) and waits for it. Idempotent. */
  async close(): Promise<void> {
    const proc = this.proc;
    if (proc === undefined) return;
    const exited = new Promise<void>((resolve) => proc.once('close', () => resolve()));
    proc.stdin.end();
    await exited;
  }

  private start(): ChildProcessWithoutNullStreams {
    // its own process group, so a timeout ends the command running in it too
    const proc = spawn('sh', ['-s'], { stdio: ['pipe', 'pipe', 'pipe'], detached: true });
    this.proc = proc;
    this.partial = '';
    proc.stdout.setEncoding('utf8');
    proc.stdout.on('data', (chunk: string) => this.onData(chunk));
    // the scripts' stderr goes to stdout; the shell's own (a syntax error) is read with it
    proc.stderr.setEncoding('utf8');
    proc.stderr.on('data', (chunk: string) => this.pending[0]?.lines.push(...chunk.trimEnd().split('\n')));
    proc.on('error', (err) => this.fail(new Error(`${this.subject}: sh: ${err.message}`), proc));
    proc.on('close', (code, signal) => {
      this.fail(new Error(`${this.subject}: sh exited (${signal ?? code}) with commands pending`), proc);
    });
    return proc;
  }

  private onData(chunk: string): void {
    const lines = (this.partial + chunk).split('\n');
    this.partial = lines.pop()!;
    for (const line of lines) {
      const head = this.pending[0];
      if (head === undefined) continue;
      // the marker ends the line: output without a final newline comes before it
      const at = line.indexOf(`${head.marker} `);
      if (at >= 0) {
        if (at > 0) head.lines.push(line.slice(0, at));
        this.pending.shift();
        clearTimeout(head.timer);
        head.resolve({ exitCode: Number(line.slice(at + head.marker.length + 1)), output: head.lines.join('\n') });
      } else {
        head.lines.push(line);
      }
    }
  }

  /** Fails every pending script and forgets the shell (killed when still running). */
  private fail(err: Error, proc = this.proc): void {
    if (proc !== this.proc) return;
    const pending = this.pending;
    this.pending = [];
    this.proc = undefined;
    if (proc?.pid !== undefined && proc.exitCode === null && proc.signalCode === null) {
      try {
        process.kill(-proc.pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
    for (const p of pending) {
      clearTimeout(p.timer);
      p.reject(err);
    }
  }
}
