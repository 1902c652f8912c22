// Docker's restart policies (no, always, unless-stopped, on-failure[:N]) and its
// back-off: the first restart after 100 ms, each next one twice as late up to a
// minute, back to 100 ms once a run lasted 10 s (moby restartmanager).
import type { HostConfig, RestartPolicy } from '../api/types.js';
import { invalidArgument } from '../errdefs/errors.js';

export const BACKOFF_START_MS = 100;
export const BACKOFF_MAX_MS = 60_000;
export const BACKOFF_RESET_AFTER_MS = 10_000;

export type PolicyName = 'no' | 'always' | 'unless-stopped' | 'on-failure';

/** The policy checked and normalized. INVALID_ARGUMENT naming what is wrong (also a policy with AutoRemove). */
export function checkRestartPolicy(hc: HostConfig): { name: PolicyName; maxRetries: number } {
  const p: RestartPolicy = hc.RestartPolicy ?? {};
  const name = (p.Name === '' || p.Name === undefined ? 'no' : p.Name) as string;
  const max = p.MaximumRetryCount ?? 0;
  if (!['no', 'always', 'unless-stopped', 'on-failure'].includes(name))
    throw invalidArgument(`restart policy ${JSON.stringify(name)}: expected no, always, unless-stopped or on-failure`);
  if (!Number.isInteger(max) || max < 0)
    throw invalidArgument(`restart policy ${name}: maximum retry count ${max} must be a non-negative integer`);
  if (max > 0 && name !== 'on-failure')
    throw invalidArgument(`restart policy ${name}: maximum retry count can only be used with on-failure`);
  if (name !== 'no' && hc.AutoRemove) throw invalidArgument(`restart policy ${name}: conflicts with AutoRemove (--rm)`);
  return { name: name as PolicyName, maxRetries: max };
}

/**
 * Whether a container that exited should be started again. `manuallyStopped`: a
 * user stopped or killed it (no policy restarts it then).
 */
export function shouldRestart(
  hc: HostConfig,
  exitCode: number,
  restartCount: number,
  manuallyStopped: boolean,
): boolean {
  if (manuallyStopped) return false;
  const { name, maxRetries } = checkRestartPolicy({ RestartPolicy: hc.RestartPolicy ?? {} });
  switch (name) {
    case 'always':
    case 'unless-stopped':
      return true;
    case 'on-failure':
      return exitCode !== 0 && (maxRetries === 0 || restartCount < maxRetries);
    default:
      return false;
  }
}

/** Whether a container should come up when the engine starts (its process was gone). */
export function restartsWithEngine(hc: HostConfig, manuallyStopped: boolean): boolean {
  const name = hc.RestartPolicy?.Name;
  return name === 'always' || (name === 'unless-stopped' && !manuallyStopped);
}

/** The delay before the next restart, given the last delay and how long the last run lasted. */
export function nextBackoff(lastDelayMs: number, ranMs: number): number {
  if (ranMs >= BACKOFF_RESET_AFTER_MS || lastDelayMs === 0) return BACKOFF_START_MS;
  return Math.min(lastDelayMs * 2, BACKOFF_MAX_MS);
}
