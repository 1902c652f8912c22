#!/usr/bin/env node
// The berth-runtime executable (package.json "bin"): loads the TypeScript entry through
// tsx from this package's own node_modules, whatever the caller's working directory.
import { register } from 'tsx/esm/api';

register();
const { main } = await import('./main.ts');
// A created container's init is still watched by this process's event loop (its
// pidfd); the exit must not wait for it.
process.exit(await main(process.argv.slice(2)));
