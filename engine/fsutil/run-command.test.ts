import { describe, expect, it } from 'vitest';
import { isBerthError } from '../errdefs/errors.js';
import { runChecked, runCommand } from './run-command.js';

describe('runCommand', () => {
  it('collects stdout and stderr, drops one final newline, and reads its input', async () => {
    const r = await runCommand('sh', ['-c', 'cat; echo err >&2'], { input: 'a\nb\n' });
    expect(r).toMatchObject({ exitCode: 0, stdout: 'a\nb', stderr: 'err', failed: false, reason: '', code: undefined });
    expect(r.command).toBe('sh -c cat; echo err >&2');
  });

  it('gives stdin /dev/null without input', async () => {
    const r = await runCommand('sh', ['-c', 'wc -c']);
    expect(r.stdout.trim()).toBe('0');
  });

  it('reports a non-zero exit with its first stderr line, never rejecting', async () => {
    const r = await runCommand('sh', ['-c', 'echo first >&2; echo second >&2; exit 3']);
    expect(r).toMatchObject({ exitCode: 3, failed: true, reason: 'first' });
    const quiet = await runCommand('sh', ['-c', 'exit 4']);
    expect(quiet.reason).toBe('exit code 4');
  });

  it('reports a command that is not installed by its errno', async () => {
    const r = await runCommand('berth-no-such-command', ['x']);
    expect(r).toMatchObject({ failed: true, code: 'ENOENT', exitCode: undefined });
    expect(r.reason).toMatch(/^ENOENT/);
  });

  it('kills it when the signal aborts', async () => {
    const ac = new AbortController();
    const running = runCommand('sleep', ['30'], { signal: ac.signal });
    ac.abort();
    const r = await running;
    expect(r).toMatchObject({ failed: true, signal: 'SIGTERM', reason: 'cancelled' });
  });
});

describe('runChecked', () => {
  it('resolves with the result when it succeeded', async () => {
    expect((await runChecked('echo', ['hi'])).stdout).toBe('hi');
  });

  it('fails naming the command and the reason', async () => {
    const err = await runChecked('sh', ['-c', 'echo nope >&2; exit 1']).catch((e: unknown) => e);
    expect(isBerthError(err, 'INTERNAL')).toBe(true);
    expect((err as Error).message).toBe('sh -c echo nope >&2; exit 1: nope');
    expect((err as { details?: unknown }).details).toEqual({ exitCode: 1 });
  });

  it('fails UNAVAILABLE for a command that is not installed', async () => {
    const err = await runChecked('berth-no-such-command', []).catch((e: unknown) => e);
    expect(isBerthError(err, 'UNAVAILABLE')).toBe(true);
    expect((err as Error).message).toMatch(/^berth-no-such-command: ENOENT/);
  });

  it('fails CANCELLED when the signal aborted it', async () => {
    const ac = new AbortController();
    const running = runChecked('sleep', ['30'], { signal: ac.signal }).catch((e: unknown) => e);
    ac.abort();
    expect(isBerthError(await running, 'CANCELLED')).toBe(true);
  });
});
