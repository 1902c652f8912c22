// The create request's fields berth does not honour, each with what Docker's
// user gets instead of silence: a warning in the create response (the field is
// discarded, as Docker itself discards a limit the kernel cannot apply) or a
// refusal naming the field (where running without it would differ in what the
// container can reach or do). A field counts as set when it is not Docker's zero
// value: the docker CLI sends most fields with their zero values.
import { invalidArgument } from '../errdefs/errors.js';

type Verdict = { warn: string } | { refuse: string };

/** HostConfig fields: why berth refuses or discards each. */
const HOST_CONFIG: Record<string, Verdict> = {
  VolumeDriver: { refuse: 'volume drivers are not supported' },
  Devices: { refuse: 'device mappings are not supported' },
  DeviceRequests: { refuse: 'device requests (GPUs) are not supported' },
  DeviceCgroupRules: { refuse: 'device cgroup rules are not supported' },
  CgroupParent: { refuse: 'a cgroup parent per container is not supported (the daemon picks one)' },
  Cgroup: { refuse: 'joining another cgroup is not supported' },
  UsernsMode: { refuse: 'user namespaces are not supported' },
  Sysctls: { refuse: 'sysctls are not supported' },
  StorageOpt: { refuse: 'storage options per container are not supported' },
  CpusetMems: { refuse: 'memory node sets are not supported' },
  CpuRealtimePeriod: { refuse: 'real-time CPU scheduling is not supported' },
  CpuRealtimeRuntime: { refuse: 'real-time CPU scheduling is not supported' },
  BlkioWeight: { refuse: 'block IO weights are not supported on this engine' },
  BlkioWeightDevice: { refuse: 'block IO weights are not supported on this engine' },
  BlkioDeviceReadBps: { refuse: 'block IO limits are not supported' },
  BlkioDeviceWriteBps: { refuse: 'block IO limits are not supported' },
  BlkioDeviceReadIOps: { refuse: 'block IO limits are not supported' },
  BlkioDeviceWriteIOps: { refuse: 'block IO limits are not supported' },
  KernelMemory: { warn: 'kernel memory limits are not supported; limitation discarded' },
  KernelMemoryTCP: { warn: 'kernel TCP memory limits are not supported; limitation discarded' },
  MemorySwappiness: { warn: 'memory swappiness is not supported; setting discarded' },
  OomKillDisable: { warn: 'disabling the OOM killer is not supported; setting discarded' },
  CpuCount: { warn: 'CPU count is a Windows setting; discarded' },
  CpuPercent: { warn: 'CPU percent is a Windows setting; discarded' },
  IOMaximumIOps: { warn: 'IO maximums are a Windows setting; discarded' },
  IOMaximumBandwidth: { warn: 'IO maximums are a Windows setting; discarded' },
};

/** Config fields. */
const CONFIG: Record<string, Verdict> = {
  MacAddress: { refuse: 'a chosen MAC address is not supported (berth derives it from the address)' },
};

/** Docker's zero values, and the ones its CLI sends for "not set". */
function isSet(field: string, value: unknown): boolean {
  if (value === undefined || value === null || value === false || value === 0 || value === '') return false;
  if (Array.isArray(value)) return value.length > 0;
  if (typeof value === 'object') {
    return Object.keys(value).length > 0;
  }
  if (field === 'MemorySwappiness' && value === -1) return false;
  if (field === 'VolumeDriver' && value === 'local') return false;
  return true;
}

/**
 * Checks a create request's Config and HostConfig against the table: returns the
 * warnings of the discarded fields; INVALID_ARGUMENT naming the first refused one.
 * Also Docker's enumerated modes berth has no meaning for (CgroupnsMode other than
 * host/private, Isolation other than default, a Runtime other than runc's role).
 */
export function checkUnsupported(config: Record<string, unknown>, hostConfig: Record<string, unknown>): string[] {
  const warnings: string[] = [];
  const apply = (field: string, value: unknown, v: Verdict | undefined) => {
    if (v === undefined || !isSet(field, value)) return;
    if ('refuse' in v) throw invalidArgument(`${field}: ${v.refuse}`);
    warnings.push(`${field}: ${v.warn}`);
  };
  for (const [k, v] of Object.entries(config)) apply(k, v, CONFIG[k]);
  for (const [k, v] of Object.entries(hostConfig)) apply(k, v, HOST_CONFIG[k]);
  const mode = (field: string, allowed: string[]) => {
    const v = hostConfig[field];
    if (v !== undefined && v !== null && v !== '' && !allowed.includes(String(v)))
      throw invalidArgument(`${field} ${JSON.stringify(v)}: expected ${allowed.join(' or ')}`);
  };
  mode('CgroupnsMode', ['host', 'private']);
  mode('Isolation', ['default']);
  mode('Runtime', ['runc', 'berth']);
  return warnings;
}
