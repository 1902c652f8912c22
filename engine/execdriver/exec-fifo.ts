// Releases a container created in detached mode: its child waits at its start point
// in open(exec FIFO, O_WRONLY); opening the FIFO for reading lets it write one byte
// and execve. Used by execdriver.start and by a separate `berth-runtime start`.
// fs.promises, not node:fs/promises: loaded on first use, not at berth-runtime's start
import { constants, promises as fsp } from 'node:fs';
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
  let fh;
  try {
    fh = await fsp.open(fifo, constants.O_RDONLY | constants.O_NONBLOCK);
  } catch (err) {
    throw wrap(err, subject);
  }
  try {
    const buf = Buffer.alloc(1);
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      throwIfCancelled(ctx, subject);
      try {
        const { bytesRead } = await fh.read(buf, 0, 1, null);
        if (bytesRead === 1) return;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EAGAIN') throw wrap(err, subject);
      }
      if (Date.now() > deadline) throw deadlineExceeded(`${subject}: no container waiting on it after ${timeoutMs} ms`);
      await sleep(1);
    }
  } finally {
    await fh.close();
  }
}
