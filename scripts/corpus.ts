// `npm run corpus -- --out DIR [--images names] [--seed N] [--profile p]`: builds the
// seeded image corpus (cached in DIR) and pushes it into berth's embedded registry
// rooted at DIR/registry (serve it with `berth-registry --root DIR/registry`), or
// into the registry named with --registry.
// Exit 0: built (and pushed); 1: the build or push failed; 2: bad usage.
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { invalidArgument } from '../engine/errdefs/errors.js';
import {
  buildCorpus,
  compressions as allCompressions,
  imageNames,
  pushCorpusToRegistry,
  type Compression,
  type PushTarget,
} from '../bench/corpus/index.js';
import { isProfile } from '../bench/profiles.js';
import type { Profile } from '../bench/results/document.js';
import { runIfMain } from './run-main.js';

export const usage = `usage: npm run corpus -- --out DIR [options]

  --out <dir>            corpus folder: one OCI image layout per image, plus corpus.json (required)
  --images <a,b>         images to build: ${imageNames.join(', ')}
                         (default: all but debian, which needs debootstrap and the Debian mirror)
  --seed <n>             seed of every random draw (default 1); same seed → same digests
  --profile <p>          quick (CI sizes: app ≈ 20 MiB) or default/full (app ≈ 235 MiB); default: default
  --compression <list>   layer variants among gzip, zstd, none (default gzip,none); zstd needs the zstd CLI
  --force                rebuild even what the cache holds
  --registry <url>       push every image to the registry at <url> (http://127.0.0.1:PORT)
                         instead of the embedded registry under <out>/registry (alias: --push)
  --push-root <dir>      push into an embedded registry rooted at <dir> (default <out>/registry)
  --no-push              build only
  --prefix <name>        repository prefix of the pushed images (default berth-corpus)
  --quiet                no progress lines
  --help                 this text
`;

export interface CorpusArgs {
  out: string;
  images: string[] | undefined;
  seed: number;
  profile: Profile;
  compressions: Compression[] | undefined;
  force: boolean;
  push: PushTarget | undefined;
  prefix: string | undefined;
  quiet: boolean;
  help: boolean;
}

function list(value: string | undefined): string[] | undefined {
  return value === undefined
    ? undefined
    : value
        .split(',')
        .map((s) => s.trim())
        .filter((s) => s !== '');
}

/** Parses the command line; INVALID_ARGUMENT naming the flag on bad input. */
export function parseCorpusArgs(argv: readonly string[]): CorpusArgs {
  let parsed;
  try {
    parsed = parseArgs({
      args: [...argv],
      allowPositionals: false,
      strict: true,
      options: {
        out: { type: 'string' },
        images: { type: 'string' },
        seed: { type: 'string' },
        profile: { type: 'string' },
        compression: { type: 'string' },
        force: { type: 'boolean' },
        push: { type: 'string' },
        registry: { type: 'string' },
        'push-root': { type: 'string' },
        'no-push': { type: 'boolean' },
        prefix: { type: 'string' },
        quiet: { type: 'boolean', short: 'q' },
        help: { type: 'boolean', short: 'h' },
      },
    });
  } catch (err) {
    throw invalidArgument(`corpus: ${(err as Error).message}`);
  }
  const v = parsed.values;
  const help = v.help === true;
  if (!help && (v.out === undefined || v.out === '')) throw invalidArgument('corpus: --out DIR is required');
  const seed = v.seed === undefined ? 1 : Number(v.seed);
  if (!Number.isSafeInteger(seed) || seed < 0)
    throw invalidArgument(`--seed ${JSON.stringify(v.seed)}: expected an integer ≥ 0`);
  const profile = v.profile ?? 'default';
  if (!isProfile(profile))
    throw invalidArgument(`--profile ${JSON.stringify(profile)}: expected quick, default or full`);
  const images = list(v.images);
  for (const name of images ?? []) {
    if (!(imageNames as readonly string[]).includes(name))
      throw invalidArgument(`--images: unknown image ${JSON.stringify(name)} (expected ${imageNames.join(', ')})`);
  }
  const compressions = list(v.compression);
  for (const c of compressions ?? []) {
    if (!(allCompressions as readonly string[]).includes(c))
      throw invalidArgument(`--compression: unknown ${JSON.stringify(c)} (expected ${allCompressions.join(', ')})`);
  }
  if (v.push !== undefined && v.registry !== undefined)
    throw invalidArgument('corpus: --registry and --push name the same thing: give one');
  const url = v.registry ?? v.push;
  const targets = [url !== undefined, v['push-root'] !== undefined, v['no-push'] === true].filter(Boolean).length;
  if (targets > 1) throw invalidArgument('corpus: --registry, --push-root and --no-push exclude each other');
  const push: PushTarget | undefined =
    v['no-push'] === true
      ? undefined
      : url !== undefined
        ? url
        : { root: v['push-root'] ?? join(v.out ?? '', 'registry') };
  return {
    out: v.out ?? '',
    images,
    seed,
    profile,
    compressions: compressions as Compression[] | undefined,
    force: v.force === true,
    push,
    prefix: v.prefix,
    quiet: v.quiet === true,
    help,
  };
}

/** Builds (and pushes); returns the exit status. Progress goes to `err`, the summary to `out`. */
export async function main(
  argv: readonly string[],
  out: (s: string) => void = (s) => process.stdout.write(s),
  err: (s: string) => void = (s) => process.stderr.write(s),
): Promise<number> {
  let args: CorpusArgs;
  try {
    args = parseCorpusArgs(argv);
  } catch (e) {
    err(`${(e as Error).message}\n\n${usage}`);
    return 2;
  }
  if (args.help) {
    out(usage);
    return 0;
  }
  const log = args.quiet ? undefined : (line: string) => err(`corpus: ${line}\n`);
  try {
    const corpus = await buildCorpus({
      out: args.out,
      images: args.images,
      seed: args.seed,
      profile: args.profile,
      compressions: args.compressions,
      force: args.force,
      log,
    });
    for (const image of corpus.images) {
      const gz = image.totals.compressedBytes.gzip;
      out(
        `${image.name}: ${image.totals.layers} layers, ${image.totals.files} files, ${mib(image.totals.uncompressedBytes)} MiB${gz === undefined ? '' : ` (gzip ${mib(gz)} MiB)`}, latest ${image.refs.latest.digest}\n`,
      );
    }
    out(`corpus ${args.out}: seed ${corpus.seed}, profile ${corpus.profile}, generator ${corpus.generatorVersion}\n`);
    if (args.push !== undefined) {
      const pushed = await pushCorpusToRegistry(args.out, args.push, {
        images: args.images,
        repositoryPrefix: args.prefix,
        log,
      });
      out(`pushed ${pushed.length} refs\n`);
    }
    return 0;
  } catch (e) {
    err(`corpus: ${(e as Error).message}\n`);
    return 1;
  }
}

function mib(bytes: number): string {
  return (bytes / 2 ** 20).toFixed(1);
}

runIfMain(import.meta.url, 'corpus', main);
