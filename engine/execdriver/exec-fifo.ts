// Releases a container created in detached mode: its child waits at its start point
// in open(exec FIFO, O_WRONLY); opening the FIFO for reading lets it write one byte
// and execve. Used by execdriver.start and by a separate `berth-runtime start`.
// The FIFO is opened O_NONBLOCK, so its open and reads never block: they are synchronous calls (no
// thread-pool round trip each, and no node:fs/promises to load in a `berth-runtime start`).
import { closeSync, constants, openSync, readSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { deadlineExceeded, wrap } from '../errdefs/errors.js';
import { throwIfCancelled, type Context } from '../trace/context.js';

/**
 * Opens `fifo` for reading without blocking and waits (polling every ms, at most
 * `timeoutMs`, default 5000) for the child's byte. Not idempotent: a second call
 * finds no writer and times out. Fails NOT_FOUND when the FIFO is gone,
 * DEADLINE_EXCEEDED when no container wrote to it in time (it died, or was never
 * created), CANCELLED with ctx. Cost: one open and a few reads.
 */
export async function releaseExecFifo(ctx: Context, fifo: string, timeoutMs = 5000): Promise<void> {
  const subject = `exec fifo ${fifo}`;
  let fd: number;
  try {
    fd = openSync(fifo, constants.O_RDONLY | constants.O_NONBLOCK);
  } catch (err) {
    throw wrap(err, subject);
  }
  try {
    const buf = Buffer.alloc(1);
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      throwIfCancelled(ctx, subject);
      try {
        if (readSync(fd, buf, 0, 1, null) === 1) return;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EAGAIN') throw wrap(err, subject);
      }
      if (Date.now() > deadline) throw deadlineExceeded(`${subject}: no container waiting on it after ${timeoutMs} ms`);
      await sleep(1);
    }
  } finally {
    closeSync(fd);
  }
}
