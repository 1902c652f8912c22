// buildCorpus: the corpus folder as a cache. Images whose corpus.json entry matches
// the seed, generator version, spec, compressions, host inputs and compressor
// versions (and whose blobs are all present) are reused; the others are rebuilt,
// and corpus.json is rewritten (temp + rename) after each image.
import { execFile } from 'node:child_process';
import { mkdir, readdir, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { cancelled, failedPrecondition, invalidArgument, isBerthError } from '../../engine/errdefs/errors.js';
import { writeFileAtomic } from '../../engine/fsutil/atomic-write.js';
import type { Profile } from '../results/document.js';
import { buildImage, imageKey, planImage } from './build-image.js';
import {
  corpusFile,
  generatorVersion,
  readCorpusManifest,
  type CorpusImage,
  type CorpusManifest,
} from './corpus-manifest.js';
import { corpusSpec, defaultImages, imageSpec, type ImageName } from './corpus-spec.js';
import { sources } from './distributions.js';
import { compressions as allCompressions, entryMtime, gzipLevel, zstdLevel, type Compression } from './write-layer.js';

const run = promisify(execFile);

export interface BuildCorpusOptions {
  /** The corpus folder (created if missing). */
  out: string;
  /** Images to build; `defaultImages` (all but debian) when absent. */
  images?: readonly string[];
  /** The seed (a safe integer); 1 when absent. */
  seed?: number;
  /** quick (CI sizes) or default/full (real sizes); default when absent. */
  profile?: Profile;
  /** Layer variants; gzip and uncompressed when absent. zstd needs the `zstd` CLI. */
  compressions?: readonly Compression[];
  /** Rebuild even what the cache holds. */
  force?: boolean;
  log?: (line: string) => void;
  /** Aborting stops the build (CANCELLED); finished images stay cached, the one in progress is removed. */
  signal?: AbortSignal;
}

/** The version line of the `zstd` CLI, or undefined when it is not installed. */
export async function zstdVersion(): Promise<string | undefined> {
  try {
    const { stdout } = await run('zstd', ['--version']);
    return /v\d+\.\d+\.\d+/.exec(stdout)?.[0] ?? stdout.trim();
  } catch {
    return undefined;
  }
}

/**
 * Builds the requested images into `out` and returns the corpus description that
 * is also written to `<out>/corpus.json`. Images already built with the same seed,
 * generator version, profile and inputs are reused as they are; a corpus.json of
 * another seed, profile or generator version is discarded with all its images.
 * Fails with INVALID_ARGUMENT on an unknown image, compression or a bad seed,
 * FAILED_PRECONDITION when zstd is asked for but not installed. Cost: up to a few
 * minutes for the default profile (app ≈ 235 MiB), near nothing when cached.
 */
export async function buildCorpus(options: BuildCorpusOptions): Promise<CorpusManifest> {
  const seed = options.seed ?? 1;
  if (!Number.isSafeInteger(seed) || seed < 0)
    throw invalidArgument(`corpus seed ${seed}: expected a whole number ≥ 0`);
  const profile = options.profile ?? 'default';
  const spec = corpusSpec(profile);
  const names = [...new Set(options.images ?? defaultImages)];
  const specs = names.map((n) => imageSpec(spec, n));
  const compressions = [...new Set(options.compressions ?? (['gzip', 'none'] as Compression[]))];
  for (const c of compressions)
    if (!allCompressions.includes(c))
      throw invalidArgument(`corpus compression ${JSON.stringify(c)}: expected one of ${allCompressions.join(', ')}`);
  if (compressions.length === 0) throw invalidArgument('corpus: no compression requested');
  const tools: CorpusManifest['tools'] = { zlib: process.versions.zlib ?? 'unknown' };
  if (compressions.includes('zstd')) {
    const v = await zstdVersion();
    if (v === undefined)
      throw failedPrecondition('corpus compression zstd: the zstd command is not installed (apt-get install zstd)');
    tools.zstd = v;
  }
  const out = options.out;
  const cacheDir = join(out, '.cache');
  await mkdir(cacheDir, { recursive: true });
  await removeLeftovers(out);

  let previous: CorpusManifest | undefined;
  try {
    previous = await readCorpusManifest(out);
  } catch (err) {
    if (!isBerthError(err)) throw err;
  }
  const compatible =
    previous !== undefined &&
    previous.seed === seed &&
    previous.generatorVersion === generatorVersion &&
    previous.profile === profile &&
    !options.force;
  if (previous !== undefined && !compatible) {
    for (const image of previous.images) await rm(join(out, image.layout), { recursive: true, force: true });
    options.log?.(
      `corpus ${out}: discarding images of seed ${previous.seed}, profile ${previous.profile}, generator ${previous.generatorVersion}`,
    );
  }
  const kept = new Map<string, CorpusImage>();
  if (compatible && previous) for (const image of previous.images) kept.set(image.name, image);

  const write = async (): Promise<CorpusManifest> => {
    const manifest = describe(seed, profile, compressions, tools, [...kept.values()]);
    await writeFileAtomic(join(out, corpusFile), `${JSON.stringify(manifest, null, 2)}\n`, {
      mode: 0o644,
      subject: `write ${join(out, corpusFile)}`,
    });
    return manifest;
  };

  for (const image of specs) {
    const { inputs } = await planImage(image, seed, cacheDir);
    const key = imageKey(image, { seed, compressions, tools }, inputs);
    const cached = kept.get(image.name);
    if (cached && cached.key === key && (await blobsPresent(out, cached))) {
      options.log?.(`${image.name}: cached`);
      continue;
    }
    options.log?.(`${image.name}: building`);
    if (options.signal?.aborted) throw cancelled(`corpus ${out}: build cancelled before ${image.name}`);
    kept.set(
      image.name,
      await buildImage(image, { seed, compressions, out, cacheDir, tools, log: options.log, signal: options.signal }),
    );
    await write();
  }
  return write();
}

/** The corpus description of `images` (ordered by the spec's image order). */
function describe(
  seed: number,
  profile: Profile,
  compressions: Compression[],
  tools: CorpusManifest['tools'],
  images: CorpusImage[],
): CorpusManifest {
  const order = corpusSpec(profile).images.map((i) => i.name as string);
  const sorted = [...images].sort((a, b) => order.indexOf(a.name) - order.indexOf(b.name));
  const compressedBytes: Partial<Record<Compression, number>> = {};
  for (const c of compressions) compressedBytes[c] = sorted.reduce((a, i) => a + (i.totals.compressedBytes[c] ?? 0), 0);
  const cited = new Set(sorted.flatMap((i) => i.spec.sources));
  return {
    corpusVersion: 1,
    generator: 'berth-corpus',
    generatorVersion,
    seed,
    profile,
    compressions,
    tools,
    gzipLevel,
    zstdLevel,
    entryMtime: entryMtime.toISOString(),
    images: sorted,
    totals: {
      images: sorted.length,
      layers: sorted.reduce((a, i) => a + i.totals.layers, 0),
      files: sorted.reduce((a, i) => a + i.totals.files, 0),
      uncompressedBytes: sorted.reduce((a, i) => a + i.totals.uncompressedBytes, 0),
      compressedBytes,
    },
    sources: Object.values(sources).filter((s) => cited.has(s.id)),
  };
}

/** True when every blob the image's refs name is on disk with its size. One stat per blob. */
async function blobsPresent(out: string, image: CorpusImage): Promise<boolean> {
  const blobs = [image.config, ...Object.values(image.refs), ...image.layers.flatMap((l) => Object.values(l.blobs))];
  for (const b of blobs) {
    if (!b) return false;
    try {
      if ((await stat(join(out, image.layout, 'blobs', 'sha256', b.digest.slice('sha256:'.length)))).size !== b.size)
        return false;
    } catch {
      return false;
    }
  }
  return true;
}

/**
 * Removes what interrupted builds of processes no longer alive left: temp folders
 * `.tmp-<image>-<pid>-<hex>` and the atomic writer's temp files `.corpus.json.<pid>.<n>`.
 */
async function removeLeftovers(out: string): Promise<void> {
  for (const name of await readdir(out)) {
    const m = /^\.tmp-.*-(\d+)-[0-9a-f]+$/.exec(name) ?? /^\.corpus\.json\.(\d+)\.\d+$/.exec(name);
    if (m && !alive(Number(m[1]))) await rm(join(out, name), { recursive: true, force: true });
  }
}

function alive(pid: number): boolean {
  if (pid === process.pid) return true;
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

export type { ImageName };
