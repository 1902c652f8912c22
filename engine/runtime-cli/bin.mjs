#!/usr/bin/env node
// The berth-runtime executable (package.json "bin"). It starts from a pre-bundled
// copy of the TypeScript, rebuilt when a source changed (scripts/cli-bundle.mjs),
// whatever the caller's working directory.
import { fileURLToPath } from 'node:url';
import { createRequire } from 'node:module';

// the fast path in CommonJS (cheaper to load); building a stale bundle in cli-bundle.mjs
const { commandName, saveCodeCache, startFresh } = createRequire(import.meta.url)('../../scripts/cli-start.cjs');

/** berth-runtime's verbs (commands/index.ts), each with its own code cache; main.test.ts checks the list. */
const VERBS = 'create start state kill delete run spec list'.split(' ');

const argv = process.argv.slice(2);
const entry = fileURLToPath(new URL('./main.ts', import.meta.url));
const key = commandName(argv, VERBS);
const { main } = startFresh(entry, key) ?? (await (await import('../../scripts/cli-bundle.mjs')).loadCli(entry, key));
const code = await main(argv);
saveCodeCache();
// A created container's init is still watched by this process's event loop (its
// pidfd); the exit must not wait for it.
process.exit(code);
