// The network modes a container can ask for (`--network`), parsed once so the
// driver switches on a tagged value instead of on strings.
import { invalidArgument } from '../errdefs/errors.js';

export type NetworkMode =
  | { kind: 'none' }
  | { kind: 'host' }
  | { kind: 'bridge' }
  | { kind: 'container'; id: string }
  | { kind: 'network'; name: string };

/** `none`, `host`, `bridge` (also ''/`default`), `container:<id>`, or a user-defined network's name or id. */
export function parseNetworkMode(text: string): NetworkMode {
  if (text === '' || text === 'default' || text === 'bridge') return { kind: 'bridge' };
  if (text === 'none') return { kind: 'none' };
  if (text === 'host') return { kind: 'host' };
  if (text.startsWith('container:')) {
    const id = text.slice('container:'.length);
    if (id === '') throw invalidArgument(`network mode ${JSON.stringify(text)}: container id is empty`);
    return { kind: 'container', id };
  }
  if (!/^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/.test(text))
    throw invalidArgument(`network mode ${JSON.stringify(text)}: not a mode nor a valid network name`);
  return { kind: 'network', name: text };
}
