// The graphdriver boundary: how the Graph stores layers on disk and hands out
// root filesystems. Docker's ProtoDriver/DiffDriver, context-first (docs/style.md 1–4).
import type { IdShift } from '../archive/apply-layer.js';
import type { Change } from '../archive/diff-tar.js';
import type { Context } from '../trace/context.js';
import type { InstrumentOptions } from '../trace/instrument.js';

/** What to mount for a layer; the caller mounts (mounts are data, docs/style.md 4). */
export interface Mount {
  type: string;
  source: string;
  options: string[];
}

/** Human-readable facts about a driver (backing filesystem, layer count, …). */
export interface DriverStatus {
  [key: string]: string;
}

export interface CreateOptions {
  storageOpt?: Record<string, string>;
}

export interface RemoveOptions {
  /**
   * The caller needs the layer gone, not its content deleted: a driver may answer once the layer is unreachable
   * (moved out of its namespace, where its next init deletes it should the process die) and delete the tree in the
   * background. Drivers without such a step remove everything before answering.
   */
  deferDelete?: boolean;
}

/**
 * The core of a graphdriver. Layer ids are opaque strings chosen by the caller
 * (the layer store uses chain-derived ids); they must match /^[A-Za-z0-9][A-Za-z0-9_.-]*$/.
 */
export interface ProtoDriver {
  /** 'vfs' | 'overlay2' | 'btrfs'. */
  readonly name: string;
  /** The driver's folder under the data root (`<root>/<name>`). */
  readonly home: string;
  /**
   * Creates a read-only layer `id` on top of `parent` (undefined: empty base).
   * Fails ALREADY_EXISTS if `id` exists, NOT_FOUND if `parent` does not.
   * Crash-safe: a failed create leaves nothing behind. Cost: driver-specific
   * (vfs copies the parent's whole tree; overlay2 and btrfs are O(1)).
   */
  create(ctx: Context, id: string, parent: string | undefined, opts?: CreateOptions): Promise<void>;
  /** Like create, for a container's writable layer. */
  createReadWrite(ctx: Context, id: string, parent: string | undefined, opts?: CreateOptions): Promise<void>;
  /**
   * Removes layer `id` and its content. Idempotent: removing an unknown id succeeds.
   * Fails CONFLICT while the layer is mounted (get without the matching put).
   */
  remove(ctx: Context, id: string, opts?: RemoveOptions): Promise<void>;
  /** What get() would mount, as data; no syscall. Fails NOT_FOUND for an unknown id. */
  mounts(ctx: Context, id: string): Promise<Mount[]>;
  /**
   * Mounts the layer (reference-counted: only the first get mounts) and returns the
   * path of its root filesystem. Fails NOT_FOUND for an unknown id.
   */
  get(ctx: Context, id: string): Promise<string>;
  /** Releases one get; the last put unmounts. A put without a get is a no-op. */
  put(ctx: Context, id: string): Promise<void>;
  /** Whether layer `id` exists. Never throws for a well-formed id. */
  exists(ctx: Context, id: string): Promise<boolean>;
  /** Facts for `docker info` and result documents. */
  status(ctx: Context): Promise<DriverStatus>;
  /** Unmounts everything this driver mounted; called at shutdown. Idempotent. */
  cleanup(ctx: Context): Promise<void>;
  /**
   * Optional (overlay2): remounts the mounted (get) layer `id` over idmapped copies of its layers, mapped by `maps`
   * (container id 0 = `hostID`), so a user namespace with those maps sees the stored ids as its own, and what its root
   * writes is stored unmapped. Until the last put, get() returns that view. false: the layer has no parent, so there is
   * nothing to overlay (the caller idmaps the tree get() returned instead). Fails with the kernel's refusal.
   */
  idmapLayers?(ctx: Context, id: string, maps: IdMaps): Promise<boolean>;
  /**
   * Optional (overlay2): mounts the layer like get, but detached: in no mount namespace until a container's child
   * attaches it at `target` in its own, so the host's mount table does not grow with the containers running. Counted
   * as a get (put releases it). undefined when the driver mounts this layer on the host instead (then use get).
   */
  getDetached?(ctx: Context, id: string): Promise<DetachedMount | undefined>;
}

