// Shared checks of the pull tests: a failure's BerthError, and a store left empty.
import { expect } from 'vitest';
import { BerthError } from '../errdefs/errors.js';
import type { Graph } from '../graph/graph.js';
import type { Context } from '../trace/index.js';

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
