// Reads and writes cgroup control files with errors that name the cgroup and file
// (`cgroup berth/abc memory.limit_in_bytes: write 1x: EINVAL …`), never a bare errno.
//
// The calls are synchronous on purpose: a cgroupfs file lives in kernel memory, so
// open/write/close are short syscalls, while each async call costs three trips
// through libuv's thread pool, each waiting for a free thread on a busy host. A container
// create writes a few dozen of them (Docker's device list alone is 16 lines).
// The functions keep their Promise signatures so callers need not change.
import { closeSync, constants, openSync, readFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { wrap } from '../../errdefs/errors.js';

/** Write without O_CREAT: cgroupfs files exist or the controller is missing; some are write-only. */
const WRITE_FLAGS = constants.O_WRONLY | constants.O_TRUNC;

export async function writeControl(path: string, dir: string, file: string, value: string | number): Promise<void> {
  try {
    const fd = openSync(join(dir, file), WRITE_FLAGS);
    try {
      writeSync(fd, String(value));
    } finally {
      closeSync(fd);
    }
  } catch (err) {
    throw wrap(err, `cgroup ${path} ${file}: write ${value}`);
  }
}

/**
 * Writes each value with a write(2) of its own on one open file per control file, in order: a v1 file such as
 * devices.allow takes one rule per write, and an open and a close per rule cost more than the rule. `writes` pairs a
 * file with a value; the files are opened on first use.
 */
export async function writeControls(path: string, dir: string, writes: readonly [string, string][]): Promise<void> {
  const fds = new Map<string, number>();
  try {
    for (const [file, value] of writes) {
      try {
        let fd = fds.get(file);
        if (fd === undefined) fds.set(file, (fd = openSync(join(dir, file), WRITE_FLAGS)));
        writeSync(fd, value);
      } catch (err) {
        throw wrap(err, `cgroup ${path} ${file}: write ${value}`);
      }
    }
  } finally {
    for (const fd of fds.values()) closeSync(fd);
  }
}

export async function readControl(path: string, dir: string, file: string): Promise<string> {
  try {
    return readFileSync(join(dir, file), 'utf8').trim();
  } catch (err) {
    throw wrap(err, `cgroup ${path} ${file}: read`);
  }
}

/** Reads a file, or returns undefined when it does not exist (a controller or kernel feature the host lacks). */
export async function readControlIfExists(path: string, dir: string, file: string): Promise<string | undefined> {
  try {
    return readFileSync(join(dir, file), 'utf8').trim();
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw wrap(err, `cgroup ${path} ${file}: read`);
  }
}

/** "key value" lines (memory.events, cpu.stat, memory.oom_control) → map. */
export function parseKeyed(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    const [key, value] = line.trim().split(/\s+/);
    if (key && value !== undefined) out.set(key, Number(value));
  }
  return out;
}

/** cgroup.procs → sorted pids. */
export function parsePids(text: string): number[] {
  return text
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map(Number)
    .sort((a, b) => a - b);
}
