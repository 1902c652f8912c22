// One error class for every module, with a stable code the daemon maps to an HTTP
// status in a single place and that callers test instead of parsing messages.
// The subject of the failure always goes in the message ("layer sha256:ab12…:
// digest mismatch"), the underlying error is kept as `cause`.

export const ErrorCode = {
  NOT_FOUND: 'NOT_FOUND',
  ALREADY_EXISTS: 'ALREADY_EXISTS',
  INVALID_ARGUMENT: 'INVALID_ARGUMENT',
  FAILED_PRECONDITION: 'FAILED_PRECONDITION',
  CONFLICT: 'CONFLICT',
  UNAVAILABLE: 'UNAVAILABLE',
  PERMISSION_DENIED: 'PERMISSION_DENIED',
  UNAUTHENTICATED: 'UNAUTHENTICATED',
  NOT_IMPLEMENTED: 'NOT_IMPLEMENTED',
  RESOURCE_EXHAUSTED: 'RESOURCE_EXHAUSTED',
  DEADLINE_EXCEEDED: 'DEADLINE_EXCEEDED',
  CANCELLED: 'CANCELLED',
  DATA_LOSS: 'DATA_LOSS',
  INTERNAL: 'INTERNAL',
} as const;

export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

export interface BerthErrorOptions {
  cause?: unknown;
  /** Machine-readable details (a digest, a path, an errno name) kept beside the message. */
  details?: Record<string, unknown>;
}

export class BerthError extends Error {
  override readonly name = 'BerthError';
  readonly code: ErrorCode;
  readonly details: Record<string, unknown> | undefined;

  constructor(code: ErrorCode, message: string, options: BerthErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.details = options.details;
  }

  toJSON(): { code: ErrorCode; message: string; details?: Record<string, unknown> } {
    return this.details === undefined
      ? { code: this.code, message: this.message }
      : { code: this.code, message: this.message, details: this.details };
  }
}

function make(code: ErrorCode) {
  return (message: string, options?: BerthErrorOptions) => new BerthError(code, message, options);
}

export const notFound = make(ErrorCode.NOT_FOUND);
export const alreadyExists = make(ErrorCode.ALREADY_EXISTS);
export const invalidArgument = make(ErrorCode.INVALID_ARGUMENT);
export const failedPrecondition = make(ErrorCode.FAILED_PRECONDITION);
export const conflict = make(ErrorCode.CONFLICT);
export const unavailable = make(ErrorCode.UNAVAILABLE);
export const permissionDenied = make(ErrorCode.PERMISSION_DENIED);
export const unauthenticated = make(ErrorCode.UNAUTHENTICATED);
export const notImplemented = make(ErrorCode.NOT_IMPLEMENTED);
export const resourceExhausted = make(ErrorCode.RESOURCE_EXHAUSTED);
export const deadlineExceeded = make(ErrorCode.DEADLINE_EXCEEDED);
export const cancelled = make(ErrorCode.CANCELLED);
export const dataLoss = make(ErrorCode.DATA_LOSS);
export const internal = make(ErrorCode.INTERNAL);

export function isBerthError(err: unknown, code?: ErrorCode): err is BerthError {
  return err instanceof BerthError && (code === undefined || err.code === code);
}

/** errno names from Node's system errors, mapped to the code a caller acts on. */
const errnoCodes: Record<string, ErrorCode> = {
  ENOENT: ErrorCode.NOT_FOUND,
  ENOTDIR: ErrorCode.NOT_FOUND,
  EEXIST: ErrorCode.ALREADY_EXISTS,
  ENOTEMPTY: ErrorCode.CONFLICT,
  EBUSY: ErrorCode.CONFLICT,
  EACCES: ErrorCode.PERMISSION_DENIED,
  EPERM: ErrorCode.PERMISSION_DENIED,
  EROFS: ErrorCode.PERMISSION_DENIED,
  EINVAL: ErrorCode.INVALID_ARGUMENT,
  ENAMETOOLONG: ErrorCode.INVALID_ARGUMENT,
  ELOOP: ErrorCode.INVALID_ARGUMENT,
  ENOSPC: ErrorCode.RESOURCE_EXHAUSTED,
  EMFILE: ErrorCode.RESOURCE_EXHAUSTED,
  ENFILE: ErrorCode.RESOURCE_EXHAUSTED,
  ENOMEM: ErrorCode.RESOURCE_EXHAUSTED,
  EAGAIN: ErrorCode.UNAVAILABLE,
  ECONNREFUSED: ErrorCode.UNAVAILABLE,
  ECONNRESET: ErrorCode.UNAVAILABLE,
  ETIMEDOUT: ErrorCode.DEADLINE_EXCEEDED,
  ENOSYS: ErrorCode.NOT_IMPLEMENTED,
  EOPNOTSUPP: ErrorCode.NOT_IMPLEMENTED,
};

/**
 * Wraps any thrown value as a BerthError whose message starts with the subject:
 * `wrap(err, 'overlay2 get c0ffee: mount')` → "overlay2 get c0ffee: mount: EINVAL (…)".
 * A BerthError passes through with the subject prefixed and its code kept; an
 * AbortError becomes CANCELLED; a Node system error is classed by its errno.
 */
export function wrap(err: unknown, subject: string, fallback: ErrorCode = ErrorCode.INTERNAL): BerthError {
  if (err instanceof BerthError) {
    return new BerthError(err.code, `${subject}: ${err.message}`, { cause: err, details: err.details });
  }
  const e = err as NodeJS.ErrnoException | undefined;
  if (e && typeof e === 'object') {
    if (e.name === 'AbortError') return new BerthError(ErrorCode.CANCELLED, `${subject}: cancelled`, { cause: err });
    if (typeof e.code === 'string' && /^E[A-Z0-9]+$/.test(e.code)) {
      const detail =
        typeof e.message === 'string' && e.message.startsWith(`${e.code}:`) ? e.message : `${e.code}: ${e.message}`;
      return new BerthError(errnoCodes[e.code] ?? fallback, `${subject}: ${detail}`, {
        cause: err,
        details: { errno: e.code, ...(e.path ? { path: e.path } : {}) },
      });
    }
    if (typeof e.message === 'string') return new BerthError(fallback, `${subject}: ${e.message}`, { cause: err });
  }
  return new BerthError(fallback, `${subject}: ${String(err)}`, { cause: err });
}
