// `npm run figures -- <result files…> --out DIR`: the notebooks' charts (notebooks/lib) as
// standalone SVG and PNG files for papers, captioned with sample counts and the host.
import { rename, rm } from 'node:fs/promises';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { JSDOM } from 'jsdom';
import { invalidArgument } from '../engine/errdefs/errors.js';
import { readHistory } from '../bench/compare/history-file.js';
import type { HistoryLine } from '../bench/compare/history-line.js';
import { writeFileAtomic } from '../engine/fsutil/atomic-write.js';
import { readResult } from '../bench/results/validate.js';
import { emptyMessage, type PageInput } from '../notebooks/lib/page-spec.js';
import { pages } from '../notebooks/lib/pages.js';
import { standaloneSvg } from '../notebooks/lib/render.js';
import { findChromium, screenshot } from './chromium.js';
import { runIfMain } from './run-main.js';

export const usage = `usage: npm run figures -- <result.json…> --out <dir> [options]

  --out <dir>         where the figures go (created; files of the same name are replaced)
  --history <file>    also draw the history page from this history.jsonl
  --page <a,b>        only these pages (${pages.map((p) => p.id).join(', ')})
  --width <px>        chart width in CSS pixels (default 720)
  --scale <n>         PNG pixels per CSS pixel (default 2)
  --no-png            SVG only (no Chromium needed)
  --help              this text
`;

export interface FiguresOptions {
  files: string[];
  out: string;
  history?: string;
  pages?: string[];
  width?: number;
  scale?: number;
  png?: boolean;
  log?: (line: string) => void;
}

export interface Figure {
  page: string;
  id: string;
  svg: string;
  png: string | null;
}

/**
 * Reads and validates the result files (and the history, when named), then writes
 * one `<id>.svg` (and `<id>.png` unless `png: false`) per chart of every page that
 * has data into `out`. Pages without data are logged with their "no results" message.
 * Each file is written atomically. Fails with INVALID_ARGUMENT on a bad result file
 * or page name, FAILED_PRECONDITION when PNGs are asked for and Chromium is missing.
 * Cost: a few ms per SVG, about a second per PNG.
 */
export async function renderFigures(opts: FiguresOptions): Promise<Figure[]> {
  const log = opts.log ?? (() => undefined);
  if (opts.files.length === 0 && opts.history === undefined) throw invalidArgument('figures: no result file given');
  const chosen = opts.pages === undefined ? pages : opts.pages.map((id) => pages.find((p) => p.id === id) ?? unknownPage(id));
  const wantPng = opts.png !== false;
  if (wantPng && findChromium() === undefined) throw invalidArgument('figures: PNG output needs chromium (apt-get install chromium) — or pass --no-png');
  const results = await Promise.all(opts.files.map(async (file) => ({ file, doc: await readResult(file) })));
  const history: HistoryLine[] = opts.history === undefined ? [] : await readHistory(opts.history);
  const input: PageInput = { results, history };
  const { document } = new JSDOM('<!doctype html><html><body></body></html>').window;
  const figures: Figure[] = [];
  for (const page of chosen) {
    if (page.id === 'history' && opts.history === undefined) continue;
    const charts = page.charts(input);
    if (charts.length === 0) {
      log(`page ${page.id}: ${emptyMessage(page)}`);
      continue;
    }
    for (const spec of charts) {
      const svgText = standaloneSvg(spec, input, document, opts.width ?? 720);
      const svg = path.join(opts.out, `${spec.id}.svg`);
      await writeFileAtomic(svg, svgText, { mode: 0o644, makeDirs: true, subject: `figure ${svg}` });
      let png: string | null = null;
      if (wantPng) {
        png = path.join(opts.out, `${spec.id}.png`);
        const size = /<svg[^>]*\swidth="(\d+)"[^>]*\sheight="(\d+)"/.exec(svgText);
        const tmp = path.join(opts.out, `.${spec.id}.${process.pid}.png`);
        try {
          await screenshot(svg, tmp, Number(size?.[1] ?? 720), Number(size?.[2] ?? 480), opts.scale ?? 2);
          await rename(tmp, png);
        } finally {
          await rm(tmp, { force: true });
        }
      }
      figures.push({ page: page.id, id: spec.id, svg, png });
      log(`${svg}${png ? ` + .png` : ''}`);
    }
  }
  return figures;
}

function unknownPage(id: string): never {
  throw invalidArgument(`page ${JSON.stringify(id)}: unknown (known: ${pages.map((p) => p.id).join(', ')})`);
}

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
        page: { type: 'string' },
        width: { type: 'string' },
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
  const positive = (flag: string, v: unknown): number | undefined => {
    if (v === undefined) return undefined;
    const n = Number(v);
    if (!(n > 0) || !Number.isFinite(n)) throw invalidArgument(`--${flag} ${JSON.stringify(v)}: expected a positive number`);
    return n;
  };
  try {
    const figures = await renderFigures({
      files: positionals,
      out: path.resolve(String(values.out)),
      history: values.history as string | undefined,
      pages: values.page === undefined ? undefined : String(values.page).split(',').filter((s) => s !== ''),
      width: positive('width', values.width),
      scale: positive('scale', values.scale),
      png: values['no-png'] !== true,
      log: (line) => process.stderr.write(`${line}\n`),
    });
    process.stderr.write(`${figures.length} figure(s) written to ${path.resolve(String(values.out))}\n`);
    return figures.length > 0 ? 0 : 1;
  } catch (err) {
    process.stderr.write(`figures: ${(err as Error).message}\n`);
    return 2;
  }
}

runIfMain(import.meta.url, 'figures', main, 2);
