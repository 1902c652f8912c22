// Tears a container down (lifecycle steps 12–13 of the runtime spec): kill whatever is
// left, remove its cgroup and any rootfs bind it left in the host's mount namespace, run
// poststop hooks (warnings only), remove its state.
import { setTimeout as sleep } from 'node:timers/promises';
import { deadlineExceeded, isBerthError, wrap } from '../errdefs/errors.js';
import { createCgroupManager } from '../execdriver/cgroups/manager.js';
import { releaseHostMountRoot } from '../execdriver/host-mount-root.js';
import type { Context } from '../trace/context.js';
import { toState } from './container-status.js';
import { CGROUP_PARENT } from './container-common.js';
import { runHooksWarning } from './hooks.js';
import { isSameProcessAlive } from './process-info.js';
import type { ContainerRecord, StateStore } from './state-store.js';

/**
 * SIGKILLs the init (and, through the cgroup, every process of the container) unless it
 * already exited, waits up to `timeoutMs` for it to go, destroys the cgroup, runs the
 * poststop hooks and removes the state directory. Idempotent. Fails DEADLINE_EXCEEDED
 * when the init does not die in time (state is kept so delete can be retried).
 */
export async function destroyContainer(
  ctx: Context,
  store: StateStore,
  record: ContainerRecord,
  timeoutMs = 10_000,
): Promise<void> {
  const subject = `container ${record.id}`;
  const cgroup = record.cgroupPath === undefined ? undefined : await openCgroup(ctx, record.cgroupPath);
  if (record.pid !== undefined && isSameProcessAlive(record.pid, record.pidStartTime)) {
    try {
      process.kill(record.pid, 'SIGKILL');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ESRCH') throw wrap(err, `${subject}: kill ${record.pid}`);
    }
  }
  if (cgroup) await cgroup.kill(ctx, 'SIGKILL');
  const deadline = Date.now() + timeoutMs;
  while (record.pid !== undefined && isSameProcessAlive(record.pid, record.pidStartTime)) {
    if (Date.now() > deadline) throw deadlineExceeded(`${subject}: init ${record.pid} did not exit after SIGKILL`);
    await sleep(10);
  }
  if (cgroup) {
    try {
      await cgroup.destroy(ctx);
      // the parent berth-runtime made for specs without a cgroupsPath goes with its last container
      if (record.spec.linux?.cgroupsPath === undefined) await createCgroupManager().removeIfEmpty(ctx, CGROUP_PARENT);
    } catch (err) {
      throw wrap(err, subject);
    }
  }
  if (record.hostMountRoot !== undefined) releaseHostMountRoot(subject, record.hostMountRoot);
  await runHooksWarning(ctx, 'poststop', record.spec.hooks?.poststop, toState(record, 'stopped'));
  await store.remove(record.id);
}

async function openCgroup(ctx: Context, path: string) {
  try {
    return await createCgroupManager().open(ctx, path);
  } catch (err) {
    if (isBerthError(err, 'NOT_FOUND')) return undefined;
    throw err;
  }
}
