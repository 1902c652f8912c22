// `berth-runtime delete [--force] <id>`: removes a stopped (or created) container and
// everything berth made for it; a running one only with --force.
import { failedPrecondition, isBerthError } from '../../errdefs/errors.js';
import { containerIdArg, flagBool } from '../args.js';
import type { Command } from '../command.js';
import { liveStatus } from '../container-status.js';
import { destroyContainer } from '../destroy.js';

export const deleteCommand: Command = {
  name: 'delete',
  usage: 'delete [--force] <container-id>',
  summary: 'delete a stopped or created container (a running one with --force)',
  flags: [{ name: 'force', short: 'f' }],
  async run(ctx, { store }, args) {
    const id = containerIdArg(args, 'delete');
    const force = flagBool(args, 'force');
    let record;
    try {
      record = await store.read(id);
    } catch (err) {
      // A create that died before writing state.json leaves a bare directory.
      if (isBerthError(err, 'NOT_FOUND')) await store.remove(id);
      if (force && isBerthError(err, 'NOT_FOUND')) return 0;
      throw err;
    }
    const status = liveStatus(store, record);
    if ((status === 'running' || status === 'creating') && !force) {
      throw failedPrecondition(`container ${id}: cannot delete a ${status} container (stop it first, or use --force)`);
    }
    await destroyContainer(ctx, store, record);
    return 0;
  },
};
