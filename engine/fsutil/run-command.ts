// Runs a host command (iptables, ip, cp, btrfs, losetup) and collects its output, on
// node:child_process alone: a process-running library and its dependencies stay
// resident for the daemon's whole life (execa's cost about 13 MiB of an idle berthd's RSS).
import { spawn } from 'node:child_process';
import { BerthError, ErrorCode } from '../errdefs/errors.js';

export interface CommandResult {
  /** The command line as messages name it (`iptables -w -t nat -S`). */
  command: string;
  /** The exit status; undefined when it did not start or died of a signal. */
  exitCode: number | undefined;
  signal: NodeJS.Signals | undefined;
  /** Its output, one final newline removed. */
  stdout: string;
  stderr: string;
  /** The errno code when it could not be started (`ENOENT`: not installed). */
  code: string | undefined;
  /** Not started, a signal, or an exit status other than 0. */
  failed: boolean;
  /** Why it failed, in one line (its first stderr line, else the status); '' when it did not. */
  reason: string;
}

export interface RunOptions {
  /** Written to its stdin, which is closed then; without it stdin is /dev/null. */
  input?: string;
  /** Aborting kills it (SIGTERM); the result then says so. */
  signal?: AbortSignal;
}

function dropFinalNewline(text: string): string {
  return text.endsWith('\n') ? text.slice(0, text.endsWith('\r\n') ? -2 : -1) : text;
}

/** Runs `file` with `args` and resolves with what happened; never rejects (see runChecked). */
export function runCommand(file: string, args: readonly string[], opts: RunOptions = {}): Promise<CommandResult> {
  const command = [file, ...args].join(' ');
  return new Promise((resolve) => {
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    let spawnError: NodeJS.ErrnoException | undefined;
    const child = spawn(file, args, {
      stdio: [opts.input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
      ...(opts.signal !== undefined ? { signal: opts.signal } : {}),
    });
    child.stdout!.on('data', (b: Buffer) => out.push(b));
    child.stderr!.on('data', (b: Buffer) => err.push(b));
    child.on('error', (e: NodeJS.ErrnoException) => {
      spawnError ??= e;
    });
    if (opts.input !== undefined) {
      child.stdin!.on('error', () => undefined); // EPIPE: it exited without reading all of it
      child.stdin!.end(opts.input);
    }
    child.on('close', (exitCode: number | null, signal: NodeJS.Signals | null) => {
      const stdout = dropFinalNewline(Buffer.concat(out).toString('utf8'));
      const stderr = dropFinalNewline(Buffer.concat(err).toString('utf8'));
      const started = spawnError === undefined || spawnError.name === 'AbortError';
      const failed = !started || exitCode !== 0;
      const firstLine = stderr.trim().split('\n')[0] ?? '';
      const reason = !failed
        ? ''
        : !started
          ? `${spawnError!.code ?? 'spawn failed'}: ${spawnError!.message}`
          : opts.signal?.aborted
            ? 'cancelled'
            : firstLine !== ''
              ? firstLine
              : signal !== null
                ? `killed by ${signal}`
                : `exit code ${exitCode}`;
      resolve({
        command,
        exitCode: started ? (exitCode ?? undefined) : undefined,
        signal: signal ?? undefined,
        stdout,
        stderr,
        code: started ? undefined : spawnError!.code,
        failed,
        reason,
      });
    });
  });
}

/**
 * runCommand, failing when the command failed: UNAVAILABLE when it is not installed
 * (ENOENT, `details.errno`), CANCELLED when `signal` aborted it, INTERNAL otherwise; the
 * message names the command and the reason.
 */
export async function runChecked(file: string, args: readonly string[], opts: RunOptions = {}): Promise<CommandResult> {
  const r = await runCommand(file, args, opts);
  if (!r.failed) return r;
  const code =
    r.code === 'ENOENT' ? ErrorCode.UNAVAILABLE : opts.signal?.aborted ? ErrorCode.CANCELLED : ErrorCode.INTERNAL;
  throw new BerthError(code, `${r.command}: ${r.reason}`, {
    details: {
      ...(r.code !== undefined ? { errno: r.code } : {}),
      ...(r.exitCode !== undefined ? { exitCode: r.exitCode } : {}),
    },
  });
}
