// berth-runtime: an OCI runtime command line (runc's verbs and flags) on berth's
// execdriver, so the benchmark harness can drive berth exactly like runc and crun.
import { pathToFileURL } from 'node:url';
import { processIo, runCli, type CliOptions, type MainIo } from './cli-core.js';
import { commands } from './commands/index.js';

export { VERSION, type MainIo } from './cli-core.js';

/**
 * Runs one berth-runtime invocation with every verb; resolves with the exit code (never throws). `options.build` names
 * the running build (bin.cjs: its bundle's hash); without it, compiled seccomp filters are not kept on disk.
 */
export function main(argv: readonly string[], io: MainIo = processIo(), options: CliOptions = {}): Promise<number> {
  return runCli(commands, argv, io, undefined, options);
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  // process.exit: a created container's pidfd watch must not keep this process alive.
  void main(process.argv.slice(2)).then((code) => process.exit(code));
}
