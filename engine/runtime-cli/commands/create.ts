// `berth-runtime create --bundle DIR [--pid-file F] [--console-socket S] <id>`: makes the container and
// leaves its init waiting (status created) after this process exits.
import { resolve } from 'node:path';
import { invalidArgument, notImplemented } from '../../errdefs/errors.js';
import { createExecDriver } from '../../execdriver/execdriver.js';
import { containerIdArg, flagBool, flagString, type FlagSpec, type Parsed } from '../args.js';
import type { Command } from '../command.js';
import { CGROUP_PARENT, createContainer } from '../create-container.js';
import { useSeccompCache } from '../seccomp-cache.js';

/** Flags create and run share with runc. */
export const createFlags: FlagSpec[] = [
  { name: 'bundle', short: 'b', value: true },
  { name: 'pid-file', value: true },
  { name: 'console-socket', value: true },
  { name: 'no-pivot' },
  { name: 'no-new-keyring' },
  { name: 'preserve-fds', value: true },
];

/** Refuses the runc flags berth cannot honour, naming each. */
export function checkUnsupported(verb: string, args: Parsed): void {
  const socket = flagString(args, 'console-socket');
  if (socket === '') throw invalidArgument(`${verb}: --console-socket: expected a socket path`);
  if (flagBool(args, 'no-pivot'))
    throw notImplemented(`${verb}: --no-pivot is not supported (berth always uses pivot_root)`);
  const fds = flagString(args, 'preserve-fds');
  if (fds !== undefined && fds !== '0') {
    if (!/^\d+$/.test(fds)) throw invalidArgument(`${verb}: --preserve-fds ${JSON.stringify(fds)}: expected a number`);
    throw notImplemented(`${verb}: --preserve-fds ${fds} is not supported by berth-runtime yet`);
  }
  // --no-new-keyring: berth never creates a session keyring, so there is nothing to skip.
}

export const createCommand: Command = {
  name: 'create',
  usage: 'create [--bundle DIR] [--pid-file FILE] <container-id>',
  summary: 'create a container; its process waits for `start`',
  flags: createFlags,
  async run(ctx, globals, args) {
    const { store } = globals;
    const id = containerIdArg(args, 'create');
    checkUnsupported('create', args);
    useSeccompCache(globals);
    const pidFile = flagString(args, 'pid-file');
    const consoleSocket = flagString(args, 'console-socket');
    await createContainer(ctx, store, createExecDriver({ cgroupParent: CGROUP_PARENT }), {
      id,
      bundle: resolve(flagString(args, 'bundle') ?? '.'),
      ...(pidFile !== undefined ? { pidFile } : {}),
      ...(consoleSocket !== undefined ? { consoleSocket } : {}),
      detached: true,
    });
    return 0;
  },
};
