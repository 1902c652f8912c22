// The `workload` suite's images, all served by a berth-registry process on 127.0.0.1
// and pulled by each daemon the way a user's images are: the service image (berth's
// static http-server, probe, sleep and echo in one layer) and the cold-start images
// (corpus images, plus a one-file entry layer with a static echo where the image has
// no shell of its own).
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { readFileSync } from 'node:fs';
import { invalidArgument, unavailable } from '../../engine/errdefs/errors.js';
import { workloadBinary } from '../../engine/execdriver/workload-rootfs.js';
import { blobOf, push, type Blob } from '../../engine/registry/client/test-registry.js';
import { buildCorpus, pushCorpusToRegistry, type CorpusImage } from '../corpus/index.js';
import type { Profile } from '../results/document.js';
import { layerTar } from './runtime-image.js';

/** Repository and tag of the service image in the suite's registry. */
export const SERVICE_REPO = 'berth-bench/workload';
export const SERVICE_TAG = 'latest';
/** The port http-server listens on inside the container. */
export const SERVICE_PORT = 8080;
/** The tag the cold-start variant of a corpus image is pushed under. */
export const COLD_TAG = 'coldstart';
/** Where the entry layer puts its static echo. */
export const ENTRY_ECHO = '/usr/local/bin/berth-echo';
/** The corpus images cold start measures: a real Debian root filesystem and the application image. */
export const COLD_IMAGES = ['debian', 'app'] as const;
/** What a cold-started container prints first. */
export const READY_WORD = 'ready';

const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
const OCI_CONFIG = 'application/vnd.oci.image.config.v1+json';
const OCI_LAYER_GZIP = 'application/vnd.oci.image.layer.v1.tar+gzip';

function sha256(b: Buffer): string {
  return `sha256:${createHash('sha256').update(b).digest('hex')}`;
}

const desc = (b: Blob) => ({ mediaType: b.mediaType, digest: b.digest, size: b.size });

/** The service image's one layer: base folders and the static http-server, probe, sleep, echo and true. */
async function serviceLayer(): Promise<Buffer> {
  const dirs = ['bin', 'dev', 'etc', 'proc', 'sys', 'tmp'].map((d) => ({
    name: `${d}/`,
    type: 'directory' as const,
    mode: d === 'tmp' ? 0o1777 : 0o755,
  }));
  const bins = (['http-server', 'probe', 'sleep', 'echo', 'true'] as const).map((n) => ({
    name: `bin/${n}`,
    type: 'file' as const,
    mode: 0o755,
    content: readFileSync(workloadBinary(n)),
  }));
  return layerTar([...dirs, ...bins]);
}

/**
 * Pushes the service image to the registry at `url` (`http://127.0.0.1:PORT`) as
 * SERVICE_REPO:SERVICE_TAG: one gzip layer, Cmd `/bin/http-server 8080`, port 8080 exposed.
 */
export async function pushServiceImage(url: string): Promise<void> {
  const tar = await serviceLayer();
  const layer = blobOf(OCI_LAYER_GZIP, gzipSync(tar));
  const architecture = process.arch === 'x64' ? 'amd64' : process.arch;
  const config = blobOf(
    OCI_CONFIG,
    JSON.stringify({
      architecture,
      os: 'linux',
      config: {
        Cmd: ['/bin/http-server', String(SERVICE_PORT)],
        Env: ['PATH=/bin'],
        ExposedPorts: { [`${SERVICE_PORT}/tcp`]: {} },
      },
      rootfs: { type: 'layers', diff_ids: [sha256(tar)] },
    }),
  );
  const manifest = blobOf(
    OCI_MANIFEST,
    JSON.stringify({ schemaVersion: 2, mediaType: OCI_MANIFEST, config: desc(config), layers: [desc(layer)] }),
  );
  await push(url, SERVICE_REPO, [config, layer], manifest, SERVICE_TAG);
}

/** The corpus cache of the workload suite (kept across runs under the data root, apart from the pull suite's). */
export function workloadCorpusDir(dataRoot: string, profile: Profile, seed: number): string {
  return join(dataRoot, 'berth-bench-cache', `workload-corpus-${profile}-seed${seed}`);
}

