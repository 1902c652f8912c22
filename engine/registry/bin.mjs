#!/usr/bin/env node
// The berth-registry executable (package.json "bin"). It starts from a pre-bundled
// copy of the TypeScript, rebuilt when a source changed (scripts/cli-bundle.mjs),
// whatever the caller's working directory.
import { fileURLToPath } from 'node:url';
import { createRequire } from 'node:module';

// the fast path in CommonJS (cheaper to load); building a stale bundle in cli-bundle.mjs
const { saveCodeCache, startFresh } = createRequire(import.meta.url)('../../scripts/cli-start.cjs');

const entry = fileURLToPath(new URL('./registry-cli.ts', import.meta.url));
const { main } = startFresh(entry) ?? (await (await import('../../scripts/cli-bundle.mjs')).loadCli(entry));
const code = await main(process.argv.slice(2));
saveCodeCache();
process.exit(code);
