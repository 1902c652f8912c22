// Turns the container child's error report (a failed setup step with its errno)
// into a BerthError whose message names the container, the step and the subject:
// `container c1: mount proc on /proc: EPERM (Operation not permitted)`.
import { BerthError, ErrorCode } from '../errdefs/errors.js';
import type { NativeChildMessage } from '../../native/index.js';

/** errno names → the code a caller acts on. */
const codes: Record<string, ErrorCode> = {
  ENOENT: ErrorCode.NOT_FOUND,
  ENOTDIR: ErrorCode.INVALID_ARGUMENT,
  EPERM: ErrorCode.PERMISSION_DENIED,
  EACCES: ErrorCode.PERMISSION_DENIED,
  EROFS: ErrorCode.PERMISSION_DENIED,
  EXDEV: ErrorCode.INVALID_ARGUMENT,
  EINVAL: ErrorCode.INVALID_ARGUMENT,
  ELOOP: ErrorCode.INVALID_ARGUMENT,
  ENAMETOOLONG: ErrorCode.INVALID_ARGUMENT,
  ENOEXEC: ErrorCode.INVALID_ARGUMENT,
  ENODEV: ErrorCode.INVALID_ARGUMENT,
  EBUSY: ErrorCode.CONFLICT,
  ENOMEM: ErrorCode.RESOURCE_EXHAUSTED,
  ENOSPC: ErrorCode.RESOURCE_EXHAUSTED,
  EAGAIN: ErrorCode.RESOURCE_EXHAUSTED,
  ENOSYS: ErrorCode.NOT_IMPLEMENTED,
  EOPNOTSUPP: ErrorCode.NOT_IMPLEMENTED,
};

/** Steps whose targets the child resolves without following a symlink (ELOOP when one is met). */
const linkRefusingSteps = new Set(['mount', 'devices', 'masked-paths', 'readonly-paths']);

/** The BerthError for a child's 'error' message; details keep step, errno and subject. */
export function childError(id: string, msg: NativeChildMessage): BerthError {
  const errno = msg.code ?? 'EUNKNOWN';
  const step = msg.step ?? 'setup';
  const subject = msg.detail ? `${step} ${msg.detail}` : step;
  const why =
    errno === 'EXDEV' && step === 'mount'
      ? 'the target resolves outside the rootfs'
      : errno === 'ELOOP' && linkRefusingSteps.has(step)
        ? 'a symlink on the way, which mounts on /proc, /sys and /dev and masked and read-only paths never follow'
        : msg.strerror;
  return new BerthError(
    codes[errno] ?? ErrorCode.INTERNAL,
    `container ${id}: ${subject}: ${errno}${why ? ` (${why})` : ''}`,
    {
      details: { step, errno, subject: msg.detail ?? '' },
    },
  );
}
