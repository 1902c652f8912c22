// The pull bench's environment for one run: the image corpus (built once into a
// cache under the data root), a fresh berth-registry process on 127.0.0.1 holding it,
// and the backing store every sample's graph roots and peer folders live on.
import { mkdir, mkdtemp, readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { wrap } from '../../engine/errdefs/errors.js';
import { packagePath } from '../../native/package-root.js';
import { createBackingStore, type BackingStore } from '../backing-store.js';
import { native } from '../../native/index.js';
import { mountsUnder } from './pull-peers.js';
import { BenchProcess } from './network-procs.js';
import {
  buildCorpus,
  pushCorpusToRegistry,
  type Compression,
  type CorpusImage,
  type CorpusManifest,
} from '../corpus/index.js';
import type { Profile } from '../results/document.js';

/** Where the graph roots and peer folders of samples live: a fresh tmpfs, or a folder on the data root. */
export type PullBacking = 'tmpfs' | 'host';
export const PULL_BACKINGS: readonly PullBacking[] = ['tmpfs', 'host'];

/** The repository prefix the corpus is pushed under. */
export const REPOSITORY_PREFIX = 'berth-corpus';

export interface PullWorldOptions {
  dataRoot: string;
  profile: Profile;
  seed: number;
  images: readonly string[];
  compressions: readonly Compression[];
  backing: PullBacking;
  /** tmpfs size limit (MiB). */
  storeMiB: number;
}

/** What a case sees once the world is open. */
/** berth-registry running as a process of its own, as a remote registry would: its CPU work is not the puller's. */
export interface RegistryProcess {
  /** `http://127.0.0.1:PORT`. */
  url: string;
  pid: number | undefined;
  /** SIGTERM, then SIGKILL after 5 s; idempotent. */
  close(): Promise<void>;
}

/**
 * Starts `berth-registry --root root --addr 127.0.0.1:0` and waits for its
 * listening line (URL). It holds our pipe as stdin (--exit-with-stdin): if this
 * process dies without closing it, the registry exits too.
 */
export async function startRegistryProcess(root: string): Promise<RegistryProcess> {
  const argv = [
    process.execPath,
    packagePath('engine/registry/bin.mjs'),
    '--root',
    root,
    '--addr',
    '127.0.0.1:0',
    '--log-level',
    'warn',
    '--exit-with-stdin',
  ];
  // the first start after a source change rebuilds the CLI bundle (seconds)
  const p = await BenchProcess.start(
    'pull bench: berth-registry',
    argv,
    undefined,
    /^berth-registry listening on http:\/\/127\.0\.0\.1:\d+$/,
    60_000,
  );
  return {
    url: p.readyLine.slice('berth-registry listening on '.length),
    pid: p.pid,
    close: async () => {
      p.signal('SIGTERM');
      await p.stop(5000);
    },
  };
}

export interface OpenWorld {
  corpus: CorpusManifest;
  corpusDir: string;
  registry: RegistryProcess;
  /** The registry's own folder (on the data root, removed at close). */
  registryRoot: string;
  /** `127.0.0.1:PORT`. */
  registryHost: string;
  store: BackingStore;
  /** A folder on the backing store for the run's scratch data (graph roots, peer folders). */
  scratch: string;
}

/** The corpus cache folder of a profile and seed under the data root (kept across runs). */
export function corpusCacheDir(dataRoot: string, profile: Profile, seed: number): string {
  return join(dataRoot, 'berth-bench-cache', `pull-corpus-${profile}-seed${seed}`);
}

/**
 * Opens on first use and closes when the last user is gone. Every case of the
 * suite calls acquire() in its setup and release() in its teardown; the suite
 * announces its number of cases up front (expect()), so the world stays open
 * from the first case's setup to the last case's teardown instead of being
 * rebuilt between groups. Hooks let peers (dockerd) hang their own cleanup on it.
 */
export class PullWorld {
  private expected = 0;
  private opening: Promise<OpenWorld> | undefined;
  private world: OpenWorld | undefined;
  private readonly closers: { name: string; close: () => Promise<void> }[] = [];

  constructor(readonly options: PullWorldOptions) {}

  /** The number of acquire/release pairs to wait for before closing. */
  expect(users: number): void {
    this.expected = users;
  }

  /** The open world; throws when acquire() has not completed. */
  get open(): OpenWorld {
    if (this.world === undefined) throw new Error('pull bench: world not open');
    return this.world;
  }

  /** Registers a cleanup to run at close (before the registry and the store go), last registered first. */
  onClose(name: string, close: () => Promise<void>): void {
    this.closers.push({ name, close });
  }

  /**
   * Opens the world when needed: builds (or reuses) the corpus, makes the backing
   * store, starts the registry and pushes the images. On failure everything made
   * so far is removed and the error names the step.
   */
  async acquire(): Promise<OpenWorld> {
    this.opening ??= this.start().then(
      (w) => (this.world = w),
      (err: unknown) => {
        this.opening = undefined;
        throw err;
      },
    );
    return this.opening;
  }

  /** One user is done; the last one closes the world (see close()). */
  async release(): Promise<void> {
    this.expected--;
    if (this.expected <= 0) await this.close();
  }

  /**
   * Runs the registered cleanups, stops the registry and disposes the store and
   * scratch folders. Idempotent; runs every step, then throws the first failure.
   */
  async close(): Promise<void> {
    const opening = this.opening;
    this.opening = undefined;
    const world = this.world ?? (await opening?.catch(() => undefined));
    this.world = undefined;
    const errors: unknown[] = [];
    for (const c of this.closers.splice(0).reverse())
      await c.close().catch((err: unknown) => errors.push(wrap(err, `pull bench: ${c.name}`)));
    if (world !== undefined) {
      await world.registry.close().catch((err: unknown) => errors.push(wrap(err, 'pull bench: registry close')));
      await rm(world.registryRoot, { recursive: true, force: true }).catch((err: unknown) =>
        errors.push(wrap(err, 'pull bench: registry folder')),
      );
      await world.store.dispose().catch((err: unknown) => errors.push(err));
    }
    if (errors.length > 0) throw errors[0];
  }

  private async start(): Promise<OpenWorld> {
    const o = this.options;
    await removeLeftovers(o.dataRoot);
    const corpusDir = corpusCacheDir(o.dataRoot, o.profile, o.seed);
    await mkdir(corpusDir, { recursive: true });
    let corpus: CorpusManifest;
    try {
      corpus = await buildCorpus({
        out: corpusDir,
        images: o.images,
        seed: o.seed,
        profile: o.profile,
        compressions: o.compressions,
      });
    } catch (err) {
      throw wrap(err, `pull bench: corpus in ${corpusDir}`);
    }
    const store = await createBackingStore(o.backing, { dir: o.dataRoot, sizeMiB: o.storeMiB });
    let registry: RegistryProcess | undefined;
    let registryRoot: string | undefined;
    try {
      const scratch = join(store.path, 'scratch');
      await mkdir(scratch);
      // the registry's files stay on the data root and it runs as a process of its own:
      // it plays a remote server, neither its disk nor its CPU is the measured puller's
      registryRoot = await mkdtemp(join(o.dataRoot, `berth-pull-registry-${process.pid}-`));
      registry = await startRegistryProcess(registryRoot);
      await pushCorpusToRegistry(corpusDir, registry.url, { images: o.images, repositoryPrefix: REPOSITORY_PREFIX });
      return { corpus, corpusDir, registry, registryRoot, registryHost: new URL(registry.url).host, store, scratch };
    } catch (err) {
      await registry?.close().catch(() => undefined);
      if (registryRoot !== undefined) await rm(registryRoot, { recursive: true, force: true }).catch(() => undefined);
      await store.dispose().catch(() => undefined);
      throw wrap(err, 'pull bench: registry');
    }
  }
}

/** The corpus image `name`; throws naming the image and the corpus when it is missing. */
export function corpusImage(corpus: CorpusManifest, name: string): CorpusImage {
  const image = corpus.images.find((i) => i.name === name);
  if (image === undefined)
    throw new Error(
      `pull bench: image ${name} not in the corpus (built: ${corpus.images.map((i) => i.name).join(', ')})`,
    );
  return image;
}

/** A fresh, unique folder under the world's scratch folder. */
export async function scratchDir(world: OpenWorld, prefix: string): Promise<string> {
  return mkdtemp(join(world.scratch, `${prefix}-`));
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Removes what a bench process that died without its teardown (SIGKILL, a test
 * timeout) left in the data root: its registry folders and its tmpfs backing
 * stores (unmounted lazily). Only folders whose pid no longer runs are touched.
 */
export async function removeLeftovers(dataRoot: string): Promise<string[]> {
  const removed: string[] = [];
  const names = await readdir(dataRoot).catch(() => [] as string[]);
  for (const name of names) {
    const m = /^berth-(?:pull-registry|store-tmpfs)-(\d+)-/.exec(name);
    if (m === null || Number(m[1]) === process.pid || alive(Number(m[1]))) continue;
    const dir = join(dataRoot, name);
    for (const p of await mountsUnder(dir)) {
      try {
        native().umount2(p, 2);
      } catch {
        // gone meanwhile
      }
    }
    await rm(dir, { recursive: true, force: true });
    removed.push(dir);
  }
  return removed;
}
