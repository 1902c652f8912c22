// `berth run` / `berth create` flags turned into the create request Docker's CLI
// would send: env (-e, --env-file), ports (-p), binds (-v), tmpfs, DNS and hosts
// (--dns, --dns-search, --dns-option, --add-host, --domainname), resources
// (--memory, --cpus, --pids-limit), capabilities, restart policy, entrypoint,
// health check (--health-*, --no-healthcheck).
import { readFileSync } from 'node:fs';
import type {
  ContainerCreateRequest,
  HealthConfig,
  HostConfig,
  MountSpec,
  PortMap,
  RestartPolicyName,
} from '../api/types.js';
import { invalidArgument } from '../errdefs/errors.js';
import type { OptionSpec, OptionValues } from './cli-args.js';

export const createOptionSpecs: OptionSpec[] = [
  { name: 'interactive', short: 'i', type: 'bool' },
  { name: 'tty', short: 't', type: 'bool' },
  { name: 'rm', type: 'bool' },
  { name: 'env', short: 'e', type: 'list' },
  { name: 'env-file', type: 'list' },
  { name: 'workdir', short: 'w', type: 'string' },
  { name: 'user', short: 'u', type: 'string' },
  { name: 'name', type: 'string' },
  { name: 'hostname', short: 'h', type: 'string' },
  { name: 'domainname', type: 'string' },
  { name: 'dns', type: 'list' },
  { name: 'dns-search', type: 'list' },
  { name: 'dns-option', type: 'list', aliases: ['dns-opt'] },
  { name: 'add-host', type: 'list' },
  { name: 'network', type: 'string', aliases: ['net'] },
  { name: 'publish', short: 'p', type: 'list' },
  { name: 'publish-all', short: 'P', type: 'bool' },
  { name: 'expose', type: 'list' },
  { name: 'volume', short: 'v', type: 'list' },
  { name: 'tmpfs', type: 'list' },
  { name: 'mount', type: 'list' },
  { name: 'volumes-from', type: 'list' },
  { name: 'memory', short: 'm', type: 'string' },
  { name: 'cpus', type: 'string' },
  { name: 'pids-limit', type: 'string' },
  { name: 'cap-add', type: 'list' },
  { name: 'cap-drop', type: 'list' },
  { name: 'privileged', type: 'bool' },
  { name: 'init', type: 'bool' },
  { name: 'pid', type: 'string' },
  { name: 'ipc', type: 'string' },
  { name: 'read-only', type: 'bool' },
  { name: 'restart', type: 'string' },
  { name: 'entrypoint', type: 'string' },
  { name: 'security-opt', type: 'list' },
  { name: 'label', short: 'l', type: 'list' },
  { name: 'stop-signal', type: 'string' },
  { name: 'stop-timeout', type: 'string' },
  { name: 'link', type: 'list' },
  { name: 'health-cmd', type: 'string' },
  { name: 'health-interval', type: 'string' },
  { name: 'health-timeout', type: 'string' },
  { name: 'health-retries', type: 'string' },
  { name: 'health-start-period', type: 'string' },
  { name: 'health-start-interval', type: 'string' },
  { name: 'no-healthcheck', type: 'bool' },
];

export const runOptionSpecs: OptionSpec[] = [
  ...createOptionSpecs,
  { name: 'detach', short: 'd', type: 'bool' },
  { name: 'attach', short: 'a', type: 'list' },
];

const units: Record<string, number> = { '': 1, b: 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3, t: 1024 ** 4 };

/** `512m`, `1g`, `1.5G`, `1048576` → bytes (binary units, as Docker's RAMInBytes). */
export function parseBytes(value: string, flag: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*([bkmgt]?)i?b?$/i.exec(value.trim());
  if (m === null)
    throw invalidArgument(`invalid value ${JSON.stringify(value)} for ${flag}: expected a size such as 512m or 1g`);
  return Math.round(Number(m[1]) * (units[(m[2] as string).toLowerCase()] as number));
}

const DURATION_UNITS: Record<string, number> = { ns: 1, us: 1e3, µs: 1e3, ms: 1e6, s: 1e9, m: 60e9, h: 3600e9 };

