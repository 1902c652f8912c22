// What a path is in the merged view of stacked overlay layers, read straight from
// their directories: lets the applier, writing a layer's upper dir alone, judge its
// entries against the content below as it would on a full copy of it.
import { lstatSync, type Stats } from 'node:fs';
import { native } from '../../native/index.js';
import { S_IFCHR, S_IFMT } from './tar-fs.js';

const OPAQUE = 'trusted.overlay.opaque';

export interface MergedEntry {
  /** The layer directory the entry comes from (the topmost holding it). */
  layer: string;
  /** Its path there. */
  path: string;
  st: Stats;
}

/** A 0/0 character device: overlayfs' mark for a deleted path. */
export function isWhiteoutStat(st: { mode: number; rdev: number }): boolean {
  return (st.mode & S_IFMT) === S_IFCHR && st.rdev === 0;
}

function isOpaque(path: string): boolean {
  return native().lgetxattr(path, OPAQUE)?.toString() === 'y';
}

/**
 * The entry `rel` resolves to in the merged view of `layers` (top first), the way
 * overlayfs looks it up; undefined when it does not exist there. In each layer the
 * components are looked at from its root with lstat (nothing is followed): a whiteout,
 * or a non-directory above the last component, hides the layers below; a component
 * missing under an opaque directory ends the search too; one missing otherwise leaves
 * it to the next layer down. Cost: at most one lstat and one getxattr per component and layer.
 */
export function lookupMerged(layers: readonly string[], rel: string): MergedEntry | undefined {
  const parts = rel.split('/');
  for (const layer of layers) {
    let opaqueAbove = false;
    let path = layer;
    let missing = false;
    for (let k = 0; k < parts.length; k++) {
      path = `${path}/${parts[k]}`;
      const st = lstatSync(path, { throwIfNoEntry: false });
      if (st === undefined) {
        if (opaqueAbove) return undefined;
        missing = true;
        break;
      }
      if (isWhiteoutStat(st)) return undefined;
      if (k === parts.length - 1) return { layer, path, st };
      if (!st.isDirectory()) return undefined;
      if (isOpaque(path)) opaqueAbove = true;
    }
    if (!missing) return undefined;
  }
  return undefined;
}
