#!/bin/sh
':' //; unset NODE_EXTRA_CA_CERTS; exec node "$0" "$@"
// The berth-runtime executable (package.json "bin"), a shell script and a CommonJS module
// at once: sh runs the line above (`':'` is the no-op command), which drops
// NODE_EXTRA_CA_CERTS and runs this file with node; Node skips the `#!` line and reads
// that line as a string and a comment (.prettierignore: Prettier would add a `;` there).
// The variable makes Node parse a CA file before any JavaScript runs (some 45 ms of CPU
// on this host), and berth-runtime makes no TLS connection; its hooks get the environment
// of their config, not this one. Node resolves "$0" through the node_modules/.bin link,
// so this file's name (.cjs) makes it CommonJS: no ES module loader at start. README
// "Start-up of the commands".
//
// It runs a pre-bundled copy of the TypeScript, rebuilt when a source changed
// (scripts/cli-bundle.mjs), whatever the caller's working directory: the verbs that act
// on an existing container from the small bundle of main-light.ts, the others from main.ts.
'use strict';
const { join } = require('node:path');
const { bundleId, commandName, saveCodeCache, startFresh } = require('../../scripts/cli-start.cjs');

/** berth-runtime's verbs (commands/index.ts), each with its own code cache; bin.test.ts checks the list. */
const VERBS = 'create start state kill delete run spec list'.split(' ');
/** The verbs of main-light.ts's bundle (its lightCommands; bin.test.ts checks the list). */
const LIGHT = 'start state kill delete'.split(' ');

/** The exports of `entry`'s bundle: the fresh one, else a rebuilt one (or the TypeScript through tsx). */
async function load(entry, key) {
  return startFresh(entry, key) ?? (await import('../../scripts/cli-bundle.mjs')).loadCli(entry, key);
}

async function run(argv) {
  const key = commandName(argv, VERBS);
  const full = join(__dirname, 'main.ts');
  // the full bundle's hash names its build (seccomp-cache.ts keeps compiled filters per build)
  const runFull = async (all, verb) => (await load(full, verb)).main(all, undefined, { build: bundleId() });
  if (!LIGHT.includes(key)) return runFull(argv, key);
  // a light verb's word may also be a flag's value (`--log state create …`): the light
  // main hands whatever is not its own to the full command
  const { main } = await load(join(__dirname, 'main-light.ts'), key);
  return main(argv, undefined, (all) => runFull(all, commandName(all, VERBS)));
}

run(process.argv.slice(2)).then((code) => {
  saveCodeCache();
  // A created container's init is still watched by this process's event loop (its
  // pidfd); the exit must not wait for it.
  process.exit(code);
});
