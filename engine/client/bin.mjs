#!/usr/bin/env node
// The berth executable (package.json "bin"): the client of berthd. It starts from
// a pre-bundled copy of the TypeScript, rebuilt when a source changed
// (scripts/cli-bundle.mjs), whatever the caller's working directory.
import { fileURLToPath } from 'node:url';
import { loadCli } from '../../scripts/cli-bundle.mjs';

const { main } = await loadCli(fileURLToPath(new URL('./cli.ts', import.meta.url)));
process.exit(await main(process.argv.slice(2)));
