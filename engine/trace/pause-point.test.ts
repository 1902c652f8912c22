// Pause points: no-ops without BERTH_TEST_PAUSE_AT; with it, the named point
// announces itself on stderr and holds (the process is killed there by the test).
import { execFile, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it, vi } from 'vitest';
import { pauseArmed, pausePoint } from './pause-point.js';

const moduleUrl = new URL('./pause-point.ts', import.meta.url).href;

/**
 * Runs a script that reaches point `a` then prints `after`; returns stdout, stderr and whether it was cut by the
 * timeout.
 */
const script = `const { pausePoint } = await import(${JSON.stringify(moduleUrl)}); await pausePoint('a'); console.log('after');`;

function reach(env: Record<string, string>): Promise<{ stdout: string; stderr: string; killed: boolean }> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      ['--import', 'tsx', '--input-type=module', '-e', script],
      { env: { ...process.env, ...env }, timeout: 60_000, cwd: fileURLToPath(new URL('.', import.meta.url)) },
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
    // Held until killed: waits for the announcement (tsx's start-up is slow on a busy host), then
    // checks that the script is still held a while later, and ends it.
    const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
      env: { ...process.env, BERTH_TEST_PAUSE_AT: 'x, a' },
      cwd: fileURLToPath(new URL('.', import.meta.url)),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    try {
      await vi.waitFor(() => expect(stderr).toContain('\n'), { timeout: 60_000, interval: 50 });
      expect(stderr).toMatch(/^berth-test-pause: a pid=\d+\n$/);
      await new Promise((r) => setTimeout(r, 500));
      expect(child.exitCode).toBeNull();
      expect(stdout).toBe('');
    } finally {
      child.kill('SIGKILL');
      await exited;
    }
  }, 90_000);
});
