// What a runtime-tools validation program may leave behind, and its removal after each
// program (scripts/conformance-runtime.ts). Every program runs with TMPDIR set to a
// directory of its own, so the suite's bundles (os.MkdirTemp "ocitest*") land there:
// a container whose bundle is in it, a mount under it, and the suite's fixed cgroup
// (`cgrouptest`, only for the programs holding its lock) belong to that program and to
// no other run going on beside it.
import { spawn } from 'node:child_process';
import { existsSync, readFileSync, readdirSync, rmSync, rmdirSync } from 'node:fs';
import { join } from 'node:path';
import { parseHierarchies } from '../engine/execdriver/cgroups/detect.js';

/** What was found left after a program, and removed (or not: `errors`). */
export interface Leftovers {
  containers: string[];
  mounts: string[];
  cgroups: string[];
  errors: string[];
}

/** A container as `<runtime> list --format json` prints it (runc, crun and berth-runtime alike). */
export interface ListedContainer {
  id: string;
  bundle?: string;
}

/** Whether `path` is `dir` or below it. */
export function isUnder(path: string, dir: string): boolean {
  const d = dir.endsWith('/') ? dir : `${dir}/`;
  return path === dir || path.startsWith(d);
}

/** The ids of listed containers whose bundle lies under `dir`. */
export function containersUnder(listed: readonly ListedContainer[], dir: string): string[] {
  return listed.filter((c) => typeof c.bundle === 'string' && isUnder(c.bundle, dir)).map((c) => c.id);
}

/** Mount points of /proc/self/mountinfo text under `dir`, deepest (and latest) first: the order to unmount them. */
export function mountsUnder(mountinfo: string, dir: string): string[] {
  const points: string[] = [];
  for (const line of mountinfo.split('\n')) {
    const point = line.split(' ')[4];
    if (point === undefined) continue;
    const decoded = point.replace(/\\([0-7]{3})/g, (_m, o: string) => String.fromCharCode(parseInt(o, 8)));
    if (isUnder(decoded, dir)) points.push(decoded);
  }
  return points.reverse().sort((a, b) => b.split('/').length - a.split('/').length);
}

/** Directories named `name` below `root`, at most `depth` levels down (cgroup trees: no symlinks to follow). */
export function findDirsNamed(root: string, name: string, depth: number): string[] {
  const found: string[] = [];
  const walk = (dir: string, left: number) => {
    let entries;
    try {
      entries = readdirSync(dir, { withFileTypes: true });
    } catch {
      return;
    }
    for (const e of entries) {
      if (!e.isDirectory()) continue;
      const p = join(dir, e.name);
      if (e.name === name) found.push(p);
      else if (left > 1) walk(p, left - 1);
    }
  };
  walk(root, depth);
  return found;
}

/** Every directory of a tree, deepest first (the order rmdir needs); the root last. */
export function treeDeepestFirst(root: string): string[] {
  const out: string[] = [];
  const walk = (dir: string) => {
    let entries;
    try {
      entries = readdirSync(dir, { withFileTypes: true });
    } catch {
      return;
    }
    for (const e of entries) if (e.isDirectory()) walk(join(dir, e.name));
    out.push(dir);
  };
  walk(root);
  return out;
}

