// Tests of the Engine: typed registration and dispatch, the +job/-job log lines,
// one span per job nesting what the handler does, the output channel, errors and
// cancellation, and close() waiting for running jobs.
import { describe, expect, it } from 'vitest';
import { BerthError, invalidArgument, isBerthError } from '../errdefs/errors.js';
import { SpanCollector } from '../trace/collector.js';
import { background, withSignal, type Context } from '../trace/context.js';
import { createLogger, type LogFields } from '../trace/logger.js';
import { traced } from '../trace/span.js';
import { Engine, summarizeArgs } from './engine.js';

type TestJobs = {
  echo: { args: { id: string; n: number }; result: string; event: number };
  fail: { args: { id: string }; result: void; event: never };
  crash: { args: string; result: void; event: never };
  block: { args: { id: string }; result: string; event: never };
};

function logCtx(): { ctx: Context; lines: { message: string; fields: LogFields }[] } {
  const lines: { message: string; fields: LogFields }[] = [];
  return { ctx: background(createLogger('info', (_l, message, fields) => lines.push({ message, fields }))), lines };
}

function blocker(): { started: Promise<void>; handler: (ctx: Context) => Promise<string> } {
  let markStarted!: () => void;
  const started = new Promise<void>((r) => (markStarted = r));
  return {
    started,
    handler: (ctx) =>
      new Promise<string>((resolve, reject) => {
        markStarted();
        ctx.signal.addEventListener('abort', () => reject(new DOMException('stopped', 'AbortError')), { once: true });
        if (ctx.signal.aborted) reject(new DOMException('stopped', 'AbortError'));
        void resolve;
      }),
  };
}