/** A Go duration (`30s`, `500ms`, `1m30s`, `1.5s`, `0`) as nanoseconds; INVALID_ARGUMENT naming the flag. */
function parseDuration(value: string, flag: string): number {
  const text = value.trim();
  if (text === '0') return 0;
  const re = /(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)/gy;
  let total = 0;
  let at = 0;
  for (let m = re.exec(text); m !== null; m = re.exec(text)) {
    total += Number(m[1]) * DURATION_UNITS[m[2]!]!;
    at = re.lastIndex;
  }
  if (text === '' || at !== text.length)
    throw invalidArgument(
      `invalid value ${JSON.stringify(value)} for ${flag}: expected a duration such as 30s or 500ms`,
    );
  return Math.round(total);
}

/** The Healthcheck of the --health-* flags (Docker's CLI rules), undefined when none is given. */
function parseHealthFlags(options: OptionValues): HealthConfig | undefined {
  const str = (name: string): string | undefined => options[name] as string | undefined;
  const names = ['health-interval', 'health-timeout', 'health-start-period', 'health-start-interval'] as const;
  const given = ['health-cmd', 'health-retries', ...names].filter((n) => str(n) !== undefined);
  if (options['no-healthcheck'] === true) {
    if (given.length > 0) throw invalidArgument('--no-healthcheck conflicts with --health-* options');
    return { Test: ['NONE'] };
  }
  if (given.length === 0) return undefined;
  const hc: HealthConfig = {};
  const cmd = str('health-cmd');
  if (cmd !== undefined && cmd !== '') hc.Test = ['CMD-SHELL', cmd];
  const fields = { Interval: names[0], Timeout: names[1], StartPeriod: names[2], StartInterval: names[3] } as const;
  for (const [field, flag] of Object.entries(fields) as [keyof typeof fields, string][]) {
    const v = str(flag);
    if (v !== undefined) hc[field] = parseDuration(v, `--${flag}`);
  }
  const retries = str('health-retries');
  if (retries !== undefined) {
    if (!/^\d+$/.test(retries))
      throw invalidArgument(`--health-retries ${JSON.stringify(retries)}: expected a count, not negative`);
    hc.Retries = Number(retries);
  }
  return hc;
}

/** `KEY=value` stays; a bare `KEY` takes the value from this environment, or is dropped when unset (Docker's rule). */
function envEntry(entry: string, lookup: NodeJS.ProcessEnv): string | undefined {
  if (entry.includes('=')) {
    if (entry.startsWith('='))
      throw invalidArgument(`invalid environment variable ${JSON.stringify(entry)}: empty name`);
    return entry;
  }
  const v = lookup[entry];
  return v === undefined ? undefined : `${entry}=${v}`;
}

/** Lines of an env file: `KEY=value`, bare `KEY`, comments (#) and blank lines skipped. */
function readEnvFile(path: string, lookup: NodeJS.ProcessEnv): string[] {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw invalidArgument(`--env-file ${path}: ${(err as Error).message}`);
  }
  const out: string[] = [];
  for (const raw of text.split('\n')) {
    const line = raw.replace(/\r$/, '').trimStart();
    if (line === '' || line.startsWith('#')) continue;
    const e = envEntry(line, lookup);
    if (e !== undefined) out.push(e);
  }
  return out;
}

/** `80` or `80-82` → [low, high]; INVALID_ARGUMENT naming the spec. */
function portRange(text: string, spec: string, what: string): [number, number] {
  const m = /^(\d+)(?:-(\d+))?$/.exec(text);
  const lo = Number(m?.[1]);
  const hi = m?.[2] !== undefined ? Number(m[2]) : lo;
  if (m === null || lo < (what === 'host' ? 0 : 1) || hi > 65535 || hi < lo)
    throw invalidArgument(`-p ${spec}: invalid ${what} port ${JSON.stringify(text)}`);
  return [lo, hi];
}

/**
 * `-p [ip:][hostPort:]containerPort[/proto]` into the port map and exposed ports,
 * ranges as Docker's CLI expands them: `8000-8002:80-82` binds each pair, a host
 * range with one container port lets the daemon pick a free host port in it.
 */
