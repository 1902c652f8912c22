// Hooks run as real shell scripts: state on stdin, args and env as given, timeouts,
// and the difference between failing and warning phases.
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { background } from '../trace/context.js';
import { createLogger } from '../trace/logger.js';
import type { State } from '../execdriver/spec/types.js';
import { runHook, runHooks, runHooksWarning } from './hooks.js';

let dir: string;
const state: State = {
  ociVersion: '1.0.2',
  id: 'hooked',
  status: 'created',
  pid: 4242,
  bundle: '/b',
  annotations: { a: 'b' },
};

function script(name: string, body: string): string {
  const path = join(dir, name);
  writeFileSync(path, `#!/bin/sh\n${body}\n`);
  chmodSync(path, 0o755);
  return path;
}

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), `berth-hooks-${process.pid}-`));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

describe('runHook', () => {
  it('passes the state on stdin, args with argv0, and only the hook env', async () => {
    const out = join(dir, 'out');
    const path = script('record.sh', `cat > ${out}.state; echo "$0|$1|$2|$FOO|\${HOME:-unset}" > ${out}.args`);
    await runHook(background(), 'prestart', 0, { path, args: ['myhook', 'one', 'two'], env: ['FOO=bar=baz'] }, state);
    expect(JSON.parse(readFileSync(`${out}.state`, 'utf8'))).toEqual(state);
    // sh reports its script path as $0; the args after argv0 arrive in order.
    expect(readFileSync(`${out}.args`, 'utf8').trim()).toBe(`${path}|one|two|bar=baz|unset`);
  });

  it('names the phase, index and path on a non-zero exit, with its output', async () => {
    const path = script('fail.sh', 'echo "no network for you" >&2; exit 3');
    await expect(runHook(background(), 'createRuntime', 2, { path }, state)).rejects.toMatchObject({
      code: 'FAILED_PRECONDITION',
      message: `hook createRuntime[2] ${path}: exit status 3: no network for you`,
    });
  });

  it('kills a hook at its timeout', async () => {
    const path = script('slow.sh', 'exec sleep 30');
    await expect(runHook(background(), 'poststart', 0, { path, timeout: 1 }, state)).rejects.toMatchObject({
      code: 'DEADLINE_EXCEEDED',
      message: `hook poststart[0] ${path}: timed out after 1s`,
    });
  });

  it('reports a missing executable', async () => {
    await expect(runHook(background(), 'prestart', 0, { path: join(dir, 'missing') }, state)).rejects.toMatchObject({
      code: 'NOT_FOUND',
      message: expect.stringMatching(/^hook prestart\[0\] .*missing: ENOENT/),
    });
  });

  it('does not care whether the hook reads stdin', async () => {
    await runHook(background(), 'poststop', 0, { path: script('quiet.sh', 'exit 0') }, state);
  });

  it('is cancelled with its context', async () => {
    const ac = new AbortController();
    const p = runHook(
      { ...background(), signal: ac.signal },
      'prestart',
      0,
      { path: script('long.sh', 'exec sleep 30') },
      state,
    );
    setTimeout(() => ac.abort(), 50);
    await expect(p).rejects.toMatchObject({ code: 'CANCELLED' });
  });
});

describe('runHooks and runHooksWarning', () => {
  it('runHooks stops at the first failure', async () => {
    const marker = join(dir, 'ran');
    const hooks = [
      { path: script('ok.sh', `echo 1 >> ${marker}`) },
      { path: script('bad.sh', 'exit 1') },
      { path: script('after.sh', `echo 3 >> ${marker}`) },
    ];
    await expect(runHooks(background(), 'prestart', hooks, state)).rejects.toThrow(
      /^hook prestart\[1\] .*bad\.sh: exit status 1$/,
    );
    expect(readFileSync(marker, 'utf8')).toBe('1\n');
  });

  it('runHooksWarning logs and runs the rest', async () => {
    const marker = join(dir, 'ran');
    const warnings: string[] = [];
    const ctx = background(createLogger('warn', (_l, m) => warnings.push(m)));
    const hooks = [{ path: script('bad.sh', 'exit 7') }, { path: script('after.sh', `echo done >> ${marker}`) }];
    const failures = await runHooksWarning(ctx, 'poststop', hooks, state);
    expect(failures).toHaveLength(1);
    expect(warnings).toEqual([
      expect.stringMatching(/^container hooked: hook poststop\[0\] .*bad\.sh: exit status 7$/),
    ]);
    expect(readFileSync(marker, 'utf8')).toBe('done\n');
  });

  it('accepts no hooks', async () => {
    await runHooks(background(), 'prestart', undefined, state);
    expect(await runHooksWarning(background(), 'poststop', [], state)).toEqual([]);
  });
});
