// Which manifests of a repository hold on to a blob (as config or layer), so a
// blob delete can be refused while a tag or a digest still needs the blob.
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
 * Blob digests each manifest names, by manifest digest. Manifests are content
 * addressed, so an entry never goes stale; the map is emptied when it grows large.
 */
const named = new Map<string, Map<string, string[]>>();
const namedLimit = 4096;

/** The blobs (config and layers, foreign ones included) `manifest` names, with where it names them. */
async function blobsNamedBy(store: RepositoryStore, name: string, manifest: { digest: string; mediaType: string }): Promise<Map<string, string[]>> {
  const known = named.get(manifest.digest);
  if (known !== undefined) return known;
  let bytes: Buffer;
  try {
    bytes = await readFile(store.blobPath(name, parseDigest(manifest.digest)));
  } catch (err) {
    // A manifest deleted meanwhile names nothing.
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return new Map();
    throw err;
  }
  const checked = checkManifest(bytes, manifest.mediaType, `manifest ${manifest.digest} in ${name}`);
  const blobs = new Map<string, string[]>();
  for (const b of checked.blobs) blobs.set(b.descriptor.digest, [...(blobs.get(b.descriptor.digest) ?? []), b.where]);
  if (named.size >= namedLimit) named.clear();
  named.set(manifest.digest, blobs);
  return blobs;
}

/**
 * The manifests of repository `name` that name blob `digest`, each with its tags.
 * The caller holds the repository's write lock when the answer must stay true.
 * Cost: one read of index.json, plus one read and parse per manifest not seen before.
 */
export async function blobHolders(store: RepositoryStore, name: string, digest: string): Promise<BlobHolder[]> {
  const index = await store.readIndex(name);
  const holders = new Map<string, BlobHolder>();
  for (const entry of index.manifests) {
    const tag = entry.annotations?.[refNameAnnotation];
    const known = holders.get(entry.digest);
    if (known !== undefined) {
      if (tag !== undefined) known.tags.push(tag);
      continue;
    }
    const where = (await blobsNamedBy(store, name, entry)).get(digest);
    if (where !== undefined) holders.set(entry.digest, { digest: entry.digest, tags: tag === undefined ? [] : [tag], where });
  }
  return [...holders.values()];
}
