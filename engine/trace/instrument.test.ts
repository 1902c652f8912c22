// Tests of instrument(): spans per call, nesting through ctx, errors and
// cancellation, the wrapper's transparency, and that nobody listening costs no span.
import diagnostics from 'node:diagnostics_channel';
import { afterEach, describe, expect, it } from 'vitest';
import { BerthError, cancelled, notFound } from '../errdefs/errors.js';
import { SpanCollector } from './collector.js';
import { background, withSignal, type Context } from './context.js';
import { instrument, type TimedStep } from './instrument.js';
import { boundaryChannel, spanChannel, traced, type SpanRecord } from './span.js';

interface Driver {
  readonly kind: string;
  get(ctx: Context, id: string): string;
  load(ctx: Context, id: string): Promise<number>;
  fail(ctx: Context, id: string): void;
  failAsync(ctx: Context, id: string): Promise<void>;
}

interface Differ {
  diff(ctx: Context, id: string): Promise<string>;
}

class MemDriver implements Driver {
  readonly kind = 'mem';
  seen: Context[] = [];
  inner: Driver | undefined;

  get(ctx: Context, id: string): string {
    this.seen.push(ctx);
    if (this.inner !== undefined) this.inner.get(ctx, `${id}/inner`);
    return `got ${id}`;
  }

  async load(ctx: Context, id: string): Promise<number> {
    this.seen.push(ctx);
    await new Promise((r) => setTimeout(r, 1));
    if (this.inner !== undefined) await this.inner.load(ctx, `${id}/inner`);
    return id.length;
  }

  fail(_ctx: Context, id: string): void {
    throw notFound(`layer ${id}: not found`);
  }

  async failAsync(_ctx: Context, id: string): Promise<void> {
    await Promise.resolve();
    throw new BerthError('CONFLICT', `layer ${id}: busy`);
  }
}

class DiffingDriver extends MemDriver implements Differ {
  async diff(_ctx: Context, id: string): Promise<string> {
    return `diff ${id}`;
  }
}

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

