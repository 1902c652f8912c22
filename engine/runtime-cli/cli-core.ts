// berth-runtime's command line around a list of verbs: global flags, usage, logging,
// exit codes as runc (0 ok, 1 on any error with the message on stderr, `run` exits with
// the container's status). main.ts runs it with every verb; main-light.ts with the verbs
// that need no container set-up, so that their bundle is small (README "Start-up of the commands").
import { appendFileSync } from 'node:fs';
import { BerthError, invalidArgument, notImplemented, wrap } from '../errdefs/errors.js';
import { background } from '../trace/context.js';
import { createLogger, type LogSink } from '../trace/logger.js';
import { flagBool, flagString, parseFlags, type FlagSpec } from './args.js';
import type { Command, GlobalOptions } from './command.js';
import { DEFAULT_ROOT, StateStore } from './state-store.js';

const globalFlags: FlagSpec[] = [
  { name: 'root', value: true },
  { name: 'log', value: true },
  { name: 'log-format', value: true },
  { name: 'debug' },
  { name: 'systemd-cgroup' },
  { name: 'help', short: 'h' },
  { name: 'version', short: 'v' },
];

export const VERSION = '0.1.0';

function usage(commands: readonly Command[]): string {
  const lines = commands.map((c: Command) => `  ${c.usage.padEnd(52)} ${c.summary}`);
  return [
    'usage: berth-runtime [--root DIR] [--log FILE] [--log-format text|json] [--debug] <command> [flags] <args>',
    '',
    'commands:',
    ...lines,
    '',
    `--root defaults to ${DEFAULT_ROOT}.`,
  ].join('\n');
}

export interface MainIo {
  stdout: NodeJS.WritableStream;
  stderr: NodeJS.WritableStream;
}

/**
 * The process's stdout and stderr, each made on first use: Node's getters build a stream
 * (loading net or tty when the fd is a pipe or a terminal) that `run` and `create` never
 * write to (README "Start-up of the commands").
 */
export function processIo(): MainIo {
  return {
    get stdout() {
      return process.stdout;
    },
    get stderr() {
      return process.stderr;
    },
  };
}

/** How the command was started. */
export interface CliOptions {
  /** The running build's identity (its bundle's content hash), when it has one. */
  build?: string;
}

/**
 * Runs one berth-runtime invocation with `commands`; resolves with the exit code (never throws).
 * `elsewhere`, when given, runs the invocations that need another verb than these, or the usage.
 */
export async function runCli(
  commands: readonly Command[],
  argv: readonly string[],
  io: MainIo,
  elsewhere?: (argv: readonly string[]) => Promise<number>,
  cli: CliOptions = {},
): Promise<number> {
  let logFile: string | undefined;
  let logFormat = 'text';
  const report = (err: BerthError) => {
    io.stderr.write(`berth-runtime: ${err.message}\n`);
    if (logFile !== undefined) writeLog(logFile, logFormat, 'error', err.message, { code: err.code });
  };
  try {
    const globals = parseFlags(argv, globalFlags, 'berth-runtime', true);
    logFile = flagString(globals, 'log');
    logFormat = flagString(globals, 'log-format') ?? 'text';
    if (logFormat !== 'text' && logFormat !== 'json')
      throw invalidArgument(`berth-runtime: --log-format ${JSON.stringify(logFormat)}: expected text or json`);
    if (flagBool(globals, 'version')) {
      io.stdout.write(`berth-runtime version ${VERSION}\nspec: 1.0.2\n`);
      return 0;
    }
    const [verb, ...rest] = globals.rest;
    const command = commands.find((c: Command) => c.name === verb);
    if (elsewhere !== undefined && (command === undefined || flagBool(globals, 'help'))) return await elsewhere(argv);
    if (flagBool(globals, 'help') || verb === undefined || verb === 'help') {
      (verb === undefined && !flagBool(globals, 'help') ? io.stderr : io.stdout).write(`${usage(commands)}\n`);
      return verb === undefined && !flagBool(globals, 'help') ? 1 : 0;
    }
    if (flagBool(globals, 'systemd-cgroup'))
      throw notImplemented('berth-runtime: --systemd-cgroup is not supported (berth manages cgroupfs directly)');
    if (!command)
      throw invalidArgument(`berth-runtime: unknown command ${JSON.stringify(verb)} (see berth-runtime --help)`);
    const args = parseFlags(rest, command.flags, verb);
    const level = flagBool(globals, 'debug') ? 'debug' : 'warn';
    const sink: LogSink = (l, message, fields) => {
      if (logFile !== undefined) writeLog(logFile, logFormat, l, message, fields);
      else io.stderr.write(`berth-runtime: ${l}: ${message}\n`);
    };
    const ctx = background(createLogger(level, sink));
    const root = flagString(globals, 'root') ?? DEFAULT_ROOT;
    const options: GlobalOptions = {
      root,
      store: new StateStore(root),
      ...(cli.build !== undefined ? { build: cli.build } : {}),
      get stdout() {
        return io.stdout;
      },
    };
    // The execdriver watches a detached container's exit with an unref'd handle (so
    // `create` can return while the container lives): this timer keeps the process
    // up until the verb is done, e.g. while a failed create waits for its child to die.
    const keepAlive = setInterval(() => undefined, 1 << 30);
    try {
      return await command.run(ctx, options, args);
    } finally {
      clearInterval(keepAlive);
    }
  } catch (err) {
    report(err instanceof BerthError ? err : wrap(err, 'berth-runtime'));
    return 1;
  }
}

function writeLog(file: string, format: string, level: string, message: string, fields: Record<string, unknown>): void {
  const time = new Date().toISOString();
  const line =
    format === 'json'
      ? JSON.stringify({ level, msg: message, time, ...fields })
      : `time="${time}" level=${level} msg=${JSON.stringify(message)}`;
  try {
    appendFileSync(file, `${line}\n`);
  } catch {
    // a log that cannot be written must not hide the real outcome
  }
}
