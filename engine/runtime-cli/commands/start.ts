// `berth-runtime start <id>`: lets a created container run its process.
import { containerIdArg } from '../args.js';
import type { Command } from '../command.js';
import { startContainer } from '../start-container.js';

export const startCommand: Command = {
  name: 'start',
  usage: 'start <container-id>',
  summary: 'run the process of a created container',
  flags: [],
  async run(ctx, { store }, args) {
    await startContainer(ctx, store, containerIdArg(args, 'start'));
    return 0;
  },
};
