// The distribution spec's error codes, their HTTP statuses, and the one function
// that turns any thrown value into a status plus the spec's JSON error body.
// Handlers throw BerthErrors carrying `details.distribution`; nothing else maps.
import { BerthError, ErrorCode, isBerthError } from '../../errdefs/errors.js';

/** Error codes of the OCI distribution spec v1.1 (code-1 … code-14). */
export const DistributionCode = {
  BLOB_UNKNOWN: 'BLOB_UNKNOWN',
  BLOB_UPLOAD_INVALID: 'BLOB_UPLOAD_INVALID',
  BLOB_UPLOAD_UNKNOWN: 'BLOB_UPLOAD_UNKNOWN',
  DIGEST_INVALID: 'DIGEST_INVALID',
  MANIFEST_BLOB_UNKNOWN: 'MANIFEST_BLOB_UNKNOWN',
  MANIFEST_INVALID: 'MANIFEST_INVALID',
  MANIFEST_UNKNOWN: 'MANIFEST_UNKNOWN',
  NAME_INVALID: 'NAME_INVALID',
  NAME_UNKNOWN: 'NAME_UNKNOWN',
  SIZE_INVALID: 'SIZE_INVALID',
  TAG_INVALID: 'TAG_INVALID',
  UNAUTHORIZED: 'UNAUTHORIZED',
  DENIED: 'DENIED',
  UNSUPPORTED: 'UNSUPPORTED',
  /** Spelled as in the spec's table (code-14) and in distribution, without underscores. */
  TOOMANYREQUESTS: 'TOOMANYREQUESTS',
} as const;

export type DistributionCode = (typeof DistributionCode)[keyof typeof DistributionCode];

interface CodeInfo {
  status: number;
  berth: ErrorCode;
}

/** Default status and berth error class per code (the statuses distribution 2.x answers with). */
const codes: Record<DistributionCode, CodeInfo> = {
  BLOB_UNKNOWN: { status: 404, berth: ErrorCode.NOT_FOUND },
  BLOB_UPLOAD_INVALID: { status: 400, berth: ErrorCode.INVALID_ARGUMENT },
  BLOB_UPLOAD_UNKNOWN: { status: 404, berth: ErrorCode.NOT_FOUND },
  DIGEST_INVALID: { status: 400, berth: ErrorCode.INVALID_ARGUMENT },
  MANIFEST_BLOB_UNKNOWN: { status: 400, berth: ErrorCode.FAILED_PRECONDITION },
  MANIFEST_INVALID: { status: 400, berth: ErrorCode.INVALID_ARGUMENT },
  MANIFEST_UNKNOWN: { status: 404, berth: ErrorCode.NOT_FOUND },
  NAME_INVALID: { status: 400, berth: ErrorCode.INVALID_ARGUMENT },
  NAME_UNKNOWN: { status: 404, berth: ErrorCode.NOT_FOUND },
  SIZE_INVALID: { status: 400, berth: ErrorCode.INVALID_ARGUMENT },
  TAG_INVALID: { status: 400, berth: ErrorCode.INVALID_ARGUMENT },
  UNAUTHORIZED: { status: 401, berth: ErrorCode.UNAUTHENTICATED },
  DENIED: { status: 403, berth: ErrorCode.PERMISSION_DENIED },
  UNSUPPORTED: { status: 405, berth: ErrorCode.NOT_IMPLEMENTED },
  TOOMANYREQUESTS: { status: 429, berth: ErrorCode.RESOURCE_EXHAUSTED },
};

export interface DistributionErrorOptions {
  /** JSON sent as the error's `detail` (a digest, a descriptor, the current range). */
  detail?: unknown;
  /** Overrides the code's default status (416 for an out-of-order chunk, 413 for a huge manifest). */
  status?: number;
  /** Response headers that belong to this error (Range, WWW-Authenticate, Retry-After). */
  headers?: Record<string, string>;
  cause?: unknown;
}

/** A BerthError that the server answers with `code`; `message` starts with its subject. */
export function distributionError(
  code: DistributionCode,
  message: string,
  options: DistributionErrorOptions = {},
): BerthError {
  const info = codes[code];
  return new BerthError(info.berth, message, {
    cause: options.cause,
    details: {
      distribution: code,
      status: options.status ?? info.status,
      ...(options.detail === undefined ? {} : { detail: options.detail }),
      ...(options.headers === undefined ? {} : { headers: options.headers }),
    },
  });
}

export interface ErrorResponse {
  status: number;
  headers: Record<string, string>;
  body: { errors: { code: string; message: string; detail?: unknown }[] };
}

/** Several spec errors in one response (a manifest that names several unknown blobs). */
export function multiError(errors: BerthError[]): BerthError {
  const first = errors[0];
  if (first === undefined) throw new TypeError('multiError: no errors');
  return new BerthError(first.code, errors.map((e) => e.message).join('; '), {
    details: { ...first.details, all: errors },
  });
}

/**
 * The one mapping from a thrown value to an HTTP answer. A BerthError from a
 * handler keeps its spec code; other BerthErrors are classed by their berth code;
 * anything else is a 500 whose message is kept for the access log only.
 */
export function toErrorResponse(err: unknown): ErrorResponse {
  if (isBerthError(err)) {
    const d = err.details ?? {};
    const code = typeof d.distribution === 'string' ? (d.distribution as DistributionCode) : undefined;
    if (code !== undefined) {
      const entries = ((d.all as BerthError[] | undefined) ?? [err]).map((e) => ({
        code: String(e.details?.distribution ?? code),
        message: e.message,
        ...(e.details?.detail === undefined ? {} : { detail: e.details.detail }),
      }));
      return {
        status: typeof d.status === 'number' ? d.status : codes[code].status,
        headers: (d.headers as Record<string, string> | undefined) ?? {},
        body: { errors: entries },
      };
    }
    const byBerth: Partial<Record<ErrorCode, [number, DistributionCode]>> = {
      NOT_FOUND: [404, 'NAME_UNKNOWN'],
      INVALID_ARGUMENT: [400, 'UNSUPPORTED'],
      PERMISSION_DENIED: [403, 'DENIED'],
      UNAUTHENTICATED: [401, 'UNAUTHORIZED'],
      NOT_IMPLEMENTED: [405, 'UNSUPPORTED'],
      RESOURCE_EXHAUSTED: [507, 'UNSUPPORTED'],
    };
    const mapped = byBerth[err.code];
    if (mapped)
      return { status: mapped[0], headers: {}, body: { errors: [{ code: mapped[1], message: err.message }] } };
    return { status: 500, headers: {}, body: { errors: [{ code: 'UNKNOWN', message: err.message }] } };
  }
  const message = err instanceof Error ? err.message : String(err);
  return { status: 500, headers: {}, body: { errors: [{ code: 'UNKNOWN', message }] } };
}
