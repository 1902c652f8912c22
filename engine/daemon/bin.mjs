#!/usr/bin/env node
// The berthd executable (package.json "bin"): the daemon serving the Docker Engine
// API subset. It starts from a pre-bundled copy of the TypeScript, rebuilt when a
// source changed (scripts/cli-bundle.mjs), whatever the caller's working directory.
import { fileURLToPath } from 'node:url';
import { createRequire } from 'node:module';

// the fast path in CommonJS (cheaper to load); building a stale bundle in cli-bundle.mjs
const { saveCodeCache, startFresh } = createRequire(import.meta.url)('../../scripts/cli-start.cjs');

const options = {
  v8Flags: [
    // A long-lived daemon keeps whatever young generation a burst of work (a pull, many
    // requests) grew, and V8 gives it back only after a long idle time: resident memory
    // the daemon does not need. With a growth factor of 1 the young generation keeps
    // its initial size (more scavenges, each of few survivors). V8 reads this flag each
    // time it would grow the young generation.
    '--semi-space-growth-factor=1',
    // A heap sized for memory rather than speed keeps less slack. (Turning the optimizing
    // compiler off as well saves a few MiB more, but a pull's tar parsing and the layer
    // applier's bookkeeping run in JavaScript and took measurably more CPU without it.)
    '--optimize-for-size',
    // No baseline (Sparkplug) code: functions run in the interpreter until TurboFan optimizes the hot ones. Sparkplug's
    // code for every warm function of the runs stayed in V8's code space, 1.4 MiB after 20 API runs, and its compiler's
    // pages of the node binary 0.2 MiB; the runs' CPU was no higher without it (docs/host-notes.md).
    '--no-sparkplug',
  ],
  // Set once the built-ins are loaded (cli-start.cjs): the bundle's imports, and these, which Node loads by itself
  // at the daemon's start (net's listen loads cluster, the global `performance` perf_hooks).
  preload: ['node:cluster', 'node:perf_hooks'],
};
const entry = fileURLToPath(new URL('./daemon-cli.ts', import.meta.url));
const { main } =
  startFresh(entry, undefined, options) ??
  (await (await import('../../scripts/cli-bundle.mjs')).loadCli(entry, undefined, options));
const code = await main(process.argv.slice(2));
saveCodeCache();
process.exit(code);