/** A cold-start image as pushed: where to pull it from and what to run. */
export interface ColdImage {
  name: string;
  /** `berth-corpus/<name>`. */
  repository: string;
  tag: string;
  /** The command whose first line of output ends the cold start. */
  cmd: string[];
  layers: number;
  /** Compressed bytes the pull fetches (gzip layers and the config). */
  pullBytes: number;
  uncompressedBytes: number;
}

/** Whether the image brings a shell (a debootstrap root filesystem does). */
function hasShell(image: CorpusImage): boolean {
  return image.spec.layers.some((l) => l.kind === 'debootstrap');
}

/**
 * Builds (or reuses from the cache) the corpus images `names`, pushes them to the
 * registry at `url`, and pushes each as `<repository>:coldstart`: the gzip manifest,
 * plus an entry layer with a static echo at ENTRY_ECHO when the image has no shell.
 */
export async function pushColdImages(
  url: string,
  corpusDir: string,
  names: readonly string[],
  profile: Profile,
  seed: number,
): Promise<ColdImage[]> {
  for (const n of names)
    if (!['tiny', 'many-small-files', 'app', 'deep', 'debian'].includes(n))
      throw invalidArgument(`cold-start image ${JSON.stringify(n)}: not a corpus image`);
  const corpus = await buildCorpus({ out: corpusDir, images: names, seed, profile, compressions: ['gzip'] });
  await pushCorpusToRegistry(corpusDir, url, { images: names });
  const out: ColdImage[] = [];
  for (const name of names) {
    const image = corpus.images.find((i) => i.name === name);
    if (image === undefined) throw unavailable(`corpus ${corpusDir}: image ${name} was not built`);
    const blobs = join(corpusDir, image.layout, 'blobs', 'sha256');
    const ref = image.refs.latest ?? image.refs.gzip;
    if (ref === undefined) throw unavailable(`corpus image ${name}: no gzip ref`);
    const manifest = JSON.parse(await readFile(join(blobs, ref.digest.slice(7)), 'utf8')) as {
      layers: { mediaType: string; digest: string; size: number }[];
      config: { digest: string };
    };
    const config = JSON.parse(await readFile(join(blobs, image.config.digest.slice(7)), 'utf8')) as {
      rootfs: { diff_ids: string[] };
      config?: Record<string, unknown>;
    };
    const pushBlobs: Blob[] = [];
    let cmd: string[];
    if (hasShell(image)) {
      cmd = ['/bin/sh', '-c', `echo ${READY_WORD}`];
    } else {
      const dirs = ['usr/', 'usr/local/', 'usr/local/bin/'].map((d) => ({
        name: d,
        type: 'directory' as const,
        mode: 0o755,
      }));
      const tar = await layerTar([
        ...dirs,
        { name: ENTRY_ECHO.slice(1), type: 'file', mode: 0o755, content: readFileSync(workloadBinary('echo')) },
      ]);
      const layer = blobOf(OCI_LAYER_GZIP, gzipSync(tar));
      pushBlobs.push(layer);
      manifest.layers.push(desc(layer));
      config.rootfs.diff_ids.push(sha256(tar));
      cmd = [ENTRY_ECHO, READY_WORD];
    }
    config.config = { ...(config.config ?? {}), Cmd: cmd };
    const configBlob = blobOf(OCI_CONFIG, JSON.stringify(config));
    const top = blobOf(OCI_MANIFEST, JSON.stringify({ ...manifest, config: desc(configBlob) }));
    const repository = `berth-corpus/${name}`;
    await push(url, repository, [...pushBlobs, configBlob], top, COLD_TAG);
    out.push({
      name,
      repository,
      tag: COLD_TAG,
      cmd,
      layers: manifest.layers.length,
      pullBytes: manifest.layers.reduce((s, l) => s + l.size, 0) + configBlob.size,
      uncompressedBytes: image.totals.uncompressedBytes,
    });
  }
  return out;
}