describe('Engine', () => {
  it('runs a registered job with its args, emits events in order and logs +job / -job OK', async () => {
    const engine = new Engine<TestJobs>();
    engine.register('echo', async (_ctx, job) => {
      for (let i = 0; i < job.args.n; i++) job.emit(i);
      return `${job.args.id}:${job.args.n}`;
    });
    const { ctx, lines } = logCtx();
    const events: number[] = [];
    const result = await engine.job(ctx, 'echo', { id: 'abc', n: 3 }, { onEvent: (e) => events.push(e) });
    expect(result).toBe('abc:3');
    expect(events).toEqual([0, 1, 2]);
    expect(lines.map((l) => l.message)).toEqual(['+job echo(abc)', '-job echo(abc) = OK (0)']);
    expect(lines[0]!.fields.job).toBe(lines[1]!.fields.job);
    expect(engine.running()).toEqual([]);
  });

  it('logs -job = ERR (code) and rethrows a BerthError unchanged', async () => {
    const engine = new Engine<TestJobs>();
    const err = invalidArgument('container x: bad');
    engine.register('fail', async () => {
      throw err;
    });
    const { ctx, lines } = logCtx();
    await expect(engine.job(ctx, 'fail', { id: 'x' })).rejects.toBe(err);
    expect(lines.map((l) => l.message)).toEqual(['+job fail(x)', '-job fail(x) = ERR (INVALID_ARGUMENT)']);
  });

  it('wraps a foreign error as INTERNAL naming the job', async () => {
    const engine = new Engine<TestJobs>();
    engine.register('crash', async () => {
      throw new TypeError('boom');
    });
    const err = await engine.job(background(), 'crash', 'arg').catch((e: unknown) => e);
    expect(isBerthError(err, 'INTERNAL')).toBe(true);
    expect((err as BerthError).message).toBe('job crash(arg): boom');
  });

  it('fails NOT_FOUND for an unknown job and CONFLICT for a second registration', async () => {
    const engine = new Engine<TestJobs>();
    engine.register('echo', async () => 'x');
    expect(() => engine.register('echo', async () => 'y')).toThrow(/job echo: already registered/);
    const err = await engine.job(background(), 'fail', { id: 'x' }).catch((e: unknown) => e);
    expect(isBerthError(err, 'NOT_FOUND')).toBe(true);
    expect(engine.names()).toEqual(['echo']);
  });

  it('is one span (module jobs) enclosing the spans its handler opens', async () => {
    const engine = new Engine<TestJobs>();
    engine.register('echo', (ctx, job) => traced(ctx, 'graph', 'lookup', async () => job.args.id));
    const collector = new SpanCollector().start();
    try {
      await engine.job(background(), 'echo', { id: 'img', n: 0 });
    } finally {
      collector.stop();
    }
    const spans = collector.spans;
    const job = spans.find((s) => s.name === 'jobs.echo');
    const inner = spans.find((s) => s.name === 'graph.lookup');
    expect(job).toBeDefined();
    expect(job!.attributes.args).toBe('img');
    expect(inner!.parentId).toBe(job!.id);
  });

  it('cancels a running job through ctx.signal and refuses one whose ctx is already cancelled', async () => {
    const engine = new Engine<TestJobs>();
    const b = blocker();
    engine.register('block', (ctx) => b.handler(ctx));
    const ac = new AbortController();
    const pending = engine.job(withSignal(background(), ac.signal), 'block', { id: 'b' });
    await b.started;
    expect(engine.running().map((j) => j.name)).toEqual(['block']);
    ac.abort(new Error('client hung up'));
    const err = await pending.catch((e: unknown) => e);
    expect(isBerthError(err, 'CANCELLED')).toBe(true);
    const again = await engine.job(withSignal(background(), ac.signal), 'block', { id: 'b' }).catch((e: unknown) => e);
    expect(isBerthError(again, 'CANCELLED')).toBe(true);
    expect((again as Error).message).toContain('client hung up');
  });

  it('close() refuses new jobs and resolves once the running ones finished', async () => {
    const engine = new Engine<TestJobs>();
    const b = blocker();
    engine.register('block', (ctx) => b.handler(ctx));
    engine.register('echo', async () => 'x');
    const ac = new AbortController();
    const pending = engine.job(withSignal(background(), ac.signal), 'block', { id: 'b' }).catch(() => 'ended');
    await b.started;
    let closed = false;
    const closing = engine.close(background()).then(() => (closed = true));
    const refused = await engine.job(background(), 'echo', { id: 'e', n: 0 }).catch((e: unknown) => e);
    expect(isBerthError(refused, 'UNAVAILABLE')).toBe(true);
    await Promise.resolve();
    expect(closed).toBe(false);
    ac.abort();
    await pending;
    await closing;
    expect(closed).toBe(true);
  });

  it('keeps a throwing event listener from failing the job', async () => {
    const engine = new Engine<TestJobs>();
    engine.register('echo', async (_c, job) => {
      job.emit(1);
      return 'done';
    });
    const { ctx, lines } = logCtx();
    await expect(
      engine.job(
        ctx,
        'echo',
        { id: 'a', n: 1 },
        {
          onEvent: () => {
            throw new Error('listener');
          },
        },
      ),
    ).resolves.toBe('done');
    expect(lines.some((l) => l.message.includes('event listener failed'))).toBe(true);
  });
});

describe('summarizeArgs', () => {
  it.each([
    [undefined, ''],
    ['busybox', 'busybox'],
    [{ reference: 'busybox:latest', platform: 'linux/amd64' }, 'busybox:latest'],
    [{ id: 'c1', signal: 'SIGTERM' }, 'c1, signal=SIGTERM'],
    [{ name: 'web', config: { Image: 'x' } }, 'name=web'],
    [{ id: 'x'.repeat(200) }, `${'x'.repeat(119)}…`],
  ])('%j → %j', (args, text) => {
    expect(summarizeArgs(args)).toBe(text);
  });
});

describe('detached', () => {
  it('keeps logger and span but is not cancelled with its parent', async () => {
    const { detached } = await import('../trace/context.js');
    const ac = new AbortController();
    const parent = withSignal(background(), ac.signal);
    const d = detached(parent);
    ac.abort();
    expect(parent.signal.aborted).toBe(true);
    expect(d.signal.aborted).toBe(false);
    expect(d.logger).toBe(parent.logger);
  });
});
