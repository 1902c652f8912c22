// The one place an error becomes an HTTP answer: the errdefs code picks the status
// (as moby's httpstatus does), the body is Docker's {"message": "…"}.
import { BerthError, ErrorCode } from '../errdefs/errors.js';

const statusByCode: Record<ErrorCode, number> = {
  NOT_FOUND: 404,
  ALREADY_EXISTS: 409,
  CONFLICT: 409,
  FAILED_PRECONDITION: 409,
  INVALID_ARGUMENT: 400,
  UNAUTHENTICATED: 401,
  PERMISSION_DENIED: 403,
  NOT_IMPLEMENTED: 501,
  UNAVAILABLE: 503,
  RESOURCE_EXHAUSTED: 500,
  DEADLINE_EXCEEDED: 500,
  CANCELLED: 500,
  DATA_LOSS: 500,
  INTERNAL: 500,
};

/**
 * The HTTP status and body for any thrown value. A BerthError may name an exact
 * status in `details.httpStatus` (the daemon's own 413 and 431 answers); anything
 * that is not a BerthError is a 500 with its message.
 */
export function httpError(err: unknown): { status: number; body: { message: string } } {
  if (err instanceof BerthError) {
    const exact = err.details?.httpStatus;
    const status = typeof exact === 'number' && exact >= 400 && exact < 600 ? exact : statusByCode[err.code];
    return { status, body: { message: err.message } };
  }
  const message = err instanceof Error ? err.message : String(err);
  return { status: 500, body: { message } };
}
