// Named pause points for crash tests. A test starts berthd with
// BERTH_TEST_PAUSE_AT=<name>[,<name>…]; when a job reaches one of those points it
// writes `berth-test-pause: <name> pid=<pid>` on stderr and waits forever, so the
// test can SIGKILL the daemon at exactly that step and check what a restart makes
// of the state left behind. Without the variable every point is a no-op: one Set
// lookup, nothing written. The variable is read once, when this module loads.
//
// Points (where each sits is documented at its call):
//   layer-apply          a pulled layer's tar is part-way into the graphdriver
//   container-start      the container's cgroup, network namespace and veth exist; its process has not exec'd
//   container-remove     the container's record is gone (file and folder); its layer is not
import { Transform } from 'node:stream';

const armed = new Set(
  (process.env.BERTH_TEST_PAUSE_AT ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== ''),
);

/** True when the test asked to pause at `name`. */
export function pauseArmed(name: string): boolean {
  return armed.has(name);
}

/** Announces `name` on stderr and never resolves when armed; resolves at once otherwise. */
export function pausePoint(name: string): Promise<void> {
  if (!armed.has(name)) return Promise.resolve();
  process.stderr.write(`berth-test-pause: ${name} pid=${process.pid}\n`);
  // A timer keeps the process alive there, whatever else is pending.
  setInterval(() => {}, 3_600_000);
  return new Promise<void>(() => {});
}

/**
 * A pass-through that lets the first chunk through and then stops at `name` (a
 * stream half-consumed, for points inside a streaming step). Only for armed points.
 */
export function pauseAfterFirstChunk(name: string): Transform {
  let passed = false;
  return new Transform({
    transform(chunk: Buffer, _enc, callback) {
      if (passed) return void pausePoint(name);
      passed = true;
      callback(null, chunk);
    },
  });
}
