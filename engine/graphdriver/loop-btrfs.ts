// A throw-away btrfs filesystem on a sparse loop file, for the btrfs driver and its
// tests: createLoopFilesystem('btrfs') under the name those callers use.
import { createLoopFilesystem, type LoopFilesystem, type LoopFilesystemOptions } from './loop-fs.js';

export type LoopBtrfs = LoopFilesystem;
export type LoopBtrfsOptions = Omit<LoopFilesystemOptions, 'mountOptions'>;

/** See createLoopFilesystem: a mounted btrfs on a sparse loop file, undone by dispose(). */
export function createLoopBtrfs(opts: LoopBtrfsOptions = {}): Promise<LoopBtrfs> {
  return createLoopFilesystem('btrfs', opts);
}
