// Tests of the daemon's trace store: a sampled request's tree is filed as its spans end, also the parts that end
// after the request answered; a fetch waits for spans still open; unsampled requests make no spans.
import { describe, expect, it } from 'vitest';
import { background } from '../trace/context.js';
import { spanChannel, traced } from '../trace/span.js';
import { parseTraceparent, TraceStore } from './request-trace.js';

const TRACE = 'cd'.repeat(16);
const parent = parseTraceparent(`00-${TRACE}-00000000000000b2-01`);

describe('TraceStore', () => {
  it('files the spans of a sampled request, also one that ends after it answered, and waits for it on take', async () => {
    expect(spanChannel.hasSubscribers).toBe(false);
    const store = new TraceStore();
    let finishExit: (() => void) | undefined;
    let exitDone: Promise<void> | undefined;
    await store.run(background(), parent, 'POST /containers/x/start', async (ctx) => {
      traced(ctx, 'jobs', 'start', (inner) => {
        // the exit handling: a span opened now, ended when the test says
        exitDone = traced(inner, 'container', 'exit', () => new Promise<void>((r) => (finishExit = r)));
      });
    });
    // an unsampled request at the same time makes no span
    let unsampled: unknown = 'not run';
    await store.run(background(), undefined, 'GET /version', async (ctx) => {
      unsampled = traced(ctx, 'jobs', 'version', (_c, span) => span);
    });
    expect(unsampled).toBeUndefined();

    let answered = false;
    const taking = store.take(TRACE).then((t) => {
      answered = true;
      return t;
    });
    await new Promise((r) => setImmediate(r));
    expect(answered).toBe(false);
    finishExit!();
    await exitDone;
    const trace = await taking;
    const names = trace.spans.map((s) => s.name);
    expect(names).toEqual(['daemon.POST /containers/x/start', 'jobs.start', 'container.exit']);
    const [root, job, exit] = trace.spans;
    expect(root!.attributes.traceparentParent).toBe('00000000000000b2');
    expect(job!.parentId).toBe(root!.id);
    expect(exit!.parentId).toBe(job!.id);
    // taken spans are forgotten
    expect((await store.take(TRACE)).spans).toEqual([]);
    expect((await store.take('ef'.repeat(16))).spans).toEqual([]);
  });
});
