// Deterministic file contents of three kinds, so layers compress like real ones:
// `random` (media, archives: incompressible), `text` (source, docs, configs: gzip
// about 3–4×) and `binary` (executables and libraries: a mix of code-like noise,
// sparse tables and string tables, gzip about 2.5×). Generated in chunks, never whole.
import { createCipheriv, createHash } from 'node:crypto';
import type { Rng } from '../stats.js';
import { rngFor } from './distributions.js';

export type ContentKind = 'random' | 'text' | 'binary';

export const contentKinds: readonly ContentKind[] = ['random', 'text', 'binary'];

/** Largest chunk a generator yields. */
export const chunkBytes = 256 * 1024;

const zeros = Buffer.alloc(chunkBytes);

const keywords = [
  'const',
  'let',
  'return',
  'function',
  'import',
  'from',
  'export',
  'if',
  'else',
  'for',
  'while',
  'class',
  'def',
  'self',
  'the',
  'a',
  'of',
  'to',
  'and',
  'in',
  'is',
  'for',
  'with',
  'on',
  'this',
  'that',
  'null',
  'true',
  'false',
  'new',
];
const punctuation = [' = ', '(', ')', '{', '}', ';', ', ', '.', ': ', ' => ', '[', ']', ' + ', ' # ', ' // '];
const syllables = [
  'ka',
  'to',
  're',
  'mi',
  'sa',
  'lo',
  'ne',
  'vi',
  'du',
  'pa',
  'xi',
  'on',
  'er',
  'st',
  'ch',
  'qu',
  'al',
  'in',
  'ge',
  'ur',
];

/**
 * The per-layer material text is drawn from: a vocabulary and a pool of lines.
 * Building one costs a few milliseconds; build one per layer, not per file.
 */
export interface TextPool {
  lines: Buffer[];
  /** Identifier-like words, also used for path names. */
  words: string[];
}

/** A text pool seeded by `seed` and the stream path (image, layer). */
export function createTextPool(seed: number, ...path: (string | number)[]): TextPool {
  const rng = rngFor(seed, ...path, 'text-pool');
  const words: string[] = [];
  const seen = new Set<string>();
  while (words.length < 600) {
    const n = 1 + Math.floor(rng() * 4);
    let w = '';
    for (let i = 0; i < n; i++) w += syllables[Math.floor(rng() * syllables.length)];
    if (!seen.has(w)) {
      seen.add(w);
      words.push(w);
    }
  }
  const lines: Buffer[] = [];
  for (let i = 0; i < 12_000; i++) lines.push(Buffer.from(makeLine(rng, words)));
  return { lines, words };
}

function makeLine(rng: Rng, words: string[]): string {
  const indent = ' '.repeat(2 * Math.floor(rng() * 5));
  const tokens = 2 + Math.floor(rng() * 9);
  let line = indent;
  for (let t = 0; t < tokens; t++) {
    const r = rng();
    if (r < 0.25) line += keywords[Math.floor(rng() * keywords.length)];
    else if (r < 0.85) line += words[Math.floor(rng() * words.length)];
    else line += String(Math.floor(rng() * 100_000));
    line += rng() < 0.55 ? ' ' : punctuation[Math.floor(rng() * punctuation.length)];
  }
  return `${line.trimEnd()}\n`;
}

/** An AES-128-CTR keystream: fast, seeded, incompressible bytes. */
class Keystream {
  readonly #cipher;

  constructor(key: Buffer) {
    const material = createHash('sha256').update(key).digest();
    this.#cipher = createCipheriv('aes-128-ctr', material.subarray(0, 16), material.subarray(16, 32));
  }

  next(n: number): Buffer {
    return this.#cipher.update(n <= zeros.length ? zeros.subarray(0, n) : Buffer.alloc(n));
  }
}

/** `size` bytes of text drawn line by line from the pool. */
function textChunk(rng: Rng, pool: TextPool, size: number): Buffer {
  const parts: Buffer[] = [];
  let have = 0;
  while (have < size) {
    const line = pool.lines[Math.floor(rng() * pool.lines.length)];
    parts.push(line);
    have += line.length;
  }
  return Buffer.concat(parts, have).subarray(0, size);
}

/** `size` bytes resembling a binary: 4 KiB blocks of noise, sparse tables or strings. */
function binaryChunk(rng: Rng, keys: Keystream, pool: TextPool, size: number): Buffer {
  const out = Buffer.alloc(size);
  for (let at = 0; at < size; at += 4096) {
    const n = Math.min(4096, size - at);
    const r = rng();
    if (r < 0.2) {
      keys.next(n).copy(out, at);
    } else if (r < 0.55) {
      // A sparse table: mostly zeros with a few small values.
      for (let i = 0; i < n; i += 8 + Math.floor(rng() * 24)) out[at + i] = Math.floor(rng() * 256);
    } else {
      textChunk(rng, pool, n).copy(out, at);
    }
  }
  return out;
}

/**
 * The contents of one file as chunks of at most `chunkBytes`; the same (kind, size,
 * key, pool) always yields the same bytes. `key` names the file uniquely (e.g.
 * seed/image/layer/index). Cost: O(size); memory: one chunk.
 */
export function* fileContent(kind: ContentKind, size: number, key: string, pool: TextPool): Generator<Buffer> {
  const keys = new Keystream(Buffer.from(key));
  const rng = rngFor(0, key);
  for (let done = 0; done < size;) {
    const n = Math.min(chunkBytes, size - done);
    if (kind === 'random') yield keys.next(n);
    else if (kind === 'text') yield textChunk(rng, pool, n);
    else yield binaryChunk(rng, keys, pool, n);
    done += n;
  }
}
