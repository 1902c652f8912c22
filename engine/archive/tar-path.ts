// Cleaning of layer tar entry names and the safe, symlink-refusing resolution of
// their parent directories inside a layer root (the heart of the applier's safety).
import { lstatSync, mkdirSync } from 'node:fs';
import { posix } from 'node:path';
import { invalidArgument } from '../errdefs/errors.js';

/**
 * Cleans a tar entry name to a root-relative path ('' is the root itself).
 * Refuses (INVALID_ARGUMENT naming the entry) absolute names, NUL bytes and any
 * name that, cleaned lexically, climbs above the root ("a/../../x").
 */
export function cleanEntryPath(name: string, what = 'layer entry'): string {
  if (name.includes('\0')) throw invalidArgument(`${what} ${JSON.stringify(name)}: NUL byte in path`);
  if (name.startsWith('/')) throw invalidArgument(`${what} ${JSON.stringify(name)}: absolute path escapes the layer root`);
  let p = posix.normalize(name);
  if (p === '..' || p.startsWith('../')) throw invalidArgument(`${what} ${JSON.stringify(name)}: path escapes the layer root`);
  while (p.endsWith('/')) p = p.slice(0, -1);
  if (p === '.' || p === '') return '';
  if (p.startsWith('./')) p = p.slice(2);
  return p;
}

/**
 * Resolves root-relative directories with lstat only. Directories this resolver
 * created or checked are remembered; forget() must be called when a path is
 * removed or replaced so a later symlink in its place is seen.
 */
export class SafeResolver {
  private readonly known = new Set<string>(['']);

  constructor(readonly root: string) {}

  /** Absolute path of a cleaned relative path (no resolution). */
  abs(rel: string): string {
    return rel === '' ? this.root : `${this.root}/${rel}`;
  }

  /**
   * Makes sure every component of `dir` (root-relative) is a real directory, not a
   * symlink, creating missing ones (mode 0755, root-owned) when `create` is set.
   * Fails INVALID_ARGUMENT naming `entry` when a component is a symlink or not a
   * directory. Returns false (nothing created) when a component is missing and !create.
   */
  ensureDir(dir: string, entry: string, create: boolean): boolean {
    if (this.known.has(dir)) return true;
    const parts = dir.split('/');
    let cur = '';
    for (const part of parts) {
      cur = cur === '' ? part : `${cur}/${part}`;
      if (this.known.has(cur)) continue;
      const st = lstatSync(this.abs(cur), { throwIfNoEntry: false });
      if (st === undefined) {
        if (!create) return false;
        mkdirSync(this.abs(cur), { mode: 0o755 });
        this.known.add(cur);
        continue;
      }
      if (st.isSymbolicLink()) {
        throw invalidArgument(`layer entry ${JSON.stringify(entry)}: path escapes the layer root through symlink ${JSON.stringify(cur)}`);
      }
      if (!st.isDirectory()) {
        throw invalidArgument(`layer entry ${JSON.stringify(entry)}: parent ${JSON.stringify(cur)} is not a directory`);
      }
      this.known.add(cur);
    }
    return true;
  }

  /** Records that `rel` is a directory now (created by the applier). */
  noteDir(rel: string): void {
    this.known.add(rel);
  }

  /** Forgets `rel` and everything below it (it was removed or replaced). */
  forget(rel: string): void {
    if (!this.known.delete(rel)) return;
    const prefix = `${rel}/`;
    for (const k of this.known) if (k.startsWith(prefix)) this.known.delete(k);
  }
}

/** Splits a cleaned non-root path into its parent dir ('' = root) and base name. */
export function splitPath(rel: string): { dir: string; base: string } {
  const i = rel.lastIndexOf('/');
  return i < 0 ? { dir: '', base: rel } : { dir: rel.slice(0, i), base: rel.slice(i + 1) };
}
