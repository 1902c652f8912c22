// Same-bundle conformance: one OCI bundle running the static `probe` goes through
// berth's execdriver (in-process), berth-runtime, runc and crun (crun with the host
// quirk wrapper where needed); each must show the container the same from inside —
// hostname, pid 1, ids, capability sets, limits, the new root and the mount points.
import { mkdtempSync, readdirSync, readlinkSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createCgroupManager } from '../../engine/execdriver/cgroups/manager.js';
import { createExecDriver } from '../../engine/execdriver/execdriver.js';
import { loadBundleSpec } from '../../engine/execdriver/spec/load-bundle.js';
import { background } from '../../engine/trace/context.js';
import { needs, root } from '../../testkit/needs.js';
import { RuntimeBundles, type NetnsVariant, type RuntimeMaterial } from '../suites/runtime-bundles.js';
import {
  findRuntime,
  forceDelete,
  isFound,
  leftoversOf,
  runContainer,
  type PeerRuntime,
  type RuntimeName,
} from './index.js';

const isRoot = process.getuid?.() === 0;
const ctx = background();
const cgroupParent = `berth-peers-test-${process.pid}`;

/** What the probe reports that every runtime must agree on. */
interface Observed {
  hostname: string;
  pid: number;
  ppid: number;
  uid: number;
  gid: number;
  groups: number[];
  fds: number[];
  cwd: string;
  caps: Record<string, string>;
  NoNewPrivs: string;
  nofile: [number, number];
  /** root (within its filesystem) of the mount at /. */
  root: string | undefined;
  /** Every mount point, sorted. */
  mountPoints: string[];
  /** Namespaces that differ from this process's own. */
  newNamespaces: string[];
}

function observe(stdout: string): Observed {
  const p = JSON.parse(stdout) as Record<string, unknown> & { mountinfo: string; ns: Record<string, string> };
  const lines = p.mountinfo
    .trim()
    .split('\n')
    .map((l) => l.split(' '));
  const own = (ns: string) => readlinkSync(`/proc/self/ns/${ns}`);
  return {
    hostname: p.hostname as string,
    pid: p.pid as number,
    ppid: p.ppid as number,
    uid: p.uid as number,
    gid: p.gid as number,
    groups: p.groups as number[],
    fds: p.fds as number[],
    cwd: p.cwd as string,
    caps: Object.fromEntries(['CapInh', 'CapPrm', 'CapEff', 'CapBnd', 'CapAmb'].map((k) => [k, p[k] as string])),
    NoNewPrivs: p.NoNewPrivs as string,
    nofile: p.nofile as [number, number],
    root: lines.find((f) => f[4] === '/')?.[3],
    mountPoints: lines.map((f) => f[4]!).sort(),
    newNamespaces: Object.keys(p.ns)
      .filter((ns) => p.ns[ns] !== '' && p.ns[ns] !== own(ns))
      .sort(),
  };
}

async function readAll(stream: Readable | undefined): Promise<string> {
  if (stream === undefined) return '';
  const chunks: Buffer[] = [];
  for await (const c of stream) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

const peers = new Map<RuntimeName, PeerRuntime | string>();
for (const name of ['berth-runtime', 'runc', 'crun'] as const) {
  const r = isRoot ? findRuntime(name) : undefined;
  peers.set(name, r === undefined ? 'needs root' : isFound(r) ? r : r.reason);
}

needs(root()).describe('the same bundle on every runtime (root)', () => {
  let dataRoot: string;
  let bundles: RuntimeBundles;
  let m: RuntimeMaterial;
  const manager = isRoot ? createCgroupManager() : undefined;
  const driver = createExecDriver({ cgroups: manager ?? null, cgroupParent });
  const reference = new Map<NetnsVariant, Observed>();
  let seq = 0;

  /** The probe through berth's execdriver in this process: the reference the others are compared with. */
  async function inProcess(variant: NetnsVariant): Promise<Observed> {
    const id = `bpe${process.pid}-${seq++}`;
    const dir = m.bundles[variant];
    const proc = await driver.create(
      ctx,
      id,
      { dir, spec: await loadBundleSpec(dir) },
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    try {
      const out = readAll(proc.stdout);
      const err = readAll(proc.stderr);
      await driver.start(ctx, id);
      expect(await driver.wait(ctx, id)).toEqual({ exitCode: 0 });
      expect(await err).toBe('');
      return observe(await out);
    } finally {
      await driver.delete(ctx, id).catch(() => undefined);
      expect(leftoversOf(id)).toEqual([]);
    }
  }

  beforeAll(async () => {
    dataRoot = mkdtempSync(join(tmpdir(), `berth-peers-${process.pid}-`));
    bundles = new RuntimeBundles(dataRoot, 'probe');
    m = bundles.acquire();
    for (const v of ['netns', 'no-netns'] as const) reference.set(v, await inProcess(v));
  });

  afterAll(async () => {
    bundles?.release();
    await manager?.cleanupStale(ctx, cgroupParent).catch(() => undefined);
    if (dataRoot) {
      expect(readdirSync(dataRoot)).toEqual([]);
      rmSync(dataRoot, { recursive: true, force: true });
    }
  });

  it("berth's execdriver: the probe sees the spec's container (the reference for the others)", () => {
    const r = reference.get('netns')!;
    expect(r.hostname).toBe('berth-bench');
    expect([r.pid, r.ppid, r.uid, r.gid]).toEqual([1, 0, 0, 0]);
    expect(r.fds).toEqual([0, 1, 2]);
    expect(r.root).toBe(m.rootfs);
    for (const mp of ['/', '/proc', '/dev', '/dev/pts', '/dev/shm', '/dev/mqueue', '/sys'])
      expect(r.mountPoints).toContain(mp);
    expect(r.newNamespaces).toEqual(['cgroup', 'ipc', 'mnt', 'net', 'pid', 'uts']);
    expect(reference.get('no-netns')!.newNamespaces).toEqual(['cgroup', 'ipc', 'mnt', 'pid', 'uts']);
  });

  for (const [name, peer] of peers) {
    const reason = typeof peer === 'string' ? peer : '';
    needs(reason || undefined).it(`${name} shows the same container as berth's execdriver`, async () => {
      const p = peer as PeerRuntime;
      const root = m.stateRoot(name);
      for (const variant of ['netns', 'no-netns'] as const) {
        const id = `bpe${process.pid}-${seq++}`;
        let out: string;
        try {
          const r = await runContainer(p, { root, bundle: m.bundles[variant], id, captureStdout: true });
          expect(r.stderr).toBe('');
          expect(r.code).toBe(0);
          out = r.stdout;
        } finally {
          await forceDelete(p, root, id);
        }
        expect(leftoversOf(id, root)).toEqual([]);
        expect(observe(out), `${name}, ${variant}`).toEqual(reference.get(variant));
      }
    });
  }
});
