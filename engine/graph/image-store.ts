// Image configs (OCI / Docker image config JSON) kept by image id, which is the
// config's digest. The bytes live in the content store; a small record per image
// under `<root>/image/imagedb/sha256/<hex>.json` says which blobs are images.
import { mkdir, readdir, readFile, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { invalidArgument, isBerthError, notFound, wrap } from '../errdefs/errors.js';
import { throwIfCancelled, type Context } from '../trace/context.js';
import { type ContentStore } from './content-store.js';
import { writeFileAtomic } from '../fsutil/atomic-write.js';
import { digestOf, isDigest, parseDigest } from './digest.js';

/** The fields of an image config berth reads; everything else is kept in `raw`. */
export interface ImageConfig {
  architecture: string;
  os: string;
  variant?: string;
  created?: string;
  author?: string;
  config?: {
    User?: string;
    Env?: string[];
    Entrypoint?: string[] | null;
    Cmd?: string[] | null;
    WorkingDir?: string;
    Labels?: Record<string, string> | null;
    ExposedPorts?: Record<string, object> | null;
    Volumes?: Record<string, object> | null;
    StopSignal?: string;
    [key: string]: unknown;
  };
  rootfs: { type: 'layers'; diff_ids: string[] };
  history?: { created?: string; created_by?: string; empty_layer?: boolean; comment?: string; author?: string }[];
  [key: string]: unknown;
}

export interface Image {
  /** The config digest. */
  id: string;
  config: ImageConfig;
  /** chainID of the top layer, null for an image without layers. */
  chainID: string | null;
  /** When the image was added to this store (ISO 8601). */
  addedAt: string;
  /** Other blobs that belong to the image (manifest, index, compressed layers); gc keeps them. */
  blobs: string[];
}

interface ImageRecord {
  id: string;
  addedAt: string;
  blobs: string[];
}

/** chainID(n) = sha256(chainID(n-1) + " " + diffID(n)), chainID(0) = diffID(0) (OCI image spec). */
export function chainID(parent: string | null, diffID: string): string {
  return parent === null ? diffID : digestOf(`${parent} ${diffID}`);
}

/** The chainID of every prefix of `diffIDs`; validates each diffID. */
export function chainIDs(diffIDs: readonly string[]): string[] {
  const out: string[] = [];
  let parent: string | null = null;
  for (const [i, d] of diffIDs.entries()) {
    parseDigest(d, `diff_ids[${i}]`);
    parent = chainID(parent, d);
    out.push(parent);
  }
  return out;
}

/**
 * Parses and validates an image config: a JSON object with string `os` and
 * `architecture` and `rootfs` `{type: "layers", diff_ids: [digest…]}`. Fails
 * INVALID_ARGUMENT naming `subject` and the bad field.
 */
export function parseImageConfig(bytes: Uint8Array | string, subject = `image config ${digestOf(bytes)}`): ImageConfig {
  let value: unknown;
  try {
    value = JSON.parse(typeof bytes === 'string' ? bytes : Buffer.from(bytes).toString('utf8'));
  } catch (err) {
    throw invalidArgument(`${subject}: not JSON: ${(err as Error).message}`, { cause: err });
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value))
    throw invalidArgument(`${subject}: not a JSON object`);
  const c = value as Record<string, unknown>;
  for (const field of ['os', 'architecture'] as const) {
    if (typeof c[field] !== 'string' || c[field] === '') throw invalidArgument(`${subject}: missing ${field}`);
  }
  const rootfs = c.rootfs as Record<string, unknown> | undefined;
  if (typeof rootfs !== 'object' || rootfs === null) throw invalidArgument(`${subject}: missing rootfs`);
  if (rootfs.type !== 'layers')
    throw invalidArgument(`${subject}: rootfs.type ${JSON.stringify(rootfs.type)} is not "layers"`);
  if (!Array.isArray(rootfs.diff_ids)) throw invalidArgument(`${subject}: rootfs.diff_ids is not an array`);
  for (const [i, d] of (rootfs.diff_ids as unknown[]).entries()) {
    if (!isDigest(d)) parseDigest(d, `${subject}: rootfs.diff_ids[${i}]`);
  }
  if (c.config !== undefined && c.config !== null && (typeof c.config !== 'object' || Array.isArray(c.config))) {
    throw invalidArgument(`${subject}: config is not an object`);
  }
  if (c.history !== undefined && !Array.isArray(c.history))
    throw invalidArgument(`${subject}: history is not an array`);
  return c as unknown as ImageConfig;
}

/** How many image configs get() keeps in memory (the most recently read first to stay). */
const CONFIG_CACHE_SIZE = 64;

export class ImageStore {
  private readonly dir: string;
  /**
   * Config bytes by image id. An id is the digest of its config, so the bytes of an id
   * never change.
   */
  private readonly configs = new Map<string, Buffer>();
  /**
   * Records read or written by this store, by image id. Only this store writes and
   * removes records (the root lock keeps a second engine off the root), so a record
   * here is the one on disk; an id not here is looked up on disk (never cached as absent).
   */
  private readonly records = new Map<string, ImageRecord>();
  /** Counts deletes: a record read from disk while one ran is not cached (it may be the deleted one). */
  private deletes = 0;

  /** `dataRoot` is the engine's data root; configs go to `content`, records to `<dataRoot>/image/imagedb`. */
  constructor(
    dataRoot: string,
    private readonly content: ContentStore,
  ) {
    this.dir = join(dataRoot, 'image', 'imagedb', 'sha256');
  }

