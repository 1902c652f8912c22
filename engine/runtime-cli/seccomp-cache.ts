// berth-runtime's cache of checked and compiled seccomp profiles: each berth-runtime process would otherwise check and
// compile the same profile (Docker's default in most bundles) again. A profile's facts (its filter and the verdicts
// that choose where the child loads it, native-filter.ts) are kept in `<root>/.seccomp/` (a name no container id can
// take), a directory only this user may use: checked through an open descriptor (owner, mode 0700, no symlink)
// before any file in it is read or written. Each file is written to a temporary name and renamed into place
// (concurrent writers of one profile write the same bytes), and is used only when it names this build, the exact
// profile (its full text, not a hash) and the filter's checksum; anything else is a miss: checked and compiled again.
// The cache is bounded: a hit refreshes its file's mtime, and each store keeps the most recently used entries of this
// build (removing other builds' and the temporary files of writers that died). A file removed under a reader that has
// it open is still read whole; one removed before it is opened is a miss.
import {
  closeSync,
  constants,
  fstatSync,
  futimesSync,
  lstatSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { useProfileFactStore, type ProfileFacts, type ProfileFactStore } from '../execdriver/seccomp/native-filter.js';

/** The cache's directory under a state root. */
export const SECCOMP_CACHE_DIR = '.seccomp';
const FORMAT = 1;
/** BPF_MAXINSNS: a longer filter is not one the compiler made. */
const MAX_INSTRUCTIONS = 4096;

/** How many profiles' facts a state root keeps (most recently used first); each is a few tens of KB. */
export const SECCOMP_CACHE_ENTRIES = 64;
/** A hit whose file is older than this refreshes its mtime (one futimes): the order of use is kept to this grain. */
const TOUCH_AFTER_MS = 60_000;
/** A temporary file older than this belongs to a writer that died before its rename. */
const STALE_TMP_MS = 60_000;

/** How many of a key's characters its file name hashes (a whole profile costs ms of CPU in a cold process). */
const NAME_SAMPLES = 256;

/**
 * A file name for `key`: its length and an FNV-1a hash of NAME_SAMPLES characters spread over it. Only a name (the
 * full key is compared on read): two keys that share one replace each other's file.
 */
export function keyName(key: string): string {
  let h = 0x811c9dc5;
  const step = Math.max(1, Math.floor(key.length / NAME_SAMPLES));
  for (let i = 0; i < key.length; i += step) h = Math.imul(h ^ key.charCodeAt(i), 0x01000193);
  return `${key.length.toString(36)}-${(h >>> 0).toString(16).padStart(8, '0')}`;
}

/** FNV-1a over the 32-bit words of a filter (its length is a multiple of 8): a check of the bytes read back. */
export function filterSum(filter: Buffer): number {
  const aligned = filter.byteOffset % 4 === 0 ? filter : Buffer.from(filter);
  const words = new Int32Array(aligned.buffer, aligned.byteOffset, aligned.length >> 2);
  let h = 0x811c9dc5;
  for (let i = 0; i < words.length; i++) h = Math.imul(h ^ words[i]!, 0x01000193);
  return h >>> 0;
}

interface Entry {
  format: number;
  build: string;
  profile: string;
  flags: number;
  filter: string;
  sum: number;
  execveDenied: boolean;
  deniedBeforeCaps: string[];
  deniedBeforeCapsAmbient: string[];
  deniedAfterSetup: string[];
}

function isNames(v: unknown): v is string[] {
  return Array.isArray(v) && v.every((n) => typeof n === 'string');
}

/**
 * The ProfileFactStore of berth-runtime's state root `root` for the build `build` (its bundle's content hash: a
 * rebuilt berth never uses another build's facts).
 */
export class SeccompDiskCache implements ProfileFactStore {
  readonly dir: string;

  /** maxEntries: how many profiles of this build a store keeps (at least 1). */
  constructor(
    root: string,
    private readonly build: string,
    private readonly maxEntries = SECCOMP_CACHE_ENTRIES,
  ) {
    this.dir = join(root, SECCOMP_CACHE_DIR);
  }

  private fileName(profileJson: string): string {
    return `${this.build}-${keyName(profileJson)}.json`;
  }

  /** An fd of the cache directory when it is this user's alone (0700, owned by the effective uid), else undefined. */
  private openDir(): number | undefined {
    let fd: number;
    try {
      fd = openSync(this.dir, constants.O_RDONLY | constants.O_DIRECTORY | constants.O_NOFOLLOW);
    } catch {
      return undefined;
    }
    const st = fstatSync(fd);
    if (st.isDirectory() && st.uid === process.geteuid!() && (st.mode & 0o077) === 0) return fd;
    closeSync(fd);
    return undefined;
  }

  get(profileJson: string): ProfileFacts | undefined {
    const dirFd = this.openDir();
    if (dirFd === undefined) return undefined;
    let fd: number | undefined;
    try {
      // through the directory's descriptor: the directory checked is the one read
      fd = openSync(`/proc/self/fd/${dirFd}/${this.fileName(profileJson)}`, constants.O_RDONLY | constants.O_NOFOLLOW);
      const st = fstatSync(fd);
      if (!st.isFile() || st.uid !== process.geteuid!() || (st.mode & 0o022) !== 0) return undefined;
      const e = JSON.parse(readFileSync(fd, 'utf8')) as Partial<Entry>;
      if (e.format !== FORMAT || e.build !== this.build || e.profile !== profileJson || typeof e.filter !== 'string')
        return undefined;
      const filter = Buffer.from(e.filter, 'base64');
      const valid =
        filter.length > 0 &&
        filter.length % 8 === 0 &&
        filter.length <= MAX_INSTRUCTIONS * 8 &&
        filterSum(filter) === e.sum &&
        Number.isInteger(e.flags) &&
        e.flags! >= 0 &&
        e.flags! <= 7 &&
        typeof e.execveDenied === 'boolean' &&
        isNames(e.deniedBeforeCaps) &&
        isNames(e.deniedBeforeCapsAmbient) &&
        isNames(e.deniedAfterSetup);
      if (!valid) return undefined;
      const now = Date.now();
      if (now - st.mtimeMs > TOUCH_AFTER_MS) {
        try {
          futimesSync(fd, now / 1000, now / 1000);
        } catch {
          // a read-only state root: the entry is still good, only its place in the order of use is not kept
        }
      }
      return {
        filter,
        flags: e.flags!,
        execveDenied: e.execveDenied!,
        deniedBeforeCaps: e.deniedBeforeCaps!,
        deniedBeforeCapsAmbient: e.deniedBeforeCapsAmbient!,
        deniedAfterSetup: e.deniedAfterSetup!,
      };
    } catch {
      return undefined;
    } finally {
      if (fd !== undefined) closeSync(fd);
      closeSync(dirFd);
    }
  }

  set(profileJson: string, facts: ProfileFacts): void {
    try {
      mkdirSync(this.dir, { mode: 0o700 });
    } catch {
      // there already (openDir checks it), or the root is missing: no cache then
    }
    const dirFd = this.openDir();
    if (dirFd === undefined) return;
    const name = this.fileName(profileJson);
    const tmp = `/proc/self/fd/${dirFd}/.${name}.${process.pid}.tmp`;
    const entry: Entry = {
      format: FORMAT,
      build: this.build,
      profile: profileJson,
      flags: facts.flags,
      filter: facts.filter.toString('base64'),
      sum: filterSum(facts.filter),
      execveDenied: facts.execveDenied,
      deniedBeforeCaps: facts.deniedBeforeCaps,
      deniedBeforeCapsAmbient: facts.deniedBeforeCapsAmbient,
      deniedAfterSetup: facts.deniedAfterSetup,
    };
    try {
      writeFileSync(tmp, JSON.stringify(entry), { flag: 'wx', mode: 0o600 });
      renameSync(tmp, `/proc/self/fd/${dirFd}/${name}`);
    } catch {
      rmSync(tmp, { force: true });
      closeSync(dirFd);
      return;
    }
    try {
      this.prune(`/proc/self/fd/${dirFd}`, name);
    } catch {
      // the directory went meanwhile: nothing to bound
    } finally {
      closeSync(dirFd);
    }
  }

  /**
   * Keeps `kept` and the maxEntries - 1 most recently used other entries of this build; removes the rest, every
   * other build's entries (never read again) and stale temporary files. Another writer's fresh temporary file stays;
   * two writers pruning at once remove the same files (a missing one is no error). Cost: one readdir and one lstat per
   * entry, on a store only (a miss).
   */
  private prune(dir: string, kept: string): void {
    const now = Date.now();
    const mine: { file: string; mtime: number }[] = [];
    for (const file of readdirSync(dir)) {
      const path = `${dir}/${file}`;
      if (file.startsWith('.')) {
        const st = lstatSync(path, { throwIfNoEntry: false });
        if (file.endsWith('.tmp') && st !== undefined && now - st.mtimeMs > STALE_TMP_MS) rmSync(path, { force: true });
      } else if (!file.endsWith('.json') || file === kept) {
        continue;
      } else if (!file.startsWith(`${this.build}-`)) {
        rmSync(path, { force: true });
      } else {
        const st = lstatSync(path, { throwIfNoEntry: false });
        if (st !== undefined) mine.push({ file, mtime: st.mtimeMs });
      }
    }
    mine.sort((a, b) => b.mtime - a.mtime);
    for (const { file } of mine.slice(Math.max(0, this.maxEntries - 1))) rmSync(`${dir}/${file}`, { force: true });
  }
}

/** Makes the seccomp code use the cache of the state root `root` for the build `build`; without a build, none. */
export function useSeccompCache({ root, build }: { root: string; build?: string }): void {
  useProfileFactStore(build === undefined ? undefined : new SeccompDiskCache(root, build));
}