describe('instrument', () => {
  it('opens one span per call, nested through the ctx it passes down', () => {
    const c = listen();
    const inner = new MemDriver();
    const outer = new MemDriver();
    outer.inner = instrument<Driver>('test.inner', inner);
    const driver = instrument<Driver>('test.outer', outer);

    const root = background();
    expect(driver.get(root, 'a')).toBe('got a');

    const spans = c.stop();
    expect(spans.map((s) => s.name)).toEqual(['test.inner.get', 'test.outer.get']);
    const [child, parent] = spans;
    expect(parent.parentId).toBeUndefined();
    expect(parent.traceId).toBe(parent.id);
    expect(child.parentId).toBe(parent.id);
    expect(child.traceId).toBe(parent.id);
    expect(child.startNs).toBeGreaterThanOrEqual(parent.startNs);
    expect(child.endNs).toBeLessThanOrEqual(parent.endNs);
    expect(parent.status).toBe('ok');
    // the implementation got a derived context carrying the new span, not the caller's
    expect(outer.seen[0]).not.toBe(root);
    expect(outer.seen[0].span?.id).toBe(parent.id);
    expect(outer.seen[0].signal).toBe(root.signal);
    expect(inner.seen[0].span?.id).toBe(child.id);
  });

  it('ends an async method span when its promise settles, nesting awaited calls', async () => {
    const c = listen();
    const outer = new MemDriver();
    outer.inner = instrument<Driver>('test.inner', new MemDriver());
    const driver = instrument<Driver>('test.outer', outer);
    const [a, b] = await Promise.all([driver.load(background(), 'aa'), driver.load(background(), 'bbb')]);
    expect([a, b]).toEqual([2, 3]);
    const spans = c.stop();
    const roots = spans.filter((s) => s.parentId === undefined);
    expect(roots).toHaveLength(2);
    for (const root of roots) {
      const kids = spans.filter((s) => s.parentId === root.id);
      expect(kids).toHaveLength(1);
      expect(kids[0].name).toBe('test.inner.load');
      expect(kids[0].traceId).toBe(root.id);
      // the parent cannot end before its awaited child
      expect(root.endNs).toBeGreaterThanOrEqual(kids[0].endNs);
      // load waits ≥ 1 ms, so the span measured the promise, not the call
      expect(root.endNs - root.startNs).toBeGreaterThan(500_000);
    }
  });

  it('ends the span with status error and the BerthError code when a method throws or rejects', async () => {
    const c = listen();
    const driver = instrument<Driver>('test.err', new MemDriver());
    expect(() => driver.fail(background(), 'x1')).toThrow('layer x1: not found');
    await expect(driver.failAsync(background(), 'x2')).rejects.toThrow('layer x2: busy');
    const spans = c.stop();
    expect(spans.map((s) => [s.name, s.status, s.error?.code])).toEqual([
      ['test.err.fail', 'error', 'NOT_FOUND'],
      ['test.err.failAsync', 'error', 'CONFLICT'],
    ]);
    expect(spans[0].error?.message).toBe('layer x1: not found');
  });

  it('marks AbortError and CANCELLED as cancelled', async () => {
    const c = listen();
    const impl = {
      abort: async (ctx: Context) => {
        await new Promise((r) => setTimeout(r, 1));
        ctx.signal.throwIfAborted();
      },
      stop: (_ctx: Context) => {
        throw cancelled('job pull: cancelled');
      },
    };
    const wrapped = instrument('test.cancel', impl);
    const ac = new AbortController();
    ac.abort();
    await expect(wrapped.abort(withSignal(background(), ac.signal))).rejects.toMatchObject({ name: 'AbortError' });
    expect(() => wrapped.stop(background())).toThrow('job pull: cancelled');
    const spans = c.stop();
    expect(spans.map((s) => s.status)).toEqual(['cancelled', 'cancelled']);
    expect(spans[1].error?.code).toBe('CANCELLED');
  });

  it('keeps non-method properties, `in` checks for optional abilities and instanceof', () => {
    const impl = new DiffingDriver();
    const wrapped = instrument<Driver & Differ>('test.props', impl);
    expect(wrapped.kind).toBe('mem');
    expect('diff' in wrapped).toBe(true);
    expect('diff' in instrument<Driver>('test.props', new MemDriver())).toBe(false);
    expect(wrapped instanceof DiffingDriver).toBe(true);
    expect(wrapped.get.name).toBe('get');
    // only the listed methods are wrapped when `methods` is given
    const c = listen();
    const partial = instrument<Driver>('test.partial', new MemDriver(), { methods: ['get'] });
    partial.get(background(), 'p');
    void partial.load(background(), 'p');
    expect(c.spans.map((s) => s.name)).toEqual(['test.partial.get']);
  });

  it('runs the methods it leaves unwrapped on impl, so state they change is the one the wrapped ones see', async () => {
    class Writer {
      size = 0;
      write(n: number): void {
        this.size += n;
      }
      async commit(_ctx: Context): Promise<number> {
        return this.size;
      }
    }
    const c = listen();
    const w = instrument('test.writer', new Writer(), { methods: ['commit'] });
    w.write(3);
    w.write(4);
    expect(await w.commit(background())).toBe(7);
    expect(c.stop().map((s) => s.name)).toEqual(['test.writer.commit']);
  });

  it('rejects a listed method that is not a function, naming it', () => {
    expect(() =>
      instrument<Driver>('test.bad', new MemDriver(), { methods: ['kind' as keyof Driver & string] }),
    ).toThrow('instrument test.bad: kind is not a method');
  });

  it('takes attributes from the arguments and the result', async () => {
    const c = listen();
    const driver = instrument<Driver>('test.attrs', new MemDriver(), {
      attributes: { get: (_ctx, id) => ({ id }), load: (_ctx, id) => ({ id }) },
      results: { get: (r) => ({ length: r.length }), load: (n) => ({ size: n }) },
    });
    driver.get(background(), 'abc');
    await driver.load(background(), 'wxyz');
    const [get, load] = c.stop();
    expect(get.attributes).toEqual({ id: 'abc', length: 7 });
    expect(load.attributes).toEqual({ id: 'wxyz', size: 4 });
  });

  it('makes the steps a call returns, or fails with, child spans of its span', async () => {
    interface Stepper {
      run(ctx: Context, fail: boolean): Promise<{ steps: TimedStep[] }>;
    }
    const step = (method: string, startNs: number, origin: 'node' | 'native'): TimedStep => ({
      module: 'test.child',
      method,
      startNs,
      endNs: startNs + 5,
      origin,
      attributes: { n: startNs },
    });
    const impl: Stepper = {
      async run(_ctx, fail) {
        const steps = [step('clone', 10, 'native'), step('setup', 20, 'node')];
        if (fail)
          throw new BerthError('INTERNAL', 'setup: EPERM', {
            details: { steps: [...steps, { ...step('mount', 30, 'native'), error: 'EPERM' }] },
          });
        return { steps };
      },
    };
    const c = listen();
    const driver = instrument<Stepper>('test.steps', impl, {
      steps: { run: (r) => r.steps },
      errorSteps: (err) => ((err as BerthError).details?.steps as TimedStep[] | undefined) ?? [],
    });
    await driver.run(background(), false);
    await expect(driver.run(background(), true)).rejects.toThrow('setup: EPERM');
    const spans = c.stop();
    const [ok, failed] = spans.filter((s) => s.name === 'test.steps.run');
    const under = (p: SpanRecord) => spans.filter((s) => s.parentId === p.id);
    expect(under(ok).map((s) => [s.name, s.origin, s.startNs, s.endNs, s.status])).toEqual([
      ['test.child.clone', 'native', 10, 15, 'ok'],
      ['test.child.setup', 'node', 20, 25, 'ok'],
    ]);
    expect(under(ok)[0].attributes).toEqual({ n: 10 });
    expect(failed.status).toBe('error');
    expect(under(failed).map((s) => `${s.name}:${s.status}`)).toEqual([
      'test.child.clone:ok',
      'test.child.setup:ok',
      'test.child.mount:error',
    ]);
    expect(under(failed)[2].error?.message).toBe('EPERM');
  });

  it('creates no span and passes the same ctx through when nobody listens', async () => {
    const impl = new MemDriver();
    const driver = instrument<Driver>('test.quiet', impl);
    const idOf = (): number => {
      const c = new SpanCollector().start();
      traced(background(), 'test', 'probe', () => undefined);
      const [s] = c.stop();
      return s.id;
    };
    const before = idOf();
    const ctx = background();
    expect(spanChannel.hasSubscribers).toBe(false);
    for (let i = 0; i < 10; i++) driver.get(ctx, `q${i}`);
    await driver.load(ctx, 'q');
    const after = idOf();
    // span ids are handed out one by one: none was taken by the quiet calls
    expect(after).toBe(before + 1);
    expect(impl.seen).toHaveLength(11);
    for (const seen of impl.seen) expect(seen).toBe(ctx);
  });

  it('publishes to the boundary channel alone when only it is subscribed', () => {
    const got: SpanRecord[] = [];
    const onSpan = (m: unknown) => got.push(m as SpanRecord);
    const name = boundaryChannel('test.boundary', 'get').name as string;
    expect(name).toBe('berth:test.boundary:get');
    diagnostics.subscribe(name, onSpan);
    try {
      const impl = new MemDriver();
      const driver = instrument<Driver>('test.boundary', impl);
      const ctx = background();
      driver.get(ctx, 'b');
      expect(spanChannel.hasSubscribers).toBe(false);
      expect(got).toHaveLength(1);
      expect(got[0]).toMatchObject({
        name: 'test.boundary.get',
        module: 'test.boundary',
        status: 'ok',
        origin: 'node',
      });
      expect(impl.seen[0]).not.toBe(ctx);
      expect(impl.seen[0].span?.id).toBe(got[0].id);
    } finally {
      diagnostics.unsubscribe(name, onSpan);
    }
  });
});
