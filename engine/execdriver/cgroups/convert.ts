// Conversions between the runtime spec's resource values and what each cgroup version's
// files take: cpu shares → cpu.weight, memory+swap → memory.swap.max, device rules → lines.
import type { Device, DeviceRule, Resources } from '../spec/types.js';

/**
 * cgroup v1 cpu.shares [2, 262144] → v2 cpu.weight [1, 10000], the linear mapping runc
 * and crun use (the v1 default 1024 becomes 39). 0 means unset and stays 0.
 */
export function sharesToWeight(shares: number): number {
  if (shares === 0) return 0;
  return 1 + Math.floor(((shares - 2) * 9999) / 262142);
}

/**
 * The runtime spec's memory.swap is memory+swap; v2's memory.swap.max is swap alone.
 * Returns the memory.swap.max value: "max" for unlimited, else swap - limit (≥ 0).
 */
export function swapMaxV2(limit: number | undefined, swap: number): string {
  if (swap === -1) return 'max';
  if (limit === undefined || limit === -1) return 'max';
  return String(Math.max(0, swap - limit));
}

/** A v1 limit value: -1 stays -1 (unlimited). v2 files take "max" instead. */
export function limitV2(value: number): string {
  return value < 0 ? 'max' : String(value);
}

/** A device rule as devices.allow/devices.deny take it: `c 1:3 rwm`, `a *:* rwm`. */
export function deviceLine(rule: DeviceRule): string {
  const type = rule.type ?? 'a';
  const num = (n: number | undefined) => (n === undefined || n < 0 ? '*' : String(n));
  return `${type} ${num(rule.major)}:${num(rule.minor)} ${rule.access ?? 'rwm'}`;
}

/**
 * Devices every container may use whatever its rules (runtime-spec "Default Devices"
 * plus the pty master and slaves), appended after the spec's rules as runc does.
 */
export const DEFAULT_ALLOWED_DEVICES: readonly DeviceRule[] = [
  { allow: true, type: 'c', major: 1, minor: 3, access: 'rwm' }, // null
  { allow: true, type: 'c', major: 1, minor: 5, access: 'rwm' }, // zero
  { allow: true, type: 'c', major: 1, minor: 7, access: 'rwm' }, // full
  { allow: true, type: 'c', major: 1, minor: 8, access: 'rwm' }, // random
  { allow: true, type: 'c', major: 1, minor: 9, access: 'rwm' }, // urandom
  { allow: true, type: 'c', major: 5, minor: 0, access: 'rwm' }, // tty
  { allow: true, type: 'c', major: 5, minor: 1, access: 'rwm' }, // console
  { allow: true, type: 'c', major: 5, minor: 2, access: 'rwm' }, // ptmx
  { allow: true, type: 'c', major: 136, access: 'rwm' }, // pts/*
];

/**
 * The resources with an allow rule (rwm) appended for each linux.devices node, as runc
 * does, so a device the spec creates can be used. Only when the spec restricts devices
 * at all (resources.devices present); otherwise the resources are returned unchanged.
 */
export function allowDeviceNodes(
  resources: Resources | undefined,
  devices: readonly Device[] | undefined,
): Resources | undefined {
  if (resources?.devices === undefined || devices === undefined || devices.length === 0) return resources;
  const nodes = devices.filter((d) => d.type !== 'p');
  const rules: DeviceRule[] = nodes.map((d) => ({
    allow: true,
    type: d.type === 'b' ? 'b' : 'c',
    major: d.major ?? 0,
    minor: d.minor ?? 0,
    access: 'rwm',
  }));
  return { ...resources, devices: [...resources.devices, ...rules] };
}
