// A container record as the Docker API shows it: inspect's ContainerInspect and
// list's ContainerSummary (with Docker's human Status line), and list's filters.
import type {
  ContainerInspect,
  ContainerSummary,
  EndpointSettings,
  MountPoint,
  NetworkSettings,
  Port,
  PortMap,
} from '../api/types.js';
import type { ContainerRecord } from '../container/record.js';
import { parseBind } from '../container/spec-builder.js';
import { volumeBind } from '../container/volume-mounts.js';
import { invalidArgument } from '../errdefs/errors.js';
import { healthText, probeCommand } from '../container/health.js';
import type { Filters } from './job-map.js';

function mounts(rec: ContainerRecord, volumeDir: (name: string) => string): MountPoint[] {
  const out: MountPoint[] = [];
  for (const b of rec.hostConfig.Binds ?? []) {
    const v = volumeBind(b);
    if (v !== undefined) {
      const rw = !v.options.includes('ro');
      out.push({
        Type: 'volume',
        Name: v.name,
        Source: volumeDir(v.name),
        Destination: v.target,
        Driver: 'local',
        Mode: v.options.join(','),
        RW: rw,
        Propagation: '',
      });
      continue;
    }
    const m = parseBind(b);
    const rw = !m.options?.includes('ro');
    out.push({
      Type: 'bind',
      Source: m.source,
      Destination: m.destination,
      Mode: rw ? '' : 'ro',
      RW: rw,
      Propagation: m.options?.[1] ?? 'rprivate',
    });
  }
  for (const m of rec.hostConfig.Mounts ?? []) {
    if (m.Type === 'bind')
      out.push({
        Type: 'bind',
        Source: m.Source ?? '',
        Destination: m.Target ?? '',
        Mode: '',
        RW: !m.ReadOnly,
        Propagation: m.BindOptions?.Propagation || 'rprivate',
      });
    else if (m.Type === 'volume')
      out.push({
        Type: 'volume',
        Name: m.Source ?? '',
        Source: volumeDir(m.Source ?? ''),
        Destination: m.Target ?? '',
        Driver: 'local',
        Mode: '',
        RW: !m.ReadOnly,
        Propagation: '',
      });
    else if (m.Type === 'tmpfs')
      out.push({ Type: 'tmpfs', Source: '', Destination: m.Target ?? '', Mode: '', RW: !m.ReadOnly, Propagation: '' });
  }
  for (const [dest] of Object.entries(rec.hostConfig.Tmpfs ?? {}))
    out.push({ Type: 'tmpfs', Source: '', Destination: dest, Mode: '', RW: true, Propagation: '' });
  return out;
}

function portMap(rec: ContainerRecord): PortMap {
  const map: PortMap = {};
  for (const p of Object.keys(rec.config.ExposedPorts ?? {})) map[p] = null;
  for (const spec of rec.endpoint?.ports ?? []) {
    const m = /^(.*):(\d+):(\d+)\/(tcp|udp)$/.exec(spec);
    if (m === null) continue;
    const key = `${m[3]}/${m[4]}`;
    map[key] = [...(map[key] ?? []), { HostIp: m[1]!, HostPort: m[2]! }];
  }
  return map;
}

function networks(rec: ContainerRecord): Record<string, EndpointSettings> {
  const mode = rec.hostConfig.NetworkMode ?? 'bridge';
  const ep = rec.endpoint;
  const name = ep?.network?.name ?? (mode.startsWith('container:') ? undefined : mode);
  if (name === undefined) return {};
  return {
    [name]: {
      NetworkID: ep?.network?.id ?? '',
      EndpointID: ep?.address ? rec.id : '',
      Gateway: ep?.gateway ?? '',
      IPAddress: ep?.address ?? '',
      IPPrefixLen: ep?.prefix ?? 0,
      MacAddress: ep?.mac ?? '',
    },
  };
}

