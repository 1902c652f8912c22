// berth as a pull bench target: a graph on a fresh root (cold) or one that already
// holds the image (warm), pulled through an instrumented registry client so each
// sample's spans give the phases (resolve, fetch, verify, apply, commit).
import { rm } from 'node:fs/promises';
import { Graph } from '../../engine/graph/graph.js';
import type { Driver } from '../../engine/graphdriver/driver.js';
import { graphdriverPlugin } from '../../engine/graphdriver/builtins.js';
import { RegistryClient } from '../../engine/registry/client/registry-client.js';
import { pull, type PullClient, type PullResult } from '../../engine/jobs/pull.js';
import { instrument, type Context } from '../../engine/trace/index.js';

/** The graphdriver berth pulls into. */
export type PullDriver = 'overlay2' | 'vfs';

/** Span names of a berth pull and the phase each one stands for (for the case notes). */
export const PHASE_SPANS: readonly { phase: string; spans: string }[] = [
  { phase: 'resolve', spans: 'registry.manifest (manifest, index) and registry.blobBytes (the image config)' },
  {
    phase: 'fetch',
    spans:
      'registry.layer.fetch (first request to verified ingest, the compressed digest hashed as bytes arrive; registry.blob is the HTTP part of it)',
  },
  {
    phase: 'verify',
    spans: 'graph.content.ingest.commit (size and digest check, fsync, rename into the content store)',
  },
  {
    phase: 'decompress + apply',
    spans:
      'registry.layer.apply (the streamed decompressor feeding graph.layers.register, which hashes the diffID and writes through the graphdriver)',
  },
  { phase: 'commit', spans: 'graph.content.put (manifest), graph.images.create, graph.references.add' },
];

/** A graph on its own root, ready to pull into; close() releases the driver and deletes the root. */
export interface BenchGraph {
  root: string;
  graph: Graph;
  close(ctx: Context): Promise<void>;
}

/**
 * Opens a graph with `driver` on `root` (an empty folder), its stores instrumented
 * (an ingest's commit is the verify phase). Fails naming the driver when it cannot
 * start here.
 */
export async function openBenchGraph(ctx: Context, root: string, driverName: PullDriver): Promise<BenchGraph> {
  let driver: Driver | undefined;
  try {
    driver = await graphdriverPlugin(driverName).init(ctx, { root });
    const graph = await Graph.open(ctx, { root, driver, instrument });
    const d = driver;
    return {
      root,
      graph,
      async close(c: Context) {
        try {
          await d.cleanup(c);
        } finally {
          await rm(root, { recursive: true, force: true });
        }
      },
    };
  } catch (err) {
    await driver?.cleanup(ctx).catch(() => undefined);
    await rm(root, { recursive: true, force: true });
    throw err;
  }
}

/** A registry client whose manifest and blob calls open `registry.*` spans. */
export function benchClient(): PullClient {
  return instrument('registry', new RegistryClient(), { methods: ['manifest', 'blob', 'blobBytes'] });
}

/** Pulls `reference` into the graph with `concurrency` layer downloads at once. */
export function berthPull(
  ctx: Context,
  g: BenchGraph,
  client: PullClient,
  reference: string,
  concurrency: number,
): Promise<PullResult> {
  return pull(ctx, g.graph, reference, { concurrency, client });
}
