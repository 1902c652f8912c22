// The `berth` command: finds the daemon (-H/--host, then BERTH_HOST, then the
// default socket), runs one command and exits as Docker's CLI does — 125 for a
// usage or daemon error of run/create/start, 1 for other failed commands, else
// the container's (or exec's) status.
import { isBerthError } from '../errdefs/errors.js';
import { ApiClient, DEFAULT_HOST } from './api-client.js';
import type { Cli, Command } from './commands/command.js';
import { UsageError } from './commands/command.js';
import {
  execCommand,
  inspectCommand,
  killCommand,
  logsCommand,
  psCommand,
  restartCommand,
  rmCommand,
  stopCommand,
  waitCommand,
} from './commands/container-commands.js';
import {
  eventsCommand,
  imagesCommand,
  infoCommand,
  networkCommand,
  pullCommand,
  pushCommand,
  rmiCommand,
  tagCommand,
  versionCommand,
  volumeCommand,
} from './commands/image-and-system-commands.js';
import { loginCommand, logoutCommand } from './commands/login-commands.js';
import { createCommand, ExitError, runCommand, startCommand } from './commands/run-commands.js';
import { traceCommand } from './commands/trace-command.js';

export const usage = `usage: berth [-H HOST] COMMAND [ARG...]

Commands:
  pull, push, images, rmi, tag        images
  login [SERVER], logout [SERVER]     registry credentials (kept in $BERTH_CONFIG, else
                                      $DOCKER_CONFIG, else ~/.berth: config.json)
  run, create, start, ps, logs, exec  containers
  stop, restart, kill, rm, wait
  inspect                             containers or images as JSON
  network ls|create|rm|inspect        networks
  volume create|ls|inspect|rm|prune   volumes
  info, version, events               the daemon
  trace [-o FILE] [--summary] COMMAND [ARG...]
                                      a command's Chrome trace, client and daemon spans joined
                                      (--summary: count and time per span name on stderr)

The daemon is found through -H/--host (unix:///path or tcp://127.0.0.1:PORT),
then BERTH_HOST, then ${DEFAULT_HOST}.`;

const base: Record<string, Command> = {
  pull: pullCommand,
  push: pushCommand,
  login: loginCommand,
  logout: logoutCommand,
  images: imagesCommand,
  rmi: rmiCommand,
  tag: tagCommand,
  run: runCommand,
  create: createCommand,
  start: startCommand,
  ps: psCommand,
  logs: logsCommand,
  exec: execCommand,
  stop: stopCommand,
  restart: restartCommand,
  kill: killCommand,
  rm: rmCommand,
  wait: waitCommand,
  inspect: inspectCommand,
  network: networkCommand,
  volume: volumeCommand,
  info: infoCommand,
  version: versionCommand,
  events: eventsCommand,
};

export const commands: Record<string, Command> = { ...base, trace: traceCommand(base) };

/** Commands whose daemon errors exit 125 (as docker run/create/start do); others exit 1. */
const containerRunners = new Set(['run', 'create', 'start']);

/** Splits the global options off: `-H X`, `--host X`, `--host=X`, `-h/--help`. */
export function splitGlobal(argv: readonly string[]): { host: string | undefined; help: boolean; rest: string[] } {
  let host: string | undefined;
  let i = 0;
  let help = false;
  for (; i < argv.length; i++) {
    const a = argv[i] as string;
    if (a === '-H' || a === '--host') {
      host = argv[++i];
      if (host === undefined) throw new UsageError(`flag needs an argument: ${a}`);
    } else if (a.startsWith('--host=')) host = a.slice('--host='.length);
    else if (a.startsWith('-H') && a.length > 2) host = a.slice(2).replace(/^=/, '');
    else if (a === '-h' || a === '--help') help = true;
    else break;
  }
  return { host, help, rest: argv.slice(i) };
}

export interface CliIO {
  stdout: NodeJS.WriteStream | NodeJS.WritableStream;
  stderr: NodeJS.WriteStream | NodeJS.WritableStream;
  stdin: NodeJS.ReadStream | NodeJS.ReadableStream;
  env: NodeJS.ProcessEnv;
}

/**
 * This process's streams, each made when first used: Node makes process.stdin (a file or pipe stream, with the
 * modules behind it) when it is first read, and `berth run` without -i never needs it.
 */
const processIO: CliIO = {
  get stdout() {
    return process.stdout;
  },
  get stderr() {
    return process.stderr;
  },
  get stdin() {
    return process.stdin;
  },
  env: process.env,
};

/** Runs `berth` with `argv` (without node and script); resolves to the exit code. */
export async function main(argv: string[], io: CliIO = processIO): Promise<number> {
  const out = (stream: () => NodeJS.WritableStream): Cli['stdout'] => ({
    write: (t) => void stream().write(t),
    get isTTY() {
      return (stream() as NodeJS.WriteStream).isTTY === true;
    },
    get raw() {
      return stream();
    },
  });
  const stderr = out(() => io.stderr);
  let parsed;
  try {
    parsed = splitGlobal(argv);
  } catch (err) {
    stderr.write(`berth: ${(err as Error).message}\n`);
    return 125;
  }
  const [name, ...args] = parsed.rest;
  if (parsed.help || name === undefined || name === 'help') {
    out(() => io.stdout).write(`${usage}\n`);
    return name === undefined && !parsed.help ? 125 : 0;
  }
  const command = commands[name];
  if (command === undefined) {
    stderr.write(`berth: '${name}' is not a berth command.\nSee 'berth --help'.\n`);
    return 125;
  }
  let client: ApiClient;
  try {
    client = new ApiClient(parsed.host ?? (io.env.BERTH_HOST || DEFAULT_HOST));
  } catch (err) {
    stderr.write(`berth: ${(err as Error).message}\n`);
    return 125;
  }
  const cli: Cli = {
    client,
    stdout: out(() => io.stdout),
    stderr,
    get stdin() {
      return io.stdin as Cli['stdin'];
    },
    env: io.env,
    size: () => {
      const stdout = io.stdout as NodeJS.WriteStream;
      return stdout.isTTY ? { rows: stdout.rows, columns: stdout.columns } : undefined;
    },
  };
  try {
    return await command(cli, args);
  } catch (err) {
    if (err instanceof ExitError) {
      stderr.write(`berth: Error response from daemon: ${err.message}\n`);
      return err.status;
    }
    if (err instanceof UsageError || (isBerthError(err, 'INVALID_ARGUMENT') && err.details?.httpStatus === undefined)) {
      stderr.write(`berth: ${(err as Error).message}\nSee 'berth ${name} --help'.\n`);
      return 125;
    }
    const message = (err as Error).message;
    stderr.write(
      isBerthError(err) && err.details?.httpStatus !== undefined
        ? `Error response from daemon: ${message}\n`
        : `berth: ${message}\n`,
    );
    return containerRunners.has(name) ? 125 : 1;
  }
}