/**
 * The inspect view; etcDir holds the hosts, hostname and resolv.conf mounted (another container's with its network).
 */
export function toInspect(
  rec: ContainerRecord,
  etcDir: string,
  volumeDir: (name: string) => string = (n) => n,
): ContainerInspect {
  const s = rec.state;
  const ep = rec.endpoint;
  const settings: NetworkSettings = {
    Bridge: ep?.network?.bridge ?? '',
    SandboxID: '',
    SandboxKey: s.pid > 0 && rec.hostConfig.NetworkMode !== 'host' ? `/proc/${s.pid}/ns/net` : '',
    Ports: portMap(rec),
    Gateway: ep?.gateway ?? '',
    IPAddress: ep?.address ?? '',
    IPPrefixLen: ep?.prefix ?? 0,
    MacAddress: ep?.mac ?? '',
    Networks: networks(rec),
  };
  return {
    Id: rec.id,
    Created: rec.created,
    Path: rec.path,
    Args: rec.args,
    State: {
      Status: s.status,
      Running: s.status === 'running',
      Paused: false,
      Restarting: s.status === 'restarting',
      OOMKilled: s.oomKilled,
      Dead: s.status === 'dead',
      Pid: s.pid,
      ExitCode: s.exitCode,
      Error: s.error,
      StartedAt: s.startedAt,
      FinishedAt: s.finishedAt,
      ...(s.health !== undefined && probeCommand(rec.config.Healthcheck) !== undefined
        ? { Health: { ...s.health, Log: [...s.health.Log] } }
        : {}),
    },
    Image: rec.imageId,
    ResolvConfPath: `${etcDir}/resolv.conf`,
    HostnamePath: `${etcDir}/hostname`,
    HostsPath: `${etcDir}/hosts`,
    LogPath: rec.logPath,
    Name: `/${rec.name}`,
    RestartCount: rec.restartCount,
    Driver: rec.driver,
    Platform: 'linux',
    MountLabel: '',
    ProcessLabel: '',
    AppArmorProfile: '',
    ExecIDs: null,
    HostConfig: rec.hostConfig,
    GraphDriver: { Name: rec.driver, Data: null },
    Mounts: mounts(rec, volumeDir),
    Config: rec.config,
    NetworkSettings: settings,
  };
}

/** Docker's "Up 5 minutes", "Up 3 seconds (healthy)", "Exited (0) 2 seconds ago", "Created". */
export function statusLine(rec: ContainerRecord, now = Date.now()): string {
  const s = rec.state;
  switch (s.status) {
    case 'running':
      return `Up ${humanDuration(now - Date.parse(s.startedAt))}${s.health ? ` (${healthText(s.health.Status)})` : ''}`;
    case 'restarting':
      return `Restarting (${s.exitCode}) ${humanDuration(now - Date.parse(s.finishedAt))} ago`;
    case 'exited':
      return `Exited (${s.exitCode}) ${humanDuration(now - Date.parse(s.finishedAt))} ago`;
    case 'removing':
      return 'Removal In Progress';
    case 'dead':
      return 'Dead';
    default:
      return 'Created';
  }
}

/** Docker's units.HumanDuration. */
export function humanDuration(ms: number): string {
  const sec = Math.floor(ms / 1000);
  if (sec < 1) return 'Less than a second';
  if (sec === 1) return '1 second';
  if (sec < 60) return `${sec} seconds`;
  const min = Math.floor(ms / 60_000);
  if (min === 1) return 'About a minute';
  if (min < 60) return `${min} minutes`;
  const hours = Math.round(ms / 3_600_000);
  if (hours === 1) return 'About an hour';
  if (hours < 48) return `${hours} hours`;
  if (hours < 24 * 7 * 2) return `${Math.round(hours / 24)} days`;
  if (hours < 24 * 30 * 2) return `${Math.round(hours / 24 / 7)} weeks`;
  if (hours < 24 * 365 * 2) return `${Math.round(hours / 24 / 30)} months`;
  return `${Math.round(hours / 24 / 365)} years`;
}

