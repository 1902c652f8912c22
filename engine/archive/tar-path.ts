// Cleaning of layer tar entry names: the lexical half of the applier's path safety
// (root-handles.ts is the other half, on the filesystem).
import { posix } from 'node:path';
import { invalidArgument } from '../errdefs/errors.js';

/**
 * Cleans a tar entry name to a root-relative path ('' is the root itself).
 * Refuses (INVALID_ARGUMENT naming the entry) absolute names, NUL bytes and any
 * name that, cleaned lexically, climbs above the root ("a/../../x").
 */
export function cleanEntryPath(name: string, what = 'layer entry'): string {
  if (name.includes('\0')) throw invalidArgument(`${what} ${JSON.stringify(name)}: NUL byte in path`);
  if (name.startsWith('/'))
    throw invalidArgument(`${what} ${JSON.stringify(name)}: absolute path escapes the layer root`);
  let p = posix.normalize(name);
  if (p === '..' || p.startsWith('../'))
    throw invalidArgument(`${what} ${JSON.stringify(name)}: path escapes the layer root`);
  while (p.endsWith('/')) p = p.slice(0, -1);
  if (p === '.' || p === '') return '';
  if (p.startsWith('./')) p = p.slice(2);
  return p;
}

/** Splits a cleaned non-root path into its parent dir ('' = root) and base name. */
export function splitPath(rel: string): { dir: string; base: string } {
  const i = rel.lastIndexOf('/');
  return i < 0 ? { dir: '', base: rel } : { dir: rel.slice(0, i), base: rel.slice(i + 1) };
}