export function parsePublish(specs: readonly string[]): {
  bindings: PortMap;
  exposed: Record<string, Record<string, never>>;
} {
  const bindings: PortMap = {};
  const exposed: Record<string, Record<string, never>> = {};
  for (const spec of specs) {
    const [addrPart, proto = 'tcp'] = spec.split('/') as [string, string?];
    if (!['tcp', 'udp', 'sctp'].includes(proto))
      throw invalidArgument(`-p ${spec}: unknown protocol ${JSON.stringify(proto)}`);
    let ip = '';
    let hostPort = '';
    let containerPort: string;
    const v6 = /^\[([^\]]+)\]:(.*)$/.exec(addrPart);
    const rest = v6 ? v6[2]!.split(':') : addrPart.split(':');
    if (v6) ip = v6[1] as string;
    if (!v6 && rest.length === 3) [ip, hostPort, containerPort] = rest as [string, string, string];
    else if (rest.length === 2) [hostPort, containerPort] = rest as [string, string];
    else if (rest.length === 1 && !v6) containerPort = rest[0] as string;
    else throw invalidArgument(`-p ${spec}: expected [ip:][hostPort:]containerPort[/protocol]`);
    const [cLo, cHi] = portRange(containerPort, spec, 'container');
    const host = hostPort === '' ? undefined : portRange(hostPort, spec, 'host');
    if (host !== undefined && host[1] - host[0] !== cHi - cLo && cLo !== cHi) {
      throw invalidArgument(
        `-p ${spec}: invalid ranges specified for container and host ports: ${containerPort} and ${hostPort}`,
      );
    }
    for (let c = cLo; c <= cHi; c++) {
      let hp = '';
      if (host !== undefined)
        hp = cLo === cHi && host[0] !== host[1] ? `${host[0]}-${host[1]}` : String(host[0] + (c - cLo));
      const key = `${c}/${proto}`;
      exposed[key] = {};
      (bindings[key] ??= []).push({ HostIp: ip, HostPort: hp });
    }
  }
  return { bindings, exposed };
}

/**
 * `--mount type=bind|volume|tmpfs,source=…,target=…[,readonly][,bind-propagation=…]`
 * `[,tmpfs-size=…][,tmpfs-mode=…][,volume-nocopy]`
 * (Docker's csv keys and aliases: src, dst/destination, ro).
 */
function parseMount(value: string): MountSpec {
  const m: MountSpec = { Type: 'volume' };
  for (const field of value.split(',')) {
    const eq = field.indexOf('=');
    const key = (eq < 0 ? field : field.slice(0, eq)).trim().toLowerCase();
    const v = eq < 0 ? undefined : field.slice(eq + 1);
    const bool = () => {
      if (v === undefined || v === 'true' || v === '1') return true;
      if (v === 'false' || v === '0') return false;
      throw invalidArgument(`--mount ${value}: ${key}: expected true or false`);
    };
    const need = () => {
      if (v === undefined || v === '') throw invalidArgument(`--mount ${value}: ${key} needs a value`);
      return v;
    };
    switch (key) {
      case 'type':
        m.Type = need();
        break;
      case 'source':
      case 'src':
        m.Source = need();
        break;
      case 'target':
      case 'dst':
      case 'destination':
        m.Target = need();
        break;
      case 'readonly':
      case 'ro':
        m.ReadOnly = bool();
        break;
      case 'bind-propagation':
        m.BindOptions = { Propagation: need() };
        break;
      case 'volume-nocopy':
        m.VolumeOptions = { ...m.VolumeOptions, NoCopy: bool() };
        break;
      case 'tmpfs-size':
        m.TmpfsOptions = { ...m.TmpfsOptions, SizeBytes: parseBytes(need(), '--mount tmpfs-size') };
        break;
      case 'tmpfs-mode': {
        const mode = need();
        if (!/^[0-7]{3,4}$/.test(mode))
          throw invalidArgument(`--mount ${value}: tmpfs-mode ${JSON.stringify(mode)}: expected octal`);
        m.TmpfsOptions = { ...m.TmpfsOptions, Mode: parseInt(mode, 8) };
        break;
      }
      default:
        throw invalidArgument(`--mount ${value}: unknown key ${JSON.stringify(key)}`);
    }
  }
  if (!['bind', 'volume', 'tmpfs'].includes(m.Type!))
    throw invalidArgument(`--mount ${value}: type ${JSON.stringify(m.Type)}: expected bind, volume or tmpfs`);
  if (m.Target === undefined) throw invalidArgument(`--mount ${value}: target is required`);
  return m;
}

