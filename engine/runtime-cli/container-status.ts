// The live status of a recorded container, and the runtime-spec State that `state`
// prints and hooks read on stdin.
import { existsSync } from 'node:fs';
import type { ContainerStatus, State } from '../execdriver/spec/types.js';
import { isSameProcessAlive } from './process-info.js';
import type { ContainerRecord, StateStore } from './state-store.js';

/**
 * creating while create runs; created while the init waits on exec.fifo; running once
 * started and alive; stopped when the init is gone (or is a recycled pid). Two stat calls.
 * A started container's record keeps phase 'created' (start and run write no state.json
 * for it): the exec FIFO's absence is what tells running from created.
 */
export function liveStatus(store: StateStore, record: ContainerRecord): ContainerStatus {
  if (record.phase === 'stopped' || record.pid === undefined)
    return record.phase === 'creating' ? 'creating' : 'stopped';
  if (!isSameProcessAlive(record.pid, record.pidStartTime)) return 'stopped';
  if (record.phase === 'creating') return 'creating';
  return existsSync(store.fifoPath(record.id)) ? 'created' : 'running';
}

/** The runtime-spec state document; pid only while the process exists. */
export function toState(record: ContainerRecord, status: ContainerStatus): State {
  return {
    ociVersion: record.ociVersion,
    id: record.id,
    status,
    ...(record.pid !== undefined && status !== 'stopped' ? { pid: record.pid } : {}),
    bundle: record.bundle,
    ...(record.annotations && Object.keys(record.annotations).length > 0 ? { annotations: record.annotations } : {}),
  };
}
