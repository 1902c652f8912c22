// Writes a layer tar from a list of changes read out of a directory: whiteouts for
// deletions, `.wh..wh..opq` for opaque directories, hard links kept as links, and
// ownership, modes, mtimes, devices and xattrs (raw PAX SCHILY.xattr.*) as they are.
import { once } from 'node:events';
import { createReadStream } from 'node:fs';
import { lstat, readlink } from 'node:fs/promises';
import { pipeline, Readable } from 'node:stream';
import tar from 'tar-stream';
import { invalidArgument, wrap } from '../errdefs/errors.js';
import { OPAQUE_WHITEOUT, WHITEOUT_PREFIX, type IdShift } from './apply-layer.js';
import { readXattrs } from './tar-fs.js';
import { HEX_XATTR_PREFIX, xattrsFromHex } from './tar-pax.js';
import { throwIfCancelled, type Context } from '../trace/context.js';

/** One path changed by a layer relative to its parent (paths start with '/'). */
export interface Change {
  path: string;
  kind: 'add' | 'modify' | 'delete';
}

export interface TarChange extends Change {
  /** The directory hides everything below it in the lower layers (emit `.wh..wh..opq`). */
  opaque?: boolean;
}

/** xattrs never exported: overlayfs' own bookkeeping. */
const skipXattr = (name: string) => name.startsWith('trusted.overlay.');

/**
 * A tar stream of `changes` (sorted so parents come first; paths start with '/'),
 * content read from `dir`. The tar is produced as it is read (bounded memory).
 * `release` runs once when the stream ends, fails or is destroyed (put() the mounts).
 * A read error ends the stream with an error naming the path. With `idShift` (a layer stored with its ids shifted
 * into a remap's ranges) the owners are written as the layer had them, shifted back; an owner outside the ranges
 * ends the stream with INVALID_ARGUMENT naming the entry.
 */
export function changesTar(
  ctx: Context,
  dir: string,
  changes: TarChange[],
  release?: () => Promise<void>,
  idShift?: IdShift,
): NodeJS.ReadableStream {
  const pack = tar.pack();
  let released = false;
  const doRelease = async () => {
    if (released || release === undefined) return;
    released = true;
    await release().catch((err: unknown) => ctx.logger.warn(`diff of ${dir}: release failed`, { err }));
  };
  // xattr values travel hex-encoded through tar-stream and are made raw again after it.
  const out = pipeline(Readable.from(pack as unknown as AsyncIterable<Buffer>), xattrsFromHex(), () => undefined);
  out.once('close', () => void doRelease());
  void (async () => {
    const links = new Map<string, string>();
    try {
      for (const c of changes) {
        throwIfCancelled(ctx, `diff of ${dir}`);
        const rel = c.path.replace(/^\/+/, '');
        if (c.kind === 'delete') {
          const i = rel.lastIndexOf('/');
          const wh = i < 0 ? `${WHITEOUT_PREFIX}${rel}` : `${rel.slice(0, i + 1)}${WHITEOUT_PREFIX}${rel.slice(i + 1)}`;
          await entry(pack, { name: wh, type: 'file', size: 0, mode: 0o644, mtime: new Date(0), uid: 0, gid: 0 });
          continue;
        }
        await writeEntry(pack, dir, rel, links, idShift);
        if (c.opaque) {
          await entry(pack, {
            name: `${rel}/${OPAQUE_WHITEOUT}`,
            type: 'file',
            size: 0,
            mode: 0o644,
            mtime: new Date(0),
            uid: 0,
            gid: 0,
          });
        }
      }
      pack.finalize();
    } catch (err) {
      pack.destroy(err instanceof Error ? err : new Error(String(err)));
    } finally {
      await doRelease();
    }
  })();
  return out;
}

type HeaderArg = Partial<tar.Header> & { name: string };

