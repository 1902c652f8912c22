// Builds one corpus image as an OCI image layout: plans each layer, streams its
// variants into blobs, then writes the config, one manifest per compression and
// index.json (ref names `gzip`, `zstd`, `uncompressed`, and `latest` for gzip).
// Built in a temp folder beside the target and renamed into place when complete.
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { wrap } from '../../engine/errdefs/errors.js';
import { createTextPool } from './content.js';
import { generatorVersion, type CorpusImage, type CorpusLayer } from './corpus-manifest.js';
import type { ImageSpec } from './corpus-spec.js';
import { planDebootstrapLayer } from './debian-layer.js';
import { planGeneratedLayer, type LayerPlan } from './layer-plan.js';
import { planStaticBinariesLayer } from './tiny-layer.js';
import { entryMtime, writeLayer, type BlobRef, type Compression } from './write-layer.js';

export const refNameAnnotation = 'org.opencontainers.image.ref.name';
const manifestMediaType = 'application/vnd.oci.image.manifest.v1+json';
const configMediaType = 'application/vnd.oci.image.config.v1+json';
const indexMediaType = 'application/vnd.oci.image.index.v1+json';

/** The ref name a compression variant is tagged with. */
export const refOf: Record<Compression, string> = { gzip: 'gzip', zstd: 'zstd', none: 'uncompressed' };

export interface BuildImageOptions {
  seed: number;
  compressions: readonly Compression[];
  /** The corpus folder; the image goes to `<out>/<name>`. */
  out: string;
  /** Where host inputs are cached (compiled binaries, debootstrap trees). */
  cacheDir: string;
  tools: { zlib: string; zstd?: string };
  log?: (line: string) => void;
  /** Aborting stops the build (CANCELLED) and removes what it wrote. */
  signal?: AbortSignal;
}

/** Plans of every layer of `spec`, and the host inputs they read (by digest). */
export async function planImage(
  spec: ImageSpec,
  seed: number,
  cacheDir: string,
): Promise<{ plans: (() => LayerPlan)[]; inputs: Record<string, string> }> {
  const inputs: Record<string, string> = {};
  const memo = new Map<number, LayerPlan>();
  const plans: (() => LayerPlan)[] = [];
  for (const [index, layer] of spec.layers.entries()) {
    if (layer.kind === 'static-binaries') {
      const { plan, inputs: used } = await planStaticBinariesLayer(layer, join(cacheDir, 'bin'));
      Object.assign(inputs, used);
      plans.push(() => plan);
    } else if (layer.kind === 'debootstrap') {
      const { plan, fingerprint } = await planDebootstrapLayer(layer, cacheDir);
      inputs[`debootstrap/${layer.suite}`] = fingerprint;
      plans.push(() => plan);
    } else {
      const get = (): LayerPlan => {
        let plan = memo.get(index);
        if (!plan) {
          plan = planGeneratedLayer(seed, spec.name, index, layer, createTextPool(seed, spec.name, index), (i) =>
            plans[i](),
          );
          memo.set(index, plan);
        }
        return plan;
      };
      plans.push(get);
    }
  }
  return { plans, inputs };
}

/** The cache key of an image: everything its bytes depend on. */
export function imageKey(
  spec: ImageSpec,
  options: Pick<BuildImageOptions, 'seed' | 'compressions' | 'tools'>,
  inputs: Record<string, string>,
): string {
  const material = JSON.stringify({
    generatorVersion,
    seed: options.seed,
    spec,
    compressions: [...options.compressions].sort(),
    tools: options.tools,
    inputs,
  });
  return `sha256:${createHash('sha256').update(material).digest('hex')}`;
}

/**
 * Builds `spec` into `<out>/<name>`, replacing what was there. Deterministic: the
 * same seed, spec, inputs and compressor versions give byte-identical blobs.
 * Nothing is left half-written: on failure the temp folder is removed and an
 * existing layout stays as it was. Cost: one streamed pass per layer.
 */
