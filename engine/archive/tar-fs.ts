// Filesystem calls the layer applier and the graphdrivers need beyond node:fs:
// mknod(2) and the l*xattr(2) family, through the native core, with errors that
// name their subject.
import { native } from '../../native/index.js';

export const S_IFMT = 0o170000;
export const S_IFCHR = 0o020000;
export const S_IFBLK = 0o060000;
export const S_IFIFO = 0o010000;

/** Creates a device node or fifo at `path` (mode includes the S_IF* type bits). Fails if it exists. */
export function mknod(path: string, mode: number, major = 0, minor = 0): void {
  native().mknod(path, mode, major, minor);
}

/** The extended attributes of `path` itself (not a symlink's target), names → raw values. */
export function readXattrs(path: string): Map<string, Buffer> {
  const n = native();
  const out = new Map<string, Buffer>();
  for (const name of n.llistxattr(path)) {
    const v = n.lgetxattr(path, name);
    if (v !== undefined) out.set(name, v);
  }
  return out;
}

/** One attribute of `path` itself, or undefined when absent. */
export function getXattr(path: string, name: string): Buffer | undefined {
  return native().lgetxattr(path, name);
}

/** Sets one attribute on `path` itself (no symlink following). */
export function setXattr(path: string, name: string, value: Buffer): void {
  native().lsetxattr(path, name, value);
}
