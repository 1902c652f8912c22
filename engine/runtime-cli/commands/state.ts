// `berth-runtime state <id>`: prints the runtime-spec state JSON of a container.
import { containerIdArg } from '../args.js';
import type { Command } from '../command.js';
import { liveStatus, toState } from '../container-status.js';

export const stateCommand: Command = {
  name: 'state',
  usage: 'state <container-id>',
  summary: 'print the state of a container (ociVersion, id, status, pid, bundle, annotations)',
  flags: [],
  async run(_ctx, { store, stdout }, args) {
    const id = containerIdArg(args, 'state');
    const record = await store.read(id);
    stdout.write(`${JSON.stringify(toState(record, liveStatus(store, record)), null, 2)}\n`);
    return 0;
  },
};
