// Connects a hijacked attach or exec stream to this terminal: output demultiplexed
// to stdout and stderr (raw with a TTY), stdin forwarded and half-closed at its
// end, the terminal in raw mode and its size sent to the daemon while attached.
import type { Duplex } from 'node:stream';
import { FrameReader } from '../frame-reader.js';
import type { Cli } from './command.js';

export interface StreamOptions {
  tty: boolean;
  /** Forward this process's stdin. */
  stdin: boolean;
  /** Sends the terminal size (on start and on SIGWINCH). */
  resize?: (rows: number, columns: number) => Promise<void>;
}

/** Pumps `conn` until the daemon ends the output; resolves then. */
export async function pumpStreams(cli: Cli, conn: Duplex, opts: StreamOptions): Promise<void> {
  const reader = new FrameReader();
  const rawMode = opts.tty && opts.stdin && cli.stdin.isTTY === true && typeof cli.stdin.setRawMode === 'function';
  if (rawMode) cli.stdin.setRawMode?.(true);
  const onResize = (): void => {
    const size = cli.size();
    if (size !== undefined && opts.resize !== undefined)
      void opts.resize(size.rows, size.columns).catch(() => undefined);
  };
  if (opts.tty) {
    onResize();
    process.on('SIGWINCH', onResize);
  }
  const forward = (chunk: Buffer): void => {
    if (!conn.destroyed) conn.write(chunk);
  };
  const stdinEnded = (): void => {
    if (!conn.destroyed && conn.writable) conn.end();
  };
  if (opts.stdin) {
    cli.stdin.on('data', forward);
    cli.stdin.once('end', stdinEnded);
    cli.stdin.resume();
  }
  try {
    await new Promise<void>((resolve, reject) => {
      conn.on('data', (chunk: Buffer) => {
        if (opts.tty) {
          cli.stdout.write(chunk);
          return;
        }
        for (const f of reader.push(chunk)) (f.stream === 'stderr' ? cli.stderr : cli.stdout).write(f.data);
      });
      conn.once('end', resolve);
      conn.once('close', resolve);
      conn.once('error', reject);
    });
  } finally {
    if (opts.stdin) {
      cli.stdin.removeListener('data', forward);
      cli.stdin.removeListener('end', stdinEnded);
      cli.stdin.pause();
    }
    if (rawMode) cli.stdin.setRawMode?.(false);
    if (opts.tty) process.removeListener('SIGWINCH', onResize);
    conn.destroy();
  }
}
