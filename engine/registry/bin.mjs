#!/usr/bin/env node
// The berth-registry executable (package.json "bin"). It starts from a pre-bundled
// copy of the TypeScript, rebuilt when a source changed (scripts/cli-bundle.mjs),
// whatever the caller's working directory.
import { fileURLToPath } from 'node:url';
import { loadCli, saveCodeCache } from '../../scripts/cli-bundle.mjs';

const { main } = await loadCli(fileURLToPath(new URL('./registry-cli.ts', import.meta.url)));
const code = await main(process.argv.slice(2));
saveCodeCache();
process.exit(code);