/** Adds a bodiless entry (an empty file gets an empty body, or its callback never fires). */
function entry(pack: tar.Pack, header: HeaderArg, body?: Buffer): Promise<void> {
  return new Promise((resolve, reject) => {
    const cb = (err?: Error | null) => (err ? reject(err) : resolve());
    if (body !== undefined || header.type === 'file') pack.entry(header, body ?? Buffer.alloc(0), cb);
    else pack.entry(header, cb);
  });
}

/** The owner a layer entry had: `uid`/`gid` as stored, shifted back out of the remap's ranges when there is one. */
function unshifted(uid: number, gid: number, idShift: IdShift | undefined, rel: string): [number, number] {
  if (idShift === undefined) return [uid, gid];
  const u = uid - idShift.uid.hostID;
  const g = gid - idShift.gid.hostID;
  if (u < 0 || u >= idShift.uid.size || g < 0 || g >= idShift.gid.size)
    throw invalidArgument(
      `diff entry ${JSON.stringify(rel)}: owner ${uid}:${gid} is outside the remapped ranges ` +
        `(${idShift.uid.hostID}+${idShift.uid.size}, ${idShift.gid.hostID}+${idShift.gid.size})`,
    );
  return [u, g];
}

async function writeEntry(
  pack: tar.Pack,
  dir: string,
  rel: string,
  links: Map<string, string>,
  idShift?: IdShift,
): Promise<void> {
  const abs = `${dir}/${rel}`;
  try {
    const st = await lstat(abs, { bigint: false });
    const [uid, gid] = unshifted(st.uid, st.gid, idShift, rel);
    const header: HeaderArg = {
      name: rel,
      // The full mode with its type bits: tar-stream replaces a mode of 0 by a default.
      mode: st.mode,
      uid,
      gid,
      mtime: st.mtime,
      size: 0,
    };
    const xattrs = [...readXattrs(abs)].filter(([k]) => !skipXattr(k));
    if (xattrs.length > 0) {
      const pax: Record<string, string> = {};
      for (const [k, v] of xattrs) pax[`${HEX_XATTR_PREFIX}${k}`] = v.toString('hex');
      header.pax = pax;
    }
    if (st.isDirectory()) {
      header.type = 'directory';
      header.name = `${rel}/`; // as Docker and GNU tar write directory names
      await entry(pack, header);
    } else if (st.isSymbolicLink()) {
      header.type = 'symlink';
      header.linkname = await readlink(abs);
      await entry(pack, header);
    } else if (st.isFile()) {
      const key = `${st.dev}:${st.ino}`;
      const first = st.nlink > 1 ? links.get(key) : undefined;
      if (first !== undefined) {
        header.type = 'link';
        header.linkname = first;
        await entry(pack, header);
        return;
      }
      if (st.nlink > 1) links.set(key, rel);
      header.type = 'file';
      header.size = st.size;
      await new Promise<void>((resolve, reject) => {
        const sink = pack.entry(header, (err) => (err ? reject(err) : resolve()));
        void (async () => {
          try {
            for await (const chunk of createReadStream(abs)) {
              if (!sink.write(chunk as Buffer)) await once(sink as unknown as NodeJS.EventEmitter, 'drain');
            }
            (sink as unknown as { end(): void }).end();
          } catch (err) {
            sink.destroy(err as Error);
            reject(err);
          }
        })();
      });
    } else if (st.isCharacterDevice() || st.isBlockDevice() || st.isFIFO()) {
      header.type = st.isFIFO() ? 'fifo' : st.isBlockDevice() ? 'block-device' : 'character-device';
      header.devmajor = Math.floor(st.rdev / 256) & 0xfff;
      header.devminor = (st.rdev & 0xff) | ((st.rdev >> 12) & 0xfff00);
      await entry(pack, header);
    }
    // Sockets are not carried in layers (Docker skips them too).
  } catch (err) {
    throw wrap(err, `diff entry ${JSON.stringify(rel)}`);
  }
}