/** A layer's root mounted detached (getDetached). */
export interface DetachedMount {
  /** The fd of the detached tree (close-on-exec); the driver's until the put. */
  fd: number;
  /** Where this process, and the commands it runs as root, reach the tree: `/proc/<this pid>/fd/<fd>`. */
  path: string;
  /** Where a container attaches it (in its own mount namespace): the path get() would have mounted. */
  target: string;
}

/** A user namespace's ranges: container id 0..size-1 is host id hostID..hostID+size-1. */
export interface IdMaps {
  uid: { hostID: number; size: number };
  gid: { hostID: number; size: number };
}

export type { Change };

/** Result of applying a layer tar: bytes of regular file content and tar entries seen. */
export interface ApplyResult {
  size: number;
  entries: number;
}

/**
 * The optional diff ability (Docker's DiffDriver). A driver without it gets the
 * generic one, which mounts both layers and compares their trees (withDiff in
 * naive-diff.ts, Docker's NewNaiveDiffDriver).
 */
export interface DiffDriver {
  /** Uncompressed tar of `id`'s changes against `parent`, whiteouts for deletions. */
  diff(ctx: Context, id: string, parent: string | undefined): Promise<NodeJS.ReadableStream>;
  /** The paths `id` adds, modifies or deletes relative to `parent`, sorted by path. */
  changes(ctx: Context, id: string, parent: string | undefined): Promise<Change[]>;
  /**
   * Applies a layer tar into layer `id` (created with create() on `parent` first).
   * Fails INVALID_ARGUMENT naming the entry for an unsafe or malformed tar; the
   * caller must then remove the layer (it holds a partial result).
   */
  applyDiff(ctx: Context, id: string, parent: string | undefined, tar: NodeJS.ReadableStream): Promise<ApplyResult>;
  /** Bytes of regular file content `id` changes against `parent`. Cost: a walk of the layer. */
  diffSize(ctx: Context, id: string, parent: string | undefined): Promise<number>;
}

/** A graphdriver as a plugin returns it: the core, with or without its own diff. */
export type Driver = ProtoDriver & Partial<DiffDriver>;

/** A driver with a diff, native or naive: what the layer store writes through. */
export type DiffingDriver = ProtoDriver & DiffDriver;

export interface DriverInit {
  /** The data root; the driver lives in `<root>/<name>`. */
  root: string;
  /** Driver options (`overlay2.mountProgram`, …); unknown keys fail INVALID_ARGUMENT. */
  options?: Record<string, string>;
  /** Store applied layers with ids shifted into these ranges (berthd's --userns-remap without idmapped mounts). */
  idShift?: IdShift;
}

/** A driver's registration in the builtins list (docs/style.md 6). */
export interface DriverPlugin {
  type: 'graphdriver';
  id: string;
  init(ctx: Context, init: DriverInit): Promise<Driver>;
}

/** Type guard for the optional DiffDriver ability. */
export function isDiffDriver(d: ProtoDriver): d is ProtoDriver & DiffDriver {
  const x = d as Partial<DiffDriver>;
  return (
    typeof x.diff === 'function' &&
    typeof x.changes === 'function' &&
    typeof x.applyDiff === 'function' &&
    typeof x.diffSize === 'function'
  );
}

/**
 * The methods the engine times, as instrument(`graphdriver.<name>`, driver,
 * graphdriverBoundary) wraps them: spans `graphdriver.<name>.<method>`.
 */
export const graphdriverBoundary: InstrumentOptions<DiffingDriver> = {
  methods: ['create', 'createReadWrite', 'remove', 'mounts', 'get', 'put', 'exists', 'applyDiff'],
};
