// A container as berth persists it: what was asked (Config, HostConfig), what the
// image gave, the OCI spec built from both, and the state of its last run. One
// record per container at `<root>/containers/<id>/config.v2.json`, written
// atomically on every state change (see store.ts).
import type { ContainerConfig, ContainerStatus, Health, HostConfig } from '../api/types.js';
import type { Spec } from '../execdriver/spec/types.js';

/** The time Docker shows for "never": Go's zero time. */
export const ZERO_TIME = '0001-01-01T00:00:00Z';

/**
 * The exit code recorded when the engine could not learn a container's real one (its process ended while the engine was
 * down).
 */
export const UNKNOWN_EXIT_CODE = 255;

export interface ContainerRunState {
  status: ContainerStatus;
  /** Host pid of the running process, 0 when not running. */
  pid: number;
  /** The process's start time (clock ticks since boot, /proc/<pid>/stat field 22): tells a reused pid from ours. */
  pidStartTime?: number;
  exitCode: number;
  /** Set when the exit code is UNKNOWN_EXIT_CODE because the exit was not observed. */
  exitUnknown?: boolean;
  oomKilled: boolean;
  /** The last start's or exit's error, '' when none. */
  error: string;
  startedAt: string;
  finishedAt: string;
  /** Stopped by a user (stop/kill): `unless-stopped` and `always` then stay down until started again. */
  manuallyStopped: boolean;
  /** State.Health of a container with a health check: reset to starting at each start, kept after it stops. */
  health?: Health;
}

/** The endpoint summary a container keeps of its interface (for inspect and list). */
export interface ContainerEndpoint {
  mode: 'bridge' | 'none' | 'host' | 'container';
  network?: { id: string; name: string; bridge: string };
  address?: string;
  prefix?: number;
  gateway?: string;
  mac?: string;
  /** Published ports: `127.0.0.1:8080:80/tcp`. */
  ports: string[];
}

export interface ContainerRecord {
  /** 64 hex digits. */
  id: string;
  /** Without the leading `/`. */
  name: string;
  /** RFC 3339 with nanoseconds. */
  created: string;
  /** The image as the request named it. */
  image: string;
  /** The image's id (config digest). */
  imageId: string;
  /** Config as inspect shows it: the request merged with the image's config. */
  config: ContainerConfig;
  hostConfig: HostConfig;
  /** The process's executable and arguments (Entrypoint + Cmd resolved). */
  path: string;
  args: string[];
  /** The OCI spec to run; root.path is filled at each start with the mounted rootfs. */
  spec: Spec;
  /** The graphdriver holding its read-write layer. */
  driver: string;
  state: ContainerRunState;
  restartCount: number;
  endpoint?: ContainerEndpoint;
  /** The json-file log of its output. */
  logPath: string;
}

export function newRunState(): ContainerRunState {
  return {
    status: 'created',
    pid: 0,
    exitCode: 0,
    oomKilled: false,
    error: '',
    startedAt: ZERO_TIME,
    finishedAt: ZERO_TIME,
    manuallyStopped: false,
  };
}

/** RFC 3339 with nanoseconds, as Docker writes times (from a Date with ms precision). */
export function rfc3339Nano(date: Date = new Date()): string {
  return date.toISOString().replace(/\.(\d{3})Z$/, '.$1000000Z');
}
