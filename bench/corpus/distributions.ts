// The seeded random draws behind the corpus (seed derivation, log-normal file sizes
// scaled to a layer's byte budget) and the sources each distribution is modelled on.
import { createHash } from 'node:crypto';
import { invalidArgument } from '../../engine/errdefs/errors.js';
import { createRng, type Rng } from '../stats.js';

/** A published (or measured) source a corpus distribution is modelled on. */
export interface DistributionSource {
  id: string;
  citation: string;
  /** What berth takes from it, and how closely: stated, or approximated. */
  use: string;
}

/** Every source the corpus cites; corpus.json repeats them beside each distribution. */
export const sources: Record<string, DistributionSource> = {
  zhao2019: {
    id: 'zhao2019',
    citation:
      'N. Zhao, V. Tarasov, H. Albahar, A. Anwar, L. Rupprecht, D. Skourtis, A. S. Warke, M. Mohamed, A. R. Butt: "Large-Scale Analysis of the Docker Hub Dataset", IEEE CLUSTER 2019, doi:10.1109/CLUSTER.2019.8891000',
    use: 'qualitative shape only: most layers are small and many compress little, file sizes are heavy-tailed, few file types hold most bytes, only ~3% of files are unique (abstract). The exact CDF values of its figures were not available to us; the parameters below are approximations, not fits.',
  },
  anwar2018: {
    id: 'anwar2018',
    citation:
      'A. Anwar, M. Mohamed, V. Tarasov, M. Littley, L. Rupprecht, Y. Cheng, N. Zhao, D. Skourtis, A. S. Warke, H. Ludwig, D. Hildebrand, A. R. Butt: "Improving Docker Registry Design Based on Production Workload Analysis", USENIX FAST 2018',
    use: 'qualitative shape only: layer pulls dominate registry traffic and layer sizes are skewed towards small layers with a long tail; approximated, not fitted.',
  },
  downey2001: {
    id: 'downey2001',
    citation: 'A. B. Downey: "The structural cause of file size distributions", IEEE MASCOTS 2001',
    use: 'the model form: file sizes follow a log-normal body (a multiplicative process); berth draws log-normal sizes with a wide sigma for the heavy tail.',
  },
  agrawal2007: {
    id: 'agrawal2007',
    citation:
      'N. Agrawal, W. J. Bolosky, J. R. Douceur, J. R. Lorch: "A Five-Year Study of File-System Metadata", USENIX FAST 2007',
    use: 'the model form: most files are a few KiB while a few large files hold most of the bytes; directory trees are shallow and wide.',
  },
  debianMinbase: {
    id: 'debianMinbase',
    citation:
      'berth docs/host-notes.md ("Real root filesystems"): `debootstrap --variant=minbase bookworm` measured on a Debian 12 host: about 206 MB and 6.8k files',
    use: 'the base-like layer of `app`: its mean file size (about 30 KB) and file count order of magnitude.',
  },
};

/** Log-normal parameters of a size draw: the median in bytes and sigma of ln(size). */
export interface LogNormal {
  kind: 'lognormal';
  medianBytes: number;
  sigma: number;
  /** Sizes are clipped to [min, max] before the layer's total is scaled to its budget. */
  minBytes: number;
  maxBytes: number;
}

/**
 * A 48-bit seed for one stream of draws, derived from the corpus seed and a path of
 * names (image, layer, purpose), so that each stream is independent of the others
 * and of the order they are drawn in. O(1).
 */
function deriveSeed(seed: number, ...path: (string | number)[]): number {
  const digest = createHash('sha256')
    .update(JSON.stringify([seed, ...path]))
    .digest();
  return digest.readUIntBE(0, 6);
}

/** A seeded generator for the stream named by `path` under `seed`. */
export function rngFor(seed: number, ...path: (string | number)[]): Rng {
  return createRng(deriveSeed(seed, ...path));
}

/** A standard normal draw (Box–Muller). */
function normal(rng: Rng): number {
  let u = rng();
  while (u === 0) u = rng();
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * rng());
}

/** One log-normal draw, clipped to the distribution's bounds, as a whole number of bytes. */
export function drawSize(rng: Rng, d: LogNormal): number {
  const v = d.medianBytes * Math.exp(d.sigma * normal(rng));
  return Math.round(Math.min(d.maxBytes, Math.max(d.minBytes, v)));
}

/**
 * Scales `raw` sizes together so they sum to exactly `totalBytes`: the shape of
 * the distribution is kept and the layer hits its budget. A size never drops below
 * 1 byte. Fails with INVALID_ARGUMENT when the budget is below one byte per file.
 * O(n log n).
 */
export function scaleToBudget(raw: readonly number[], totalBytes: number, subject: string): number[] {
  const count = raw.length;
  if (count === 0) return [];
  if (!Number.isSafeInteger(totalBytes) || totalBytes < count)
    throw invalidArgument(`${subject}: ${totalBytes} bytes cannot hold ${count} files`);
  const sum = raw.reduce((a, b) => a + b, 0);
  const factor = totalBytes / sum;
  const sizes = raw.map((s) => Math.max(1, Math.floor(s * factor)));
  let rest = totalBytes - sizes.reduce((a, b) => a + b, 0);
  const order = sizes.map((_, i) => i).sort((a, b) => sizes[b] - sizes[a] || a - b);
  if (rest >= 0) {
    // The rounding remainder goes to the largest file, so the sum is exact.
    sizes[order[0]] += rest;
  } else {
    // Floors at 1 byte can overshoot; take the excess from the largest files.
    for (const i of order) {
      if (rest === 0) break;
      const take = Math.min(-rest, sizes[i] - 1);
      sizes[i] -= take;
      rest += take;
    }
  }
  return sizes;
}

/** Picks an index by weights (need not sum to 1). */
export function pickWeighted(rng: Rng, weights: readonly number[]): number {
  const total = weights.reduce((a, b) => a + b, 0);
  let x = rng() * total;
  for (let i = 0; i < weights.length; i++) {
    x -= weights[i];
    if (x < 0) return i;
  }
  return weights.length - 1;
}

/** A whole number in [lo, hi]. */
export function intBetween(rng: Rng, lo: number, hi: number): number {
  return lo + Math.floor(rng() * (hi - lo + 1));
}
