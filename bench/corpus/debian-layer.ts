// The `debian` image's base layer: a real `debootstrap --variant=minbase` root
// filesystem, made once per cache folder (the dearest part of a cold corpus; needs the Debian mirror the host's
// apt uses) and then walked into tar entries. Built only when the image is asked for.
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { lstat, mkdir, readdir, readFile, readlink, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { failedPrecondition, wrap } from '../../engine/errdefs/errors.js';
import type { DebootstrapLayer } from './corpus-spec.js';
import { sortEntries, type LayerPlan, type PlanEntry } from './layer-plan.js';

const run = promisify(execFile);

/** True when `debootstrap` can be run here. */
export async function hasDebootstrap(): Promise<boolean> {
  for (const dir of (process.env.PATH ?? '').split(':').concat(['/usr/sbin', '/sbin'])) {
    try {
      if ((await lstat(join(dir, 'debootstrap'))).isFile()) return true;
    } catch {
      // not in this folder
    }
  }
  return false;
}

/**
 * The Debian mirror apt uses on this host (a `URIs:` or `deb` line ending in
 * `/debian` in `<aptDir>/sources.list{,.d/*}`). Fails with FAILED_PRECONDITION
 * when none is configured.
 */
export async function debianMirror(aptDir = '/etc/apt'): Promise<string> {
  const files = [join(aptDir, 'sources.list')];
  try {
    for (const f of await readdir(join(aptDir, 'sources.list.d'))) files.push(join(aptDir, 'sources.list.d', f));
  } catch {
    // no sources.list.d
  }
  for (const f of files.sort()) {
    let text = '';
    try {
      text = await readFile(f, 'utf8');
    } catch {
      continue;
    }
    for (const m of text.matchAll(/^(?:URIs:\s*|deb\s+(?:\[[^\]]*\]\s+)?)(\S+)/gm)) {
      for (const uri of m[1].split(/\s+/)) if (/^https?:\/\/.+\/debian\/?$/.test(uri)) return uri;
    }
  }
  throw failedPrecondition(
    `debian mirror: none found in ${aptDir}/sources.list{,.d} (a URIs: or deb line ending in /debian)`,
  );
}

/**
 * Makes (once) and returns the cached minbase root filesystem of `suite` and its
 * fingerprint (digest of its listing). Fails with FAILED_PRECONDITION when
 * debootstrap is missing, with the debootstrap error otherwise; a failed run
 * leaves no cache entry behind.
 */
async function debootstrapTree(suite: string, cacheDir: string): Promise<{ rootfs: string; fingerprint: string }> {
  const dir = join(cacheDir, `debootstrap-${suite}-minbase`);
  const rootfs = join(dir, 'rootfs');
  const stamp = join(dir, 'fingerprint');
  try {
    return { rootfs, fingerprint: (await readFile(stamp, 'utf8')).trim() };
  } catch {
    // not built yet
  }
  if (!(await hasDebootstrap()))
    throw failedPrecondition(`debian ${suite} minbase: debootstrap is not installed (apt-get install debootstrap)`);
  const mirror = await debianMirror();
  const tmp = `${dir}.tmp-${process.pid}`;
  await rm(tmp, { recursive: true, force: true });
  await mkdir(tmp, { recursive: true });
  try {
    await run('debootstrap', ['--variant=minbase', suite, join(tmp, 'rootfs'), mirror], {
      maxBuffer: 64 * 1024 * 1024,
    });
    const fingerprint = listingDigest(await walk(join(tmp, 'rootfs')));
    await writeFile(join(tmp, 'fingerprint'), `${fingerprint}\n`);
    await rm(dir, { recursive: true, force: true });
    await rename(tmp, dir);
    return { rootfs, fingerprint };
  } catch (err) {
    await rm(tmp, { recursive: true, force: true });
    throw wrap(err, `debian ${suite} minbase: debootstrap from ${mirror}`);
  }
}

/** The layer plan of the cached tree (device nodes, sockets and FIFOs are left out). */
export async function planDebootstrapLayer(
  spec: DebootstrapLayer,
  cacheDir: string,
): Promise<{ plan: LayerPlan; fingerprint: string }> {
  const { rootfs, fingerprint } = await debootstrapTree(spec.suite, cacheDir);
  const entries = sortEntries(await walk(rootfs));
  const files = entries.filter((e) => e.type === 'file');
  return {
    plan: { entries, files: files.length, whiteouts: 0, bytes: files.reduce((a, e) => a + e.size, 0) },
    fingerprint,
  };
}

/** Every folder, file and symlink under `root`, as entries (hard links become copies). */
async function walk(root: string): Promise<PlanEntry[]> {
  const out: PlanEntry[] = [];
  const visit = async (rel: string): Promise<void> => {
    for (const name of (await readdir(join(root, rel))).sort()) {
      const path = rel === '' ? name : `${rel}/${name}`;
      const full = join(root, path);
      const st = await lstat(full);
      const base = { path, mode: st.mode & 0o7777, uid: st.uid, gid: st.gid };
      if (st.isDirectory()) {
        out.push({ ...base, type: 'directory', size: 0 });
        await visit(path);
      } else if (st.isFile()) {
        out.push({ ...base, type: 'file', size: st.size, source: full });
      } else if (st.isSymbolicLink()) {
        out.push({ ...base, type: 'symlink', size: 0, linkname: await readlink(full) });
      }
    }
  };
  await visit('');
  return out;
}

function listingDigest(entries: PlanEntry[]): string {
  const hash = createHash('sha256');
  for (const e of sortEntries(entries))
    hash.update(`${e.type} ${e.path} ${e.mode} ${e.uid} ${e.gid} ${e.size} ${e.linkname ?? ''}\n`);
  return `sha256:${hash.digest('hex')}`;
}
