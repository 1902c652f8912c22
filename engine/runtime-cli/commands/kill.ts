// `berth-runtime kill <id> [signal]`: sends a signal (name or number, SIGTERM by
// default) to the container's init, or with --all to every process in its cgroup.
import { failedPrecondition, isBerthError, wrap } from '../../errdefs/errors.js';
import { createCgroupManager } from '../../execdriver/cgroups/manager.js';
import { containerIdArg, flagBool } from '../args.js';
import type { Command } from '../command.js';
import { liveStatus } from '../container-status.js';
import { parseSignal, signalName } from '../signals.js';

export const killCommand: Command = {
  name: 'kill',
  usage: 'kill [--all] <container-id> [signal]',
  summary: 'send a signal (default SIGTERM) to the container init, or to all its processes',
  flags: [{ name: 'all', short: 'a' }],
  async run(ctx, { store }, args) {
    const id = containerIdArg(args, 'kill', 1);
    const signal = parseSignal(args.positionals[1] ?? 'SIGTERM');
    const record = await store.read(id);
    const status = liveStatus(store, record);
    if (status !== 'created' && status !== 'running')
      throw failedPrecondition(`container ${id}: cannot kill: container is ${status}`);
    if (flagBool(args, 'all') && record.cgroupPath !== undefined) {
      try {
        const cg = await createCgroupManager().open(ctx, record.cgroupPath);
        await cg.kill(ctx, signal);
        return 0;
      } catch (err) {
        if (!isBerthError(err, 'NOT_FOUND')) throw wrap(err, `container ${id}: kill --all`);
      }
    }
    try {
      process.kill(record.pid!, signal);
    } catch (err) {
      throw wrap(err, `container ${id}: kill ${record.pid} with ${signalName(signal)}`);
    }
    return 0;
  },
};
