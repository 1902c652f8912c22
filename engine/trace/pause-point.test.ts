// Pause points: no-ops without BERTH_TEST_PAUSE_AT; with it, the named point
// announces itself on stderr and holds (the process is killed there by the test).
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { pauseArmed, pausePoint } from './pause-point.js';

const moduleUrl = new URL('./pause-point.ts', import.meta.url).href;

/**
 * Runs a script that reaches point `a` then prints `after`; returns stdout, stderr and whether it was cut by the
 * timeout.
 */
function reach(env: Record<string, string>): Promise<{ stdout: string; stderr: string; killed: boolean }> {
  const script = `const { pausePoint } = await import(${JSON.stringify(moduleUrl)}); await pausePoint('a'); console.log('after');`;
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      ['--import', 'tsx', '--input-type=module', '-e', script],
      { env: { ...process.env, ...env }, timeout: 5_000, cwd: fileURLToPath(new URL('.', import.meta.url)) },
      (err, stdout, stderr) =>
        resolve({ stdout, stderr, killed: err !== null && (err as { killed?: boolean }).killed === true }),
    );
  });
}

describe('pause points', () => {
  it('are no-ops when not armed', async () => {
    expect(pauseArmed('a')).toBe(false);
    await expect(pausePoint('a')).resolves.toBeUndefined();
    expect(await reach({ BERTH_TEST_PAUSE_AT: 'other' })).toMatchObject({
      stdout: 'after\n',
      stderr: '',
      killed: false,
    });
  });

  it('announce themselves and hold when armed', async () => {
    const r = await reach({ BERTH_TEST_PAUSE_AT: 'x, a' });
    expect(r.killed).toBe(true);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(/^berth-test-pause: a pid=\d+\n$/);
  }, 20_000);
});
