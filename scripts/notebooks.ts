// `npm run notebooks -- [result.json…]` builds notebooks/ into a static site with the chosen
// results built in; `npm run notebooks:preview` serves it on 127.0.0.1. Nothing fetched remotely.
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, rename, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { config, observable } from '@observablehq/notebook-kit/vite';
import { build, type Plugin } from 'vite';
import { failedPrecondition, invalidArgument, wrap } from '../engine/errdefs/errors.js';
import { type ExperimentRecord, readExperimentsUnder } from '../bench/compare/experiment.js';
import { readHistory } from '../bench/compare/history-file.js';
import type { HistoryLine } from '../bench/compare/history-line.js';
import type { ResultDocument } from '../bench/results/document.js';
import { readResult } from '../bench/results/validate.js';
import { serveStatic } from './static-server.js';
import { runIfMain } from './run-main.js';

export const repoRoot = fileURLToPath(new URL('..', import.meta.url));
export const notebooksRoot = path.join(repoRoot, 'notebooks');
export const defaultSiteDir = path.join(notebooksRoot, '.observable', 'dist');
const defaultHistory = path.join(repoRoot, 'results', 'history.jsonl');
const defaultExperiments = path.join(repoRoot, 'results', 'experiments');
/** The id of the module notebooks import their data from. */
export const DATA_MODULE = 'virtual:berth-results';
/** Marks a folder as a site this script built, so a rebuild may replace it. */
const MARKER = '.berth-site';

export const usage = `usage: npm run notebooks -- [result.json…] [options]
       npm run notebooks:preview -- [--port N] [--out DIR]

  (no files)          the newest results/runs/*.json plus every results/baselines/**/*.json
  --history <file>    history lines for the history page (default results/history.jsonl)
  --experiments <dir> recorded A/A–A/B experiments for the calibration page
                      (default results/experiments: every *.json below it)
  --out <dir>         where the site goes (default notebooks/.observable/dist)
  --port <n>          preview port on 127.0.0.1 (default 3000; 0 picks a free one)
`;

/** The notebook pages, in site order (notebooks/*.html). */
export async function notebookFiles(): Promise<string[]> {
  const names = (await readdir(notebooksRoot))
    .filter((n) => n.endsWith('.html'))
    .sort((a, b) => (a === 'index.html' ? -1 : b === 'index.html' ? 1 : a.localeCompare(b)));
  return names.map((n) => path.join(notebooksRoot, n));
}

async function jsonFilesUnder(dir: string): Promise<string[]> {
  if (!existsSync(dir)) return [];
  const out: string[] = [];
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const p = path.join(dir, entry.name);
    if (entry.isDirectory()) out.push(...(await jsonFilesUnder(p)));
    else if (entry.isFile() && entry.name.endsWith('.json') && !entry.name.startsWith('.')) out.push(p);
  }
  return out.sort();
}

/**
 * The default selection: the newest run (by modification time) and every baseline (results/baselines/<class>/*.json).
 */
export async function defaultResultFiles(): Promise<string[]> {
  const runs = await jsonFilesUnder(path.join(repoRoot, 'results', 'runs'));
  let newest: { file: string; mtime: number } | undefined;
  for (const file of runs) {
    const mtime = (await stat(file)).mtimeMs;
    if (newest === undefined || mtime > newest.mtime) newest = { file, mtime };
  }
  // Baselines live in one folder per host class; files beside them (bounds.json) are not results.
  const baselineRoot = path.join(repoRoot, 'results', 'baselines');
  const classes = existsSync(baselineRoot)
    ? (await readdir(baselineRoot, { withFileTypes: true }))
        .filter((e) => e.isDirectory())
        .map((e) => e.name)
        .sort()
    : [];
  const baselines = (await Promise.all(classes.map((c) => jsonFilesUnder(path.join(baselineRoot, c))))).flat();
  return [...(newest ? [newest.file] : []), ...baselines];
}

/** A Vite plugin serving the chosen results and history as one JavaScript module. */
function dataModule(
  results: { file: string; doc: ResultDocument }[],
  history: HistoryLine[],
  experiments: ExperimentRecord[],
): Plugin {
  const resolved = `\0${DATA_MODULE}`;
  return {
    name: 'berth-results',
    enforce: 'pre',
    resolveId: (id) => (id === DATA_MODULE ? resolved : undefined),
    load: (id) =>
      id === resolved
        ? `export const results = ${JSON.stringify(results)};\nexport const history = ${JSON.stringify(history)};\nexport const experiments = ${JSON.stringify(experiments)};\n`
        : undefined,
  };
}

export interface BuildOptions {
  /** Result files to build in; default: defaultResultFiles(). */
  files?: string[];
  /** History file; default results/history.jsonl (absent: empty history). */
  history?: string;
  /** Folder of recorded experiments; default results/experiments (absent: none). */
  experiments?: string;
  /** Output folder; default notebooks/.observable/dist. Replaced whole. */
  out?: string;
  log?: (line: string) => void;
}

