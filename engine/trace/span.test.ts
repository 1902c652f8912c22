// Tests of spans outside instrument(): traced(), startSpan(), recordSpan() with
// native timestamps, and the Context helpers spans travel in.
import { afterEach, describe, expect, it } from 'vitest';
import { isBerthError } from '../errdefs/errors.js';
import { clockBaseNs, fromMonotonicNs, nowNs } from './clock.js';
import { SpanCollector } from './collector.js';
import { background, isContext, throwIfCancelled, withLogger, withSignal, withTimeout } from './context.js';
import { createLogger } from './logger.js';
import { instrument } from './instrument.js';
import { recordSpan, spanChannel, startSpan, traced, type SpanRecord, type SpanSink } from './span.js';

const collectors: SpanCollector[] = [];
function listen(): SpanCollector {
  const c = new SpanCollector().start();
  collectors.push(c);
  return c;
}

afterEach(() => {
  for (const c of collectors.splice(0)) c.stop();
  expect(spanChannel.hasSubscribers).toBe(false);
});

describe('traced and startSpan', () => {
  it('nest sync and async work and end each span once', async () => {
    const c = listen();
    const result = await traced(background(), 'jobs', 'pull', async (ctx, span) => {
      span?.setAttribute('ref', 'busybox');
      traced(ctx, 'registry', 'resolve', () => 1);
      await traced(ctx, 'graph', 'apply', async () => new Promise((r) => setTimeout(r, 1)));
      return 'done';
    });
    expect(result).toBe('done');
    const spans = c.stop();
    const job = spans.find((s) => s.name === 'jobs.pull')!;
    expect(job.attributes).toEqual({ ref: 'busybox' });
    expect(spans.filter((s) => s.parentId === job.id).map((s) => s.name)).toEqual(['registry.resolve', 'graph.apply']);
    expect(spans).toHaveLength(3);
  });

  it('startSpan returns ctx unchanged and no span when nobody listens', () => {
    const ctx = background();
    const r = startSpan(ctx, 'graph', 'get');
    expect(r.span).toBeUndefined();
    expect(r.ctx).toBe(ctx);
  });

  it('a span ends once: a second end publishes nothing', () => {
    const c = listen();
    const { span } = startSpan(background(), 'graph', 'get');
    expect(span!.end()).toBeDefined();
    expect(span!.end(new Error('late'))).toBeUndefined();
    expect(c.stop()).toHaveLength(1);
  });

  it('traced records a thrown error with its errno code', () => {
    const c = listen();
    const err = Object.assign(new Error('EBUSY: resource busy'), { code: 'EBUSY' });
    expect(() =>
      traced(background(), 'graphdriver', 'remove', () => {
        throw err;
      }),
    ).toThrow(err);
    const [s] = c.stop();
    expect(s.status).toBe('error');
    expect(s.error).toEqual({ code: 'EBUSY', message: 'EBUSY: resource busy' });
  });
});

describe('a tree with a sink', () => {
  function sink(): SpanSink & { records: SpanRecord[]; open: number } {
    const records: SpanRecord[] = [];
    return {
      records,
      open: 0,
      opened() {
        this.open++;
      },
      ended(record, closesOpened) {
        if (closesOpened) this.open--;
        records.push(record);
      },
    };
  }

  it('makes and files every span under its root with nobody listening, and nothing outside it', async () => {
    const s = sink();
    const driver = instrument('graphdriver.vfs', { get: (_ctx: unknown, id: string) => `/layers/${id}` });
    const { span: root, ctx } = startSpan(background(), 'daemon', 'POST /start', undefined, s);
    expect(root).toBeDefined();
    expect(s.open).toBe(1);
    // a span that ends after its root did (an exit handled later) is filed too
    let late: Promise<void> | undefined;
    traced(ctx, 'jobs', 'start', (inner) => {
      driver.get(inner, 'l1');
      recordSpan(inner, { module: 'native', method: 'clone', startNs: nowNs(), endNs: nowNs(), origin: 'native' });
      late = traced(inner, 'container', 'exit', async () => new Promise<void>((r) => setTimeout(r, 5)));
    });
    root!.end();
    expect(s.open).toBe(1);
    await late;
    expect(s.open).toBe(0);
    const byName = new Map(s.records.map((r) => [r.name, r]));
    expect([...byName.keys()].sort()).toEqual([
      'container.exit',
      'daemon.POST /start',
      'graphdriver.vfs.get',
      'jobs.start',
      'native.clone',
    ]);
    const job = byName.get('jobs.start')!;
    expect(job.parentId).toBe(root!.id);
    for (const name of ['graphdriver.vfs.get', 'native.clone', 'container.exit'])
      expect(byName.get(name)!.parentId).toBe(job.id);
    expect(s.records.every((r) => r.traceId === root!.id)).toBe(true);
    // the same calls outside the tree make no span: nobody listens
    expect(startSpan(background(), 'jobs', 'start').span).toBeUndefined();
    expect(traced(background(), 'jobs', 'start', (_c, span) => span)).toBeUndefined();
    expect(s.records).toHaveLength(5);
  });

  it('also publishes the tree on the channels when someone listens', () => {
    const c = listen();
    const s = sink();
    const { span, ctx } = startSpan(background(), 'daemon', 'GET /version', undefined, s);
    traced(ctx, 'jobs', 'version', () => 1);
    span!.end();
    expect(c.stop().map((r) => r.name)).toEqual(['jobs.version', 'daemon.GET /version']);
    expect(s.records.map((r) => r.name)).toEqual(['jobs.version', 'daemon.GET /version']);
  });
});

