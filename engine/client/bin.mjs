#!/usr/bin/env node
// The berth executable (package.json "bin"): the client of berthd. It starts from
// a pre-bundled copy of the TypeScript, rebuilt when a source changed
// (scripts/cli-bundle.mjs), whatever the caller's working directory.
import { fileURLToPath } from 'node:url';
import { createRequire } from 'node:module';

// the fast path in CommonJS (cheaper to load); building a stale bundle in cli-bundle.mjs
const { commandName, saveCodeCache, startFresh } = createRequire(import.meta.url)('../../scripts/cli-start.cjs');

/** berth's commands (cli.ts), each with its own code cache; bin.test.ts checks the list. */
const COMMANDS = (
  'pull push login logout images rmi tag run create start ps logs exec stop restart kill rm wait inspect network volume ' +
  'info version events trace'
).split(' ');

const argv = process.argv.slice(2);
const entry = fileURLToPath(new URL('./cli.ts', import.meta.url));
const key = commandName(argv, COMMANDS);
const { main } = startFresh(entry, key) ?? (await (await import('../../scripts/cli-bundle.mjs')).loadCli(entry, key));
const code = await main(argv);
saveCodeCache();
process.exit(code);
