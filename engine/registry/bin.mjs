#!/usr/bin/env node
// The berth-registry executable (package.json "bin"): loads the TypeScript entry
// through tsx from this package's own node_modules, whatever the working directory.
import { register } from 'tsx/esm/api';

register();
const { main } = await import('./registry-cli.ts');
process.exit(await main(process.argv.slice(2)));
