// `berth run`, `berth create` and `berth start`: the create request from the
// flags, a pull when the image is missing, and for a foreground run the order
// Docker's CLI uses — attach, arm the wait, start, stream until the output ends,
// then exit with the container's status (125/126/127 when it could not start).
import type { ContainerCreateRequest, ContainerCreateResponse } from '../../api/types.js';
import { isBerthError } from '../../errdefs/errors.js';
import type { ApiClient } from '../api-client.js';
import { registryAuthFor } from '../auth-config.js';
import { parseCommandArgs } from '../cli-args.js';
import { ProgressView } from '../cli-output.js';
import { buildCreateRequest, createOptionSpecs, runOptionSpecs } from '../run-options.js';
import { pumpStreams } from './attach-streams.js';
import { requireArgs, type Cli, type Command } from './command.js';

/** Docker's status for a start failure: 127 command not found, 126 not executable, else 125. */
export function startFailureStatus(message: string): number {
  if (/executable file not found|no such file or directory|system cannot find the file specified/i.test(message))
    return 127;
  if (/permission denied|is a directory/i.test(message)) return 126;
  return 125;
}

/** A thrown error that already carries the exit status to leave with. */
export class ExitError extends Error {
  constructor(
    message: string,
    readonly status: number,
  ) {
    super(message);
  }
}

async function pullFor(cli: Cli, image: string): Promise<void> {
  cli.stderr.write(`Unable to find image '${image}' locally\n`);
  const view = new ProgressView(cli.stderr);
  await cli.client.pull(image, (m) => view.update(m), {
    registryAuth: await registryAuthFor(cli.env, image, (m) => cli.stderr.write(`${m}\n`)),
  });
}

/** Creates the container, pulling its image first when the daemon does not have it. */
async function createWithPull(
  cli: Cli,
  request: ContainerCreateRequest,
  name: string | undefined,
): Promise<ContainerCreateResponse> {
  try {
    return await cli.client.containerCreate(request, name);
  } catch (err) {
    if (!isBerthError(err, 'NOT_FOUND') || !/no such image/i.test(err.message)) throw err;
  }
  await pullFor(cli, request.Image as string);
  return cli.client.containerCreate(request, name);
}

async function startOrExit(client: ApiClient, id: string): Promise<void> {
  try {
    await client.containerStart(id);
  } catch (err) {
    const message = (err as Error).message;
    throw new ExitError(message, startFailureStatus(message));
  }
}

/**
 * Drops an attach connection that will not be read: destroying a stream made of a request and its response emits
 * an AbortError, which with no listener would end the process before the real error is printed.
 */
function discard(conn: NodeJS.ReadableStream & { destroy(): unknown }): void {
  conn.on('error', () => undefined);
  conn.destroy();
}

/** Attaches, arms the wait, starts, streams; resolves to the container's exit status. */
async function runAttached(
  cli: Cli,
  id: string,
  opts: { tty: boolean; stdin: boolean; autoRemove: boolean; start: boolean },
): Promise<number> {
  // attach and wait are independent requests, both armed before start: sent together
  const [attached, waiting] = await Promise.allSettled([
    cli.client.containerAttach(id, { stdin: opts.stdin, stdout: true, stderr: true, stream: true }),
    cli.client.containerWait(id, opts.autoRemove ? 'removed' : 'next-exit'),
  ]);
  if (attached.status === 'rejected') {
    if (waiting.status === 'fulfilled') waiting.value.result.catch(() => undefined);
    throw attached.reason;
  }
  if (waiting.status === 'rejected') {
    discard(attached.value);
    throw waiting.reason;
  }
  const conn = attached.value;
  const { result } = waiting.value;
  if (opts.start) {
    try {
      await startOrExit(cli.client, id);
    } catch (err) {
      discard(conn);
      // --rm: a container that never ran is removed too (as Docker's daemon does)
      if (opts.autoRemove) await cli.client.containerRemove(id, { force: true }).catch(() => undefined);
      throw err;
    }
  }
  await pumpStreams(cli, conn, {
    tty: opts.tty,
    stdin: opts.stdin,
    resize: (rows, cols) => cli.client.containerResize(id, rows, cols),
  });
  const status = await result;
  if (status.Error?.Message) cli.stderr.write(`berth: ${status.Error.Message}\n`);
  return status.StatusCode;
}

export const runCommand: Command = async (cli, argv) => {
  const { options, positionals } = parseCommandArgs(argv, runOptionSpecs, true);
  requireArgs(positionals, 1, 'run [OPTIONS] IMAGE [COMMAND] [ARG...]');
  const [image, ...command] = positionals as [string, ...string[]];
  const request = buildCreateRequest(options, image, command, cli.env);
  const detach = options.detach === true;
  const { Id, Warnings } = await createWithPull(cli, request, options.name as string | undefined);
  for (const w of Warnings ?? []) cli.stderr.write(`WARNING: ${w}\n`);
  if (detach) {
    await startOrExit(cli.client, Id);
    cli.stdout.write(`${Id}\n`);
    return 0;
  }
  return runAttached(cli, Id, {
    tty: request.Tty === true,
    stdin: options.interactive === true,
    autoRemove: request.HostConfig?.AutoRemove === true,
    start: true,
  });
};

export const createCommand: Command = async (cli, argv) => {
  const { options, positionals } = parseCommandArgs(argv, createOptionSpecs, true);
  requireArgs(positionals, 1, 'create [OPTIONS] IMAGE [COMMAND] [ARG...]');
  const [image, ...command] = positionals as [string, ...string[]];
  const { Id, Warnings } = await createWithPull(
    cli,
    buildCreateRequest(options, image, command, cli.env),
    options.name as string | undefined,
  );
  for (const w of Warnings ?? []) cli.stderr.write(`WARNING: ${w}\n`);
  cli.stdout.write(`${Id}\n`);
  return 0;
};

export const startCommand: Command = async (cli, argv) => {
  const { options, positionals } = parseCommandArgs(argv, [
    { name: 'attach', short: 'a', type: 'bool' },
    { name: 'interactive', short: 'i', type: 'bool' },
  ]);
  requireArgs(positionals, 1, 'start [OPTIONS] CONTAINER [CONTAINER...]');
  if (options.attach === true) {
    if (positionals.length > 1) throw new ExitError('you cannot start and attach multiple containers at once', 125);
    const id = positionals[0] as string;
    const info = await cli.client.containerInspect(id);
    return runAttached(cli, info.Id, {
      tty: info.Config.Tty === true,
      stdin: options.interactive === true,
      autoRemove: info.HostConfig.AutoRemove === true,
      start: true,
    });
  }
  let failed = false;
  for (const id of positionals) {
    try {
      await cli.client.containerStart(id);
      cli.stdout.write(`${id}\n`);
    } catch (err) {
      failed = true;
      cli.stderr.write(`Error response from daemon: ${(err as Error).message}\n`);
    }
  }
  return failed ? 1 : 0;
};
