// Crash-safe JSON state files for every module, written atomically (atomic-write.ts),
// fsynced when durable.
//
// Two kinds of state: configuration (networks, images) must survive a power loss and
// is fsynced; runtime state (addresses, endpoints: what kernel objects belong to
// which container) describes things a reboot destroys, so it only has to outlive
// the engine's process, which the page cache and rename(2) already give. After an
// OS crash such a file may be torn; readRuntimeJson tells that case (the file is
// older than this boot) from corruption during this boot.
import { readFileSync } from 'node:fs';
import { readFile, stat, unlink } from 'node:fs/promises';
import { writeFileAtomic } from './atomic-write.js';
import { wrap, ErrorCode } from '../errdefs/errors.js';

/**
 * Writes value as JSON to path atomically (temp + rename), fsynced first unless
 * opts.durable is false (runtime state, see above). Creates the directory.
 */
export async function writeJsonAtomic(path: string, value: unknown, opts: { durable?: boolean } = {}): Promise<void> {
  try {
    await writeFileAtomic(path, `${JSON.stringify(value, null, 2)}\n`, {
      mode: 0o600,
      sync: opts.durable ?? true,
      makeDirs: true,
    });
  } catch (err) {
    throw wrap(err, `state ${path}: write`);
  }
}

/** A state file's text; undefined when it does not exist; another error names the file (`state <path>: read`). */
export async function readStateText(path: string): Promise<string | undefined> {
  try {
    return await readFile(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw wrap(err, `state ${path}: read`);
  }
}

/** Reads a JSON file; undefined when it does not exist, DATA_LOSS when it is not JSON. */
export async function readJson<T>(path: string): Promise<T | undefined> {
  const text = await readStateText(path);
  if (text === undefined) return undefined;
  try {
    return JSON.parse(text) as T;
  } catch (err) {
    throw wrap(err, `state ${path}: corrupt`, ErrorCode.DATA_LOSS);
  }
}

let bootMs: number | undefined;

/** When this boot began (ms since the epoch), from /proc/stat's btime. */
export function bootTimeMs(): number {
  if (bootMs === undefined) {
    const m = /^btime (\d+)$/m.exec(readFileSync('/proc/stat', 'utf8'));
    if (m === null) throw new Error('/proc/stat has no btime line');
    bootMs = Number(m[1]) * 1000;
  }
  return bootMs;
}

/**
 * Reads a runtime state file (written without fsync): undefined when absent, or
 * when it is unreadable JSON last written before this boot (torn by the crash
 * that ended that boot; what it described is gone). An unreadable file written
 * during this boot is corruption: DATA_LOSS naming it.
 */
export async function readRuntimeJson<T>(path: string): Promise<T | undefined> {
  try {
    return await readJson<T>(path);
  } catch (err) {
    if ((err as { code?: string }).code !== ErrorCode.DATA_LOSS) throw err;
    const st = await stat(path).catch(() => undefined);
    if (st !== undefined && st.mtimeMs < bootTimeMs()) return undefined;
    throw err;
  }
}

/** Removes a state file; absent is not an error. One unlink (rm would stat first). */
export async function removeFile(path: string): Promise<void> {
  try {
    await unlink(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw wrap(err, `state ${path}: remove`);
  }
}
