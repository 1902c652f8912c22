// What the corpus holds, as data: each image's layers with their file counts, byte
// budgets, size distributions and directory areas, per profile (`quick` for CI,
// `default`/`full` for the real sizes). The generator turns a spec plus a seed into bytes.
import { invalidArgument } from '../../engine/errdefs/errors.js';
import type { Profile } from '../results/document.js';
import type { ContentKind } from './content.js';
import type { LogNormal } from './distributions.js';

export const imageNames = ['tiny', 'many-small-files', 'app', 'deep', 'debian'] as const;
export type ImageName = (typeof imageNames)[number];

/** Images built when none are named: everything that needs no network. */
export const defaultImages: readonly ImageName[] = ['tiny', 'many-small-files', 'app', 'deep'];

export function isImageName(name: string): name is ImageName {
  return (imageNames as readonly string[]).includes(name);
}

/** A part of a layer's tree: where its files go and what they contain. */
export interface Area {
  /** Folder the area's files live under, e.g. `usr/lib/x86_64-linux-gnu`. */
  prefix: string;
  /** Share of the layer's files placed here (shares are normalised). */
  share: number;
  /** Raw size draws are multiplied by this before the layer is scaled to its budget. */
  sizeScale: number;
  /** Weights of the content kinds of this area's files. */
  mix: Partial<Record<ContentKind, number>>;
  extensions: readonly string[];
  /** Mean files per folder; folders are `prefix/` plus `depth` generated names. */
  filesPerDir: number;
  depth: readonly [number, number];
}

/** A layer generated from distributions. */
export interface GeneratedLayer {
  kind: 'generated';
  role: string;
  files: number;
  bytes: number;
  sizes: LogNormal;
  areas: readonly Area[];
  /** Files of earlier layers this one deletes (OCI whiteouts): layer index and file ordinal. */
  whiteouts?: readonly { layer: number; file: number }[];
}

/** A layer of berth's static workload binaries under /bin plus a few /etc files. */
export interface StaticBinariesLayer {
  kind: 'static-binaries';
  role: string;
  binaries: readonly string[];
}

/** A layer holding a `debootstrap --variant=minbase` root filesystem (cached). */
export interface DebootstrapLayer {
  kind: 'debootstrap';
  role: string;
  suite: string;
}

export type LayerSpec = GeneratedLayer | StaticBinariesLayer | DebootstrapLayer;

export interface ImageSpec {
  name: ImageName;
  description: string;
  layers: readonly LayerSpec[];
  config: { cmd: readonly string[]; env: readonly string[]; workingDir: string };
  /** Ids of the entries of `sources` (distributions.ts) the shape is modelled on. */
  sources: readonly string[];
}

export interface CorpusSpec {
  profile: Profile;
  images: readonly ImageSpec[];
}

const KiB = 1024;
const MiB = 1024 * KiB;
const path = ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'];

/** File sizes of general files: median 4 KiB, wide sigma for the heavy tail. */
const generalSizes: LogNormal = {
  kind: 'lognormal',
  medianBytes: 4 * KiB,
  sigma: 1.6,
  minBytes: 16,
  maxBytes: 64 * MiB,
};
/** Small files (a package tree's sources): median 2 KiB, "a few KiB" each. */
const smallSizes: LogNormal = { kind: 'lognormal', medianBytes: 2 * KiB, sigma: 0.8, minBytes: 64, maxBytes: 32 * KiB };

function tiny(): ImageSpec {
  return {
    name: 'tiny',
    description: 'one small layer of static binaries (berth workloads true, sleep, probe) and a few /etc files',
    layers: [{ kind: 'static-binaries', role: 'static-binaries', binaries: ['true', 'sleep', 'probe'] }],
    config: { cmd: ['/bin/true'], env: path, workingDir: '/' },
    sources: [],
  };
}

function manySmallFiles(files: number): ImageSpec {
  return {
    name: 'many-small-files',
    description: `one layer of ${files} files of a few KiB in a package tree (node_modules-like), for metadata-bound extraction`,
    layers: [
      {
        kind: 'generated',
        role: 'package-tree',
        files,
        bytes: files * 3 * KiB,
        sizes: smallSizes,
        areas: [
          {
            prefix: 'app/node_modules',
            share: 0.9,
            sizeScale: 1,
            mix: { text: 0.95, random: 0.05 },
            extensions: ['.js', '.js', '.json', '.md', '.d.ts', '.map'],
            filesPerDir: 12,
            depth: [1, 4],
          },
          {
            prefix: 'app/src',
            share: 0.1,
            sizeScale: 1,
            mix: { text: 1 },
            extensions: ['.ts', '.ts', '.json'],
            filesPerDir: 10,
            depth: [1, 3],
          },
        ],
      },
    ],
    config: { cmd: ['/bin/true'], env: path, workingDir: '/app' },
    sources: ['agrawal2007', 'downey2001', 'zhao2019'],
  };
}

