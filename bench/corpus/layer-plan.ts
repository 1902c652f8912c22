// Turns a generated layer's spec and the corpus seed into the exact list of tar
// entries (folders, files with size and content kind, whiteouts), sorted by path.
// Only metadata is held: contents are produced later, chunk by chunk.
import { invalidArgument } from '../../engine/errdefs/errors.js';
import type { ContentKind, TextPool } from './content.js';
import type { Area, GeneratedLayer } from './corpus-spec.js';
import { drawSize, intBetween, pickWeighted, rngFor, scaleToBudget } from './distributions.js';

export interface PlanEntry {
  /** Path inside the layer, without a leading slash. */
  path: string;
  type: 'directory' | 'file' | 'symlink';
  mode: number;
  /** Target of a symlink. */
  linkname?: string;
  /** Owner; root (0) when absent. */
  uid?: number;
  gid?: number;
  size: number;
  /** Content kind of a generated file; absent for folders, whiteouts and host files. */
  kind?: ContentKind;
  /** A host file whose bytes become this entry's contents. */
  source?: string;
  /** Inline contents (small fixed files). */
  data?: Buffer;
  whiteout?: boolean;
}

export interface LayerPlan {
  entries: PlanEntry[];
  /** Regular files, whiteouts excluded. */
  files: number;
  whiteouts: number;
  /** Bytes of regular files' contents. */
  bytes: number;
}

/** Every parent folder of `paths`, as folder entries. */
export function parentFolders(paths: Iterable<string>): PlanEntry[] {
  const dirs = new Set<string>();
  for (const p of paths) {
    const parts = p.split('/');
    for (let i = 1; i < parts.length; i++) dirs.add(parts.slice(0, i).join('/'));
  }
  return [...dirs].map((path) => ({ path, type: 'directory', mode: 0o755, size: 0 }));
}

/** Sorts entries by path (byte order), which puts every folder before its contents. */
export function sortEntries(entries: PlanEntry[]): PlanEntry[] {
  return entries.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
}

/**
 * The entries of generated layer `layerIndex` of `image`. Deterministic in (seed,
 * image, layerIndex, spec); `earlier` plans the image's earlier layers, for
 * whiteouts. Fails with INVALID_ARGUMENT naming the layer when the spec is
 * inconsistent (budget below the file count, a whiteout of a missing file). O(files log files).
 */
export function planGeneratedLayer(
  seed: number,
  image: string,
  layerIndex: number,
  spec: GeneratedLayer,
  pool: TextPool,
  earlier: (index: number) => LayerPlan,
): LayerPlan {
  const subject = `corpus image ${image} layer ${layerIndex} (${spec.role})`;
  const rng = rngFor(seed, image, layerIndex, 'plan');
  const shares = spec.areas.map((a) => a.share);
  const counts = apportion(spec.files, shares);
  const taken = new Set<string>();
  const files: { path: string; raw: number; kind: ContentKind; mode: number }[] = [];
  // Folders first, so that no file takes a path a folder needs.
  const folders = spec.areas.map((area, a) => areaFolders(area, counts[a], pool.words, rng));
  for (const dir of parentFolders(folders.flat().map((d) => `${d}/x`))) taken.add(dir.path);
  spec.areas.forEach((area, a) => {
    const dirs = folders[a];
    const kinds = Object.keys(area.mix) as ContentKind[];
    const weights = kinds.map((k) => area.mix[k] ?? 0);
    for (let i = 0; i < counts[a]; i++) {
      const dir = dirs[Math.floor(rng() * dirs.length)];
      const ext = area.extensions[Math.floor(rng() * area.extensions.length)] ?? '';
      const word = pool.words[Math.floor(rng() * pool.words.length)];
      let path = `${dir}/${word}${ext}`;
      for (let n = 2; taken.has(path); n++) path = `${dir}/${word}-${n}${ext}`;
      taken.add(path);
      const kind = kinds[pickWeighted(rng, weights)];
      const mode = kind === 'binary' && rng() < 0.5 ? 0o755 : 0o644;
      files.push({ path, raw: drawSize(rng, spec.sizes) * area.sizeScale, kind, mode });
    }
  });
  const sizes = scaleToBudget(
    files.map((f) => f.raw),
    spec.bytes,
    subject,
  );
  const entries: PlanEntry[] = files.map((f, i) => ({
    path: f.path,
    type: 'file',
    mode: f.mode,
    size: sizes[i],
    kind: f.kind,
  }));
  for (const w of spec.whiteouts ?? []) {
    if (!(w.layer >= 0 && w.layer < layerIndex))
      throw invalidArgument(`${subject}: whiteout names layer ${w.layer}, not an earlier layer`);
    const target = earlier(w.layer).entries.filter((e) => e.type === 'file' && !e.whiteout)[w.file];
    if (!target)
      throw invalidArgument(`${subject}: whiteout names file ${w.file} of layer ${w.layer}, which has no such file`);
    const slash = target.path.lastIndexOf('/');
    const path = `${target.path.slice(0, slash + 1)}.wh.${target.path.slice(slash + 1)}`;
    entries.push({ path, type: 'file', mode: 0o644, size: 0, whiteout: true });
  }
  entries.push(...parentFolders(entries.map((e) => e.path)));
  return {
    entries: sortEntries(entries),
    files: files.length,
    whiteouts: spec.whiteouts?.length ?? 0,
    bytes: spec.bytes,
  };
}

/** The folders of an area: enough for its mean files per folder, each 0–n generated names deep. */
function areaFolders(area: Area, files: number, words: string[], rng: () => number): string[] {
  const count = Math.max(1, Math.ceil(files / area.filesPerDir));
  const dirs = new Set<string>();
  for (let attempt = 0; dirs.size < count && attempt < count * 20; attempt++) {
    const depth = intBetween(rng, area.depth[0], area.depth[1]);
    const parts = [area.prefix];
    for (let d = 0; d < depth; d++) parts.push(words[Math.floor(rng() * words.length)]);
    dirs.add(parts.join('/'));
  }
  return [...dirs].sort();
}

/** Splits `total` into whole parts proportional to `shares` (largest remainders). */
export function apportion(total: number, shares: readonly number[]): number[] {
  const sum = shares.reduce((a, b) => a + b, 0);
  const exact = shares.map((s) => (total * s) / sum);
  const parts = exact.map(Math.floor);
  let rest = total - parts.reduce((a, b) => a + b, 0);
  const order = exact.map((e, i) => ({ i, r: e - Math.floor(e) })).sort((a, b) => b.r - a.r || a.i - b.i);
  for (const { i } of order) {
    if (rest === 0) break;
    parts[i] += 1;
    rest -= 1;
  }
  return parts;
}
