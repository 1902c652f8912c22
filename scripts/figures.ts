// `npm run figures -- <result files…> --out DIR`: the notebooks' charts (notebooks/lib) as
// standalone SVG and PNG files for papers, one question per figure, each at a column's
// and a page's width, captioned with unit, sample counts and interval, footnoted with the
// host fingerprint and commit.
import { rename, rm } from 'node:fs/promises';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { JSDOM } from 'jsdom';
import { invalidArgument } from '../engine/errdefs/errors.js';
import { readExperimentsUnder } from '../bench/compare/experiment.js';
import { readHistory } from '../bench/compare/history-file.js';
import type { HistoryLine } from '../bench/compare/history-line.js';
import { writeFileAtomic } from '../engine/fsutil/atomic-write.js';
import type { ResultDocument } from '../bench/results/document.js';
import { readResult } from '../bench/results/validate.js';
import { chartsOf, emptyMessage, type PageInput } from '../notebooks/lib/page-spec.js';
import { pages } from '../notebooks/lib/pages.js';
import { FIGURE_SIZES, standaloneSvg, type FigureSize } from '../notebooks/lib/render.js';
import { caseName } from '../notebooks/lib/rows.js';
import { findChromium, screenshotMany, type ScreenshotJob } from './chromium.js';
import { runIfMain } from './run-main.js';

const SIZES = Object.keys(FIGURE_SIZES) as FigureSize[];

export const usage = `usage: npm run figures -- <result.json…> --out <dir> [options]

  --out <dir>         where the figures go (created; files of the same name are replaced)
  --history <file>    also draw the regression history from this history.jsonl
  --experiments <dir> also draw the calibration page from the A/A–A/B records below <dir>
                      (results/experiments)
  --select <s/c,…>    only cases of these suite/case pairs (e.g. run/run), all their figures
  --figure <id,…>     only these figures (ids as the file names show them)
  --page <a,b>        only these notebook pages (${pages.map((p) => p.id).join(', ')})
  --size <a,b>        column (3.5 in, ${FIGURE_SIZES.column.width} px) and/or page (7 in, ${FIGURE_SIZES.page.width} px); default both
  --scale <n>         PNG pixels per CSS pixel (default 3, about 290 dpi)
  --no-png            SVG only (PNGs need chromium; without it SVGs only, with a warning)
  --help              this text

Files: <figure id>-<size>.svg and .png. A chart that cannot be drawn is skipped with a
warning naming its cases; the command never stops at one.
`;

export interface FiguresOptions {
  files: string[];
  out: string;
  history?: string;
  /** Folder of recorded A/A–A/B experiments for the calibration page. */
  experiments?: string;
  pages?: string[];
  /** `suite/case` pairs: only their cases are drawn. */
  select?: string[];
  /** Figure ids to write. */
  figures?: string[];
  sizes?: FigureSize[];
  scale?: number;
  /** false: SVG only; true: PNGs required (fails without chromium); default: PNGs when chromium is installed. */
  png?: boolean;
  log?: (line: string) => void;
}

export interface Figure {
  page: string;
  id: string;
  size: FigureSize;
  svg: string;
  png: string | null;
}

/** Keeps only the cases of `select` (suite/case); fails naming the pairs that match nothing. */
function selectCases(
  results: { file: string; doc: ResultDocument }[],
  select: string[],
): { file: string; doc: ResultDocument }[] {
  for (const s of select)
    if (!/^[^/\s]+\/[^/\s]+$/.test(s))
      throw invalidArgument(`--select ${JSON.stringify(s)}: expected suite/case, e.g. run/run`);
  const unmatched = select.filter((s) => !results.some((r) => r.doc.cases.some((c) => `${c.suite}/${c.case}` === s)));
  if (unmatched.length > 0) throw invalidArgument(`--select ${unmatched.join(',')}: no such case in these files`);
  return results.map(({ file, doc }) => ({
    file,
    doc: { ...doc, cases: doc.cases.filter((c) => select.includes(`${c.suite}/${c.case}`)) },
  }));
}

/**
 * Reads and validates the result files (and the history, when named), then writes
 * `<id>-<size>.svg` (and `.png` when Chromium is there) per chart of every page that has
 * data into `out`. Pages without data are logged with their "no results" message; a
 * chart that cannot be drawn is logged with its cases and skipped. Each file is written
 * atomically. Fails with INVALID_ARGUMENT on a bad result file, page, size or selection,
 * FAILED_PRECONDITION when PNGs are required and Chromium is missing.
 * Cost: tens of ms per SVG; the PNGs share one Chromium.
 */
