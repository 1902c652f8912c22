#!/usr/bin/env node
// The berth-runtime executable (package.json "bin"). It starts from a pre-bundled
// copy of the TypeScript, rebuilt when a source changed (scripts/cli-bundle.mjs),
// whatever the caller's working directory.
import { fileURLToPath } from 'node:url';
import { commandName, loadCli, saveCodeCache } from '../../scripts/cli-bundle.mjs';

/** berth-runtime's verbs (commands/index.ts), each with its own code cache; main.test.ts checks the list. */
const VERBS = 'create start state kill delete run spec list'.split(' ');

const argv = process.argv.slice(2);
const { main } = await loadCli(fileURLToPath(new URL('./main.ts', import.meta.url)), commandName(argv, VERBS));
const code = await main(argv);
saveCodeCache();
// A created container's init is still watched by this process's event loop (its
// pidfd); the exit must not wait for it.
process.exit(code);