/**
 * Validates the result files and the history, then builds every notebooks/*.html
 * with them into a fresh folder beside `out` and swaps it in (the old site stays until
 * the new one is complete). Refuses to replace an existing `out` that this script did
 * not build. Fails with INVALID_ARGUMENT on an invalid result file, history line or experiment record,
 * FAILED_PRECONDITION when `out` holds something else, or the build's error naming
 * the notebook. Cost: a few seconds (Vite bundles Plot and the runtime).
 */
export async function buildNotebooks(
  opts: BuildOptions = {},
): Promise<{ out: string; files: string[]; pages: string[] }> {
  const log = opts.log ?? (() => undefined);
  const out = path.resolve(opts.out ?? defaultSiteDir);
  const files = opts.files ?? (await defaultResultFiles());
  const label = (file: string) => {
    const rel = path.relative(repoRoot, path.resolve(file));
    return rel.startsWith('..') || path.isAbsolute(rel) ? path.resolve(file) : rel;
  };
  const results = await Promise.all(files.map(async (file) => ({ file: label(file), doc: await readResult(file) })));
  const history = await readHistory(opts.history ?? defaultHistory);
  const experiments = await readExperimentsUnder(opts.experiments ?? defaultExperiments);
  if (existsSync(out) && !existsSync(path.join(out, MARKER)) && (await readdir(out)).length > 0) {
    throw failedPrecondition(
      `site folder ${out}: exists and was not built by npm run notebooks; name an empty or new folder`,
    );
  }
  const inputs = await notebookFiles();
  const parent = path.dirname(out);
  await mkdir(parent, { recursive: true });
  const staging = await mkdtemp(path.join(parent, `.${path.basename(out)}.building-`));
  try {
    await build({
      ...config(),
      configFile: false,
      logLevel: 'warn',
      plugins: [
        observable({ template: path.join(notebooksRoot, 'lib', 'page-template.html') }),
        dataModule(results, history, experiments),
      ],
      root: notebooksRoot,
      base: './',
      build: { outDir: staging, emptyOutDir: true, minify: true, rollupOptions: { input: inputs } },
    });
    await writeFile(
      path.join(staging, MARKER),
      `${JSON.stringify({ files: results.map((r) => r.file), builtAt: new Date().toISOString() })}\n`,
    );
    const old = `${staging}.old`;
    if (existsSync(out)) await rename(out, old);
    await rename(staging, out);
    await rm(old, { recursive: true, force: true });
  } catch (err) {
    await rm(staging, { recursive: true, force: true });
    throw wrap(err, `notebooks build`);
  }
  log(
    `built ${inputs.length} notebook(s) with ${results.length} result file(s) (${results.map((r) => r.file).join(', ') || 'none'}) into ${out}`,
  );
  return { out, files: results.map((r) => r.file), pages: inputs.map((f) => path.basename(f)) };
}

/** The CLI: `build` (default) or `preview`. Exit 0 on success, 2 on bad usage or input. */
export async function main(argv: readonly string[]): Promise<number> {
  const [command, ...rest] = argv[0] === 'build' || argv[0] === 'preview' ? argv : ['build', ...argv];
  let values: Record<string, string | boolean | undefined>;
  let positionals: string[];
  try {
    ({ values, positionals } = parseArgs({
      args: rest,
      allowPositionals: command === 'build',
      strict: true,
      options: {
        out: { type: 'string' },
        history: { type: 'string' },
        experiments: { type: 'string' },
        port: { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
    }));
  } catch (err) {
    process.stderr.write(`notebooks: ${(err as Error).message}\n\n${usage}`);
    return 2;
  }
  if (values.help === true) {
    process.stdout.write(usage);
    return 0;
  }
  const log = (line: string) => process.stderr.write(`${line}\n`);
  try {
    if (command === 'build') {
      await buildNotebooks({
        files: positionals.length > 0 ? positionals : undefined,
        history: values.history as string | undefined,
        experiments: values.experiments as string | undefined,
        out: values.out as string | undefined,
        log,
      });
      return 0;
    }
    const dir = path.resolve((values.out as string | undefined) ?? defaultSiteDir);
    if (!existsSync(path.join(dir, MARKER)))
      throw failedPrecondition(`site folder ${dir}: not built yet; run npm run notebooks first`);
    const port = values.port === undefined ? 3000 : Number(values.port);
    if (!Number.isInteger(port) || port < 0 || port > 65535)
      throw invalidArgument(`--port ${JSON.stringify(values.port)}: expected 0…65535`);
    const server = await serveStatic(dir, port);
    log(`serving ${dir} at ${server.url} (Ctrl-C to stop)`);
    await new Promise<void>((resolve) => process.once('SIGINT', () => resolve()));
    await server.close();
    return 0;
  } catch (err) {
    process.stderr.write(`notebooks: ${(err as Error).message}\n`);
    return 2;
  }
}

runIfMain(import.meta.url, 'notebooks', main, 2);