export async function renderFigures(opts: FiguresOptions): Promise<Figure[]> {
  const log = opts.log ?? (() => undefined);
  if (opts.files.length === 0 && opts.history === undefined && opts.experiments === undefined)
    throw invalidArgument('figures: no result file given');
  const chosen =
    opts.pages === undefined ? pages : opts.pages.map((id) => pages.find((p) => p.id === id) ?? unknownPage(id));
  const sizes = opts.sizes ?? SIZES;
  for (const s of sizes)
    if (!SIZES.includes(s)) throw invalidArgument(`--size ${JSON.stringify(s)}: unknown (known: ${SIZES.join(', ')})`);
  let wantPng = opts.png !== false;
  if (wantPng && findChromium() === undefined) {
    if (opts.png === true)
      throw invalidArgument('figures: PNG output needs chromium (apt-get install chromium) — or pass --no-png');
    log('warning: chromium is not installed (apt-get install chromium): writing SVGs only');
    wantPng = false;
  }
  let results = await Promise.all(opts.files.map(async (file) => ({ file, doc: await readResult(file) })));
  if (opts.select !== undefined && opts.select.length > 0) results = selectCases(results, opts.select);
  const history: HistoryLine[] = opts.history === undefined ? [] : await readHistory(opts.history);
  const experiments = opts.experiments === undefined ? [] : await readExperimentsUnder(opts.experiments);
  const input: PageInput = { results, history, experiments };
  const { document } = new JSDOM('<!doctype html><html><body></body></html>').window;
  const figures: Figure[] = [];
  const jobs: ScreenshotJob[] = [];
  for (const page of chosen) {
    if (page.id === 'history' && (opts.history === undefined || opts.select !== undefined)) continue;
    if (page.id === 'calibration' && (opts.experiments === undefined || opts.select !== undefined)) continue;
    const charts = chartsOf(page, input, (m) => log(`warning: ${m}`)).filter(
      (c) => opts.figures === undefined || opts.figures.includes(c.id),
    );
    if (charts.length === 0) {
      if (opts.figures === undefined) log(`page ${page.id}: ${emptyMessage(page)}`);
      continue;
    }
    for (const spec of charts) {
      for (const size of sizes) {
        let svgText: string;
        try {
          svgText = standaloneSvg(spec, input, document, size);
        } catch (err) {
          const cases = [...new Set(spec.rows.map(caseName))];
          log(
            `warning: figure ${spec.id} (${size}) skipped: ${(err as Error).message}; cases: ${cases.slice(0, 5).join('; ')}${cases.length > 5 ? `; … ${cases.length - 5} more` : ''}`,
          );
          continue;
        }
        const name = `${spec.id}-${size}`;
        const svg = path.join(opts.out, `${name}.svg`);
        await writeFileAtomic(svg, svgText, { mode: 0o644, makeDirs: true, subject: `figure ${svg}` });
        const dims = /<svg[^>]*\swidth="(\d+)"[^>]*\sheight="(\d+)"/.exec(svgText);
        figures.push({
          page: page.id,
          id: spec.id,
          size,
          svg,
          png: wantPng ? path.join(opts.out, `${name}.png`) : null,
        });
        if (wantPng)
          jobs.push({
            file: svg,
            out: path.join(opts.out, `.${name}.${process.pid}.png`),
            width: Number(dims?.[1] ?? FIGURE_SIZES[size].width),
            height: Number(dims?.[2] ?? 400),
          });
        log(svg);
      }
    }
  }
  if (jobs.length > 0) {
    // one Chromium for all PNGs, each written under a temporary name and renamed into place
    try {
      await screenshotMany(jobs, opts.scale ?? 3);
      for (const [i, job] of jobs.entries()) await rename(job.out, figures.filter((f) => f.png !== null)[i].png!);
    } finally {
      await Promise.all(jobs.map((j) => rm(j.out, { force: true })));
    }
    log(`${jobs.length} PNG(s) written beside the SVGs`);
  }
  return figures;
}

function unknownPage(id: string): never {
  throw invalidArgument(`page ${JSON.stringify(id)}: unknown (known: ${pages.map((p) => p.id).join(', ')})`);
}

const list = (v: unknown): string[] | undefined =>
  v === undefined
    ? undefined
    : String(v)
        .split(',')
        .filter((s) => s !== '');

/** The CLI: exit 0 when figures were written, 1 when none could be, 2 on bad usage or input. */
export async function main(argv: readonly string[]): Promise<number> {
  let values: Record<string, string | boolean | undefined>;
  let positionals: string[];
  try {
    ({ values, positionals } = parseArgs({
      args: [...argv],
      allowPositionals: true,
      strict: true,
      options: {
        out: { type: 'string' },
        history: { type: 'string' },
        experiments: { type: 'string' },
        page: { type: 'string' },
        select: { type: 'string' },
        figure: { type: 'string' },
        size: { type: 'string' },
        scale: { type: 'string' },
        'no-png': { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
      },
    }));
  } catch (err) {
    process.stderr.write(`figures: ${(err as Error).message}\n\n${usage}`);
    return 2;
  }
  if (values.help === true) {
    process.stdout.write(usage);
    return 0;
  }
  if (values.out === undefined) {
    process.stderr.write(`figures: --out <dir> is required\n\n${usage}`);
    return 2;
  }
  try {
    let scale: number | undefined;
    if (values.scale !== undefined) {
      scale = Number(values.scale);
      if (!(scale > 0) || !Number.isFinite(scale))
        throw invalidArgument(`--scale ${JSON.stringify(values.scale)}: expected a positive number`);
    }
    const figures = await renderFigures({
      files: positionals,
      out: path.resolve(String(values.out)),
      history: values.history as string | undefined,
      experiments: values.experiments as string | undefined,
      pages: list(values.page),
      select: list(values.select),
      figures: list(values.figure),
      sizes: list(values.size) as FigureSize[] | undefined,
      scale,
      png: values['no-png'] === true ? false : undefined,
      log: (line) => process.stderr.write(`${line}\n`),
    });
    process.stderr.write(`${figures.length} figure file(s) written to ${path.resolve(String(values.out))}\n`);
    return figures.length > 0 ? 0 : 1;
  } catch (err) {
    process.stderr.write(`figures: ${(err as Error).message}\n`);
    return 2;
  }
}

runIfMain(import.meta.url, 'figures', main, 2);