  /**
   * Stores an image config (exact bytes, so the id stays the digest). Idempotent:
   * adding the same config again returns `created: false` and merges `blobs`.
   * Fails INVALID_ARGUMENT for an invalid config. The config blob is written
   * before the record, so a crash leaves at most an unreferenced blob for gc.
   */
  async create(
    ctx: Context,
    configBytes: Uint8Array | string,
    opts: { blobs?: string[] } = {},
  ): Promise<{ image: Image; created: boolean }> {
    throwIfCancelled(ctx, 'image create');
    const bytes = typeof configBytes === 'string' ? Buffer.from(configBytes) : configBytes;
    const id = digestOf(bytes);
    const config = parseImageConfig(bytes, `image config ${id}`);
    for (const b of opts.blobs ?? []) parseDigest(b, `image ${id}: blob`);
    await this.content.put(ctx, bytes, { digest: id, size: bytes.length });
    const old = await this.readRecord(id);
    const blobs = [...new Set([...(old?.blobs ?? []), ...(opts.blobs ?? [])])].sort();
    const record: ImageRecord = { id, addedAt: old?.addedAt ?? new Date().toISOString(), blobs };
    if (old === undefined || old.blobs.length !== blobs.length) {
      try {
        await mkdir(this.dir, { recursive: true });
        await writeFileAtomic(this.recordPath(id), JSON.stringify(record), { mode: 0o644, sync: true });
      } catch (err) {
        this.records.delete(id);
        throw wrap(err, `image ${id}: write record`);
      }
      this.records.set(id, record);
    }
    return { image: toImage(record, config), created: old === undefined };
  }

  /** The image with this full id. Fails NOT_FOUND, INVALID_ARGUMENT for a malformed id. */
  async get(ctx: Context, id: string): Promise<Image> {
    throwIfCancelled(ctx, `image ${id}`);
    parseDigest(id, 'image id');
    const record = await this.readRecord(id);
    if (record === undefined) throw notFound(`image ${id}: not found`);
    let bytes = this.configs.get(id);
    if (bytes === undefined) {
      try {
        bytes = await this.content.readBlob(ctx, id);
      } catch (err) {
        if (isBerthError(err, 'NOT_FOUND')) throw notFound(`image ${id}: config blob missing`, { cause: err });
        throw wrap(err, `image ${id}`);
      }
    } else this.configs.delete(id);
    const config = parseImageConfig(bytes, `image config ${id}`);
    this.configs.set(id, bytes);
    if (this.configs.size > CONFIG_CACHE_SIZE) this.configs.delete(this.configs.keys().next().value!);
    return toImage(record, config);
  }

  /** Whether an image with this full id exists. */
  async has(ctx: Context, id: string): Promise<boolean> {
    throwIfCancelled(ctx, `image ${id}`);
    parseDigest(id, 'image id');
    return (await this.readRecord(id)) !== undefined;
  }

  /** Every image id, sorted. Cost: one readdir. */
  async ids(ctx: Context): Promise<string[]> {
    throwIfCancelled(ctx, 'image list');
    let names: string[];
    try {
      names = await readdir(this.dir);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw wrap(err, 'image list');
    }
    return names
      .filter((n) => /^[0-9a-f]{64}\.json$/.test(n))
      .map((n) => `sha256:${n.slice(0, 64)}`)
      .sort();
  }

  /** Every image, sorted by id. Cost: a record and a config read per image. */
  async list(ctx: Context): Promise<Image[]> {
    const out: Image[] = [];
    for (const id of await this.ids(ctx)) {
      try {
        out.push(await this.get(ctx, id));
      } catch (err) {
        if (!isBerthError(err, 'NOT_FOUND')) throw err; // deleted meanwhile
      }
    }
    return out;
  }

  /**
   * Removes the image record, then its config blob. Layers and references are the
   * caller's (the Graph's) business. Fails NOT_FOUND for an unknown id.
   */
  async delete(ctx: Context, id: string): Promise<void> {
    throwIfCancelled(ctx, `image ${id}`);
    parseDigest(id, 'image id');
    this.configs.delete(id);
    this.records.delete(id);
    this.deletes++;
    try {
      await unlink(this.recordPath(id));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw notFound(`image ${id}: not found`);
      throw wrap(err, `image ${id}: delete`);
    } finally {
      // a read that began before the unlink ended may still return the record: not cached either
      this.records.delete(id);
      this.deletes++;
    }
    await this.content.delete(ctx, id).catch((err: unknown) => {
      if (!isBerthError(err, 'NOT_FOUND')) throw err;
    });
  }

  private recordPath(id: string): string {
    return join(this.dir, `${parseDigest(id).hex}.json`);
  }

  private async readRecord(id: string): Promise<ImageRecord | undefined> {
    const known = this.records.get(id);
    if (known !== undefined) return known;
    const deletes = this.deletes;
    let text: string;
    try {
      text = await readFile(this.recordPath(id), 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw wrap(err, `image ${id}: read record`);
    }
    try {
      const r = JSON.parse(text) as ImageRecord;
      const record = { id, addedAt: String(r.addedAt), blobs: Array.isArray(r.blobs) ? r.blobs.filter(isDigest) : [] };
      if (deletes === this.deletes) this.records.set(id, record);
      return record;
    } catch (err) {
      throw wrap(err, `image ${id}: corrupt record`, 'DATA_LOSS');
    }
  }
}

function toImage(record: ImageRecord, config: ImageConfig): Image {
  const chain = chainIDs(config.rootfs.diff_ids);
  return {
    id: record.id,
    config,
    chainID: chain.length === 0 ? null : chain[chain.length - 1]!,
    addedAt: record.addedAt,
    blobs: [...record.blobs],
  };
}
