// `berth-runtime delete [--force] <id>`: removes a stopped container and everything berth
// made for it; a created or running one only with --force (the runtime spec: deleting a
// container that is not stopped MUST fail and leave it as it was).
import { failedPrecondition, isBerthError } from '../../errdefs/errors.js';
import { containerIdArg, flagBool } from '../args.js';
import type { Command } from '../command.js';
import { liveStatus } from '../container-status.js';
import { destroyContainer } from '../destroy.js';

export const deleteCommand: Command = {
  name: 'delete',
  usage: 'delete [--force] <container-id>',
  summary: 'delete a stopped container (a created or running one with --force)',
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
    if (status !== 'stopped' && !force) {
      throw failedPrecondition(`container ${id}: cannot delete a ${status} container (stop it first, or use --force)`);
    }
    await destroyContainer(ctx, store, record);
    return 0;
  },
};
