// Container commands besides run/create/start: ps, logs, exec, stop, restart,
// kill, rm, wait and inspect (containers first, then images, as Docker does).
import type { ContainerSummary } from '../../api/types.js';
import { isBerthError } from '../../errdefs/errors.js';
import { parseCommandArgs } from '../cli-args.js';
import { humanDuration, table } from '../cli-output.js';
import { FrameReader } from '../frame-reader.js';
import { pumpStreams } from './attach-streams.js';
import { intOption, requireArgs, shortId, UsageError, type Cli, type Command } from './command.js';
import { startFailureStatus } from './run-commands.js';

function ports(c: ContainerSummary): string {
  return c.Ports.map((p) =>
    p.PublicPort ? `${p.IP ?? '0.0.0.0'}:${p.PublicPort}->${p.PrivatePort}/${p.Type}` : `${p.PrivatePort}/${p.Type}`,
  ).join(', ');
}

export const psCommand: Command = async (cli, argv) => {
  const { options } = parseCommandArgs(argv, [
    { name: 'all', short: 'a', type: 'bool' },
    { name: 'quiet', short: 'q', type: 'bool' },
    { name: 'no-trunc', type: 'bool' },
    { name: 'filter', short: 'f', type: 'list' },
  ]);
  const filters: Record<string, string[]> = {};
  for (const f of (options.filter as string[] | undefined) ?? []) {
    const eq = f.indexOf('=');
    if (eq <= 0) throw new UsageError(`bad format of filter (expected name=value): ${f}`);
    (filters[f.slice(0, eq)] ??= []).push(f.slice(eq + 1));
  }
  const list = await cli.client.containerList({
    all: options.all === true,
    filters: Object.keys(filters).length > 0 ? filters : undefined,
  });
  const trunc = options['no-trunc'] !== true;
  if (options.quiet === true) {
    for (const c of list) cli.stdout.write(`${trunc ? shortId(c.Id) : c.Id}\n`);
    return 0;
  }
  const now = Date.now() / 1000;
  const rows = list.map((c) => {
    const command = trunc && c.Command.length > 20 ? `${c.Command.slice(0, 19)}…` : c.Command;
    return [
      trunc ? shortId(c.Id) : c.Id,
      c.Image,
      JSON.stringify(command),
      `${humanDuration(now - c.Created)} ago`,
      c.Status,
      ports(c),
      c.Names.map((n) => n.replace(/^\//, '')).join(','),
    ];
  });
  cli.stdout.write(table(['CONTAINER ID', 'IMAGE', 'COMMAND', 'CREATED', 'STATUS', 'PORTS', 'NAMES'], rows));
  return 0;
};

export const logsCommand: Command = async (cli, argv) => {
  const { options, positionals } = parseCommandArgs(argv, [
    { name: 'follow', short: 'f', type: 'bool' },
    { name: 'tail', short: 'n', type: 'string' },
    { name: 'timestamps', short: 't', type: 'bool' },
    { name: 'since', type: 'string' },
  ]);
  requireArgs(positionals, 1, 'logs [OPTIONS] CONTAINER');
  const id = positionals[0] as string;
  const info = await cli.client.containerInspect(id);
  const tail = options.tail === undefined || options.tail === 'all' ? 'all' : intOption(options.tail, '--tail');
  const res = await cli.client.containerLogs(id, {
    follow: options.follow === true,
    timestamps: options.timestamps === true,
    tail,
    since: options.since === undefined ? undefined : Number(options.since),
  });
  const reader = new FrameReader();
  for await (const chunk of res as AsyncIterable<Buffer>) {
    if (info.Config.Tty === true) cli.stdout.write(chunk);
    else for (const f of reader.push(chunk)) (f.stream === 'stderr' ? cli.stderr : cli.stdout).write(f.data);
  }
  return 0;
};

export const execCommand: Command = async (cli, argv) => {
  const { options, positionals } = parseCommandArgs(
    argv,
    [
      { name: 'interactive', short: 'i', type: 'bool' },
      { name: 'tty', short: 't', type: 'bool' },
      { name: 'detach', short: 'd', type: 'bool' },
      { name: 'env', short: 'e', type: 'list' },
      { name: 'workdir', short: 'w', type: 'string' },
      { name: 'user', short: 'u', type: 'string' },
      { name: 'privileged', type: 'bool' },
    ],
    true,
  );
  requireArgs(positionals, 2, 'exec [OPTIONS] CONTAINER COMMAND [ARG...]');
  const [id, ...cmd] = positionals as [string, ...string[]];
  const tty = options.tty === true;
  const interactive = options.interactive === true;
  const detach = options.detach === true;
  const { Id: execId } = await cli.client.execCreate(id, {
    Cmd: cmd,
    Tty: tty,
    AttachStdin: interactive && !detach,
    AttachStdout: !detach,
    AttachStderr: !detach,
    Env: (options.env as string[] | undefined) ?? [],
    WorkingDir: options.workdir as string | undefined,
    User: options.user as string | undefined,
    Privileged: options.privileged === true,
  });
  if (detach) {
    await cli.client.execStartDetached(execId);
    return 0;
  }
  const size = cli.size();
  let conn;
  try {
    conn = await cli.client.execStart(execId, {
      tty,
      consoleSize: tty && size ? [size.rows, size.columns] : undefined,
    });
  } catch (err) {
    const message = (err as Error).message;
    cli.stderr.write(`berth: Error response from daemon: ${message}\n`);
    return startFailureStatus(message) === 125 ? 126 : startFailureStatus(message);
  }
  await pumpStreams(cli, conn, {
    tty,
    stdin: interactive,
    resize: (rows, cols) => cli.client.execResize(execId, rows, cols),
  });
  const result = await cli.client.execInspect(execId);
  return result.ExitCode ?? 0;
};

function simple(
  verb: string,
  usage: string,
  act: (cli: Cli, id: string, options: Record<string, unknown>) => Promise<void>,
  specs: Parameters<typeof parseCommandArgs>[1] = [],
): Command {
  return async (cli, argv) => {
    const { options, positionals } = parseCommandArgs(argv, specs);
    requireArgs(positionals, 1, usage);
    let failed = false;
    for (const id of positionals) {
      try {
        await act(cli, id, options);
        cli.stdout.write(`${id}\n`);
      } catch (err) {
        failed = true;
        cli.stderr.write(`Error response from daemon: ${(err as Error).message}\n`);
      }
    }
    void verb;
    return failed ? 1 : 0;
  };
}

export const stopCommand = simple(
  'stop',
  'stop [OPTIONS] CONTAINER [CONTAINER...]',
  async (cli, id, o) =>
    void (await cli.client.containerStop(id, intOption(o.time, '--time'), o.signal as string | undefined)),
  [
    { name: 'time', short: 't', type: 'string' },
    { name: 'signal', short: 's', type: 'string' },
  ],
);
export const restartCommand = simple(
  'restart',
  'restart [OPTIONS] CONTAINER [CONTAINER...]',
  (cli, id, o) => cli.client.containerRestart(id, intOption(o.time, '--time')),
  [{ name: 'time', short: 't', type: 'string' }],
);
export const killCommand = simple(
  'kill',
  'kill [OPTIONS] CONTAINER [CONTAINER...]',
  (cli, id, o) => cli.client.containerKill(id, o.signal as string | undefined),
  [{ name: 'signal', short: 's', type: 'string' }],
);
export const rmCommand = simple(
  'rm',
  'rm [OPTIONS] CONTAINER [CONTAINER...]',
  (cli, id, o) => cli.client.containerRemove(id, { force: o.force === true, volumes: o.volumes === true }),
  [
    { name: 'force', short: 'f', type: 'bool' },
    { name: 'volumes', short: 'v', type: 'bool' },
  ],
);

export const waitCommand: Command = async (cli, argv) => {
  const { positionals } = parseCommandArgs(argv, []);
  requireArgs(positionals, 1, 'wait CONTAINER [CONTAINER...]');
  let failed = false;
  for (const id of positionals) {
    try {
      const { result } = await cli.client.containerWait(id, 'not-running');
      cli.stdout.write(`${(await result).StatusCode}\n`);
    } catch (err) {
      failed = true;
      cli.stderr.write(`Error response from daemon: ${(err as Error).message}\n`);
    }
  }
  return failed ? 1 : 0;
};

export const inspectCommand: Command = async (cli, argv) => {
  const { options, positionals } = parseCommandArgs(argv, [{ name: 'type', type: 'string' }]);
  requireArgs(positionals, 1, 'inspect [OPTIONS] NAME|ID [NAME|ID...]');
  const kind = options.type as string | undefined;
  const found: unknown[] = [];
  let failed = false;
  for (const name of positionals) {
    try {
      if (kind === 'image') found.push(await cli.client.imageInspect(name));
      else if (kind === 'network') found.push(await cli.client.networkInspect(name));
      else {
        try {
          found.push(await cli.client.containerInspect(name));
        } catch (err) {
          if (kind === 'container' || !isBerthError(err, 'NOT_FOUND')) throw err;
          found.push(await cli.client.imageInspect(name));
        }
      }
    } catch (err) {
      failed = true;
      cli.stderr.write(
        isBerthError(err, 'NOT_FOUND')
          ? `Error: No such object: ${name}\n`
          : `Error response from daemon: ${(err as Error).message}\n`,
      );
    }
  }
  cli.stdout.write(`${JSON.stringify(found, null, 4)}\n`);
  return failed ? 1 : 0;
};
