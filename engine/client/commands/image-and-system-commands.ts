// Image commands (pull, push, images, rmi, tag), the network and volume command groups, and
// the system ones (info, version, events).
import { parseCommandArgs } from '../cli-args.js';
import { humanDuration, humanSize, ProgressView, table } from '../cli-output.js';
import { CLIENT_API_VERSION } from '../api-client.js';
import { registryAuthFor } from '../auth-config.js';
import { requireArgs, shortId, UsageError, type Command } from './command.js';

export const pullCommand: Command = async (cli, argv) => {
  const { options, positionals } = parseCommandArgs(argv, [
    { name: 'quiet', short: 'q', type: 'bool' },
    { name: 'platform', type: 'string' },
  ]);
  requireArgs(positionals, 1, 'pull [OPTIONS] NAME[:TAG|@DIGEST]');
  const reference = positionals[0] as string;
  const view = new ProgressView(cli.stdout);
  await cli.client.pull(reference, (m) => (options.quiet === true ? undefined : view.update(m)), {
    platform: options.platform as string | undefined,
    registryAuth: await registryAuthFor(cli.env, reference, (m) => cli.stderr.write(`${m}\n`)),
  });
  if (options.quiet === true) cli.stdout.write(`${reference}\n`);
  return 0;
};

export const pushCommand: Command = async (cli, argv) => {
  const { positionals } = parseCommandArgs(argv, []);
  requireArgs(positionals, 1, 'push NAME[:TAG|@DIGEST]');
  const reference = positionals[0] as string;
  const view = new ProgressView(cli.stdout);
  await cli.client.push(reference, (m) => view.update(m), {
    registryAuth: await registryAuthFor(cli.env, reference, (m) => cli.stderr.write(`${m}\n`)),
  });
  return 0;
};

export const imagesCommand: Command = async (cli, argv) => {
  const { options } = parseCommandArgs(argv, [
    { name: 'all', short: 'a', type: 'bool' },
    { name: 'quiet', short: 'q', type: 'bool' },
    { name: 'no-trunc', type: 'bool' },
  ]);
  const list = await cli.client.images({ all: options.all === true });
  if (options.quiet === true) {
    for (const i of list) cli.stdout.write(`${shortId(i.Id)}\n`);
    return 0;
  }
  const now = Date.now() / 1000;
  const rows: string[][] = [];
  for (const i of list) {
    const id = options['no-trunc'] === true ? i.Id : shortId(i.Id);
    const tags = i.RepoTags.length > 0 ? i.RepoTags : ['<none>:<none>'];
    for (const t of tags) {
      const colon = t.lastIndexOf(':');
      rows.push([
        t.slice(0, colon),
        t.slice(colon + 1),
        id,
        `${humanDuration(now - i.Created)} ago`,
        humanSize(i.Size),
      ]);
    }
  }
  cli.stdout.write(table(['REPOSITORY', 'TAG', 'IMAGE ID', 'CREATED', 'SIZE'], rows));
  return 0;
};

export const rmiCommand: Command = async (cli, argv) => {
  const { options, positionals } = parseCommandArgs(argv, [
    { name: 'force', short: 'f', type: 'bool' },
    { name: 'no-prune', type: 'bool' },
  ]);
  requireArgs(positionals, 1, 'rmi [OPTIONS] IMAGE [IMAGE...]');
  let failed = false;
  for (const name of positionals) {
    try {
      for (const item of await cli.client.imageRemove(name, {
        force: options.force === true,
        noprune: options['no-prune'] === true,
      })) {
        if (item.Untagged !== undefined) cli.stdout.write(`Untagged: ${item.Untagged}\n`);
        if (item.Deleted !== undefined) cli.stdout.write(`Deleted: ${item.Deleted}\n`);
      }
    } catch (err) {
      failed = true;
      cli.stderr.write(`Error response from daemon: ${(err as Error).message}\n`);
    }
  }
  return failed ? 1 : 0;
};

export const tagCommand: Command = async (cli, argv) => {
  const { positionals } = parseCommandArgs(argv, []);
  requireArgs(positionals, 2, 'tag SOURCE_IMAGE[:TAG] TARGET_IMAGE[:TAG]');
  const target = positionals[1] as string;
  const slash = target.lastIndexOf('/');
  const colon = target.lastIndexOf(':');
  const hasTag = colon > slash;
  await cli.client.tag(
    positionals[0] as string,
    hasTag ? target.slice(0, colon) : target,
    hasTag ? target.slice(colon + 1) : 'latest',
  );
  return 0;
};

