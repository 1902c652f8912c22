// Builds small layer tars in memory from a list of entries, for tests of the
// applier and the graphdrivers (crafted entries included: tar-stream writes what
// it is given, "../x" and absolute names too).
import { lstat, readdir, readFile, readlink } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import tar from 'tar-stream';
import { readXattrs } from './tar-fs.js';
import { HEX_XATTR_PREFIX, xattrsFromHex } from './tar-pax.js';

export interface FixtureEntry {
  name: string;
  type?: tar.Header['type'];
  content?: string | Buffer;
  linkname?: string;
  mode?: number;
  uid?: number;
  gid?: number;
  mtime?: Date;
  devmajor?: number;
  devminor?: number;
  /** Extended attributes written as raw PAX `SCHILY.xattr.<name>` records (binary values kept). */
  xattrs?: Record<string, string | Buffer>;
}

/** The whole tar as one Buffer. */
export async function buildTar(entries: FixtureEntry[]): Promise<Buffer> {
  const pack = tar.pack();
  const chunks: Buffer[] = [];
  const done = (async () => {
    for await (const c of pack as unknown as AsyncIterable<Buffer>) chunks.push(Buffer.from(c));
  })();
  for (const e of entries) {
    const type = e.type ?? 'file';
    const body = e.content === undefined ? undefined : Buffer.from(e.content);
    const header: tar.Header = {
      name: e.name,
      type,
      size: type === 'file' ? (body?.length ?? 0) : 0,
      // With the type bits: tar-stream would replace a bare mode of 0 by its default.
      mode: (e.mode ?? (type === 'directory' ? 0o755 : 0o644)) | (type === 'directory' ? 0o040000 : 0o100000),
      mtime: e.mtime ?? new Date(1_600_000_000_000),
      uid: e.uid ?? 0,
      gid: e.gid ?? 0,
      uname: '',
      gname: '',
      linkname: e.linkname ?? '',
      devmajor: e.devmajor ?? 0,
      devminor: e.devminor ?? 0,
    };
    if (e.xattrs) {
      const pax: Record<string, string> = {};
      for (const [k, v] of Object.entries(e.xattrs)) pax[`${HEX_XATTR_PREFIX}${k}`] = Buffer.from(v).toString('hex');
      header.pax = pax;
    }
    await new Promise<void>((resolve, reject) => {
      if (type === 'file') pack.entry(header, body ?? Buffer.alloc(0), (err) => (err ? reject(err) : resolve()));
      else (pack.entry(header, (err) => (err ? reject(err) : resolve())) as unknown as { end(): void }).end();
    });
  }
  pack.finalize();
  await done;
  // tar-stream writes PAX values as UTF-8 text: make the xattr records raw bytes.
  const out: Buffer[] = [];
  for await (const c of Readable.from([Buffer.concat(chunks)]).pipe(xattrsFromHex())) out.push(c as Buffer);
  return Buffer.concat(out);
}

/** A fresh readable stream over a tar buffer. */
export function tarStream(buf: Buffer): NodeJS.ReadableStream {
  return Readable.from([buf]);
}

/**
 * Every path under `dir` with its type, mode, owner, size, mtime, link count, content
 * (or symlink target) and xattrs, sorted: what a test compares to prove that nothing
 * outside a layer root changed.
 */
export async function fullListing(dir: string): Promise<string[]> {
  const out: string[] = [];
  const walk = async (d: string) => {
    for (const name of (await readdir(d)).sort()) {
      const p = join(d, name);
      const st = await lstat(p);
      const xattrs = [...readXattrs(p)]
        .map(([k, v]) => `${k}=${v.toString('hex')}`)
        .sort()
        .join(',');
      const content = st.isFile() ? await readFile(p, 'utf8') : st.isSymbolicLink() ? await readlink(p) : '';
      out.push(
        `${p} ${st.mode.toString(8)} ${st.uid}:${st.gid} ${st.size} ${st.mtimeMs} ${st.nlink} ${content} ${xattrs}`,
      );
      if (st.isDirectory()) await walk(p);
    }
  };
  await walk(dir);
  return out;
}
