// What the pull (and push) tests share: a failure's BerthError, a store left empty,
// incompressible layer content, bounded waits, open-file checks, and the world most
// of them run in — a graph on a fresh root, an embedded registry and a proxy in front.
import { mkdtemp, readdir, readlink, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'vitest';
import { BerthError } from '../errdefs/errors.js';
import { Graph } from '../graph/graph.js';
import type { Driver } from '../graphdriver/driver.js';
import { vfsPlugin } from '../graphdriver/vfs.js';
import { startProxy, type TestProxy } from '../registry/client/test-registry.js';
import { createRegistryServer, type RegistryServer } from '../registry/server/index.js';
import { background, type Context } from '../trace/context.js';

/** Retries that give up quickly: a fault test fails in bounded time. */
export const FAST_RETRY = { attempts: 3, baseMs: 5, maxMs: 20 };

/** The BerthError p rejects with; fails the test when p resolves or rejects with something else. */
export async function caught(p: Promise<unknown>): Promise<BerthError> {
  try {
    await p;
  } catch (err) {
    expect(err).toBeInstanceOf(BerthError);
    return err as BerthError;
  }
  throw new Error('expected a failure');
}

/** No image, layer, blob or ingest in the graph (a failed pull left it as it was). */
export async function expectEmptyStore(ctx: Context, graph: Graph): Promise<void> {
  expect(await graph.listImages(ctx)).toEqual([]);
  expect(await graph.layers.list(ctx)).toEqual([]);
  expect(await graph.content.list(ctx)).toEqual([]);
  expect(await graph.content.ingests(ctx)).toEqual([]);
}

/** Pseudo-random incompressible bytes from a seed, so a layer's download lasts many chunks. */
export function noise(seed: number, n: number): Buffer {
  const b = Buffer.alloc(n);
  let x = Math.imul(seed, 2654435761) >>> 0;
  for (let i = 0; i < n; i++) {
    x = (Math.imul(x, 1103515245) + 12345) >>> 0;
    b[i] = x >>> 24;
  }
  return b;
}

/** Settles like p, or rejects naming `what` when p is still pending after `ms`. */
export async function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const hung = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: still pending after ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([p, hung]);
  } finally {
    clearTimeout(timer);
  }
}

/** How p settled, within `ms` (rejects naming `what` when it hangs). */
export function settled<T>(
  p: Promise<T>,
  ms: number,
  what: string,
): Promise<{ ok: true; value: T } | { ok: false; error: unknown }> {
  return within(
    p.then(
      (value) => ({ ok: true as const, value }),
      (error: unknown) => ({ ok: false as const, error }),
    ),
    ms,
    what,
  );
}

/** Descriptors this process holds open on files under `dir`. */
export async function openFilesUnder(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const fd of await readdir('/proc/self/fd')) {
    const target = await readlink(`/proc/self/fd/${fd}`).catch(() => '');
    if (target.startsWith(dir)) out.push(target);
  }
  return out;
}

/** Every file left under `dir` (recursively). */
export async function filesUnder(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(dir, { withFileTypes: true, recursive: true }).catch(() => [])) {
    if (e.isFile()) out.push(join(e.parentPath ?? e.path, e.name));
  }
  return out;
}

export interface PullWorld {
  /** The temporary folder holding everything below. */
  root: string;
  /** Where the graph lives (its data root). */
  graphRoot: string;
  driver: Driver;
  graph: Graph;
  registry: RegistryServer;
  /** A pass-through proxy in front of the registry; set its hooks to damage responses. */
  proxy: TestProxy;
  /** Closes proxy, registry and driver and removes the root. Idempotent. */
  close(): Promise<void>;
}

export interface PullWorldOptions {
  /** The graphdriver (vfs by default), made on the graph root. */
  driver?: (graphRoot: string) => Promise<Driver>;
  /** The graph root relative to the world's root ('graph' by default; '' for the root itself). */
  graphDir?: string;
}

/**
 * A graph on a fresh temporary root (named after `name` and the pid), an embedded registry on 127.0.0.1 and a proxy in
 * front.
 */
export async function openPullWorld(name: string, opts: PullWorldOptions = {}): Promise<PullWorld> {
  const ctx = background();
  const root = await mkdtemp(join(tmpdir(), `berth-${name}-${process.pid}-`));
  const graphRoot = join(root, opts.graphDir ?? 'graph');
  let driver: Driver | undefined;
  let registry: RegistryServer | undefined;
  let proxy: TestProxy | undefined;
  let closed: Promise<void> | undefined;
  const close = (): Promise<void> => {
    closed ??= (async () => {
      try {
        await proxy?.close();
        await registry?.close(100);
        await driver?.cleanup(ctx);
      } finally {
        await rm(root, { recursive: true, force: true });
      }
    })();
    return closed;
  };
  try {
    driver = await (opts.driver ?? ((r) => vfsPlugin.init(ctx, { root: r })))(graphRoot);
    const graph = await Graph.open(ctx, { root: graphRoot, driver });
    registry = await createRegistryServer({ root: join(root, 'registry') });
    proxy = await startProxy(registry.url);
    return { root, graphRoot, driver, graph, registry, proxy, close };
  } catch (err) {
    await close();
    throw err;
  }
}
