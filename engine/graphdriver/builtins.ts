// The one list of graphdrivers berth knows (plugins as data, docs/style.md 6). A daemon
// with no --storage-driver tries overlay2, then vfs (openDriver in jobs/builtins.ts).
import { notFound } from '../errdefs/errors.js';
import { btrfsPlugin } from './btrfs.js';
import type { DriverPlugin } from './driver.js';
import { overlay2Plugin } from './overlay2.js';
import { vfsPlugin } from './vfs.js';

export const graphdriverPlugins: readonly DriverPlugin[] = [overlay2Plugin, btrfsPlugin, vfsPlugin];

/** The registration of driver `id`; NOT_FOUND naming it and the known ones otherwise. */
export function graphdriverPlugin(id: string): DriverPlugin {
  const p = graphdriverPlugins.find((d) => d.id === id);
  if (p === undefined)
    throw notFound(
      `graphdriver ${JSON.stringify(id)}: unknown (known: ${graphdriverPlugins.map((d) => d.id).join(', ')})`,
    );
  return p;
}
