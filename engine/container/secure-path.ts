// Reading a file of a container's rootfs from the host without following its
// symlinks out of it: every component is resolved as if the rootfs were `/`
// (an absolute link restarts at the rootfs, `..` stops there), the way
// filepath-securejoin does for runc. Used for the image's /etc/passwd and /etc/group.
// With synchronous calls: a handful of syscalls on small files, which as promise calls
// are as many thread-pool trips (each waiting for a worker and the event loop) on the start path.
import { closeSync, constants, fstatSync, lstatSync, openSync, readFileSync, readlinkSync } from 'node:fs';
import { join } from 'node:path';
import { failedPrecondition, invalidArgument, isBerthError, wrap } from '../errdefs/errors.js';

const MAX_LINKS = 40;

/**
 * The host path of `path` inside `root`, symlinks resolved within root. A
 * component that does not exist is kept as named (the result may not exist).
 * Fails INVALID_ARGUMENT after 40 links (a loop).
 */
export async function resolveInRoot(root: string, path: string): Promise<string> {
  const pending = path.split('/').filter((p) => p !== '' && p !== '.');
  let resolved: string[] = [];
  let links = 0;
  while (pending.length > 0) {
    const part = pending.shift()!;
    if (part === '..') {
      resolved.pop();
      continue;
    }
    const candidate = join(root, ...resolved, part);
    let st;
    try {
      st = lstatSync(candidate);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code !== 'ENOENT' && code !== 'ENOTDIR') throw wrap(err, `${path} in ${root}`);
    }
    if (st?.isSymbolicLink()) {
      if (++links > MAX_LINKS) throw invalidArgument(`${path} in ${root}: too many levels of symbolic links`);
      const target = readlinkSync(candidate);
      if (target.startsWith('/')) resolved = [];
      pending.unshift(...target.split('/').filter((p) => p !== '' && p !== '.'));
      continue;
    }
    resolved.push(part);
  }
  return join(root, ...resolved);
}

/**
 * Reads a regular file of the rootfs (resolved by resolveInRoot, the last
 * component opened without following a link, never blocking on a FIFO).
 * Returns undefined when it does not exist; fails FAILED_PRECONDITION when it is
 * not a regular file or larger than maxBytes.
 */
export async function readFileInRoot(root: string, path: string, maxBytes = 4 << 20): Promise<string | undefined> {
  const host = await resolveInRoot(root, path);
  let fd: number;
  try {
    fd = openSync(host, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return undefined;
    throw wrap(err, `${path} in the container's rootfs`);
  }
  try {
    const st = fstatSync(fd);
    if (!st.isFile()) throw failedPrecondition(`${path} in the container's rootfs: not a regular file`);
    if (st.size > maxBytes)
      throw failedPrecondition(`${path} in the container's rootfs: larger than ${maxBytes} bytes`);
    return readFileSync(fd, 'utf8');
  } catch (err) {
    if (isBerthError(err)) throw err;
    throw wrap(err, `${path} in the container's rootfs`);
  } finally {
    closeSync(fd);
  }
}
