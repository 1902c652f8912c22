#!/usr/bin/env node
// Starts crosscheck-pull-process.ts from a pre-bundled copy (scripts/cli-bundle.mjs), as
// berth's own commands start, so the process's start-up is Node's and not the compiler's.
import { fileURLToPath } from 'node:url';
import { loadCli, saveCodeCache } from '../../scripts/cli-bundle.mjs';

const { main } = await loadCli(fileURLToPath(new URL('./crosscheck-pull-process.ts', import.meta.url)));
const code = await main(process.argv.slice(2));
saveCodeCache();
process.exit(code);
