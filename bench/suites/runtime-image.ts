// The `run` suite's image: berth's static workloads as a two-layer image (base
// directories with /bin/true and /bin/sleep, then /bin/probe on top), built as
// uncompressed layer tars in memory and stored through Graph.putImage.
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { Readable } from 'node:stream';
import tar from 'tar-stream';
import type { Graph, PutImageResult } from '../../engine/graph/graph.js';
import { workloadBinary, type Workload } from '../../engine/execdriver/workload-rootfs.js';
import type { Context } from '../../engine/trace/index.js';

/** The reference the run suite stores its image under. */
export const STATIC_IMAGE = 'berth-bench/static:latest';

interface Entry {
  name: string;
  type: 'directory' | 'file';
  mode: number;
  content?: Buffer;
}

/** One uncompressed tar of `entries` (fixed mtime and owner, so the bytes and diffID are stable). */
export async function layerTar(entries: readonly Entry[]): Promise<Buffer> {
  const pack = tar.pack();
  const chunks: Buffer[] = [];
  const done = (async () => {
    for await (const c of pack as unknown as AsyncIterable<Buffer>) chunks.push(Buffer.from(c));
  })();
  for (const e of entries) {
    const header: tar.Header = {
      name: e.name,
      type: e.type,
      mode: e.mode,
      size: 0,
      mtime: new Date(1_700_000_000_000),
      uid: 0,
      gid: 0,
      uname: '',
      gname: '',
      linkname: '',
      devmajor: 0,
      devminor: 0,
    };
    await new Promise<void>((resolve, reject) => {
      if (e.type === 'file')
        pack.entry({ ...header, size: e.content!.length }, e.content!, (err) => (err ? reject(err) : resolve()));
      else (pack.entry(header, (err) => (err ? reject(err) : resolve())) as unknown as { end(): void }).end();
    });
  }
  pack.finalize();
  await done;
  return Buffer.concat(chunks);
}

function binary(name: Workload): Entry {
  return { name: `bin/${name}`, type: 'file', mode: 0o755, content: readFileSync(workloadBinary(name)) };
}

/** The two layer tars, bottom first. Cost: reading and packing the workload binaries. */
export async function staticImageLayers(): Promise<Buffer[]> {
  const dirs: Entry[] = ['bin', 'dev', 'etc', 'proc', 'sys', 'tmp'].map((d) => ({
    name: `${d}/`,
    type: 'directory',
    mode: d === 'tmp' ? 0o1777 : 0o755,
  }));
  const base = await layerTar([...dirs, binary('true'), binary('sleep')]);
  const top = await layerTar([{ name: 'bin/', type: 'directory', mode: 0o755 }, binary('probe')]);
  return [base, top];
}

function sha256(b: Buffer): string {
  return `sha256:${createHash('sha256').update(b).digest('hex')}`;
}

/** The OCI image config for these layers (architecture of this host, Cmd /bin/true). */
export function staticImageConfig(layers: readonly Buffer[]): string {
  const architecture = process.arch === 'x64' ? 'amd64' : process.arch;
  return JSON.stringify({
    architecture,
    os: 'linux',
    config: { Cmd: ['/bin/true'], Env: ['PATH=/bin'] },
    rootfs: { type: 'layers', diff_ids: layers.map(sha256) },
  });
}

/** Stores the image in `graph` under STATIC_IMAGE (idempotent). */
export async function putStaticImage(ctx: Context, graph: Graph): Promise<PutImageResult> {
  const layers = await staticImageLayers();
  return graph.putImage(
    ctx,
    staticImageConfig(layers),
    layers.map((b) => Readable.from([b])),
    { references: [STATIC_IMAGE] },
  );
}
