// The idle timer behind berthd's memory trim: when it fires, that it waits for the next request after firing, that
// it never keeps a process alive, and that the daemon's requests count as activity.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { ApiClient } from '../client/api-client.js';
import { Engine } from '../jobs/engine.js';
import { background } from '../trace/context.js';
import { createLogger } from '../trace/logger.js';
import { packagePath } from '../../native/package-root.js';
import { parseDaemonFlags, type DaemonFlags } from './daemon-flags.js';
import { startDaemon, type RunningDaemon } from './daemon.js';
import { idleReclaimer, idleTimer, type IdleReclaimHooks } from './idle-trim.js';

describe('idleTimer', () => {
  beforeEach(() => {
    vi.useFakeTimers();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('fires once idleMs after its creation, then not again until a touch', () => {
    const onIdle = vi.fn();
    idleTimer(1000, onIdle, () => Date.now());
    vi.advanceTimersByTime(999);
    expect(onIdle).not.toHaveBeenCalled();
    vi.advanceTimersByTime(1);
    expect(onIdle).toHaveBeenCalledTimes(1);
    vi.advanceTimersByTime(60_000);
    expect(onIdle).toHaveBeenCalledTimes(1);
    expect(vi.getTimerCount()).toBe(0);
  });

  it('counts the idle time from the last touch, with one timer armed at most', () => {
    const onIdle = vi.fn();
    const t = idleTimer(1000, onIdle, () => Date.now());
    vi.advanceTimersByTime(600);
    t.touch();
    t.touch();
    expect(vi.getTimerCount()).toBe(1);
    vi.advanceTimersByTime(999);
    expect(onIdle).not.toHaveBeenCalled();
    vi.advanceTimersByTime(1);
    expect(onIdle).toHaveBeenCalledTimes(1);
    // after it fired, the next touch arms it again
    vi.advanceTimersByTime(5000);
    t.touch();
    vi.advanceTimersByTime(1000);
    expect(onIdle).toHaveBeenCalledTimes(2);
  });

  it('never fires once stopped', () => {
    const onIdle = vi.fn();
    const t = idleTimer(1000, onIdle, () => Date.now());
    t.stop();
    t.touch();
    vi.advanceTimersByTime(10_000);
    expect(onIdle).not.toHaveBeenCalled();
    expect(vi.getTimerCount()).toBe(0);
  });

  it('refuses an idle time that is not a positive number', () => {
    for (const ms of [0, -1, Number.NaN, Number.POSITIVE_INFINITY])
      expect(() => idleTimer(ms, () => undefined)).toThrow(/^idle timer: idleMs must be > 0/);
  });
});

describe('idleReclaimer', () => {
  /** Hooks over a pretend heap: `used` bytes, a collection brings it back to `live`; each call recorded in order. */
  function fakeHooks() {
    const state = { used: 10 << 20, live: 8 << 20, rss: 60 << 20, calls: [] as string[] };
    const hooks: IdleReclaimHooks = {
      heapUsed: () => state.used,
      collect: () => {
        state.calls.push('collect');
        state.rss -= state.used - state.live;
        state.used = state.live;
      },
      trim: () => {
        state.calls.push('trim');
        state.rss -= 1 << 20;
      },
      rss: () => state.rss,
    };
    return { state, hooks };
  }

  it('collects the first time, then trims, and reports what came back', () => {
    const { state, hooks } = fakeHooks();
    const reclaim = idleReclaimer(1 << 20, hooks);
    expect(reclaim()).toEqual({ collected: true, releasedMiB: 3 });
    expect(state.calls).toEqual(['collect', 'trim']);
  });

  it('collects again only once the used heap grew by minGrowthBytes since the last collection; trims each time', () => {
    const { state, hooks } = fakeHooks();
    const reclaim = idleReclaimer(1 << 20, hooks);
    reclaim();
    state.calls = [];
    // a poller's few requests: less than 1 MiB more
    state.used += (1 << 20) - 1;
    expect(reclaim().collected).toBe(false);
    expect(state.calls).toEqual(['trim']);
    // more requests: the growth counts from the last collection, not from the last idle time
    state.used += 1;
    expect(reclaim().collected).toBe(true);
    expect(state.calls).toEqual(['trim', 'collect', 'trim']);
  });
});

describe('idle trim', () => {
  it('does not keep a process alive: a process with only an hour-long idle timer exits at once', () => {
    const url = new URL('./idle-trim.ts', import.meta.url).href;
    const script = `import(${JSON.stringify(url)}).then((m) => { m.idleTimer(3_600_000, () => process.exit(3)); });`;
    // an armed, referenced timer would hold the child for an hour: killed after 30 s, it fails the test (ETIMEDOUT)
    execFileSync(process.execPath, ['--import', 'tsx', '-e', script], {
      cwd: packagePath(),
      stdio: 'pipe',
      timeout: 30_000,
    });
  });
});

describe('berthd idle option', () => {
  const ctx = background(createLogger('silent'));
  let dir: string;
  let daemon: RunningDaemon | undefined;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'berthd-idle-'));
  });
  afterEach(async () => {
    await daemon?.close(ctx);
    daemon = undefined;
    rmSync(dir, { recursive: true, force: true });
  });

  it('calls onIdle after the start-up, and again after a request', async () => {
    const f = parseDaemonFlags([
      '--root',
      join(dir, 'root'),
      '--exec-root',
      join(dir, 'exec'),
      '-H',
      `unix://${join(dir, 'api.sock')}`,
    ]) as DaemonFlags;
    const engine = new Engine();
    let versions = 0;
    engine.register('version', async () => {
      versions++;
      return { Version: '0.1.0', ApiVersion: '1.41' } as never;
    });
    const idles: number[] = [];
    let wake: () => void = () => undefined;
    const nextIdle = (): Promise<void> => new Promise((resolve) => (wake = resolve));
    let idle = nextIdle();
    daemon = await startDaemon(ctx, f, async () => ({ engine, shutdown: async () => undefined }), '0.1.0', {
      idle: {
        ms: 20,
        onIdle: () => {
          idles.push(versions);
          wake();
        },
      },
    });
    await idle;
    expect(idles).toEqual([0]);
    idle = nextIdle();
    await new ApiClient(daemon.addresses[0]!).version();
    await idle;
    // the second idle came after the request (the first one fired and waited for it)
    expect(idles).toEqual([0, 1]);
  });
});
