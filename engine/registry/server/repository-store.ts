// Where the registry server keeps content: one OCI image layout per repository, so
// any repository folder can be read by OCI tools directly (`skopeo copy oci:DIR`).
//
// Layout under the server's root:
//   repositories/<name>/_oci/              the repository's OCI image layout
//       oci-layout                         {"imageLayoutVersion":"1.0.0"}
//       index.json                         every manifest of the repository, once per tag
//                                          (tag in `org.opencontainers.image.ref.name`),
//                                          or once without that annotation when untagged
//       blobs/<alg>/<hex>                  layers, configs and the manifests' exact bytes
//   repositories/<name>/_referrers.json    berth's referrers index: subject digest → descriptors
//   uploads/<id>/                          upload sessions (see upload-store.ts)
//   tmp/                                   files being written, renamed into place when complete
// Name components start with [a-z0-9], so `_oci` and `_referrers.json` never collide
// with a nested repository (`a/b` lives in repositories/a/b/ beside a's `_oci`).
//
// Crash safety: blobs appear by rename(2) of a complete, verified file; index.json and
// _referrers.json are replaced by temp + rename under the repository's write lock.
// A manifest exists when index.json lists it; _referrers.json is written before
// index.json on put and after it on delete, and is filtered by index.json on read,
// so a crash between the two writes never shows a referrer that is not a manifest.
// Cross-repository mount is link(2) of the blob file (a copy when linking fails).
import { randomBytes } from 'node:crypto';
import { createReadStream, type ReadStream } from 'node:fs';
import { copyFile, link, mkdir, readdir, readFile, rename, rm, stat, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { wrap } from '../../errdefs/errors.js';
import { writeFileAtomic } from '../../fsutil/atomic-write.js';
import { KeyedLock } from '../../fsutil/keyed-lock.js';
import type { Descriptor } from './manifest-check.js';
import type { Digest } from './reference-grammar.js';

export const refNameAnnotation = 'org.opencontainers.image.ref.name';

export interface OciIndex {
  schemaVersion: 2;
  mediaType?: string;
  manifests: Descriptor[];
}

/** What the referrers index keeps per referrer: the descriptor the API returns. */
type ReferrersFile = Record<string, Descriptor[]>;

export class RepositoryStore {
  readonly root: string;
  readonly #lock = new KeyedLock();

  constructor(root: string) {
    this.root = root;
  }

  /**
   * Creates the top-level folders (idempotent) and removes leftovers of an
   * interrupted run from tmp/: files of other processes (temp names start with the
   * writer's pid). One serving process per root; servers within one process may share it.
   */
  async init(): Promise<void> {
    const tmp = join(this.root, 'tmp');
    await mkdir(tmp, { recursive: true });
    for (const entry of await readdir(tmp)) {
      if (!entry.startsWith(`${process.pid}-`)) await rm(join(tmp, entry), { recursive: true, force: true });
    }
    await mkdir(join(this.root, 'repositories'), { recursive: true });
    await mkdir(join(this.root, 'uploads'), { recursive: true });
  }

  /** A fresh path in tmp/ (same filesystem as the blobs, so rename is atomic). */
  tempPath(): string {
    return join(this.root, 'tmp', `${process.pid}-${randomBytes(8).toString('hex')}`);
  }

  repositoryDir(name: string): string {
    return join(this.root, 'repositories', ...name.split('/'));
  }

  /** The repository's OCI image layout folder. */
  layoutDir(name: string): string {
    return join(this.repositoryDir(name), '_oci');
  }

  blobPath(name: string, digest: Digest): string {
    return join(this.layoutDir(name), 'blobs', digest.algorithm, digest.hex);
  }

  /** True once the repository has received any content. One stat. */
  async exists(name: string): Promise<boolean> {
    return (await statOrUndefined(join(this.layoutDir(name), 'oci-layout'))) !== undefined;
  }

  /** Creates the repository's layout if missing; idempotent, safe against concurrent callers. */
  async ensureLayout(name: string): Promise<void> {
    if (await this.exists(name)) return;
    await this.#lock.run(name, () => this.#createLayout(name));
  }

  /** ensureLayout's body; the caller holds the repository's lock. */
  async #createLayout(name: string): Promise<void> {
    const dir = this.layoutDir(name);
    if (await this.exists(name)) return;
    await mkdir(join(dir, 'blobs', 'sha256'), { recursive: true });
    await mkdir(join(dir, 'blobs', 'sha512'), { recursive: true });
    if ((await statOrUndefined(join(dir, 'index.json'))) === undefined) {
      await this.#writeJson(join(dir, 'index.json'), {
        schemaVersion: 2,
        mediaType: 'application/vnd.oci.image.index.v1+json',
        manifests: [],
      });
    }
    await this.#writeJson(join(dir, 'oci-layout'), { imageLayoutVersion: '1.0.0' });
  }

  /** The blob's size, or undefined when the repository does not hold it. One stat. */
  async blobSize(name: string, digest: Digest): Promise<number | undefined> {
    return (await statOrUndefined(this.blobPath(name, digest)))?.size;
  }

  /** A stream of the blob's bytes [start, end] (inclusive); the caller checked the range. */
  openBlob(name: string, digest: Digest, start?: number, end?: number): ReadStream {
    return createReadStream(this.blobPath(name, digest), start === undefined ? {} : { start, end });
  }

  /**
   * Moves a complete, verified file into the repository's blobs by rename(2).
   * Idempotent: an existing blob with the same digest is simply replaced by the
   * identical bytes. `file` must be on the root's filesystem (tmp/ or uploads/).
   */
  async commitBlob(name: string, digest: Digest, file: string): Promise<void> {
    await this.ensureLayout(name);
    await rename(file, this.blobPath(name, digest));
  }

  /**
   * Makes `from`'s blob part of `name`: a hard link straight to the blob's name, or a
   * copy through tmp/ and a rename when linking fails. Returns false when `from` lacks
   * the blob (also when it goes away meanwhile). Idempotent, and safe against
   * concurrent mounts, pushes and deletes of the same blob: it runs under `name`'s
   * write lock and a blob already there is kept as it is.
   */
  async mountBlob(name: string, digest: Digest, from: string): Promise<boolean> {
    const source = this.blobPath(from, digest);
    if ((await statOrUndefined(source)) === undefined) return false;
    await this.ensureLayout(name);
    return this.#lock.run(name, async () => {
      const target = this.blobPath(name, digest);
      if ((await statOrUndefined(target)) !== undefined) return true;
      try {
        await link(source, target);
        return true;
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        // A push of the same blob got there first: the bytes are the same.
        if (code === 'EEXIST') return true;
        if (code === 'ENOENT') return false;
      }
      const tmp = this.tempPath();
      try {
        await copyFile(source, tmp);
        await rename(tmp, target);
        return true;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false;
        throw wrap(err, `repository ${name}: mount blob ${digest.text} from ${from}`);
      } finally {
        await rm(tmp, { force: true });
      }
    });
  }

  /**
   * Removes the blob from the repository; false when it was not there. `check` runs
   * first under the repository's write lock (so no manifest push or delete
   * interleaves with it) and refuses by throwing.
   */
  async deleteBlob(name: string, digest: Digest, check: () => Promise<void>): Promise<boolean> {
    return this.#lock.run(name, async () => {
      if ((await this.blobSize(name, digest)) === undefined) return false;
      await check();
      try {
        await unlink(this.blobPath(name, digest));
        return true;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false;
        throw wrap(err, `repository ${name}: delete blob ${digest.text}`);
      }
    });
  }

  /** The repository's index.json (an empty index for a repository without content). */
  async readIndex(name: string): Promise<OciIndex> {
    try {
      return JSON.parse(await readFile(join(this.layoutDir(name), 'index.json'), 'utf8')) as OciIndex;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { schemaVersion: 2, manifests: [] };
      throw wrap(err, `repository ${name}: read index.json`);
    }
  }

  /** The manifest descriptor a tag or digest names, or undefined. Reads index.json. */
  async resolve(name: string, reference: { tag?: string; digest?: string }): Promise<Descriptor | undefined> {
    const index = await this.readIndex(name);
    if (reference.tag !== undefined)
      return index.manifests.find((m) => m.annotations?.[refNameAnnotation] === reference.tag);
    return index.manifests.find((m) => m.digest === reference.digest);
  }

  /** Sorted tags (ASCII order). Reads index.json. */
  async tags(name: string): Promise<string[]> {
    const index = await this.readIndex(name);
    const tags = new Set<string>();
    for (const m of index.manifests) {
      const tag = m.annotations?.[refNameAnnotation];
      if (tag !== undefined) tags.add(tag);
    }
    return [...tags].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  }

  /**
   * Stores a manifest's exact bytes as a blob and records it in index.json, tagged
   * with `tag` when given (moving the tag off any other manifest). `referrer` is the
   * descriptor to index under `subject`. Runs under the repository's write lock;
   * `check` runs inside it (so blob checks and the write see one state). Idempotent.
   */
  async putManifest(
    name: string,
    manifest: { digest: Digest; mediaType: string; bytes: Buffer },
    tag: string | undefined,
    referrer: { subject: string; descriptor: Descriptor } | undefined,
    check: () => Promise<void>,
  ): Promise<void> {
    await this.#lock.run(name, async () => {
      await check();
      await this.#createLayout(name);
      const tmp = this.tempPath();
      try {
        await writeFile(tmp, manifest.bytes);
        await rename(tmp, this.blobPath(name, manifest.digest));
      } catch (err) {
        await rm(tmp, { force: true });
        throw wrap(err, `repository ${name}: store manifest ${manifest.digest.text}`);
      }
      if (referrer) {
        const refs = await this.#readReferrers(name);
        const list = (refs[referrer.subject] ?? []).filter((d) => d.digest !== referrer.descriptor.digest);
        list.push(referrer.descriptor);
        refs[referrer.subject] = list;
        await this.#writeJson(join(this.repositoryDir(name), '_referrers.json'), refs);
      }
      const index = await this.readIndex(name);
      const base = { mediaType: manifest.mediaType, digest: manifest.digest.text, size: manifest.bytes.length };
      let manifests = index.manifests;
      if (tag !== undefined) {
        manifests = manifests.filter((m) => m.annotations?.[refNameAnnotation] !== tag);
        manifests = manifests.filter(
          (m) => !(m.digest === base.digest && m.annotations?.[refNameAnnotation] === undefined),
        );
        manifests.push({ ...base, annotations: { [refNameAnnotation]: tag } });
        // A manifest that lost its last tag stays pullable by digest.
        const moved = index.manifests.find(
          (m) => m.annotations?.[refNameAnnotation] === tag && m.digest !== base.digest,
        );
        if (moved && !manifests.some((m) => m.digest === moved.digest))
          manifests.push({ mediaType: moved.mediaType, digest: moved.digest, size: moved.size });
      } else if (!manifests.some((m) => m.digest === base.digest)) {
        manifests.push(base);
      }
      await this.#writeJson(join(this.layoutDir(name), 'index.json'), { ...index, manifests });
    });
  }

  /** Removes a tag; the manifest stays pullable by digest. False when the tag is unknown. */
  async deleteTag(name: string, tag: string): Promise<boolean> {
    return this.#lock.run(name, async () => {
      const index = await this.readIndex(name);
      const entry = index.manifests.find((m) => m.annotations?.[refNameAnnotation] === tag);
      if (!entry) return false;
      const manifests = index.manifests.filter((m) => m !== entry);
      if (!manifests.some((m) => m.digest === entry.digest))
        manifests.push({ mediaType: entry.mediaType, digest: entry.digest, size: entry.size });
      await this.#writeJson(join(this.layoutDir(name), 'index.json'), { ...index, manifests });
      return true;
    });
  }

  /**
   * Removes a manifest, its tags, its referrers-index entries and its blob file,
   * unless `keepFile` (run under the lock once index.json no longer lists the
   * manifest) says other content still needs the same bytes as a blob.
   * `check` runs first under the lock, when the manifest exists, and refuses by
   * throwing (nothing is changed then). False when the repository has no such manifest.
   */
  async deleteManifest(
    name: string,
    digest: Digest,
    hooks: { check?: () => Promise<void>; keepFile?: () => Promise<boolean> } = {},
  ): Promise<boolean> {
    return this.#lock.run(name, async () => {
      const index = await this.readIndex(name);
      if (!index.manifests.some((m) => m.digest === digest.text)) return false;
      await hooks.check?.();
      await this.#writeJson(join(this.layoutDir(name), 'index.json'), {
        ...index,
        manifests: index.manifests.filter((m) => m.digest !== digest.text),
      });
      const refs = await this.#readReferrers(name);
      let changed = false;
      for (const [subject, list] of Object.entries(refs)) {
        const kept = list.filter((d) => d.digest !== digest.text);
        if (kept.length !== list.length) changed = true;
        if (kept.length === 0) delete refs[subject];
        else refs[subject] = kept;
      }
      if (changed) await this.#writeJson(join(this.repositoryDir(name), '_referrers.json'), refs);
      if (!(await hooks.keepFile?.())) await unlink(this.blobPath(name, digest)).catch(() => undefined);
      return true;
    });
  }

  /** Descriptors of the repository's manifests whose subject is `digest`, in push order. */
  async referrers(name: string, digest: string): Promise<Descriptor[]> {
    const refs = await this.#readReferrers(name);
    const list = refs[digest] ?? [];
    if (list.length === 0) return [];
    const present = new Set((await this.readIndex(name)).manifests.map((m) => m.digest));
    return list.filter((d) => present.has(d.digest));
  }

  async #readReferrers(name: string): Promise<ReferrersFile> {
    try {
      return JSON.parse(await readFile(join(this.repositoryDir(name), '_referrers.json'), 'utf8')) as ReferrersFile;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return {};
      throw wrap(err, `repository ${name}: read referrers index`);
    }
  }

  /** Replaces `path` with `value` as JSON by temp + rename in the same folder. */
  async #writeJson(path: string, value: unknown): Promise<void> {
    await writeFileAtomic(path, JSON.stringify(value), { mode: 0o644, subject: `write ${path}` });
  }
}

async function statOrUndefined(path: string) {
  try {
    return await stat(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT' || (err as NodeJS.ErrnoException).code === 'ENOTDIR')
      return undefined;
    throw wrap(err, `stat ${path}`);
  }
}
