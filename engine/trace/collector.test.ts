// Tests of the SpanCollector: it gathers while started, and spansOf picks one
// operation's tree out of several traced at the same time.
import { describe, expect, it } from 'vitest';
import { collect, SpanCollector, spanTree } from './collector.js';
import { background, type Context } from './context.js';
import { instrument } from './instrument.js';
import { spanChannel, traced, type SpanRecord } from './span.js';

const layerStore = instrument('test.layers', {
  async apply(_ctx: Context, digest: string): Promise<string> {
    await new Promise((r) => setTimeout(r, 1 + (digest.length % 3)));
    return digest;
  },
});

async function pull(ctx: Context, ref: string, layers: number): Promise<void> {
  await traced(ctx, 'jobs', 'pull', async (inner) => {
    await Promise.all(Array.from({ length: layers }, (_, i) => layerStore.apply(inner, `${ref}-${i}`)));
  });
}

describe('SpanCollector', () => {
  it('collects only while started, and stop returns a copy', () => {
    const c = new SpanCollector();
    traced(background(), 'm', 'before', () => 0);
    c.start().start();
    traced(background(), 'm', 'during', () => 0);
    const got = c.stop();
    expect(spanChannel.hasSubscribers).toBe(false);
    traced(background(), 'm', 'after', () => 0);
    expect(got.map((s) => s.name)).toEqual(['m.during']);
    got.length = 0;
    expect(c.spans).toHaveLength(1);
    c.clear();
    expect(c.spans).toHaveLength(0);
  });

  it('spansOf separates concurrent trees', async () => {
    const c = new SpanCollector().start();
    const roots: number[] = [];
    const capture = (ctx: Context) => {
      roots.push(ctx.span!.id);
      return ctx;
    };
    try {
      await Promise.all([
        traced(background(), 'bench', 'a', (ctx) => pull(capture(ctx), 'alpine', 3)),
        traced(background(), 'bench', 'b', (ctx) => pull(capture(ctx), 'debian', 5)),
      ]);
    } finally {
      c.stop();
    }
    const [a, b] = roots;
    const treeA = c.spansOf(a);
    const treeB = c.spansOf(b);
    expect(treeA).toHaveLength(1 + 1 + 3);
    expect(treeB).toHaveLength(1 + 1 + 5);
    expect(treeA[0].id).toBe(a); // sorted by start: the root first
    expect(new Set(treeA.map((s) => s.traceId))).toEqual(new Set([a]));
    expect(new Set(treeB.map((s) => s.traceId))).toEqual(new Set([b]));
    expect(
      treeA
        .filter((s) => s.name === 'test.layers.apply')
        .every((s) => c.spans.find((p) => p.id === s.parentId)?.name === 'jobs.pull'),
    ).toBe(true);
    // a subtree root works too
    const pullB = treeB.find((s) => s.name === 'jobs.pull')!;
    expect(c.spansOf(pullB.id)).toHaveLength(6);
    for (let i = 1; i < treeB.length; i++) expect(treeB[i].startNs).toBeGreaterThanOrEqual(treeB[i - 1].startNs);
  });

  it('spanTree of an unknown root is empty', () => {
    const s: SpanRecord = {
      id: 1,
      traceId: 1,
      parentId: undefined,
      name: 'm.x',
      module: 'm',
      startNs: 0,
      endNs: 1,
      attributes: {},
      status: 'ok',
      error: undefined,
      origin: 'node',
    };
    expect(spanTree([s], 2)).toEqual([]);
    expect(spanTree([s], 1)).toEqual([s]);
  });

  it('collect() returns the result with the spans and stops listening, also on failure', async () => {
    const { result, spans } = await collect(() => traced(background(), 'm', 'one', () => 42));
    expect(result).toBe(42);
    expect(spans.map((s) => s.name)).toEqual(['m.one']);
    await expect(
      collect(() => {
        throw new Error('boom');
      }),
    ).rejects.toThrow('boom');
    expect(spanChannel.hasSubscribers).toBe(false);
  });
});
