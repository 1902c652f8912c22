// Keeps binary xattr values (security.capability, …) intact through tar-stream,
// which decodes and encodes PAX records as UTF-8 text: a stream in front of the
// extractor rewrites raw `SCHILY.xattr.<name>=<bytes>` records to ASCII
// `BERTH.xattr.hex.<name>=<hex>` ones, and a stream after the packer does the reverse.
import { Transform, type TransformCallback } from 'node:stream';
import { invalidArgument } from '../errdefs/errors.js';

export const RAW_XATTR_PREFIX = 'SCHILY.xattr.';
export const HEX_XATTR_PREFIX = 'BERTH.xattr.hex.';

const BLOCK = 512;
/** Larger PAX headers than this are passed through untouched (never seen in layers). */
const MAX_PAX = 1 << 20;

type Record = [key: string, value: Buffer];
type Rewrite = (records: Record[]) => Record[];

/** Raw SCHILY.xattr records → hex ones (before tar-stream's extract). */
export function xattrsToHex(): Transform {
  return new PaxRewriter((records) =>
    records.map(([k, v]) =>
      k.startsWith(RAW_XATTR_PREFIX)
        ? [HEX_XATTR_PREFIX + k.slice(RAW_XATTR_PREFIX.length), Buffer.from(v.toString('hex'))]
        : [k, v],
    ),
  );
}

/** Hex xattr records → raw SCHILY.xattr ones (after tar-stream's pack). */
export function xattrsFromHex(): Transform {
  return new PaxRewriter((records) =>
    records.map(([k, v]) =>
      k.startsWith(HEX_XATTR_PREFIX)
        ? [RAW_XATTR_PREFIX + k.slice(HEX_XATTR_PREFIX.length), Buffer.from(v.toString('latin1'), 'hex')]
        : [k, v],
    ),
  );
}

/** Decodes the records of a PAX extended header's data. Throws INVALID_ARGUMENT when malformed. */
export function parsePaxRecords(data: Buffer): Record[] {
  const out: Record[] = [];
  let i = 0;
  while (i < data.length && data[i] !== 0) {
    const sp = data.indexOf(0x20, i);
    const len = sp < 0 ? NaN : Number(data.toString('latin1', i, sp));
    if (!Number.isInteger(len) || len <= sp - i + 1 || i + len > data.length || data[i + len - 1] !== 0x0a) {
      throw invalidArgument('layer tar: malformed PAX record');
    }
    const eq = data.indexOf(0x3d, sp + 1);
    if (eq < 0 || eq >= i + len) throw invalidArgument('layer tar: malformed PAX record');
    out.push([data.toString('utf8', sp + 1, eq), Buffer.from(data.subarray(eq + 1, i + len - 1))]);
    i += len;
  }
  return out;
}

/** Encodes PAX records ("<len> <key>=<value>\n", len counting itself). */
export function encodePaxRecords(records: Record[]): Buffer {
  const parts: Buffer[] = [];
  for (const [k, v] of records) {
    const body = Buffer.concat([Buffer.from(` ${k}=`, 'utf8'), v, Buffer.from('\n')]);
    let len = body.length + 1;
    while (String(len).length + body.length !== len) len = String(len).length + body.length;
    parts.push(Buffer.from(String(len), 'latin1'), body);
  }
  return Buffer.concat(parts);
}

function readSize(h: Buffer): number {
  if (h[124] & 0x80) {
    // base-256: big-endian, the first byte's high bit is the marker
    let n = h[124] & 0x7f;
    for (let i = 125; i < 136; i++) n = n * 256 + h[i];
    return n;
  }
  const s = h
    .toString('latin1', 124, 136)
    .replace(/[\0 ]+.*$/s, '')
    .trim();
  return s === '' ? 0 : parseInt(s, 8);
}

function writeSizeAndChecksum(h: Buffer, size: number): void {
  h.write(`${size.toString(8).padStart(11, '0')}\0`, 124, 12, 'latin1');
  h.fill(0x20, 148, 156);
  let sum = 0;
  for (let i = 0; i < BLOCK; i++) sum += h[i];
  h.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 8, 'latin1');
}

const pad = (n: number) => (BLOCK - (n % BLOCK)) % BLOCK;

/**
 * Walks tar blocks, passing everything through except local PAX headers ('x'),
 * whose records go through `rewrite` (size and checksum recomputed). Data lengths
 * follow tar-stream's rules (directories carry none; a PAX `size` record sets the
 * next entry's), so both read the same entry boundaries.
 */
class PaxRewriter extends Transform {
  private buf: Buffer = Buffer.alloc(0);
  /** Bytes still to pass through for the current entry's data (with padding). */
  private passing = 0;
  private paxHeader: Buffer | undefined;
  private paxNeed = 0;
  private nextSize: number | undefined;

  constructor(private readonly rewrite: Rewrite) {
    super();
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    this.buf = this.buf.length === 0 ? chunk : Buffer.concat([this.buf, chunk]);
    try {
      this.drain();
      cb();
    } catch (err) {
      cb(err as Error);
    }
  }

  override _flush(cb: TransformCallback): void {
    if (this.paxHeader !== undefined) this.push(this.paxHeader);
    if (this.buf.length > 0) this.push(this.buf);
    cb();
  }

  private drain(): void {
    for (;;) {
      if (this.passing > 0) {
        if (this.buf.length === 0) return;
        const n = Math.min(this.passing, this.buf.length);
        this.push(this.buf.subarray(0, n));
        this.buf = this.buf.subarray(n);
        this.passing -= n;
        continue;
      }
      if (this.paxHeader !== undefined) {
        if (this.buf.length < this.paxNeed) return;
        this.emitPax();
        continue;
      }
      if (this.buf.length < BLOCK) return;
      const h = Buffer.from(this.buf.subarray(0, BLOCK));
      this.buf = this.buf.subarray(BLOCK);
      const type = String.fromCharCode(h[156]);
      const size = readSize(h);
      if (type === 'x' && size <= MAX_PAX) {
        this.paxHeader = h;
        this.paxNeed = size + pad(size);
        continue;
      }
      this.push(h);
      if (h.every((b) => b === 0)) continue;
      let data = size;
      if (type === 'g' || type === 'L' || type === 'K' || type === 'x') data = size;
      else {
        if (this.nextSize !== undefined) data = this.nextSize;
        this.nextSize = undefined;
        if (type === '5') data = 0;
      }
      this.passing = data + pad(data);
    }
  }

  private emitPax(): void {
    const h = this.paxHeader as Buffer;
    const size = readSize(h);
    const data = this.buf.subarray(0, size);
    this.buf = this.buf.subarray(this.paxNeed);
    this.paxHeader = undefined;
    const records = this.rewrite(parsePaxRecords(data));
    const sizeRec = records.find(([k]) => k === 'size');
    this.nextSize = sizeRec !== undefined ? parseInt(sizeRec[1].toString('latin1'), 10) : undefined;
    const out = encodePaxRecords(records);
    writeSizeAndChecksum(h, out.length);
    this.push(h);
    this.push(out);
    if (pad(out.length) > 0) this.push(Buffer.alloc(pad(out.length)));
  }
}
