// `berth-runtime spec`: writes a starter config.json into the bundle, like `runc spec`.
import { writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { alreadyExists, invalidArgument, notImplemented, wrap } from '../../errdefs/errors.js';
import { defaultSpec } from '../../execdriver/spec/defaults.js';
import { flagBool, flagString } from '../args.js';
import type { Command } from '../command.js';

export const specCommand: Command = {
  name: 'spec',
  usage: 'spec [--bundle DIR]',
  summary: 'write a new config.json (root "rootfs", args ["sh"]) into the bundle directory',
  flags: [{ name: 'bundle', short: 'b', value: true }, { name: 'rootless' }],
  async run(_ctx, _globals, args) {
    if (flagBool(args, 'rootless')) throw notImplemented('spec: --rootless is not supported by berth-runtime');
    if (args.positionals.length > 0)
      throw invalidArgument(`spec: unexpected argument ${JSON.stringify(args.positionals[0])}`);
    const bundle = resolve(flagString(args, 'bundle') ?? '.');
    const path = join(bundle, 'config.json');
    try {
      // 'wx': never overwrite a bundle's existing config.
      writeFileSync(path, `${JSON.stringify(defaultSpec(), null, '\t')}\n`, { flag: 'wx' });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'EEXIST')
        throw alreadyExists(`spec: ${path} exists: remove it first`);
      throw wrap(err, `spec: ${path}`);
    }
    return 0;
  },
};