export const networkCommand: Command = async (cli, argv) => {
  const [sub, ...rest] = argv;
  switch (sub) {
    case 'ls':
    case 'list': {
      const { options } = parseCommandArgs(rest, [{ name: 'quiet', short: 'q', type: 'bool' }]);
      const list = await cli.client.networkList();
      if (options.quiet === true) for (const n of list) cli.stdout.write(`${shortId(n.Id)}\n`);
      else
        cli.stdout.write(
          table(
            ['NETWORK ID', 'NAME', 'DRIVER', 'SCOPE'],
            list.map((n) => [shortId(n.Id), n.Name, n.Driver, n.Scope]),
          ),
        );
      return 0;
    }
    case 'create': {
      const { options, positionals } = parseCommandArgs(rest, [
        { name: 'driver', short: 'd', type: 'string' },
        { name: 'subnet', type: 'string' },
        { name: 'gateway', type: 'string' },
        { name: 'internal', type: 'bool' },
        { name: 'opt', short: 'o', type: 'list' },
      ]);
      requireArgs(positionals, 1, 'network create [OPTIONS] NETWORK');
      const opts: Record<string, string> = {};
      for (const o of (options.opt as string[] | undefined) ?? []) {
        const eq = o.indexOf('=');
        if (eq <= 0) throw new UsageError(`--opt ${o}: expected key=value`);
        opts[o.slice(0, eq)] = o.slice(eq + 1);
      }
      const subnet = options.subnet as string | undefined;
      const res = await cli.client.networkCreate({
        Name: positionals[0] as string,
        CheckDuplicate: true,
        Driver: (options.driver as string | undefined) ?? 'bridge',
        Internal: options.internal === true,
        Options: opts,
        ...(subnet !== undefined
          ? {
              IPAM: {
                Driver: 'default',
                Config: [{ Subnet: subnet, ...(options.gateway ? { Gateway: options.gateway as string } : {}) }],
              },
            }
          : {}),
      });
      cli.stdout.write(`${res.Id}\n`);
      return 0;
    }
    case 'rm':
    case 'remove': {
      const { positionals } = parseCommandArgs(rest, []);
      requireArgs(positionals, 1, 'network rm NETWORK [NETWORK...]');
      let failed = false;
      for (const n of positionals) {
        try {
          await cli.client.networkRemove(n);
          cli.stdout.write(`${n}\n`);
        } catch (err) {
          failed = true;
          cli.stderr.write(`Error response from daemon: ${(err as Error).message}\n`);
        }
      }
      return failed ? 1 : 0;
    }
    case 'inspect': {
      const { positionals } = parseCommandArgs(rest, []);
      requireArgs(positionals, 1, 'network inspect NETWORK [NETWORK...]');
      const found = [];
      for (const n of positionals) found.push(await cli.client.networkInspect(n));
      cli.stdout.write(`${JSON.stringify(found, null, 4)}\n`);
      return 0;
    }
    default:
      throw new UsageError(
        `berth network: unknown subcommand ${JSON.stringify(sub ?? '')}\nUsage: berth network ls|create|rm|inspect`,
      );
  }
};

export const volumeCommand: Command = async (cli, argv) => {
  const [sub, ...rest] = argv;
  switch (sub) {
    case 'create': {
      const { options, positionals } = parseCommandArgs(rest, [
        { name: 'name', type: 'string' },
        { name: 'driver', short: 'd', type: 'string' },
        { name: 'label', type: 'list' },
      ]);
      const labels: Record<string, string> = {};
      for (const l of (options.label as string[] | undefined) ?? []) {
        const eq = l.indexOf('=');
        labels[eq < 0 ? l : l.slice(0, eq)] = eq < 0 ? '' : l.slice(eq + 1);
      }
      const name = (options.name as string | undefined) ?? positionals[0];
      const v = await cli.client.volumeCreate({
        ...(name ? { Name: name } : {}),
        Driver: (options.driver as string | undefined) ?? 'local',
        Labels: labels,
      });
      cli.stdout.write(`${v.Name}\n`);
      return 0;
    }
    case 'ls':
    case 'list': {
      const { options } = parseCommandArgs(rest, [
        { name: 'quiet', short: 'q', type: 'bool' },
        { name: 'filter', short: 'f', type: 'list' },
      ]);
      const filters: Record<string, string[]> = {};
      for (const f of (options.filter as string[] | undefined) ?? []) {
        const eq = f.indexOf('=');
        if (eq <= 0) throw new UsageError(`--filter ${f}: expected key=value`);
        (filters[f.slice(0, eq)] ??= []).push(f.slice(eq + 1));
      }
      const { Volumes } = await cli.client.volumeList(filters);
      if (options.quiet === true) for (const v of Volumes) cli.stdout.write(`${v.Name}\n`);
      else
        cli.stdout.write(
          table(
            ['DRIVER', 'VOLUME NAME'],
            Volumes.map((v) => [v.Driver, v.Name]),
          ),
        );
      return 0;
    }
    case 'inspect': {
      const { positionals } = parseCommandArgs(rest, []);
      requireArgs(positionals, 1, 'volume inspect VOLUME [VOLUME...]');
      const found = [];
      for (const n of positionals) found.push(await cli.client.volumeInspect(n));
      cli.stdout.write(`${JSON.stringify(found, null, 4)}\n`);
      return 0;
    }
    case 'rm':
    case 'remove': {
      const { options, positionals } = parseCommandArgs(rest, [{ name: 'force', short: 'f', type: 'bool' }]);
      requireArgs(positionals, 1, 'volume rm [OPTIONS] VOLUME [VOLUME...]');
      let failed = false;
      for (const n of positionals) {
        try {
          await cli.client.volumeRemove(n, options.force === true);
          cli.stdout.write(`${n}\n`);
        } catch (err) {
          failed = true;
          cli.stderr.write(`Error response from daemon: ${(err as Error).message}\n`);
        }
      }
      return failed ? 1 : 0;
    }
    case 'prune': {
      parseCommandArgs(rest, [{ name: 'force', short: 'f', type: 'bool' }]);
      const r = await cli.client.volumePrune();
      if (r.VolumesDeleted.length > 0)
        cli.stdout.write(`Deleted Volumes:\n${r.VolumesDeleted.map((v) => `${v}\n`).join('')}\n`);
      cli.stdout.write(`Total reclaimed space: ${humanSize(r.SpaceReclaimed)}\n`);
      return 0;
    }
    default:
      throw new UsageError(
        `berth volume: unknown subcommand ${JSON.stringify(sub ?? '')}\nUsage: berth volume create|ls|inspect|rm|prune`,
      );
  }
};

