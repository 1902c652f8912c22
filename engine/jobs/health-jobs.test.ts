// Health checks on a real Engine: a check from the request or the image's
// HEALTHCHECK run as execs in the container, State.Health (status, failing streak,
// the last five results, the timeout's result, output cut as Docker cuts it), the
// start period, health_status events, the list's health filter and Status line,
// the checker ending with the container and beginning again after an engine restart.
// The probes use the host's static busybox, bound into the test image.
import { existsSync } from 'node:fs';
import { afterEach, beforeEach, expect, it } from 'vitest';
import type { ContainerCreateRequest, EventMessage, Health } from '../api/types.js';
import { isBerthError } from '../errdefs/errors.js';
import { needs, when } from '../../testkit/needs.js';
import type { BerthEngine } from './builtins.js';
import { ctx, kernelSkipReason, putTestImage, TEST_IMAGE, testWorld, type TestWorld } from './test-engine.js';

const BUSYBOX = '/usr/bin/busybox';
const MS = 1_000_000;
const skip = kernelSkipReason();

/** Polls `probe` until it returns a value (generous deadline: a busy host). */
async function until<T>(what: string, probe: () => Promise<T | undefined> | T | undefined, ms = 60_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await probe();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

needs(skip, when(existsSync(BUSYBOX), `needs a static busybox at ${BUSYBOX}`)).describe(
  'health checks (kernel)',
  () => {
    let world: TestWorld;
    let b: BerthEngine;
    let events: EventMessage[];
    let unsubscribe: () => void;

    beforeEach(async () => {
      world = await testWorld('vfs');
      b = await world.open();
      await putTestImage(ctx, b.parts.graph);
      events = [];
      unsubscribe = b.parts.events.subscribe((e) => events.push(e));
    });

    afterEach(async () => {
      unsubscribe();
      await world.cleanup();
    });

    const binds = [`${BUSYBOX}:/bin/busybox:ro`, `${BUSYBOX}:/bin/sh:ro`];

    async function run(config: Partial<ContainerCreateRequest>, engine = b): Promise<string> {
      const { Id } = await engine.engine.job(ctx, 'create', {
        config: {
          Image: TEST_IMAGE,
          Cmd: ['/bin/sleep'],
          ...config,
          HostConfig: { NetworkMode: 'none', Binds: binds, ...config.HostConfig },
        },
      });
      await engine.engine.job(ctx, 'start', { id: Id });
      return Id;
    }
    const health = async (id: string, engine = b): Promise<Health | undefined> =>
      (await engine.engine.job(ctx, 'inspect', { id })).State.Health;
    const healthIs = (id: string, status: string, engine = b) =>
      until(`container ${id.slice(0, 12)} ${status}`, async () => {
        const h = await health(id, engine);
        return h?.Status === status ? h : undefined;
      });
    const listed = async (filter: string) =>
      (await b.engine.job(ctx, 'list', { all: true, filters: { health: [filter] } })).map((c) => c.Id);

    it('goes from starting to unhealthy after Retries failures, then healthy, with events, filter and Status', async () => {
      const id = await run({
        Healthcheck: { Test: ['CMD', '/bin/busybox', 'test', '-e', '/tmp/ok'], Interval: 100 * MS, Retries: 2 },
      });
      const first = await health(id);
      expect(first?.Status).toBe('starting');
      const sick = await healthIs(id, 'unhealthy');
      expect(sick.FailingStreak).toBeGreaterThanOrEqual(2);
      expect(sick.Log.length).toBeGreaterThanOrEqual(2);
      expect(sick.Log.every((r) => r.ExitCode === 1 && Date.parse(r.End) >= Date.parse(r.Start))).toBe(true);
      expect(await listed('unhealthy')).toEqual([id]);
      expect(await listed('healthy')).toEqual([]);
      const [summary] = await b.engine.job(ctx, 'list', { filters: { id: [id] } });
      expect(summary!.Status).toMatch(/^Up .* \(unhealthy\)$/);

      const { Id: touch } = await b.engine.job(ctx, 'exec_create', {
        id,
        config: { Cmd: ['/bin/busybox', 'touch', '/tmp/ok'] },
      });
      await b.engine.job(ctx, 'exec_start', { execId: touch, detach: true });
      const well = await healthIs(id, 'healthy');
      expect(well.FailingStreak).toBe(0);
      expect(well.Log.at(-1)!.ExitCode).toBe(0);
      // only the last five results are kept
      await until('five results', async () => ((await health(id))!.Log.length === 5 ? true : undefined));
      expect(await listed('healthy')).toEqual([id]);
      const actions = events
        .filter((e) => e.Actor.ID === id && e.Action.startsWith('health_status'))
        .map((e) => e.Action);
      expect(actions.slice(0, 2)).toEqual(['health_status: unhealthy', 'health_status: healthy']);
      expect(events.find((e) => e.Action === 'health_status: healthy')!.Actor.Attributes.name).toBeTruthy();

      // the checker ends with the container; the last health stays in inspect
      await b.engine.job(ctx, 'stop', { id, timeout: 0 });
      expect(b.parts.health.checking(id)).toBe(false);
      const after = await health(id);
      expect(after?.Status).toBe('healthy');
      const n = after!.Log.length;
      await new Promise((r) => setTimeout(r, 400));
      expect((await health(id))!.Log.length).toBe(n);
    });

    it('kills a probe that outlasts its timeout and cuts long output with ...', async () => {
      const slow = await run({
        Healthcheck: {
          Test: ['CMD', '/bin/busybox', 'sleep', '30'],
          Interval: 100 * MS,
          Timeout: 300 * MS,
          Retries: 1,
        },
      });
      const sick = await healthIs(slow, 'unhealthy');
      expect(sick.Log[0]).toMatchObject({ ExitCode: -1, Output: 'Health check exceeded timeout (300ms)' });
      // the probes' exec instances are dropped once they end: at most the one running now is listed
      expect(((await b.engine.job(ctx, 'inspect', { id: slow })).ExecIDs ?? []).length).toBeLessThanOrEqual(1);

      const loud = await run({
        Healthcheck: { Test: ['CMD-SHELL', 'printf "%5000s" x; echo err >&2; exit 3'], Interval: 100 * MS },
      });
      const h = await until('a result', async () =>
        (await health(loud))?.Log.length ? await health(loud) : undefined,
      );
      expect(h.Log[0]!.ExitCode).toBe(3);
      expect(h.Log[0]!.Output).toHaveLength(4096 + 3);
      expect(h.Log[0]!.Output.endsWith(' ...')).toBe(true);
      expect(h.Status).toBe('starting'); // one failure of the default three
    });

    it('does not count failures in the start period, and takes the image HEALTHCHECK field by field', async () => {
      const patient = await run({
        Healthcheck: {
          Test: ['CMD', '/bin/busybox', 'false'],
          Interval: 100 * MS,
          StartPeriod: 600_000 * MS,
          StartInterval: 100 * MS,
          Retries: 1,
        },
      });
      const h = await until('three results', async () => {
        const v = await health(patient);
        return v !== undefined && v.Log.length >= 3 ? v : undefined;
      });
      expect(h).toMatchObject({ Status: 'starting', FailingStreak: 0 });

      await putTestImage(
        ctx,
        b.parts.graph,
        { Healthcheck: { Test: ['CMD', '/bin/true'], Interval: 100 * MS, Retries: 5 } },
        'berth-test/health:latest',
      );
      const inherits = await run({ Image: 'berth-test/health:latest', Healthcheck: { Retries: 1 } });
      const config = (await b.engine.job(ctx, 'inspect', { id: inherits })).Config.Healthcheck;
      expect(config).toMatchObject({ Test: ['CMD', '/bin/true'], Interval: 100 * MS, Retries: 1 });
      await healthIs(inherits, 'healthy');
      const disabled = await run({ Image: 'berth-test/health:latest', Healthcheck: { Test: ['NONE'] } });
      expect(await health(disabled)).toBeUndefined();
      expect(await listed('none')).toContain(disabled);
      expect(await listed('none')).not.toContain(inherits);
      await expect(b.engine.job(ctx, 'list', { filters: { health: ['sick'] } })).rejects.toThrow(
        /Unrecognised filter value for health: sick/,
      );
    });

    it('refuses a bad Healthcheck naming the field', async () => {
      for (const [hc, text] of [
        [{ Test: ['CMD', '/bin/true'], Interval: 1000 }, /Interval in Healthcheck cannot be less than 1ms/],
        [{ Test: ['CMD', '/bin/true'], Retries: -1 }, /Retries -1: cannot be negative/],
        [{ Test: ['BOGUS', 'x'] }, /unknown test type "BOGUS"/],
        [{ Test: ['CMD'] }, /CMD needs a command/],
      ] as const) {
        const err = await b.engine
          .job(ctx, 'create', { config: { Image: TEST_IMAGE, Healthcheck: hc as never } })
          .catch((e: unknown) => e);
        expect(isBerthError(err, 'INVALID_ARGUMENT')).toBe(true);
        expect((err as Error).message).toMatch(text);
      }
    });

    it('begins checking again when the engine restarts the container after its own restart', async () => {
      const id = await run({
        Healthcheck: { Test: ['CMD', '/bin/true'], Interval: 100 * MS },
        HostConfig: { RestartPolicy: { Name: 'always' } },
      });
      await healthIs(id, 'healthy');
      await b.shutdown(ctx);
      const again = await world.open();
      await again.restored.restarting;
      const h = await healthIs(id, 'healthy', again);
      expect(h.FailingStreak).toBe(0);
      expect(again.parts.health.checking(id)).toBe(true);
    });
  },
);
