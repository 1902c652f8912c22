#!/usr/bin/env node
// The berth-runtime executable (package.json "bin"). It starts from a pre-bundled
// copy of the TypeScript, rebuilt when a source changed (scripts/cli-bundle.mjs),
// whatever the caller's working directory.
import { fileURLToPath } from 'node:url';
import { loadCli } from '../../scripts/cli-bundle.mjs';

const { main } = await loadCli(fileURLToPath(new URL('./main.ts', import.meta.url)));
// A created container's init is still watched by this process's event loop (its
// pidfd); the exit must not wait for it.
process.exit(await main(process.argv.slice(2)));