/** The `app` image at `scale` of its real size (1: about 235 MiB uncompressed). */
function app(scale: number): ImageSpec {
  const files = (n: number) => Math.max(4, Math.round(n * scale));
  const bytes = (n: number) => Math.round(n * scale);
  return {
    name: 'app',
    description:
      'an application image: base-like OS layer, language runtime, dependencies, the application with incompressible assets, and a small config layer',
    layers: [
      {
        kind: 'generated',
        role: 'base',
        files: files(3000),
        bytes: bytes(80 * MiB),
        sizes: generalSizes,
        areas: [
          {
            prefix: 'usr/lib/x86_64-linux-gnu',
            share: 0.35,
            sizeScale: 6,
            mix: { binary: 0.9, text: 0.1 },
            extensions: ['.so.1', '.so.6', '.so', '.a'],
            filesPerDir: 40,
            depth: [0, 1],
          },
          {
            prefix: 'usr/bin',
            share: 0.12,
            sizeScale: 4,
            mix: { binary: 1 },
            extensions: [''],
            filesPerDir: 400,
            depth: [0, 0],
          },
          {
            prefix: 'usr/share/doc',
            share: 0.2,
            sizeScale: 0.5,
            mix: { text: 0.6, random: 0.4 },
            extensions: ['', '.gz', '.txt'],
            filesPerDir: 4,
            depth: [1, 1],
          },
          {
            prefix: 'usr/share/locale',
            share: 0.1,
            sizeScale: 1,
            mix: { binary: 0.5, text: 0.5 },
            extensions: ['.mo'],
            filesPerDir: 8,
            depth: [1, 2],
          },
          {
            prefix: 'var/lib/dpkg/info',
            share: 0.18,
            sizeScale: 0.5,
            mix: { text: 1 },
            extensions: ['.list', '.md5sums', '.postinst'],
            filesPerDir: 600,
            depth: [0, 0],
          },
          {
            prefix: 'etc',
            share: 0.05,
            sizeScale: 0.3,
            mix: { text: 1 },
            extensions: ['', '.conf'],
            filesPerDir: 6,
            depth: [0, 2],
          },
        ],
      },
      {
        kind: 'generated',
        role: 'runtime',
        files: files(2500),
        bytes: bytes(70 * MiB),
        sizes: generalSizes,
        areas: [
          {
            prefix: 'usr/local/lib/runtime',
            share: 0.8,
            sizeScale: 1,
            mix: { text: 0.65, binary: 0.35 },
            extensions: ['.py', '.py', '.pyc', '.so'],
            filesPerDir: 15,
            depth: [1, 3],
          },
          {
            prefix: 'usr/local/lib/runtime/lib-dynload',
            share: 0.15,
            sizeScale: 5,
            mix: { binary: 1 },
            extensions: ['.so'],
            filesPerDir: 200,
            depth: [0, 0],
          },
          {
            prefix: 'usr/local/bin',
            share: 0.05,
            sizeScale: 20,
            mix: { binary: 1 },
            extensions: [''],
            filesPerDir: 200,
            depth: [0, 0],
          },
        ],
      },
      {
        kind: 'generated',
        role: 'dependencies',
        files: files(6000),
        bytes: bytes(60 * MiB),
        sizes: generalSizes,
        areas: [
          {
            prefix: 'app/node_modules',
            share: 0.97,
            sizeScale: 1,
            mix: { text: 0.92, random: 0.08 },
            extensions: ['.js', '.js', '.json', '.md', '.d.ts', '.map'],
            filesPerDir: 10,
            depth: [1, 4],
          },
          {
            prefix: 'app/node_modules/.bin',
            share: 0.03,
            sizeScale: 0.2,
            mix: { text: 1 },
            extensions: [''],
            filesPerDir: 200,
            depth: [0, 0],
          },
        ],
      },
      {
        kind: 'generated',
        role: 'application',
        files: files(400),
        bytes: bytes(25 * MiB),
        sizes: generalSizes,
        areas: [
          {
            prefix: 'app/dist',
            share: 0.7,
            sizeScale: 1,
            mix: { text: 1 },
            extensions: ['.js', '.css', '.html', '.map'],
            filesPerDir: 20,
            depth: [0, 2],
          },
          {
            prefix: 'app/assets',
            share: 0.3,
            sizeScale: 10,
            mix: { random: 1 },
            extensions: ['.png', '.jpg', '.woff2', '.bin'],
            filesPerDir: 30,
            depth: [0, 1],
          },
        ],
      },
      {
        kind: 'generated',
        role: 'config',
        files: 6,
        bytes: 16 * KiB,
        sizes: smallSizes,
        areas: [
          {
            prefix: 'etc/app',
            share: 1,
            sizeScale: 1,
            mix: { text: 1 },
            extensions: ['.conf', '.yaml', '.json'],
            filesPerDir: 6,
            depth: [0, 0],
          },
        ],
      },
    ],
    config: { cmd: ['/bin/true'], env: [...path, 'NODE_ENV=production'], workingDir: '/app' },
    sources: ['zhao2019', 'anwar2018', 'downey2001', 'agrawal2007', 'debianMinbase'],
  };
}

