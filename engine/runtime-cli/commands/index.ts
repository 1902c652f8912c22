// The one list of berth-runtime verbs, in the order --help shows them.
import type { Command } from '../command.js';
import { createCommand } from './create.js';
import { deleteCommand } from './delete.js';
import { killCommand } from './kill.js';
import { listCommand } from './list.js';
import { runCommand } from './run.js';
import { specCommand } from './spec.js';
import { startCommand } from './start.js';
import { stateCommand } from './state.js';

export const commands: readonly Command[] = [
  createCommand,
  startCommand,
  stateCommand,
  killCommand,
  deleteCommand,
  runCommand,
  listCommand,
  specCommand,
];
