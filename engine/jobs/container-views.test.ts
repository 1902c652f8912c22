// The API views of a container record (status line, list filters, ports) and the
// event bus's filters, as tables.
import { describe, expect, it } from 'vitest';
import { newRunState, type ContainerRecord } from '../container/record.js';
import { isBerthError } from '../errdefs/errors.js';
import { humanDuration, matchesFilters, statusLine, toSummary } from './container-views.js';
import { EventBus, matchesEventFilters } from './event-bus.js';

const NOW = Date.parse('2026-01-01T12:00:00Z');

function rec(over: Partial<ContainerRecord> = {}, state: Partial<ContainerRecord['state']> = {}): ContainerRecord {
  return {
    id: 'abc123' + '0'.repeat(58),
    name: 'web',
    created: '2026-01-01T11:00:00.000000000Z',
    image: 'app:1',
    imageId: 'sha256:feed',
    config: { Labels: { tier: 'front' }, ExposedPorts: { '80/tcp': {} } },
    hostConfig: { NetworkMode: 'bridge' },
    path: '/bin/app',
    args: ['--port', '80'],
    spec: { ociVersion: '1.0.2' },
    driver: 'vfs',
    state: { ...newRunState(), ...state },
    restartCount: 0,
    logPath: '/x',
    ...over,
  };
}

describe('statusLine and humanDuration', () => {
  it.each([
    [{ status: 'running' as const, startedAt: '2026-01-01T11:55:00Z' }, 'Up 5 minutes'],
    [{ status: 'exited' as const, exitCode: 3, finishedAt: '2026-01-01T11:59:58Z' }, 'Exited (3) 2 seconds ago'],
    [{ status: 'created' as const }, 'Created'],
    [{ status: 'restarting' as const, exitCode: 1, finishedAt: '2026-01-01T10:00:00Z' }, 'Restarting (1) 2 hours ago'],
  ])('%j → %s', (state, line) => {
    expect(statusLine(rec({}, state), NOW)).toBe(line);
  });
  it.each([
    [500, 'Less than a second'],
    [1000, '1 second'],
    [59_000, '59 seconds'],
    [60_000, 'About a minute'],
    [3_600_000, 'About an hour'],
    [3 * 86_400_000, '3 days'],
  ])('%d ms → %s', (ms, text) => expect(humanDuration(ms)).toBe(text));
});

describe('matchesFilters', () => {
  const running = rec({}, { status: 'running' });
  it.each([
    [{ status: ['running'] }, true],
    [{ status: ['exited'] }, false],
    [{ status: ['exited', 'running'] }, true],
    [{ name: ['we'] }, true],
    [{ name: ['^/web$'] }, true],
    [{ name: ['db'] }, false],
    [{ label: ['tier'] }, true],
    [{ label: ['tier=front'] }, true],
    [{ label: ['tier=back'] }, false],
    [{ id: ['abc1'] }, true],
    [{ id: ['abd'] }, false],
    [{ ancestor: ['app:1'] }, true],
    [{ network: ['bridge'] }, true],
    [{ status: ['running'], label: ['tier=back'] }, false],
  ])('%j → %s', (filters, want) => {
    expect(matchesFilters(running, filters)).toBe(want);
  });
  it('rejects unknown filters and statuses', () => {
    for (const f of [{ colour: ['red'] }, { status: ['sleeping'] }, { name: ['('] }] as Record<string, string[]>[]) {
      let err: unknown;
      try {
        matchesFilters(running, f);
      } catch (e) {
        err = e;
      }
      expect(isBerthError(err, 'INVALID_ARGUMENT')).toBe(true);
    }
  });
  it('shows exposed and published ports in the summary', () => {
    const s = toSummary(
      rec(
        { endpoint: { mode: 'bridge', ports: ['127.0.0.1:8080:80/tcp'] } },
        { status: 'running', startedAt: '2026-01-01T11:00:00Z' },
      ),
    );
    expect(s.Ports).toEqual([{ IP: '127.0.0.1', PrivatePort: 80, PublicPort: 8080, Type: 'tcp' }]);
    expect(s.Command).toBe('/bin/app --port 80');
    expect(s.Names).toEqual(['/web']);
  });
});

describe('EventBus', () => {
  it('delivers to subscribers, replays since a time, and filters as Docker does', () => {
    const bus = new EventBus();
    const got: string[] = [];
    const off = bus.subscribe((e) => got.push(`${e.Type}:${e.Action}`));
    const start = bus.publish('container', 'start', 'c1', { name: 'web', image: 'app:1' });
    bus.publish('image', 'pull', 'app:1', { name: 'app:1' });
    off();
    bus.publish('network', 'create', 'n1', { name: 'appnet' });
    expect(got).toEqual(['container:start', 'image:pull']);
    expect(bus.since(start.time).map((e) => e.Action)).toEqual(['start', 'pull', 'create']);
    expect(start).toMatchObject({ status: 'start', id: 'c1', from: 'app:1', scope: 'local' });
    expect(matchesEventFilters(start, { type: ['container'], event: ['start'] })).toBe(true);
    expect(matchesEventFilters(start, { container: ['web'] })).toBe(true);
    expect(matchesEventFilters(start, { container: ['db'] })).toBe(false);
    expect(matchesEventFilters(start, { type: ['image'] })).toBe(false);
  });
});