/** `--add-host name:ip` (or `name=ip`; the ip may be `host-gateway`), as the API's `name:ip`. */
function parseAddHost(value: string): string {
  const m = /^([^:=\s]+)[:=](\S+)$/.exec(value);
  if (m === null) throw invalidArgument(`--add-host ${JSON.stringify(value)}: expected host:ip`);
  return `${m[1]}:${m[2]}`;
}

/** `no`, `always`, `unless-stopped`, `on-failure[:N]`. */
export function parseRestart(value: string): { Name: RestartPolicyName; MaximumRetryCount: number } {
  const m = /^(no|always|unless-stopped|on-failure)(?::(\d+))?$/.exec(value);
  if (m === null || (m[2] !== undefined && m[1] !== 'on-failure')) {
    throw invalidArgument(
      `--restart ${JSON.stringify(value)}: expected no, always, unless-stopped or on-failure[:max-retries]`,
    );
  }
  return { Name: m[1] as RestartPolicyName, MaximumRetryCount: m[2] === undefined ? 0 : Number(m[2]) };
}

/**
 * `-v /host:/container[:opts]` (a bind), `-v name:/container[:opts]` (a named
 * volume) or `-v /container` (an anonymous volume: returned as the path alone).
 */
function parseVolume(spec: string): { bind: string } | { anonymous: string } {
  const parts = spec.split(':');
  if (parts.length === 1) {
    if (!spec.startsWith('/')) throw invalidArgument(`-v ${spec}: an anonymous volume's path must be absolute`);
    return { anonymous: spec };
  }
  if (parts.length > 3) throw invalidArgument(`-v ${spec}: expected [/host/path|name:]/container/path[:options]`);
  const [src, dst, mode] = parts as [string, string, string?];
  if (src === '' || (!src.startsWith('/') && !/^[a-zA-Z0-9][a-zA-Z0-9_.-]+$/.test(src)))
    throw invalidArgument(`-v ${spec}: ${JSON.stringify(src)} is neither an absolute host path nor a volume name`);
  if (!dst.startsWith('/'))
    throw invalidArgument(`-v ${spec}: the container path ${JSON.stringify(dst)} must be absolute`);
  // idmap: an idmapped bind through the container's user namespace (berthd --userns-remap only; berthd checks it)
  const modes = [
    'ro',
    'rw',
    'z',
    'Z',
    'rprivate',
    'private',
    'rslave',
    'slave',
    'rshared',
    'shared',
    'nocopy',
    'idmap',
  ];
  if (mode !== undefined && !mode.split(',').every((m) => modes.includes(m)))
    throw invalidArgument(`-v ${spec}: invalid mode ${JSON.stringify(mode)}`);
  return { bind: spec };
}

/**
 * The create request for `image` and `command` under these options. `env` is the
 * environment bare `-e KEY` reads from.
 */