function run(argv: string[], timeoutMs = 30_000): Promise<{ code: number | null; out: string; err: string }> {
  return new Promise((done) => {
    const child = spawn(argv[0] as string, argv.slice(1), { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (err += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('error', (e) => {
      clearTimeout(timer);
      done({ code: null, out, err: err + e.message });
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      done({ code, out, err });
    });
  });
}

/** The containers a runtime lists (`list --format json`); an empty list when it lists none or fails. */
export async function listContainers(runtime: string): Promise<{ listed: ListedContainer[]; error?: string }> {
  const r = await run([runtime, 'list', '--format', 'json']);
  if (r.code !== 0) return { listed: [], error: `${runtime} list: exit ${r.code}: ${r.err.trim().split('\n')[0]}` };
  const text = r.out.trim();
  if (text === '' || text === 'null') return { listed: [] };
  try {
    const parsed = JSON.parse(text) as unknown;
    return { listed: Array.isArray(parsed) ? (parsed as ListedContainer[]) : [] };
  } catch {
    return { listed: [], error: `${runtime} list: not JSON: ${text.slice(0, 80)}` };
  }
}

/** Removes a cgroup tree, deepest first; processes still in it (the suite's containers') are killed first. */
function removeCgroupTree(root: string, errors: string[]): void {
  for (const dir of treeDeepestFirst(root)) {
    try {
      const procs = readFileSync(join(dir, 'cgroup.procs'), 'utf8').split('\n').filter(Boolean);
      for (const pid of procs) {
        try {
          process.kill(Number(pid), 'SIGKILL');
        } catch {
          // gone already
        }
      }
    } catch {
      // no procs file: nothing to kill
    }
    // A killed process leaves its cgroup a moment later: a few tries, no fixed wait.
    let lastErr: unknown;
    for (let i = 0; i < 200; i++) {
      try {
        rmdirSync(dir);
        lastErr = undefined;
        break;
      } catch (e) {
        lastErr = e;
        if ((e as NodeJS.ErrnoException).code === 'ENOENT') {
          lastErr = undefined;
          break;
        }
        if ((e as NodeJS.ErrnoException).code !== 'EBUSY') break;
        Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 10);
      }
    }
    if (lastErr !== undefined) errors.push(`cgroup ${dir}: ${(lastErr as Error).message}`);
  }
}

/**
 * Removes what one program left: containers with their bundle under `tmp` (`delete
 * --force`), mounts under `tmp`, the cgroups of those containers and, when
 * `fixedCgroup` (the caller holds the suite's cgroup lock), every `cgrouptest` cgroup;
 * then `tmp` itself. Returns what it found; `errors` says what it could not remove.
 */
export async function cleanUpAfter(runtime: string, tmp: string, fixedCgroup: boolean): Promise<Leftovers> {
  const left: Leftovers = { containers: [], mounts: [], cgroups: [], errors: [] };
  const { listed, error } = await listContainers(runtime);
  if (error !== undefined) left.errors.push(error);
  left.containers = containersUnder(listed, tmp);
  for (const id of left.containers) {
    const r = await run([runtime, 'delete', '--force', id]);
    if (r.code !== 0)
      left.errors.push(`container ${id}: delete --force: exit ${r.code}: ${r.err.trim().split('\n')[0]}`);
  }
  left.mounts = mountsUnder(readFileSync('/proc/self/mountinfo', 'utf8'), tmp);
  for (const m of left.mounts) {
    const r = await run(['umount', '--lazy', m]);
    if (r.code !== 0) left.errors.push(`mount ${m}: umount: ${r.err.trim()}`);
  }
  const hierarchies = parseHierarchies(readFileSync('/proc/self/mountinfo', 'utf8')).map((h) => h.mountPoint);
  const names = [...left.containers, ...(fixedCgroup ? ['cgrouptest'] : [])];
  for (const h of hierarchies) {
    for (const name of names) {
      for (const dir of findDirsNamed(h, name, 5)) {
        left.cgroups.push(dir);
        removeCgroupTree(dir, left.errors);
        // the relative cgroup path is testdir/cgrouptest/container: its testdir goes too when empty
        const parent = join(dir, '..');
        if (name === 'cgrouptest' && parent.endsWith('/testdir') && existsSync(parent)) {
          try {
            rmdirSync(parent);
          } catch {
            // not empty: someone else's
          }
        }
      }
    }
  }
  // Never a recursive removal across a mount that is still there (a bind of / under it, say).
  const still = mountsUnder(readFileSync('/proc/self/mountinfo', 'utf8'), tmp);
  if (still.length > 0) {
    left.errors.push(`${tmp}: kept, still mounted: ${still.join(', ')}`);
    return left;
  }
  try {
    rmSync(tmp, { recursive: true, force: true });
  } catch (e) {
    left.errors.push(`${tmp}: ${(e as Error).message}`);
  }
  return left;
}
