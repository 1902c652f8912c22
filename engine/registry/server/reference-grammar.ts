// The distribution spec's grammars for repository names, tags and digests, each
// checked in one place and failing with the spec's error code naming the input.
import { distributionError } from './distribution-errors.js';

const nameRe = /^[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*(\/[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*)*$/;
const tagRe = /^[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}$/;
const digestRe = /^[a-z0-9]+(?:[+._-][a-z0-9]+)*:[a-zA-Z0-9=_-]+$/;

/** Hex lengths of the algorithms this registry can verify. */
const algorithms: Record<string, number> = { sha256: 64, sha512: 128 };

export interface Digest {
  algorithm: 'sha256' | 'sha512';
  hex: string;
  /** `algorithm:hex` as received. */
  text: string;
}

/** True for a repository name the spec accepts (path components, at most 255 characters). */
export function isValidName(name: string): boolean {
  return name.length <= 255 && nameRe.test(name);
}

/** Throws NAME_INVALID unless `name` is a valid repository name. */
export function checkName(name: string): string {
  if (!isValidName(name))
    throw distributionError('NAME_INVALID', `repository ${JSON.stringify(name)}: invalid repository name`, {
      detail: { name },
    });
  return name;
}

export function isValidTag(tag: string): boolean {
  return tagRe.test(tag);
}

/** Throws TAG_INVALID unless `tag` matches `[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}`. */
export function checkTag(tag: string): string {
  if (!isValidTag(tag))
    throw distributionError('TAG_INVALID', `tag ${JSON.stringify(tag)}: invalid tag`, { detail: { tag } });
  return tag;
}

/** True when `reference` has the shape of a digest (contains `:`), whether or not it is valid. */
export function looksLikeDigest(reference: string): boolean {
  return reference.includes(':');
}

/**
 * Parses `algorithm:encoded`. Throws DIGEST_INVALID for a malformed digest or an
 * algorithm this registry cannot verify (only sha256 and sha512; the encoded part
 * must be lowercase hex of the algorithm's length).
 */
export function parseDigest(text: string, subject = 'digest'): Digest {
  const fail = (why: string) =>
    distributionError('DIGEST_INVALID', `${subject} ${JSON.stringify(text)}: ${why}`, { detail: { digest: text } });
  if (!digestRe.test(text)) throw fail('invalid digest');
  const [algorithm, hex] = text.split(':', 2) as [string, string];
  const length = algorithms[algorithm];
  if (length === undefined) throw fail(`unsupported digest algorithm ${algorithm}`);
  if (hex.length !== length || !/^[a-f0-9]+$/.test(hex)) throw fail(`expected ${length} lowercase hex characters`);
  return { algorithm: algorithm as Digest['algorithm'], hex, text };
}
