// Names for images: `name:tag` and `name@digest` references mapped to image ids,
// kept in one JSON file (`<root>/image/repositories.json`) rewritten atomically
// (temp + fsync + rename) by one writer at a time.
import { mkdir, readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { conflict, invalidArgument, notFound, wrap } from '../errdefs/errors.js';
import { throwIfCancelled, type Context } from '../trace/context.js';
import { writeFileAtomic } from '../fsutil/atomic-write.js';
import { isDigest, parseDigest } from './digest.js';
import { Mutex } from '../fsutil/keyed-lock.js';
import { familiarString, parseReference, referenceString, withDefaultTag } from './reference.js';

/** Shortest id prefix resolve() accepts, in hex characters. */
export const MIN_ID_PREFIX = 12;

export interface ReferenceEntry {
  /** Full form: `docker.io/library/busybox:latest`. */
  reference: string;
  /** Familiar form: `busybox:latest`. */
  familiar: string;
  imageID: string;
}

export interface ReferenceStoreOptions {
  /** All image ids, for resolving id prefixes of images that have no name. Default: ids that have a reference. */
  imageIDs?: (ctx: Context) => Promise<string[]>;
}

interface FileFormat {
  references: Record<string, string>;
}

export class ReferenceStore {
  readonly path: string;
  private refs: Map<string, string> | undefined;
  private readonly mutex = new Mutex();

  constructor(
    dataRoot: string,
    private readonly opts: ReferenceStoreOptions = {},
  ) {
    this.path = join(dataRoot, 'image', 'repositories.json');
  }

  /**
   * Points `ref` (normalised; `latest` when it has no tag) at `imageID`. Re-pointing a
   * tag replaces it; re-pointing a digest reference fails CONFLICT unless `force`
   * (a digest names one content). Idempotent for the same pair. Returns the id the
   * reference pointed at before, if any. Fails INVALID_ARGUMENT for a bad reference
   * or id, or a reference with both tag and digest.
   */
  async add(ctx: Context, ref: string, imageID: string, opts: { force?: boolean } = {}): Promise<string | undefined> {
    throwIfCancelled(ctx, `reference ${ref}`);
    const key = normalize(ref);
    parseDigest(imageID, `reference ${key}: image id`);
    return this.mutex.run(async () => {
      const refs = await this.load();
      const old = refs.get(key);
      if (old === imageID) return old;
      if (old !== undefined && key.includes('@') && opts.force !== true) {
        throw conflict(`reference ${key}: already points to image ${old}`);
      }
      const next = new Map(refs);
      next.set(key, imageID);
      await this.save(next);
      return old;
    });
  }

  /** Removes a reference and returns the image id it named. Fails NOT_FOUND. */
  async delete(ctx: Context, ref: string): Promise<string> {
    throwIfCancelled(ctx, `reference ${ref}`);
    const key = normalize(ref);
    return this.mutex.run(async () => {
      const refs = await this.load();
      const id = refs.get(key);
      if (id === undefined) throw notFound(`reference ${key}: not found`);
      const next = new Map(refs);
      next.delete(key);
      await this.save(next);
      return id;
    });
  }

  /** Removes every reference to `imageID`; returns them (full form, sorted). */
  async deleteImage(ctx: Context, imageID: string): Promise<string[]> {
    throwIfCancelled(ctx, `image ${imageID}`);
    return this.mutex.run(async () => {
      const refs = await this.load();
      const gone = [...refs].filter(([, id]) => id === imageID).map(([r]) => r);
      if (gone.length > 0) {
        const next = new Map(refs);
        for (const r of gone) next.delete(r);
        await this.save(next);
      }
      return gone.sort();
    });
  }

  /** The image id a reference names. Fails NOT_FOUND, INVALID_ARGUMENT for a bad reference. */
  async get(ctx: Context, ref: string): Promise<string> {
    throwIfCancelled(ctx, `reference ${ref}`);
    const key = normalize(ref);
    const id = (await this.load()).get(key);
    if (id === undefined) throw notFound(`reference ${key}: not found`);
    return id;
  }

  /** Every reference, sorted by full form; only those naming `imageID` when given. */
  async list(ctx: Context, imageID?: string): Promise<ReferenceEntry[]> {
    throwIfCancelled(ctx, 'reference list');
    const out: ReferenceEntry[] = [];
    for (const [reference, id] of await this.load()) {
      if (imageID === undefined || id === imageID)
        out.push({ reference, familiar: familiarString(reference), imageID: id });
    }
    return out.sort((a, b) => (a.reference < b.reference ? -1 : a.reference > b.reference ? 1 : 0));
  }

  /**
   * Finds the image `s` names: a full image id (`sha256:<hex>`, when the image is
   * known), a reference in full or familiar form (`busybox` = `busybox:latest`), or
   * an id prefix of at least 12 hex characters (with or without `sha256:`) that
   * matches one image. Fails CONFLICT naming the candidates for an ambiguous prefix,
   * NOT_FOUND when nothing matches.
   */
  async resolve(ctx: Context, s: string): Promise<string> {
    throwIfCancelled(ctx, `image ${s}`);
    const refs = await this.load();
    const ids = async (): Promise<string[]> => [
      ...new Set([...(this.opts.imageIDs ? await this.opts.imageIDs(ctx) : []), ...refs.values()]),
    ];
    if (isDigest(s)) {
      if ((await ids()).includes(s)) return s;
      throw notFound(`image ${s}: not found`);
    }
    let parsedOk = false;
    try {
      const key = normalize(s);
      parsedOk = true;
      const id = refs.get(key);
      if (id !== undefined) return id;
    } catch {
      // not a reference; maybe an id prefix
    }
    const m = /^(?:sha256:)?([0-9a-f]+)$/.exec(s);
    if (m !== null && m[1]!.length >= MIN_ID_PREFIX && m[1]!.length <= 64) {
      const prefix = `sha256:${m[1]}`;
      const matches = (await ids()).filter((id) => id.startsWith(prefix)).sort();
      if (matches.length === 1) return matches[0]!;
      if (matches.length > 1)
        throw conflict(`image ${s}: ambiguous id prefix, matches ${matches.join(', ')}`, {
          details: { candidates: matches },
        });
    }
    if (!parsedOk && m === null)
      throw invalidArgument(`image ${JSON.stringify(s)}: neither a reference nor an image id`);
    throw notFound(`image ${s}: not found`);
  }

  private async load(): Promise<Map<string, string>> {
    if (this.refs !== undefined) return this.refs;
    let text: string;
    try {
      text = await readFile(this.path, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return (this.refs = new Map());
      throw wrap(err, `reference store ${this.path}: read`);
    }
    let parsed: FileFormat;
    try {
      parsed = JSON.parse(text) as FileFormat;
    } catch (err) {
      throw wrap(err, `reference store ${this.path}: corrupt`, 'DATA_LOSS');
    }
    const refs = new Map<string, string>();
    for (const [r, id] of Object.entries(parsed.references ?? {})) {
      if (typeof id === 'string' && isDigest(id)) refs.set(r, id);
    }
    return (this.refs = refs);
  }

  private async save(next: Map<string, string>): Promise<void> {
    const sorted = [...next].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    const body: FileFormat = { references: Object.fromEntries(sorted) };
    try {
      await mkdir(dirname(this.path), { recursive: true });
      await writeFileAtomic(this.path, JSON.stringify(body, null, 2) + '\n', { mode: 0o644, sync: true });
    } catch (err) {
      throw wrap(err, `reference store ${this.path}: write`);
    }
    this.refs = next;
  }
}

/** Full form with the default tag; refuses a reference with both tag and digest. */
function normalize(ref: string): string {
  const r = withDefaultTag(parseReference(ref));
  if (r.tag !== undefined && r.digest !== undefined) {
    throw invalidArgument(
      `reference ${JSON.stringify(ref)}: has both a tag and a digest; store name:tag and name@digest separately`,
    );
  }
  return referenceString(r);
}
