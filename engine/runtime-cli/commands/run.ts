// `berth-runtime run [--detach] --bundle DIR <id>`: create + start, and in the
// foreground also wait, forward signals, delete, and exit with the container's status.
import { constants } from 'node:os';
import { resolve } from 'node:path';
import { BerthError, wrap } from '../../errdefs/errors.js';
import { createExecDriver, type ExitStatus } from '../../execdriver/execdriver.js';
import { releaseHostMountRoot } from '../../execdriver/host-mount-root.js';
import { containerIdArg, flagBool, flagString } from '../args.js';
import type { Command } from '../command.js';
import { toState } from '../container-status.js';
import { CGROUP_PARENT, containerNamespaces, createContainer } from '../create-container.js';
import { runHooks, runHooksWarning } from '../hooks.js';
import { useSeccompCache } from '../seccomp-cache.js';
import { startContainer } from '../start-container.js';
import { checkUnsupported, createFlags } from './create.js';

/** Signals a foreground run passes on to the container, as runc does. */
const FORWARDED: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGQUIT', 'SIGUSR1', 'SIGUSR2'];

/** A shell's convention: the exit code, or 128 + the signal number. */
export function exitCodeOf(status: ExitStatus): number {
  if (status.signal === undefined) return status.exitCode;
  const num =
    typeof status.signal === 'number'
      ? status.signal
      : ((constants.signals as Record<string, number>)[status.signal] ?? 0);
  return 128 + num;
}

export const runCommand: Command = {
  name: 'run',
  usage: 'run [--detach] [--bundle DIR] [--pid-file FILE] <container-id>',
  summary: 'create and start a container; in the foreground, wait and delete it',
  flags: [...createFlags, { name: 'detach', short: 'd' }],
  async run(ctx, globals, args) {
    const { store } = globals;
    const id = containerIdArg(args, 'run');
    checkUnsupported('run', args);
    useSeccompCache(globals);
    const pidFile = flagString(args, 'pid-file');
    const consoleSocket = flagString(args, 'console-socket');
    const driver = createExecDriver({ cgroupParent: CGROUP_PARENT });
    const detached = flagBool(args, 'detach');
    const record = await createContainer(ctx, store, driver, {
      id,
      bundle: resolve(flagString(args, 'bundle') ?? '.'),
      ...(pidFile !== undefined ? { pidFile } : {}),
      ...(consoleSocket !== undefined ? { consoleSocket } : {}),
      detached,
    });
    if (detached) {
      await startContainer(ctx, store, id);
      return 0;
    }

    const subject = `container ${id}`;
    const forward = (signal: NodeJS.Signals) => void driver.kill(ctx, id, signal).catch(() => undefined);
    for (const s of FORWARDED) process.on(s, forward);
    let status: ExitStatus;
    try {
      try {
        await runHooks(ctx, 'startContainer', record.spec.hooks?.startContainer, toState(record, 'created'), {
          enter: { pid: record.pid!, namespaces: containerNamespaces(record.spec) },
        });
        await driver.start(ctx, id);
      } catch (err) {
        throw err instanceof BerthError && err.message.startsWith(subject) ? err : wrap(err, subject);
      }
      // no state.json write: a started container's record stays 'created', and with no exec FIFO liveStatus reads
      // it as running (container-status.ts); one atomic write (a rename) less per run
      await runHooksWarning(ctx, 'poststart', record.spec.hooks?.poststart, toState(record, 'running'));
      status = await driver.wait(ctx, id);
    } finally {
      for (const s of FORWARDED) process.off(s, forward);
      await driver.delete(ctx, id).catch((err: unknown) => ctx.logger.warn(wrap(err, `${subject}: delete`).message));
      if (record.hostMountRoot !== undefined) {
        try {
          releaseHostMountRoot(subject, record.hostMountRoot);
        } catch (err) {
          ctx.logger.warn((err as Error).message);
        }
      }
      await runHooksWarning(ctx, 'poststop', record.spec.hooks?.poststop, toState(record, 'stopped'));
      await store.remove(id);
    }
    return exitCodeOf(status);
  },
};
