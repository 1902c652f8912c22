// The system jobs: info (`docker info`), version (`docker version`) and events
// (the bus's recent events since a time, then live ones until cancelled or until).
import { readFileSync } from 'node:fs';
import { cpus, hostname, release, totalmem } from 'node:os';
import { join } from 'node:path';
import type { SystemInfo, SystemVersion } from '../api/types.js';
import type { ContainerStore } from '../container/store.js';
import type { Graph } from '../graph/graph.js';
import type { Driver } from '../graphdriver/driver.js';
import { packageRoot } from '../../native/package-root.js';
import type { Engine } from './engine.js';
import { matchesEventFilters, type EventBus } from './event-bus.js';

export const API_VERSION = '1.41';
export const MIN_API_VERSION = '1.24';

export interface SystemJobDeps {
  store: ContainerStore;
  graph: Graph;
  driver: Driver;
  driverName: string;
  events: EventBus;
  root: string;
  /** A stable id of this engine (kept under the root). */
  engineId: string;
  cgroupVersion: '1' | '2';
  /** --userns-remap is on: SecurityOptions lists `name=userns`, as dockerd's. */
  userns?: boolean;
  /** --userns-remap: how a container's rootfs gets its ownership (DriverStatus `Userns Rootfs`). */
  usernsRootfs?: string;
}

function berthVersion(): string {
  try {
    return (JSON.parse(readFileSync(join(packageRoot(), 'package.json'), 'utf8')) as { version: string }).version;
  } catch {
    return 'unknown';
  }
}

const arch = (): string => (process.arch === 'x64' ? 'amd64' : process.arch);

export function registerSystemJobs(engine: Engine, deps: SystemJobDeps): void {
  engine.register('version', async () => {
    const version = berthVersion();
    const details = {
      ApiVersion: API_VERSION,
      MinAPIVersion: MIN_API_VERSION,
      Os: 'linux',
      Arch: arch(),
      KernelVersion: release(),
      GitCommit: '',
      GoVersion: `node ${process.version}`,
      BuildTime: '',
      Experimental: 'false',
    };
    const v: SystemVersion = {
      Platform: { Name: 'berth' },
      Components: [{ Name: 'Engine', Version: version, Details: details }],
      Version: version,
      ApiVersion: API_VERSION,
      MinAPIVersion: MIN_API_VERSION,
      GitCommit: '',
      GoVersion: `node ${process.version}`,
      Os: 'linux',
      Arch: arch(),
      KernelVersion: release(),
      BuildTime: '',
    };
    return v;
  });

  engine.register('info', async (ctx) => {
    const containers = deps.store.list();
    const count = (s: string) => containers.filter((c) => c.state.status === s).length;
    const status = await deps.driver.status(ctx).catch(() => ({}));
    const images = await deps.graph.listImages(ctx);
    const info: SystemInfo = {
      ID: deps.engineId,
      Containers: containers.length,
      ContainersRunning: count('running'),
      ContainersPaused: 0,
      ContainersStopped: containers.length - count('running'),
      Images: images.length,
      Driver: deps.driverName,
      DriverStatus: [
        ...Object.entries(status),
        ...(deps.usernsRootfs !== undefined ? [['Userns Rootfs', deps.usernsRootfs] as [string, string]] : []),
      ],
      DockerRootDir: deps.root,
      Name: hostname(),
      KernelVersion: release(),
      OperatingSystem: osName(),
      OSType: 'linux',
      Architecture: process.arch === 'x64' ? 'x86_64' : process.arch,
      NCPU: cpus().length,
      MemTotal: totalmem(),
      CgroupDriver: 'cgroupfs',
      CgroupVersion: deps.cgroupVersion,
      SecurityOptions: ['name=seccomp,profile=default', ...(deps.userns ? ['name=userns'] : [])],
      ServerVersion: berthVersion(),
      LoggingDriver: 'json-file',
      Debug: false,
      Warnings: [],
    };
    return info;
  });

  engine.register('events', async (ctx, job) => {
    const { since, until, filters } = job.args;
    const nowSec = Date.now() / 1000;
    if (since !== undefined) {
      for (const e of deps.events.since(since)) {
        if (until !== undefined && e.time > until) break;
        if (matchesEventFilters(e, filters)) job.emit(e);
      }
    }
    if (until !== undefined && until <= nowSec) return;
    await new Promise<void>((resolve) => {
      const stop = () => {
        unsubscribe();
        clearTimeout(timer);
        ctx.signal.removeEventListener('abort', stop);
        resolve();
      };
      const unsubscribe = deps.events.subscribe((e) => {
        if (matchesEventFilters(e, filters)) job.emit(e);
      });
      const timer = until === undefined ? undefined : setTimeout(stop, Math.max(0, (until - Date.now() / 1000) * 1000));
      if (ctx.signal.aborted) stop();
      else ctx.signal.addEventListener('abort', stop, { once: true });
    });
  });
}

function osName(): string {
  try {
    const m = /^PRETTY_NAME="?([^"\n]*)"?$/m.exec(readFileSync('/etc/os-release', 'utf8'));
    return m?.[1] ?? 'Linux';
  } catch {
    return 'Linux';
  }
}