export async function buildImage(spec: ImageSpec, options: BuildImageOptions): Promise<CorpusImage> {
  const subject = `corpus image ${spec.name}`;
  const final = join(options.out, spec.name);
  const tmp = join(options.out, `.tmp-${spec.name}-${process.pid}-${randomBytes(4).toString('hex')}`);
  const blobsDir = join(tmp, 'blobs', 'sha256');
  try {
    await mkdir(blobsDir, { recursive: true });
    await mkdir(join(tmp, 'tmp'));
    const { plans, inputs } = await planImage(spec, options.seed, options.cacheDir);
    const layers: CorpusLayer[] = [];
    for (const [index, plan] of plans.entries()) {
      const p = plan();
      const role = spec.layers[index].role;
      options.log?.(`${spec.name}: layer ${index + 1}/${plans.length} (${role}, ${p.files} files)`);
      const written = await writeLayer(p, {
        blobsDir,
        tmpDir: join(tmp, 'tmp'),
        compressions: options.compressions,
        pool: createTextPool(options.seed, spec.name, index),
        contentKey: `${options.seed}/${spec.name}/${index}`,
        signal: options.signal,
      });
      const main = written.blobs.gzip ?? (Object.values(written.blobs)[0] as BlobRef);
      layers.push({
        role,
        digest: main.digest,
        size: main.size,
        diffID: written.diffID,
        uncompressedSize: written.uncompressedSize,
        fileCount: p.files,
        whiteoutCount: p.whiteouts,
        contentBytes: p.bytes,
        blobs: written.blobs,
      });
    }
    const config = await writeBlob(blobsDir, configMediaType, imageConfig(spec, layers, options.seed));
    const refs: Record<string, BlobRef> = {};
    const manifests: (BlobRef & { annotations: Record<string, string> })[] = [];
    for (const c of options.compressions) {
      const manifest = await writeBlob(blobsDir, manifestMediaType, {
        schemaVersion: 2,
        mediaType: manifestMediaType,
        config: config,
        layers: layers.map((l) => l.blobs[c] as BlobRef),
        annotations: {
          'org.opencontainers.image.title': spec.name,
          'org.berth.corpus.seed': String(options.seed),
          'org.berth.corpus.compression': c,
        },
      });
      refs[refOf[c]] = manifest;
      manifests.push({ ...manifest, annotations: { [refNameAnnotation]: refOf[c] } });
    }
    const latest = refs.gzip ?? (Object.values(refs)[0] as BlobRef);
    refs.latest = latest;
    manifests.push({ ...latest, annotations: { [refNameAnnotation]: 'latest' } });
    await rm(join(tmp, 'tmp'), { recursive: true, force: true });
    await writeFile(join(tmp, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
    await writeFile(
      join(tmp, 'index.json'),
      JSON.stringify({ schemaVersion: 2, mediaType: indexMediaType, manifests }),
    );
    await rm(final, { recursive: true, force: true });
    await rename(tmp, final);
    const compressedBytes: Partial<Record<Compression, number>> = {};
    for (const c of options.compressions) compressedBytes[c] = layers.reduce((a, l) => a + (l.blobs[c]?.size ?? 0), 0);
    return {
      name: spec.name,
      description: spec.description,
      layout: spec.name,
      refs,
      config,
      layers,
      totals: {
        layers: layers.length,
        files: layers.reduce((a, l) => a + l.fileCount, 0),
        uncompressedBytes: layers.reduce((a, l) => a + l.uncompressedSize, 0),
        compressedBytes,
      },
      spec,
      inputs,
      key: imageKey(spec, options, inputs),
    };
  } catch (err) {
    await rm(tmp, { recursive: true, force: true });
    throw wrap(err, subject);
  }
}

/** The image config: fixed creation time, the diffIDs, one history entry per layer. */
function imageConfig(spec: ImageSpec, layers: CorpusLayer[], seed: number): unknown {
  const created = entryMtime.toISOString();
  return {
    created,
    architecture: ociArchitecture(process.arch),
    os: 'linux',
    config: {
      Env: [...spec.config.env],
      Cmd: [...spec.config.cmd],
      WorkingDir: spec.config.workingDir,
      Labels: {
        'org.berth.corpus.image': spec.name,
        'org.berth.corpus.seed': String(seed),
        'org.berth.corpus.generator-version': generatorVersion,
      },
    },
    rootfs: { type: 'layers', diff_ids: layers.map((l) => l.diffID) },
    history: layers.map((l) => ({ created, created_by: `berth corpus: ${l.role}`, comment: `${l.fileCount} files` })),
  };
}

/** The OCI architecture name of a Node `process.arch`. */
function ociArchitecture(arch: string): string {
  const names: Record<string, string> = {
    x64: 'amd64',
    arm64: 'arm64',
    arm: 'arm',
    ia32: '386',
    ppc64: 'ppc64le',
    s390x: 's390x',
    riscv64: 'riscv64',
  };
  return names[arch] ?? arch;
}

async function writeBlob(blobsDir: string, mediaType: string, value: unknown): Promise<BlobRef> {
  const bytes = Buffer.from(JSON.stringify(value));
  const hex = createHash('sha256').update(bytes).digest('hex');
  await writeFile(join(blobsDir, hex), bytes);
  return { mediaType, digest: `sha256:${hex}`, size: bytes.length };
}
