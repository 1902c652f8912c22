// The shape every berth-runtime verb has: its flags and a run function that returns
// the process exit code. main.ts holds the one list of verbs.
import type { Context } from '../trace/context.js';
import type { FlagSpec, Parsed } from './args.js';
import type { StateStore } from './state-store.js';

export interface GlobalOptions {
  /** State directory (--root). */
  root: string;
  store: StateStore;
  /** The running build's identity (bin.cjs: its bundle's hash); caches kept on disk are kept per build. */
  build?: string;
  /** Where `state` and `spec` print; tests capture it. */
  stdout: NodeJS.WritableStream;
}

export interface Command {
  name: string;
  usage: string;
  summary: string;
  flags: readonly FlagSpec[];
  /** Runs the verb; resolves with the exit code, throws a BerthError on failure (exit 1). */
  run(ctx: Context, globals: GlobalOptions, args: Parsed): Promise<number>;
}