export function buildCreateRequest(
  options: OptionValues,
  image: string,
  command: readonly string[],
  env: NodeJS.ProcessEnv = process.env,
): ContainerCreateRequest {
  const list = (name: string): string[] => (options[name] as string[] | undefined) ?? [];
  const str = (name: string): string | undefined => options[name] as string | undefined;
  const Env = [
    ...list('env-file').flatMap((p) => readEnvFile(p, env)),
    ...list('env')
      .map((e) => envEntry(e, env))
      .filter((e): e is string => e !== undefined),
  ];
  const { bindings, exposed } = parsePublish(list('publish'));
  const volumes = list('volume').map(parseVolume);
  for (const e of list('expose')) {
    const m = /^(\d+)(?:-(\d+))?(?:\/(tcp|udp|sctp))?$/.exec(e);
    const lo = Number(m?.[1]);
    const hi = m?.[2] !== undefined ? Number(m[2]) : lo;
    if (m === null || lo < 1 || hi > 65535 || hi < lo)
      throw invalidArgument(`--expose ${JSON.stringify(e)}: expected PORT[-PORT][/protocol]`);
    for (let c = lo; c <= hi; c++) exposed[`${c}/${m[3] ?? 'tcp'}`] = {};
  }
  const tmpfs: Record<string, string> = {};
  for (const t of list('tmpfs')) {
    const [path, ...opts] = t.split(':');
    if (path === undefined || !path.startsWith('/')) throw invalidArgument(`--tmpfs ${t}: the path must be absolute`);
    tmpfs[path] = opts.join(':');
  }
  const host: HostConfig = {
    Binds: volumes.flatMap((v) => ('bind' in v ? [v.bind] : [])),
    NetworkMode: str('network') ?? 'default',
    PortBindings: bindings,
    PublishAllPorts: options['publish-all'] === true,
    AutoRemove: options.rm === true,
    CapAdd: list('cap-add'),
    CapDrop: list('cap-drop'),
    Privileged: options.privileged === true,
    ReadonlyRootfs: options['read-only'] === true,
    SecurityOpt: list('security-opt'),
    Tmpfs: tmpfs,
  };
  if (options.init === true) host.Init = true;
  if (str('pid') !== undefined) host.PidMode = str('pid');
  if (str('ipc') !== undefined) host.IpcMode = str('ipc');
  if (list('volumes-from').length > 0) host.VolumesFrom = list('volumes-from');
  if (list('link').length > 0) host.Links = list('link');
  if (list('mount').length > 0) host.Mounts = list('mount').map(parseMount);
  if (list('dns').length > 0) host.Dns = list('dns');
  if (list('dns-search').length > 0) host.DnsSearch = list('dns-search');
  if (list('dns-option').length > 0) host.DnsOptions = list('dns-option');
  if (list('add-host').length > 0) host.ExtraHosts = list('add-host').map(parseAddHost);
  const memory = str('memory');
  if (memory !== undefined) host.Memory = parseBytes(memory, '--memory');
  const cpus = str('cpus');
  if (cpus !== undefined) {
    if (!/^\d+(\.\d+)?$/.test(cpus) || Number(cpus) <= 0)
      throw invalidArgument(`--cpus ${JSON.stringify(cpus)}: expected a positive number such as 0.5 or 2`);
    host.NanoCpus = Math.round(Number(cpus) * 1e9);
  }
  const pids = str('pids-limit');
  if (pids !== undefined) {
    if (!/^-?\d+$/.test(pids)) throw invalidArgument(`--pids-limit ${JSON.stringify(pids)}: expected an integer`);
    host.PidsLimit = Number(pids);
  }
  const restart = str('restart');
  if (restart !== undefined) host.RestartPolicy = parseRestart(restart);
  if (host.AutoRemove && host.RestartPolicy !== undefined && host.RestartPolicy.Name !== 'no') {
    throw invalidArgument('conflicting options: --restart and --rm');
  }
  const labels: Record<string, string> = {};
  for (const l of list('label')) {
    const eq = l.indexOf('=');
    labels[eq < 0 ? l : l.slice(0, eq)] = eq < 0 ? '' : l.slice(eq + 1);
  }
  const interactive = options.interactive === true;
  const request: ContainerCreateRequest = {
    Image: image,
    Tty: options.tty === true,
    OpenStdin: interactive,
    StdinOnce: interactive,
    AttachStdin: interactive,
    AttachStdout: options.detach !== true,
    AttachStderr: options.detach !== true,
    Env,
    Cmd: command.length > 0 ? [...command] : null,
    Labels: labels,
    ExposedPorts: exposed,
    HostConfig: host,
  };
  const anonymous = volumes.flatMap((v) => ('anonymous' in v ? [v.anonymous] : []));
  if (anonymous.length > 0) request.Volumes = Object.fromEntries(anonymous.map((p) => [p, {}]));
  const entrypoint = str('entrypoint');
  if (entrypoint !== undefined) request.Entrypoint = [entrypoint];
  if (str('workdir') !== undefined) request.WorkingDir = str('workdir');
  if (str('user') !== undefined) request.User = str('user');
  if (str('hostname') !== undefined) request.Hostname = str('hostname');
  if (str('domainname') !== undefined) request.Domainname = str('domainname');
  if (str('stop-signal') !== undefined) request.StopSignal = str('stop-signal');
  const healthcheck = parseHealthFlags(options);
  if (healthcheck !== undefined) request.Healthcheck = healthcheck;
  const stopTimeout = str('stop-timeout');
  if (stopTimeout !== undefined) {
    if (!/^-?\d+$/.test(stopTimeout))
      throw invalidArgument(`--stop-timeout ${JSON.stringify(stopTimeout)}: expected seconds`);
    request.StopTimeout = Number(stopTimeout);
  }
  return request;
}
