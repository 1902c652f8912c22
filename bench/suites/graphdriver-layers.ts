// Seeded layer tars for the graphdriver suite: a few realistic layer shapes (few large
// files, many small files, a deep directory tree), the same bytes for every run with the same seed.
import tar from 'tar-stream';

export type LayerShape = 'large-files' | 'small-files' | 'deep-tree';
export const LAYER_SHAPES: readonly LayerShape[] = ['large-files', 'small-files', 'deep-tree'];

/** One file of a generated layer (directories are implied by the paths). */
export interface LayerFile {
  path: string;
  size: number;
}

export interface LayerTar {
  shape: LayerShape;
  /** The uncompressed tar, as a registry blob would hand it to applyDiff. */
  tar: Buffer;
  /** Regular files in the tar. */
  files: number;
  /** Entries in the tar (directories and files). */
  entries: number;
  /** Bytes of regular file content. */
  contentBytes: number;
  /** The shape in words, with its sizes (for a case's method). */
  description: string;
}

/** mulberry32: a tiny seeded PRNG, enough for reproducible sizes and bytes. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** `n` seeded pseudo-random bytes (incompressible, like real binaries in a layer). */
function randomBytes(next: () => number, n: number): Buffer {
  const buf = Buffer.allocUnsafe(n);
  const words = n >>> 2;
  for (let i = 0; i < words; i++) buf.writeUInt32LE((next() * 4294967296) >>> 0, i * 4);
  for (let i = words * 4; i < n; i++) buf[i] = (next() * 256) | 0;
  return buf;
}

/**
 * The files of a layer of `shape`, scaled by `scale` (1 = the default profile's size):
 * large-files: 4 files of 4 MiB × scale; small-files: 800 × scale files of 1–8 KiB
 * spread over 40 dirs; deep-tree: 24 levels of nested dirs, 16 × scale files per level.
 * (The default profile's sizes keep ~50 samples per case within its 5-minute budget.)
 */
export function layerFiles(shape: LayerShape, scale: number, seed: number): LayerFile[] {
  const next = prng(seed ^ 0x9e3779b9);
  const files: LayerFile[] = [];
  if (shape === 'large-files') {
    const size = Math.max(64 * 1024, Math.round(4 * 1024 * 1024 * scale));
    for (let i = 0; i < 4; i++) files.push({ path: `usr/lib/large-${i}.so`, size });
  } else if (shape === 'small-files') {
    const n = Math.max(20, Math.round(800 * scale));
    for (let i = 0; i < n; i++)
      files.push({ path: `usr/share/d${i % 40}/f${i}.txt`, size: 1024 + Math.floor(next() * 7 * 1024) });
  } else {
    const perLevel = Math.max(4, Math.round(16 * scale));
    let dir = 'srv';
    for (let level = 0; level < 24; level++) {
      dir = `${dir}/level-${level}`;
      for (let i = 0; i < perLevel; i++)
        files.push({ path: `${dir}/f${i}.dat`, size: 512 + Math.floor(next() * 3584) });
    }
  }
  return files;
}

/** The parent dirs of every file, parents first, each once. */
function dirsOf(files: readonly LayerFile[]): string[] {
  const seen = new Set<string>();
  const out: string[] = [];
  for (const f of files) {
    const parts = f.path.split('/');
    for (let i = 1; i < parts.length; i++) {
      const d = parts.slice(0, i).join('/');
      if (!seen.has(d)) {
        seen.add(d);
        out.push(d);
      }
    }
  }
  return out;
}

const MTIME = new Date(1_600_000_000_000);

function header(name: string, type: 'file' | 'directory', mode: number, size: number): tar.Header {
  return {
    name,
    type,
    mode,
    size,
    mtime: MTIME,
    uid: 0,
    gid: 0,
    uname: '',
    gname: '',
    linkname: '',
    devmajor: 0,
    devminor: 0,
  };
}

/**
 * Writes `files` (with seeded content) as an uncompressed tar with tar-stream:
 * directories first (0755), files 0644, owner 0:0, a fixed mtime.
 * Cost: generating the content bytes plus one copy.
 */
export async function buildLayerTar(files: readonly LayerFile[], seed: number): Promise<Buffer> {
  const next = prng(seed);
  const pack = tar.pack();
  const chunks: Buffer[] = [];
  const done = (async () => {
    for await (const c of pack as unknown as AsyncIterable<Buffer>) chunks.push(Buffer.from(c));
  })();
  const add = (header: tar.Header, body?: Buffer) =>
    new Promise<void>((resolve, reject) => {
      if (body !== undefined) pack.entry(header, body, (err) => (err ? reject(err) : resolve()));
      else (pack.entry(header, (err) => (err ? reject(err) : resolve())) as unknown as { end(): void }).end();
    });
  for (const d of dirsOf(files)) {
    await add(header(`${d}/`, 'directory', 0o040755, 0));
  }
  for (const f of files) {
    await add(header(f.path, 'file', 0o100644, f.size), randomBytes(next, f.size));
  }
  pack.finalize();
  await done;
  return Buffer.concat(chunks);
}

/** A generated layer of `shape` at `scale`, with its counts. */
export async function layerTar(shape: LayerShape, scale: number, seed: number): Promise<LayerTar> {
  const files = layerFiles(shape, scale, seed);
  const dirs = dirsOf(files).length;
  const contentBytes = files.reduce((a, f) => a + f.size, 0);
  const mib = (contentBytes / 2 ** 20).toFixed(1);
  const description =
    shape === 'large-files'
      ? `${files.length} files of ${(files[0].size / 2 ** 20).toFixed(1)} MiB (${mib} MiB)`
      : shape === 'small-files'
        ? `${files.length} files of 1–8 KiB in ${dirs} dirs (${mib} MiB)`
        : `${files.length} files of 0.5–4 KiB over ${dirs} nested dirs, 24 levels deep (${mib} MiB)`;
  return {
    shape,
    tar: await buildLayerTar(files, seed),
    files: files.length,
    entries: files.length + dirs,
    contentBytes,
    description,
  };
}
