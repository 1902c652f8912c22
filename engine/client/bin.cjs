#!/bin/sh
':' //; unset NODE_EXTRA_CA_CERTS; exec node "$0" "$@"
// The berth executable (package.json "bin"): the client of berthd. Like berth-runtime's
// bin.cjs, a shell script and a CommonJS module at once: sh runs the line above (`':'` is
// the no-op command), which drops NODE_EXTRA_CA_CERTS and runs this file with node; Node
// skips the `#!` line and reads that line as a string and a comment (.prettierignore:
// Prettier would add a `;` there). The variable makes Node parse a CA file before any
// JavaScript runs, and berth makes no TLS connection: it talks HTTP to berthd over a unix
// socket or loopback tcp (api-client.ts, node:http only), berthd talks to registries, and credential helpers are
// not run (auth-config.ts).
// The name .cjs makes it CommonJS: no ES module loader at start. README "Start-up of the
// commands".
//
// It runs a pre-bundled copy of the TypeScript, rebuilt when a source changed
// (scripts/cli-bundle.mjs), whatever the caller's working directory.
'use strict';
const { join } = require('node:path');
const { commandName, saveCodeCache, startFresh } = require('../../scripts/cli-start.cjs');

/** berth's commands (cli.ts), each with its own code cache; bin.test.ts checks the list. */
const COMMANDS = (
  'pull push login logout images rmi tag run create start ps logs exec stop restart kill rm wait inspect network volume ' +
  'info version events trace'
).split(' ');

async function run(argv) {
  const entry = join(__dirname, 'cli.ts');
  const key = commandName(argv, COMMANDS);
  const { main } = startFresh(entry, key) ?? (await (await import('../../scripts/cli-bundle.mjs')).loadCli(entry, key));
  return main(argv);
}

run(process.argv.slice(2)).then((code) => {
  saveCodeCache();
  process.exit(code);
});
