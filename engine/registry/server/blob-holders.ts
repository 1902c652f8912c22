// Which manifests of a repository hold on to a blob (as config or layer) or to a
// manifest (as a child of an index), so a delete can be refused while a tag or a
// digest still needs it.
import { readFile } from 'node:fs/promises';
import { checkManifest } from './manifest-check.js';
import { parseDigest } from './reference-grammar.js';
import { refNameAnnotation, type RepositoryStore } from './repository-store.js';

export interface BlobHolder {
  /** The manifest's digest. */
  digest: string;
  /** Its tags (none when it is pullable by digest only). */
  tags: string[];
  /** Where the manifest names the blob: `config`, `layers[0]`, … */
  where: string[];
}

/**
 * What one manifest names, by digest, with where: its blobs (config and layers, foreign ones included) and, for an
 * index, its child manifests.
 */
interface Named {
  blobs: Map<string, string[]>;
  children: Map<string, string[]>;
}

/**
 * What each manifest names, by manifest digest. Manifests are content addressed,
 * so an entry never goes stale; the map is emptied when it grows large.
 */
const named = new Map<string, Named>();
const namedLimit = 4096;

async function namedBy(
  store: RepositoryStore,
  name: string,
  manifest: { digest: string; mediaType: string },
): Promise<Named> {
  const known = named.get(manifest.digest);
  if (known !== undefined) return known;
  let bytes: Buffer;
  try {
    bytes = await readFile(store.blobPath(name, parseDigest(manifest.digest)));
  } catch (err) {
    // A manifest deleted meanwhile names nothing.
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { blobs: new Map(), children: new Map() };
    throw err;
  }
  const checked = checkManifest(bytes, manifest.mediaType, `manifest ${manifest.digest} in ${name}`);
  const result: Named = { blobs: new Map(), children: new Map() };
  for (const b of checked.blobs)
    result.blobs.set(b.descriptor.digest, [...(result.blobs.get(b.descriptor.digest) ?? []), b.where]);
  for (const c of checked.children)
    result.children.set(c.descriptor.digest, [...(result.children.get(c.descriptor.digest) ?? []), c.where]);
  if (named.size >= namedLimit) named.clear();
  named.set(manifest.digest, result);
  return result;
}

/**
 * The manifests of repository `name` that name blob `digest`, each with its tags.
 * The caller holds the repository's write lock when the answer must stay true.
 * Cost: one read of index.json, plus one read and parse per manifest not seen before.
 */
export function blobHolders(store: RepositoryStore, name: string, digest: string): Promise<BlobHolder[]> {
  return holders(store, name, digest, 'blobs');
}

/**
 * The indexes of repository `name` that list manifest `digest` as a child, each
 * with its tags; same locking and cost as blobHolders.
 */
export function manifestHolders(store: RepositoryStore, name: string, digest: string): Promise<BlobHolder[]> {
  return holders(store, name, digest, 'children');
}

async function holders(store: RepositoryStore, name: string, digest: string, kind: keyof Named): Promise<BlobHolder[]> {
  const index = await store.readIndex(name);
  const holders = new Map<string, BlobHolder>();
  for (const entry of index.manifests) {
    const tag = entry.annotations?.[refNameAnnotation];
    const known = holders.get(entry.digest);
    if (known !== undefined) {
      if (tag !== undefined) known.tags.push(tag);
      continue;
    }
    if (entry.digest === digest) continue;
    const where = (await namedBy(store, name, entry))[kind].get(digest);
    if (where !== undefined)
      holders.set(entry.digest, { digest: entry.digest, tags: tag === undefined ? [] : [tag], where });
  }
  return [...holders.values()];
}
