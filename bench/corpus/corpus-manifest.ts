// The shape of `corpus.json`, the description of a built corpus that the pull suite
// reads (images, layers with digests and sizes, totals, seed, generator version,
// distributions and their sources), and its reader.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { dataLoss, notFound, wrap } from '../../engine/errdefs/errors.js';
import type { Profile } from '../results/document.js';
import type { ImageSpec } from './corpus-spec.js';
import type { DistributionSource } from './distributions.js';
import type { BlobRef, Compression } from './write-layer.js';

/** Bumped whenever the same seed would give different bytes; part of the cache key. */
export const generatorVersion = '1';
export const corpusFile = 'corpus.json';

export interface CorpusLayer {
  role: string;
  /** The gzip blob's digest and size (the default variant); see `blobs` for all. */
  digest: string;
  size: number;
  diffID: string;
  uncompressedSize: number;
  /** Regular files (whiteouts excluded). */
  fileCount: number;
  whiteoutCount: number;
  /** Bytes of regular files' contents. */
  contentBytes: number;
  blobs: Partial<Record<Compression, BlobRef>>;
}

export interface CorpusImage {
  name: string;
  description: string;
  /** The image's OCI image layout, relative to the corpus folder. */
  layout: string;
  /** Ref name (`org.opencontainers.image.ref.name`) → manifest descriptor. `latest` is the gzip variant. */
  refs: Record<string, BlobRef>;
  config: BlobRef;
  layers: CorpusLayer[];
  totals: {
    layers: number;
    files: number;
    uncompressedBytes: number;
    compressedBytes: Partial<Record<Compression, number>>;
  };
  /** The spec the image was built from. */
  spec: ImageSpec;
  /** Host inputs (static binaries, a debootstrap tree) by digest. */
  inputs: Record<string, string>;
  /** Cache key: spec, compressions, inputs, tool versions and generator version. */
  key: string;
}

export interface CorpusManifest {
  corpusVersion: 1;
  generator: 'berth-corpus';
  generatorVersion: string;
  seed: number;
  profile: Profile;
  compressions: Compression[];
  /** Versions of the compressors: their output (so the digests) depends on them. */
  tools: { zlib: string; zstd?: string };
  gzipLevel: number;
  zstdLevel: number;
  entryMtime: string;
  images: CorpusImage[];
  totals: {
    images: number;
    layers: number;
    files: number;
    uncompressedBytes: number;
    compressedBytes: Partial<Record<Compression, number>>;
  };
  sources: DistributionSource[];
}

/**
 * Reads `<dir>/corpus.json`. Fails NOT_FOUND when the corpus was never built there,
 * DATA_LOSS when the file is not a corpus description.
 */
export async function readCorpusManifest(dir: string): Promise<CorpusManifest> {
  const path = join(dir, corpusFile);
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT')
      throw notFound(`corpus ${dir}: no ${corpusFile} (build it with npm run corpus)`);
    throw wrap(err, `corpus ${dir}: read ${corpusFile}`);
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw dataLoss(`corpus ${path}: not JSON: ${(err as Error).message}`, { cause: err });
  }
  const m = value as Partial<CorpusManifest>;
  if (m?.generator !== 'berth-corpus' || !Array.isArray(m.images) || typeof m.seed !== 'number')
    throw dataLoss(`corpus ${path}: not a berth corpus description`);
  return m as CorpusManifest;
}
