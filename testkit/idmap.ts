// Whether this kernel and the temporary folder's filesystem allow idmapped mounts. The
// probe runs on a fresh folder of its own: a recursive probe of the temporary folder
// itself would also take in whatever other processes mounted below it (a container's
// /proc there answers EINVAL) and so depend on what else runs on the host.
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
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

let overlayRefused: string | null | undefined;

/**
 * null when overlayfs takes idmapped layers here (native overlayIdmapped on a fresh folder in tmpdir(): one lower, an
 * upper, mounted and unmounted), else why not.
 */
export function overlayIdmapRefusal(): string | null {
  if (overlayRefused !== undefined) return overlayRefused;
  if (!root()) return (overlayRefused = 'needs root');
  const dir = mkdtempSync(join(tmpdir(), `berth-ovidmap-probe-${process.pid}-`));
  try {
    for (const d of ['lower', 'layer/diff', 'layer/work', 'merged']) mkdirSync(join(dir, d), { recursive: true });
    const map = '0 4000000000 1\n';
    native().overlayIdmapped(
      join(dir, 'merged'),
      [join(dir, 'lower')],
      join(dir, 'layer'),
      'diff',
      'work',
      [],
      map,
      map,
    );
    native().umount2(join(dir, 'merged'), 2);
    overlayRefused = null;
  } catch (err) {
    overlayRefused = (err as Error).message;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  return overlayRefused;
}

/** Missing unless overlayfs takes idmapped layers in tmpdir(). */
export function overlayIdmappedLayers(): Missing {
  const r = overlayIdmapRefusal();
  return when(r === null, `overlayfs refuses idmapped layers on ${tmpdir()} (${r})`);
}