describe('recordSpan', () => {
  it('publishes a span timed by the native clock under ctx span', () => {
    const c = listen();
    traced(background(), 'execdriver', 'start', (ctx, span) => {
      const base = clockBaseNs + BigInt(Math.round(span!.startNs));
      const rec = recordSpan(ctx, {
        module: 'native',
        method: 'pivot_root',
        startNs: fromMonotonicNs(base + 1_000n),
        endNs: fromMonotonicNs(base + 4_500n),
        attributes: { rootfs: '/x' },
        origin: 'native',
      });
      expect(rec).toBeDefined();
    });
    const spans = c.stop();
    const parent = spans.find((s) => s.name === 'execdriver.start')!;
    const child = spans.find((s) => s.name === 'native.pivot_root')!;
    expect(child.parentId).toBe(parent.id);
    expect(child.traceId).toBe(parent.traceId);
    expect(child.origin).toBe('native');
    expect(child.endNs - child.startNs).toBe(3_500);
    expect(child.startNs - Math.round(parent.startNs)).toBe(1_000);
    expect(child.attributes).toEqual({ rootfs: '/x' });
  });

  it('returns undefined when nobody listens, and records errors as status', () => {
    expect(recordSpan(background(), { module: 'native', method: 'clone', startNs: 0, endNs: 1 })).toBeUndefined();
    const c = listen();
    recordSpan(background(), { module: 'native', method: 'clone', startNs: 0, endNs: 1, error: new Error('EPERM') });
    const [s] = c.stop();
    expect(s.parentId).toBeUndefined();
    expect(s.traceId).toBe(s.id);
    expect(s.status).toBe('error');
    expect(s.origin).toBe('node');
  });

  it('fromMonotonicNs puts process.hrtime readings on the span time line', () => {
    const a = nowNs();
    const b = fromMonotonicNs(process.hrtime.bigint());
    const c = nowNs();
    expect(b).toBeGreaterThanOrEqual(a);
    expect(b).toBeLessThanOrEqual(c);
  });
});

describe('Context', () => {
  it('withSignal cancels with the parent or its own signal; throwIfCancelled names the subject', () => {
    const parent = new AbortController();
    const own = new AbortController();
    const ctx = withSignal(withSignal(background(), parent.signal), own.signal);
    expect(() => throwIfCancelled(ctx, 'job pull busybox')).not.toThrow();
    parent.abort(new Error('daemon stopping'));
    expect(ctx.signal.aborted).toBe(true);
    try {
      throwIfCancelled(ctx, 'job pull busybox');
      expect.unreachable();
    } catch (err) {
      expect(isBerthError(err, 'CANCELLED')).toBe(true);
      expect((err as Error).message).toBe('job pull busybox: cancelled (daemon stopping)');
    }
  });

  it('withTimeout aborts after its time; withLogger keeps span and signal', async () => {
    const ctx = withTimeout(background(), 5);
    await new Promise<void>((resolve) => ctx.signal.addEventListener('abort', () => resolve()));
    expect(() => throwIfCancelled(ctx, 'pull')).toThrow(/^pull: cancelled/);
    const logger = createLogger('silent');
    const c = listen();
    traced(ctx, 'm', 'x', (inner) => {
      const l = withLogger(inner, logger);
      expect(l.logger).toBe(logger);
      expect(l.span).toBe(inner.span);
      expect(l.signal).toBe(inner.signal);
    });
    c.stop();
    expect(isContext(background())).toBe(true);
    expect(isContext({ signal: 1 })).toBe(false);
    expect(isContext(undefined)).toBe(false);
  });
});
