// Container names: Docker's grammar for names a user gives, and generated
// `adjective_noun` names for containers created without one.
import { randomInt } from 'node:crypto';
import { invalidArgument } from '../errdefs/errors.js';

const NAME = /^[a-zA-Z0-9][a-zA-Z0-9_.-]+$/;

/** The name without its leading `/`. Fails INVALID_ARGUMENT naming it when it breaks Docker's grammar. */
export function normalizeName(name: string): string {
  const bare = name.startsWith('/') ? name.slice(1) : name;
  if (!NAME.test(bare) || bare.length > 253) {
    throw invalidArgument(
      `container name ${JSON.stringify(name)}: invalid, only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed (at least two characters)`,
    );
  }
  return bare;
}

const ADJECTIVES = [
  'amber',
  'brave',
  'calm',
  'clever',
  'crisp',
  'eager',
  'fair',
  'gentle',
  'happy',
  'keen',
  'lively',
  'lucid',
  'merry',
  'nimble',
  'patient',
  'quiet',
  'rapid',
  'sharp',
  'steady',
  'sturdy',
  'swift',
  'tidy',
  'vivid',
  'warm',
  'wise',
];
const NOUNS = [
  'anchor',
  'bollard',
  'buoy',
  'cargo',
  'crane',
  'davit',
  'dock',
  'ferry',
  'gangway',
  'harbor',
  'hull',
  'jetty',
  'keel',
  'lighthouse',
  'mast',
  'mooring',
  'pier',
  'quay',
  'rudder',
  'schooner',
  'slipway',
  'tugboat',
  'wharf',
  'winch',
  'yard',
];

/** A random `adjective_noun` name not in `taken`; a numeric suffix is added after a few collisions. */
export function generateName(taken: (name: string) => boolean): string {
  for (let attempt = 0; ; attempt++) {
    const base = `${ADJECTIVES[randomInt(ADJECTIVES.length)]}_${NOUNS[randomInt(NOUNS.length)]}`;
    const name = attempt < 5 ? base : `${base}${randomInt(1000)}`;
    if (!taken(name)) return name;
  }
}