export const infoCommand: Command = async (cli) => {
  const i = await cli.client.info();
  const lines = [
    'Server:',
    ` Containers: ${i.Containers}`,
    `  Running: ${i.ContainersRunning}`,
    `  Paused: ${i.ContainersPaused}`,
    `  Stopped: ${i.ContainersStopped}`,
    ` Images: ${i.Images}`,
    ` Server Version: ${i.ServerVersion}`,
    ` Storage Driver: ${i.Driver}`,
    ` Logging Driver: ${i.LoggingDriver}`,
    ` Cgroup Driver: ${i.CgroupDriver}`,
    ` Cgroup Version: ${i.CgroupVersion}`,
    ` Kernel Version: ${i.KernelVersion}`,
    ` Operating System: ${i.OperatingSystem}`,
    ` OSType: ${i.OSType}`,
    ` Architecture: ${i.Architecture}`,
    ` CPUs: ${i.NCPU}`,
    ` Total Memory: ${humanSize(i.MemTotal)}`,
    ` Name: ${i.Name}`,
    ` ID: ${i.ID}`,
    ` Docker Root Dir: ${i.DockerRootDir}`,
    ` Debug Mode: ${i.Debug}`,
  ];
  cli.stdout.write(`${lines.join('\n')}\n`);
  for (const w of i.Warnings ?? []) cli.stderr.write(`WARNING: ${w}\n`);
  return 0;
};

export const versionCommand: Command = async (cli) => {
  cli.stdout.write(
    `Client:\n Version:           0.1.0\n API version:       ${CLIENT_API_VERSION}\n Node version:      ${process.version}\n OS/Arch:           linux/${process.arch === 'x64' ? 'amd64' : process.arch}\n\n`,
  );
  const v = await cli.client.version();
  cli.stdout.write(
    `Server: ${v.Platform?.Name ?? 'berth'}\n Engine:\n  Version:          ${v.Version}\n  API version:      ${v.ApiVersion} (minimum version ${v.MinAPIVersion})\n  OS/Arch:          ${v.Os}/${v.Arch}\n  Kernel Version:   ${v.KernelVersion}\n`,
  );
  return 0;
};

export const eventsCommand: Command = async (cli, argv) => {
  const { options } = parseCommandArgs(argv, [
    { name: 'since', type: 'string' },
    { name: 'until', type: 'string' },
    { name: 'filter', short: 'f', type: 'list' },
  ]);
  const filters: Record<string, string[]> = {};
  for (const f of (options.filter as string[] | undefined) ?? []) {
    const eq = f.indexOf('=');
    if (eq <= 0) throw new UsageError(`bad format of filter (expected name=value): ${f}`);
    (filters[f.slice(0, eq)] ??= []).push(f.slice(eq + 1));
  }
  const controller = new AbortController();
  const stop = (): void => controller.abort();
  process.once('SIGINT', stop);
  try {
    await cli.client.events(
      {
        since: options.since ? Number(options.since) : undefined,
        until: options.until ? Number(options.until) : undefined,
        filters: Object.keys(filters).length ? filters : undefined,
        signal: controller.signal,
      },
      (e) => {
        const attrs = Object.entries(e.Actor.Attributes ?? {})
          .map(([k, v]) => `${k}=${v}`)
          .join(', ');
        const when = new Date(e.timeNano ? e.timeNano / 1e6 : e.time * 1000).toISOString();
        cli.stdout.write(`${when} ${e.Type} ${e.Action} ${e.Actor.ID}${attrs ? ` (${attrs})` : ''}\n`);
      },
    );
  } finally {
    process.removeListener('SIGINT', stop);
  }
  return 0;
};
