// The `berthd` command: parses the flags, starts the daemon over the engine of
// jobs/builtins.ts (which restores what an earlier run left) and runs until
// SIGTERM or SIGINT, then shuts down cleanly: containers stopped and recorded,
// sockets, pid file and root lock removed. Exit 0 after a clean shutdown, 1 when
// it could not start, 2 for bad flags.
import { readFileSync } from 'node:fs';
import { isBerthError } from '../errdefs/errors.js';
import { createEngine } from '../jobs/builtins.js';
import { HOST_SUBID_FILES, resolveRemap } from '../container/userns-remap.js';
import { native } from '../../native/index.js';
import { packagePath } from '../../native/package-root.js';
import { background } from '../trace/context.js';
import { createLogger } from '../trace/logger.js';
import { parseDaemonFlags, usage, type DaemonFlags } from './daemon-flags.js';
import { startDaemon, type EngineFactory } from './daemon.js';
import { IDLE_TRIM_MS, idleReclaimer } from './idle-trim.js';

function serverVersion(): string {
  try {
    return (JSON.parse(readFileSync(packagePath('package.json'), 'utf8')) as { version?: string }).version ?? '0.0.0';
  } catch {
    return '0.0.0';
  }
}

/** The real engine for the daemon's flags. */
export const builtinEngine: EngineFactory = async (ctx, flags: DaemonFlags) => {
  const built = await createEngine(ctx, {
    root: flags.root,
    execRoot: flags.execRoot,
    storageDriver: flags.storageDriver,
    bridge: flags.bridge,
    bip: flags.bip,
    ...(flags.iptables ? {} : { portDriver: 'proxy' as const }),
    ...(flags.dns !== undefined ? { dns: flags.dns } : {}),
    ...(flags.usernsRemap !== undefined
      ? {
          usernsRemap: resolveRemap(flags.usernsRemap, {
            ...HOST_SUBID_FILES,
            subuid: flags.subuidFile,
            subgid: flags.subgidFile,
          }),
        }
      : {}),
  });
  return { engine: built.engine, shutdown: (c) => built.shutdown(c) };
};

/** Runs berthd with `argv` (without node and script); resolves to the exit code once it stopped. */
export async function main(argv: string[]): Promise<number> {
  let flags: DaemonFlags | 'help';
  try {
    flags = parseDaemonFlags(argv);
  } catch (err) {
    process.stderr.write(`${(err as Error).message}\n${usage}\n`);
    return 2;
  }
  if (flags === 'help') {
    process.stdout.write(`${usage}\n`);
    return 0;
  }
  const ctx = background(createLogger(flags.logLevel));
  // an fd berthd inherited without FD_CLOEXEC (a shell's pipe) goes to none of the programs it runs
  native().cloexecInherited();
  let daemon;
  const reclaim = idleReclaimer();
  try {
    daemon = await startDaemon(ctx, flags, builtinEngine, serverVersion(), {
      idle: {
        ms: IDLE_TRIM_MS,
        onIdle: () => {
          const { collected, releasedMiB } = reclaim();
          ctx.logger.debug('berthd: idle, memory reclaimed', {
            v8Collected: collected,
            releasedMiB: releasedMiB.toFixed(1),
          });
        },
      },
    });
  } catch (err) {
    process.stderr.write(`berthd: ${(err as Error).message}\n`);
    return isBerthError(err, 'INVALID_ARGUMENT') ? 2 : 1;
  }
  const running = daemon;
  await new Promise<void>((resolve) => {
    const stop = (signal: NodeJS.Signals): void => {
      ctx.logger.info(`berthd: ${signal} received`);
      process.removeListener('SIGTERM', stop);
      process.removeListener('SIGINT', stop);
      resolve();
    };
    process.on('SIGTERM', stop);
    process.on('SIGINT', stop);
  });
  try {
    await running.close(ctx);
    return 0;
  } catch (err) {
    process.stderr.write(`berthd: shutdown: ${(err as Error).message}\n`);
    return 1;
  }
}
