// Test fixtures for the job-level tests: an Engine on a temporary root with its
// own bridge name, free subnet and cgroup parent, and a small image built from
// berth's static workloads (true, sleep, echo, probe, http-server) with /etc/passwd and
// /etc/group, stored through Graph.putImage. cleanup() removes all of it.
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { buildTar } from '../archive/tar-fixtures.js';
import { createCgroupManager } from '../execdriver/cgroups/manager.js';
import { workloadBinary } from '../execdriver/workload-rootfs.js';
import type { Graph } from '../graph/graph.js';
import { background, type Context } from '../trace/context.js';
import { createLogger } from '../trace/logger.js';
import { createEngine, type BerthEngine, type EngineConfig } from './builtins.js';

export const TEST_IMAGE = 'berth-test/workloads:latest';
export const ctx: Context = background(createLogger(process.env.BERTH_LOG === 'debug' ? 'debug' : 'warn'));

/** Why the kernel tests cannot run here, or undefined. */
export function kernelSkipReason(): string | undefined {
  if (process.getuid?.() !== 0) return 'needs root (mounts, namespaces, cgroups, bridges)';
  try {
    workloadBinary('probe');
  } catch {
    return 'the static workload binaries are not built (npm ci builds them)';
  }
  return undefined;
}

const sha256 = (b: Buffer): string => `sha256:${createHash('sha256').update(b).digest('hex')}`;

/** Puts TEST_IMAGE (Cmd /bin/probe, a user `app` 1000:1001 in groups 1001 and 2000) into the graph. */
export async function putTestImage(
  c: Context,
  graph: Graph,
  config: Record<string, unknown> = {},
  reference = TEST_IMAGE,
): Promise<string> {
  const bin = (name: 'true' | 'sleep' | 'echo' | 'probe' | 'http-server') => ({
    name: `bin/${name}`,
    content: readFileSync(workloadBinary(name)),
    mode: 0o755,
  });
  const base = await buildTar([
    ...['bin', 'dev', 'etc', 'proc', 'sys', 'tmp', 'home', 'home/app'].map((d) => ({
      name: `${d}/`,
      type: 'directory' as const,
      mode: d === 'tmp' ? 0o1777 : 0o755,
    })),
    { name: 'etc/passwd', content: 'root:x:0:0:root:/root:/bin/sh\napp:x:1000:1001:App:/home/app:/bin/sh\n' },
    { name: 'etc/group', content: 'root:x:0:\napp:x:1001:\nextra:x:2000:app\n' },
    bin('true'),
    bin('sleep'),
    bin('echo'),
    bin('probe'),
    bin('http-server'),
  ]);
  const imageConfig = {
    architecture: process.arch === 'x64' ? 'amd64' : process.arch,
    os: 'linux',
    config: { Cmd: ['/bin/probe'], Env: ['PATH=/bin', 'FROM_IMAGE=yes', 'OVERRIDE=image'], ...config },
    rootfs: { type: 'layers', diff_ids: [sha256(base)] },
  };
  const r = await graph.putImage(c, JSON.stringify(imageConfig), [Readable.from([base])], { references: [reference] });
  return r.id;
}

/** A free 10.x.y.0/24 (not in any route table), picked from this process's pid. */
export function freeSubnet(salt: number): string {
  const used = execFileSync('ip', ['-4', 'route', 'show', 'table', 'all'], { encoding: 'utf8' });
  for (let k = 0; k < 32; k++) {
    const prefix = `10.${150 + ((process.pid + 7 * k + salt) % 90)}.${(process.pid >> 3) % 250}.`;
    if (!used.includes(prefix)) return `${prefix}1/24`;
  }
  throw new Error('no free 10.x.y.0/24 for a test bridge');
}

export interface TestWorld {
  root: string;
  bridge: string;
  bip: string;
  cgroupParent: string;
  engines: BerthEngine[];
  /** The config open() uses. */
  config(extra?: Partial<EngineConfig>): EngineConfig;
  open(extra?: Partial<EngineConfig>): Promise<BerthEngine>;
  cleanup(): Promise<void>;
}

let counter = 0;

/** A fresh root, bridge name, subnet and cgroup parent; open() makes an engine on them. */
export async function testWorld(driver: 'vfs' | 'overlay2' = 'vfs'): Promise<TestWorld> {
  const n = counter++;
  const root = await mkdtemp(join(tmpdir(), 'berth-jobs-'));
  const world: TestWorld = {
    root,
    bridge: `bj${process.pid % 100000}x${n}`,
    bip: freeSubnet(n),
    cgroupParent: `berth-test/${process.pid}-${n}`,
    engines: [],
    config: (extra = {}) => ({
      root,
      execRoot: join(root, 'exec'),
      storageDriver: driver,
      bridge: world.bridge,
      bip: world.bip,
      masquerade: false,
      portDriver: 'proxy',
      cgroupParent: world.cgroupParent,
      ...extra,
    }),
    open: async (extra = {}) => {
      const e = await createEngine(ctx, world.config(extra));
      world.engines.push(e);
      return e;
    },
    cleanup: async () => {
      for (const e of world.engines.reverse()) {
        await e.shutdown(ctx).catch(() => undefined);
        await e.parts.net.reset(ctx).catch(() => undefined);
        await e.parts.driver.cleanup(ctx).catch(() => undefined);
      }
      await createCgroupManager()
        .cleanupStale(ctx, world.cgroupParent)
        .catch(() => undefined);
      await createCgroupManager()
        .removeIfEmpty(ctx, 'berth-test')
        .catch(() => undefined);
      try {
        execFileSync('ip', ['link', 'del', world.bridge], { stdio: 'ignore' });
      } catch {
        // already gone with reset()
      }
      await rm(root, { recursive: true, force: true });
    },
  };
  return world;
}

/** The stdout lines of a container's json-file log. */
export async function stdoutOf(logPath: string): Promise<string> {
  const text = await readFile(logPath, 'utf8').catch(() => '');
  return text
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => JSON.parse(l) as { log: string; stream: string })
    .filter((e) => e.stream === 'stdout')
    .map((e) => e.log)
    .join('');
}
