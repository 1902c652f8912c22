#!/usr/bin/env node
// The berth executable (package.json "bin"): the client of berthd. It starts from
// a pre-bundled copy of the TypeScript, rebuilt when a source changed
// (scripts/cli-bundle.mjs), whatever the caller's working directory.
import { fileURLToPath } from 'node:url';
import { commandName, loadCli, saveCodeCache } from '../../scripts/cli-bundle.mjs';

/** berth's commands (cli.ts), each with its own code cache; bin.test.ts checks the list. */
const COMMANDS = (
  'pull push login logout images rmi tag run create start ps logs exec stop restart kill rm wait inspect network volume ' +
  'info version events trace'
).split(' ');

const argv = process.argv.slice(2);
const { main } = await loadCli(fileURLToPath(new URL('./cli.ts', import.meta.url)), commandName(argv, COMMANDS));
const code = await main(argv);
saveCodeCache();
process.exit(code);
