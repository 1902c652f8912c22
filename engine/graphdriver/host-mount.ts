// The graphdrivers' own host-side mounts (overlay, bind), through the native
// core's mount(2)/umount2(2); errors name the layer and the call.
import { native } from '../../native/index.js';
import { wrap } from '../errdefs/errors.js';

export const MNT_DETACH = 2;

/** mount(2) with `data` as the option string. Fails with a BerthError naming `subject`. */
export function mountFs(
  subject: string,
  source: string,
  target: string,
  fstype: string,
  flags: number,
  data: string,
): void {
  try {
    native().mount(source, target, fstype, flags, data);
  } catch (err) {
    throw wrap(err, `${subject}: mount`);
  }
}

/**
 * mount(2) in a short-lived child whose working directory is `dir`, so `data` may
 * hold paths relative to it (overlay's short lowerdir list). The Node process's cwd
 * never changes. Cost: one clone(CLONE_VM|CLONE_VFORK) + wait on top of the mount.
 */
export function mountFsAt(
  subject: string,
  dir: string,
  source: string,
  target: string,
  fstype: string,
  flags: number,
  data: string,
): void {
  try {
    native().mountAt(dir, source, target, fstype, flags, data);
  } catch (err) {
    throw wrap(err, `${subject}: mount`);
  }
}

/** umount2(2); an unmounted target (EINVAL) or a missing one (ENOENT) is not an error. */
export function unmount(subject: string, target: string, flags = 0): void {
  try {
    native().umount2(target, flags);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'EINVAL' || code === 'ENOENT') return;
    throw wrap(err, `${subject}: unmount`);
  }
}
