// Whether this kernel and the temporary folder's filesystem allow idmapped mounts. The
// probe runs on a fresh folder of its own: a recursive probe of the temporary folder
// itself would also take in whatever other processes mounted below it (a container's
// /proc there answers EINVAL) and so depend on what else runs on the host.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { native } from '../native/index.js';
import { when, type Missing } from './needs.js';

let refused: string | null | undefined;

/** null when an idmapped mount of a fresh folder in tmpdir() can be made, else the errno name the kernel answered. */
export function idmapRefusal(): string | null {
  if (refused !== undefined) return refused;
  const dir = mkdtempSync(join(tmpdir(), `berth-idmap-probe-${process.pid}-`));
  try {
    refused = root() ? native().idmapProbe(dir) : 'needs root';
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  return refused;
}

function root(): boolean {
  return process.getuid?.() === 0;
}

/** Missing unless idmapped mounts can be made in tmpdir(). */
export function idmappedMounts(): Missing {
  const r = idmapRefusal();
  return when(r === null, `idmapped mounts refused on ${tmpdir()} (${r})`);
}
