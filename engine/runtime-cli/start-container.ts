// The start half of the lifecycle for a container another process created: run the
// startContainer hooks in the container, release its init from the exec FIFO, run the
// poststart hooks.
import { unlinkSync } from 'node:fs';
import { BerthError, failedPrecondition, wrap } from '../errdefs/errors.js';
import { releaseExecFifo } from '../execdriver/exec-fifo.js';
import type { Context } from '../trace/context.js';
import { liveStatus, toState } from './container-status.js';
import { containerNamespaces } from './container-common.js';
import { runHooks, runHooksWarning } from './hooks.js';
import type { ContainerRecord, StateStore } from './state-store.js';

/**
 * Starts created container `id`. Fails FAILED_PRECONDITION unless it is created. A
 * failing startContainer hook stops the container (its init is SIGKILLed; `delete`
 * then cleans up); a failing poststart hook is only a warning. Resolves once the init
 * was released to execve (status running).
 */
export async function startContainer(ctx: Context, store: StateStore, id: string): Promise<ContainerRecord> {
  const subject = `container ${id}`;
  const record = await store.read(id);
  const status = liveStatus(store, record);
  if (status !== 'created') throw failedPrecondition(`${subject}: cannot start: container is ${status}`);
  const spec = record.spec;
  try {
    await runHooks(ctx, 'startContainer', spec.hooks?.startContainer, toState(record, 'created'), {
      enter: { pid: record.pid!, namespaces: containerNamespaces(spec) },
    });
    await releaseExecFifo(ctx, store.fifoPath(id));
  } catch (err) {
    try {
      process.kill(record.pid!, 'SIGKILL');
    } catch {
      // already gone
    }
    record.phase = 'stopped';
    await store.write(record).catch(() => undefined);
    throw err instanceof BerthError && err.message.startsWith(subject) ? err : wrap(err, subject);
  }
  try {
    unlinkSync(store.fifoPath(id));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw wrap(err, `${subject}: remove exec fifo`);
  }
  // no state.json write: the record keeps phase 'created', and with its exec FIFO gone liveStatus reads it as running
  await runHooksWarning(ctx, 'poststart', spec.hooks?.poststart, toState(record, 'running'));
  return record;
}