/** `count` small layers; every eighth layer deletes a file of the layer four below it. */
function deep(count: number): ImageSpec {
  const layers: GeneratedLayer[] = [];
  for (let i = 0; i < count; i++) {
    const files = 2 + ((i * 7) % 11);
    layers.push({
      kind: 'generated',
      role: `step-${String(i).padStart(2, '0')}`,
      files,
      bytes: files * (4 + ((i * 13) % 9) * 4) * KiB,
      sizes: smallSizes,
      areas: [
        {
          prefix: `opt/deep/step-${String(i).padStart(2, '0')}`,
          share: 1,
          sizeScale: 1,
          mix: { text: 0.7, binary: 0.3 },
          extensions: ['.txt', '.sh', '.bin'],
          filesPerDir: 4,
          depth: [0, 1],
        },
      ],
      ...(i % 8 === 7 ? { whiteouts: [{ layer: i - 4, file: 0 }] } : {}),
    });
  }
  return {
    name: 'deep',
    description: `${count} small layers (a long chain of RUN steps), some deleting files of earlier layers with whiteouts`,
    layers,
    config: { cmd: ['/bin/true'], env: path, workingDir: '/' },
    sources: ['zhao2019'],
  };
}

function debian(): ImageSpec {
  return {
    name: 'debian',
    description: 'a real Debian bookworm minbase root filesystem (debootstrap, cached) plus a small application layer',
    layers: [
      { kind: 'debootstrap', role: 'debian-minbase', suite: 'bookworm' },
      {
        kind: 'generated',
        role: 'application',
        files: 50,
        bytes: 2 * MiB,
        sizes: generalSizes,
        areas: [
          {
            prefix: 'app',
            share: 1,
            sizeScale: 1,
            mix: { text: 0.8, random: 0.2 },
            extensions: ['.js', '.json', '.png'],
            filesPerDir: 10,
            depth: [0, 2],
          },
        ],
      },
    ],
    config: { cmd: ['/bin/sh', '-c', 'true'], env: path, workingDir: '/app' },
    sources: ['debianMinbase'],
  };
}

/**
 * The corpus of a profile: `quick` scales `app` to about 20 MiB, `many-small-files`
 * to 2,000 files and `deep` to 40 layers; `default` and `full` use the real sizes
 * (app ≈ 235 MiB, 20,000 small files, 48 layers). Pure; fails with INVALID_ARGUMENT
 * on an unknown profile.
 */
export function corpusSpec(profile: Profile | string): CorpusSpec {
  if (profile === 'quick') return { profile, images: [tiny(), manySmallFiles(2000), app(0.085), deep(40), debian()] };
  if (profile === 'default' || profile === 'full')
    return { profile, images: [tiny(), manySmallFiles(20_000), app(1), deep(48), debian()] };
  throw invalidArgument(`corpus profile ${JSON.stringify(profile)}: expected quick, default or full`);
}

/** The spec of one image in a corpus; NOT_FOUND-like INVALID_ARGUMENT naming the image. */
export function imageSpec(spec: CorpusSpec, name: string): ImageSpec {
  const image = spec.images.find((i) => i.name === name);
  if (!image)
    throw invalidArgument(`corpus image ${JSON.stringify(name)}: unknown (expected one of ${imageNames.join(', ')})`);
  return image;
}
