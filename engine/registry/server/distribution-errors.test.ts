// The single mapping from thrown errors to the spec's status codes and JSON bodies.
import { describe, expect, it } from 'vitest';
import { notFound } from '../../errdefs/errors.js';
import { DistributionCode, distributionError, multiError, toErrorResponse } from './distribution-errors.js';

describe('toErrorResponse', () => {
  it.each([
    ['BLOB_UNKNOWN', 404],
    ['BLOB_UPLOAD_INVALID', 400],
    ['BLOB_UPLOAD_UNKNOWN', 404],
    ['DIGEST_INVALID', 400],
    ['MANIFEST_BLOB_UNKNOWN', 400],
    ['MANIFEST_INVALID', 400],
    ['MANIFEST_UNKNOWN', 404],
    ['NAME_INVALID', 400],
    ['NAME_UNKNOWN', 404],
    ['SIZE_INVALID', 400],
    ['TAG_INVALID', 400],
    ['UNAUTHORIZED', 401],
    ['DENIED', 403],
    ['UNSUPPORTED', 405],
    ['TOOMANYREQUESTS', 429],
  ] as [DistributionCode, number][])('%s → %i with the spec body', (code, status) => {
    const answer = toErrorResponse(distributionError(code, 'subject: what happened', { detail: { x: 1 } }));
    expect(answer.status).toBe(status);
    expect(answer.body).toEqual({ errors: [{ code, message: 'subject: what happened', detail: { x: 1 } }] });
  });

  it('covers every code of the spec', () => {
    expect(Object.keys(DistributionCode)).toHaveLength(15);
  });

  it('keeps an overridden status and the error headers', () => {
    const answer = toErrorResponse(
      distributionError('BLOB_UPLOAD_INVALID', 'upload u: out of order', { status: 416, headers: { Range: '0-9' } }),
    );
    expect(answer).toMatchObject({ status: 416, headers: { Range: '0-9' } });
  });

  it('lists every error of a multiError', () => {
    const answer = toErrorResponse(
      multiError([
        distributionError('MANIFEST_BLOB_UNKNOWN', 'm: blob a'),
        distributionError('MANIFEST_BLOB_UNKNOWN', 'm: blob b'),
      ]),
    );
    expect(answer.body.errors.map((e) => e.message)).toEqual(['m: blob a', 'm: blob b']);
  });

  it('maps other BerthErrors by class and anything else to 500', () => {
    expect(toErrorResponse(notFound('x: gone')).status).toBe(404);
    expect(toErrorResponse(new Error('boom'))).toMatchObject({
      status: 500,
      body: { errors: [{ code: 'UNKNOWN', message: 'boom' }] },
    });
  });
});
