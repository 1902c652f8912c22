#!/usr/bin/env node
// Starts crosscheck-pull-process.ts from a pre-bundled copy (scripts/cli-bundle.mjs), as
// berth's own commands start, so the process's start-up is Node's and not the compiler's.
import { fileURLToPath } from 'node:url';
import { createRequire } from 'node:module';

// the fast path in CommonJS (cheaper to load); building a stale bundle in cli-bundle.mjs
const { saveCodeCache, startFresh } = createRequire(import.meta.url)('../../scripts/cli-start.cjs');

const entry = fileURLToPath(new URL('./crosscheck-pull-process.ts', import.meta.url));
const { main } = startFresh(entry) ?? (await (await import('../../scripts/cli-bundle.mjs')).loadCli(entry));
const code = await main(process.argv.slice(2));
saveCodeCache();
process.exit(code);
