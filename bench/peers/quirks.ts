// Host quirks a peer runtime needs worked around before the harness can drive it,
// each described as data (what it is, why, the wrapper) so results can record it.
import { parseLayout } from '../../engine/execdriver/cgroups/detect.js';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

/** A workaround applied to every invocation of a peer runtime. */
export interface PeerQuirk {
  /** Stable id for notes and tests, e.g. `crun-hybrid-cgroup`. */
  id: string;
  /** One sentence for the result's warnings and the case notes. */
  description: string;
  /**
   * Turns the runtime's argv (binary first) into the argv to spawn. Pure; the
   * wrapper must leave the runtime's own exit status and stdio untouched.
   */
  wrap(argv: readonly string[]): string[];
}

/**
 * crun 1.8 refuses a hybrid cgroup layout whose cgroup2 mount has controllers
 * ("cgroups in hybrid mode not supported"). In a private mount namespace
 * (`unshare -m`, propagation private, so the host keeps its mount) with that
 * cgroup2 mount unmounted, crun sees a plain v1 host.
 */
export function crunHybridQuirk(unified: string): PeerQuirk {
  return {
    id: 'crun-hybrid-cgroup',
    description:
      `crun refuses this host's hybrid cgroup layout (cgroup2 at ${unified} beside v1), so each crun call runs as ` +
      `\`unshare -m --propagation private sh -c 'umount ${unified} && exec crun …'\` (a private mount namespace without the cgroup2 mount); ` +
      "the wrapper's own cost is measured as its own case (quirk-wrapper) so it can be subtracted.",
    wrap: (argv) => [
      'unshare',
      '-m',
      '--propagation',
      'private',
      'sh',
      '-c',
      `umount ${shellQuote(unified)} && exec "$0" "$@"`,
      ...argv,
    ],
  };
}

/** Controllers a cgroup2 mount offers (its cgroup.controllers), empty when unreadable. */
function cgroup2Controllers(mountPoint: string): string[] {
  try {
    return readFileSync(join(mountPoint, 'cgroup.controllers'), 'utf8')
      .trim()
      .split(/\s+/)
      .filter((c) => c !== '');
  } catch {
    return [];
  }
}

/**
 * The quirks `crun` needs on a host with this mountinfo: the hybrid-cgroup wrapper
 * when v1 hierarchies sit beside a cgroup2 mount that has controllers (what crun
 * 1.8 refuses); none on a pure v1 or v2 host or when the cgroup2 mount is empty.
 */
export function crunQuirks(
  mountinfo: string = readFileSync('/proc/self/mountinfo', 'utf8'),
  controllersOf: (mountPoint: string) => string[] = cgroup2Controllers,
): PeerQuirk[] {
  const layout = parseLayout(mountinfo);
  if (layout.mode !== 'hybrid' || layout.unified === undefined) return [];
  if (controllersOf(layout.unified).length === 0) return [];
  return [crunHybridQuirk(layout.unified)];
}

/** Quotes a word for sh -c. */
export function shellQuote(word: string): string {
  return /^[A-Za-z0-9_./:=@%+-]+$/.test(word) ? word : `'${word.replace(/'/g, `'\\''`)}'`;
}