export function toSummary(rec: ContainerRecord): ContainerSummary {
  const ports: Port[] = [];
  for (const [key, bindings] of Object.entries(portMap(rec))) {
    const [num, proto] = key.split('/') as [string, 'tcp' | 'udp'];
    if (bindings === null || bindings.length === 0) ports.push({ PrivatePort: Number(num), Type: proto });
    for (const b of bindings ?? [])
      ports.push({ IP: b.HostIp!, PrivatePort: Number(num), PublicPort: Number(b.HostPort), Type: proto });
  }
  return {
    Id: rec.id,
    Names: [`/${rec.name}`],
    Image: rec.image,
    ImageID: rec.imageId,
    Command: [rec.path, ...rec.args].map((a) => (/\s/.test(a) ? JSON.stringify(a) : a)).join(' '),
    Created: Math.floor(Date.parse(rec.created) / 1000),
    Ports: ports,
    Labels: rec.config.Labels ?? {},
    State: rec.state.status,
    Status: statusLine(rec),
    HostConfig: { NetworkMode: rec.hostConfig.NetworkMode ?? 'bridge' },
    NetworkSettings: { Networks: networks(rec) },
    Mounts: mounts(rec, (n) => n),
  };
}

const FILTER_KEYS = new Set(['status', 'name', 'label', 'id', 'exited', 'ancestor', 'network', 'health']);
const HEALTH_VALUES = new Set(['starting', 'healthy', 'unhealthy', 'none']);
const STATUSES = new Set(['created', 'restarting', 'running', 'removing', 'paused', 'exited', 'dead']);

/**
 * Docker's container list filters: status, name (substring or regexp), label (k or k=v), id (prefix), exited, ancestor,
 * network, health (starting, healthy, unhealthy, or none for a container without a check).
 */
export function matchesFilters(rec: ContainerRecord, filters: Filters | undefined): boolean {
  if (filters === undefined) return true;
  for (const [key, values] of Object.entries(filters)) {
    if (!FILTER_KEYS.has(key)) throw invalidArgument(`filter ${JSON.stringify(key)}: invalid filter for containers`);
    if (values.length === 0) continue;
    const ok = values.some((v) => {
      switch (key) {
        case 'status':
          if (!STATUSES.has(v))
            throw invalidArgument(`filter status=${v}: invalid, expected one of ${[...STATUSES].join(', ')}`);
          return rec.state.status === v;
        case 'name': {
          let re: RegExp;
          try {
            re = new RegExp(v);
          } catch {
            throw invalidArgument(`filter name=${v}: not a valid regular expression`);
          }
          // as Docker: against the name with and without its leading slash
          return re.test(`/${rec.name}`) || re.test(rec.name);
        }
        case 'label': {
          const labels = rec.config.Labels ?? {};
          const i = v.indexOf('=');
          return i < 0 ? v in labels : labels[v.slice(0, i)] === v.slice(i + 1);
        }
        case 'id':
          return rec.id.startsWith(v);
        case 'exited':
          return rec.state.status === 'exited' && String(rec.state.exitCode) === v;
        case 'ancestor':
          return (
            rec.image === v ||
            rec.imageId === v ||
            rec.imageId.replace(/^sha256:/, '').startsWith(v.replace(/^sha256:/, ''))
          );
        case 'health':
          if (!HEALTH_VALUES.has(v)) throw invalidArgument(`Unrecognised filter value for health: ${v}`);
          return (probeCommand(rec.config.Healthcheck) === undefined ? 'none' : rec.state.health?.Status) === v;
        case 'network':
          return (
            rec.hostConfig.NetworkMode === v || rec.endpoint?.network?.name === v || rec.endpoint?.network?.id === v
          );
        default:
          return false;
      }
    });
    if (!ok) return false;
  }
  return true;
}
