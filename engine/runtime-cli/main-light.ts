// berth-runtime's verbs that act on an existing container (state, start, kill, delete): the
// ones an OCI caller runs most, several times per container. Their bundle leaves out the
// container set-up (spec validation, mounts, rootfs, networking), so each call compiles and
// runs far less at start; bin.cjs runs it for these verbs, and any other verb or the usage
// goes to the full command (main.ts) through `elsewhere`.
import { processIo, runCli, type MainIo } from './cli-core.js';
import type { Command } from './command.js';
import { deleteCommand } from './commands/delete.js';
import { killCommand } from './commands/kill.js';
import { startCommand } from './commands/start.js';
import { stateCommand } from './commands/state.js';

/** The verbs of this bundle; bin.cjs routes exactly these here (bin.test.ts checks both lists). */
export const lightCommands: readonly Command[] = [startCommand, stateCommand, killCommand, deleteCommand];

/** Runs one invocation of a light verb; `elsewhere` runs any other (the full command's main). */
export function main(
  argv: readonly string[],
  io: MainIo = processIo(),
  elsewhere?: (argv: readonly string[]) => Promise<number>,
): Promise<number> {
  return runCli(lightCommands, argv, io, elsewhere);
}
