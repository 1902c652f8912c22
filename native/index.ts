// Loads berth's native core (native/build/Release/berth_native.node, built by
// `npm install`) and gives its exports types. Everything that needs the kernel
// beyond what Node offers goes through here.
import { createRequire } from 'node:module';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { unavailable } from '../engine/errdefs/errors.js';

export interface NativeCore {
  /** The addon's own version. */
  readonly version: string;
  /** CLOCK_MONOTONIC in nanoseconds (the clock of span timestamps). */
  monotonicNs(): bigint;
}

export const addonPath = fileURLToPath(new URL('./build/Release/berth_native.node', import.meta.url));

let loaded: NativeCore | undefined;

/** The native core; throws UNAVAILABLE with the fix when it was not built. */
export function native(): NativeCore {
  if (loaded !== undefined) return loaded;
  if (!existsSync(addonPath)) {
    throw unavailable(`native core ${addonPath}: not built (run \`npm install\` or \`npm run build:native\`)`);
  }
  loaded = createRequire(import.meta.url)(addonPath) as NativeCore;
  return loaded;
}
