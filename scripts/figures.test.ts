// `npm run figures` over every committed result file and baseline and over synthetic runs
// with every unit the schema allows and suites no chart knows: every case is drawn or
// skipped by name, no text is cut at an SVG's edge, no legend has more than 12 entries.
import { existsSync, readdirSync, statSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { JSDOM } from 'jsdom';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { appendHistory } from '../bench/compare/history-file.js';
import { readResult } from '../bench/results/validate.js';
import { pages } from '../notebooks/lib/pages.js';
import { rowKey, toRows } from '../notebooks/lib/rows.js';
import { findChromium } from './chromium.js';
import { checkSvgsInChromium, checkSvgText, failures } from './figure-check.js';
import { main, renderFigures } from './figures.js';
import {
  normalSamples,
  syntheticCase,
  syntheticDocument,
  syntheticEdgeCases,
  syntheticSuiteCases,
} from './synthetic-results.js';
import { needs, when } from '../testkit/needs.js';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const haveChromium = when(findChromium() !== undefined, 'needs chromium (apt package chromium)');

/** Every result document committed under results/ (baselines and runs; not bounds or schema files). */
function committedResults(): string[] {
  const out: string[] = [];
  const walk = (dir: string) => {
    if (!existsSync(dir)) return;
    for (const name of readdirSync(dir)) {
      const p = path.join(dir, name);
      if (statSync(p).isDirectory()) walk(p);
      else if (name.endsWith('.json') && name !== 'bounds.json') out.push(p);
    }
  };
  walk(path.join(repo, 'results', 'baselines'));
  walk(path.join(repo, 'results', 'runs'));
  return out;
}

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), `berth-figures-${process.pid}-`));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function writeDoc(name: string, doc: unknown): Promise<string> {
  const file = path.join(dir, name);
  await writeFile(file, JSON.stringify(doc));
  return file;
}

/** The caption and footnote of a standalone SVG as one string (lines joined by spaces). */
function captionText(svg: string): string {
  const { document } = new JSDOM(svg, { contentType: 'image/svg+xml' }).window;
  return [...document.querySelectorAll('.berth-caption text, .berth-footnote text')]
    .map((t) => t.textContent)
    .join(' ');
}

/** The y tick labels of every panel of an SVG. */
function yTicks(svg: string): string[] {
  return [...svg.matchAll(/<g aria-label="y-axis tick label"[^>]*>(.*?)<\/g>/g)].flatMap((m) =>
    [...m[1].matchAll(/>([^<]+)<\/text>/g)].map((t) => t[1]),
  );
}

/** The aria-labels of Plot's mark groups in an SVG text. */
function marks(svg: string): Set<string> {
  return new Set([...svg.matchAll(/aria-label="([^"]+)"/g)].map((m) => m[1]));
}

/**
 * Renders every figure of `files` at both sizes, then checks: every case is in some
 * figure or named in a warning, no text is clipped (jsdom estimate, and Chromium's
 * layout when installed), legends ≤ 12 entries.
 */
async function renderAndCheck(
  files: string[],
  history?: string,
): Promise<{ log: string[]; svgs: { name: string; svg: string }[] }> {
  const log: string[] = [];
  const out = path.join(dir, 'figs');
  const figures = await renderFigures({ files, out, history, png: false, log: (l) => log.push(l) });
  expect(figures.length).toBeGreaterThan(0);
  expect(
    log.filter((l) => /skipped/.test(l) && !/figure \S+: case /.test(l) && !/figure \S+ \(\w+\) skipped/.test(l)),
  ).toEqual([]);
  const svgs = await Promise.all(
    figures.map(async (f) => ({ name: path.basename(f.svg), svg: await readFile(f.svg, 'utf8') })),
  );
  expect(failures(svgs.map((s) => checkSvgText(s.name, s.svg)))).toEqual([]);
  // coverage: each case of each file is drawn in some chart or named in a warning
  const results = await Promise.all(files.map(async (file) => ({ file, doc: await readResult(file) })));
  const drawn = new Set(pages.flatMap((p) => p.charts({ results, history: [] }).flatMap((c) => c.rows.map(rowKey))));
  const missing = toRows(results).filter(
    (r) => !drawn.has(rowKey(r)) && !log.some((l) => l.includes(`${r.suite}/${r.case} ${r.target}`)),
  );
  expect(missing.map((r) => `${r.suite}/${r.case} ${r.target} ${r.params}`)).toEqual([]);
  return { log, svgs };
}

describe('renderFigures', () => {
  it('draws every committed result file and baseline without clipping a label', async () => {
    const files = committedResults();
    expect(files.length).toBeGreaterThan(0);
    const history = path.join(repo, 'results', 'history.jsonl');
    const { svgs } = await renderAndCheck(files, existsSync(history) ? history : undefined);
    const names = svgs.map((s) => s.name);
    for (const want of [
      'graphdriver-time',
      'namespaces-cost',
      'pull-throughput',
      'network-throughput',
      'phases-run-run',
    ]) {
      expect(names, want).toContain(`${want}-column.svg`);
      expect(names, want).toContain(`${want}-page.svg`);
    }
  }, 600_000);

  it('draws synthetic runs with every unit the schema allows and suites no chart knows', async () => {
    const file = await writeDoc('edge.json', syntheticDocument([...syntheticSuiteCases(2), ...syntheticEdgeCases()]));
    const { svgs } = await renderAndCheck([file]);
    const names = svgs.map((s) => s.name);
    expect(names).toContain('case-lifecycle-measure-ops-per-s-column.svg');
    expect(names).toContain('case-lifecycle-mixed-page.svg');
    expect(names).toContain('case-reliability-flat-column.svg');
    // a label too long for the column is abbreviated, with its key in the caption
    const flat = svgs.find((s) => s.name === 'case-reliability-flat-column.svg')!.svg;
    expect(flat).toContain('>[1]<');
    expect(captionText(flat)).toMatch(/Key: \[1\] a deliberately long parameter value/);
    // 30 spans in 4 modules: the top 10, then "other"; one hue per module
    const phases = svgs.find((s) => s.name === 'phases-workload-traced-page.svg')!.svg;
    const { document } = new JSDOM(phases, { contentType: 'image/svg+xml' }).window;
    const legend = [...document.querySelectorAll('.berth-legend text')].map((t) => t.textContent);
    expect(legend).toHaveLength(12);
    expect(legend.slice(-2)).toEqual(['other spans', 'measured median']);
    const hues = new Map<string, Set<string>>();
    [...document.querySelectorAll('.berth-legend rect')].forEach((r, i) => {
      const module = /^(module\d)\./.exec(legend[i] ?? '')?.[1];
      if (module !== undefined)
        hues.set(module, (hues.get(module) ?? new Set()).add(/hsl\((\d+)/.exec(r.getAttribute('fill') ?? '')![1]));
    });
    expect(hues.size).toBeGreaterThan(1);
    for (const [, h] of hues) expect(h.size).toBe(1);
    expect(new Set([...hues.values()].map((h) => [...h][0])).size).toBe(hues.size);
  }, 600_000);

  it('writes one figure per level with only the targets that have data, and captions with unit, n, CI, host and commit', async () => {
    const file = await writeDoc(
      'run.json',
      syntheticDocument(syntheticSuiteCases(3), { gitCommit: 'abcdef0123456789abcdef0123456789abcdef01' }),
    );
    const out = path.join(dir, 'figs');
    const figures = await renderFigures({ files: [file], out, png: false, sizes: ['column'] });
    const ids = figures.map((f) => f.id);
    expect(ids).toEqual(
      expect.arrayContaining([
        'startup-latency-in-process',
        'startup-latency-api',
        'startup-latency-cli',
        'startup-latency-unrecorded',
      ]),
    );
    const api = await readFile(path.join(out, 'startup-latency-api-column.svg'), 'utf8');
    expect(yTicks(api).sort()).toEqual(['berth', 'docker']);
    expect(api).not.toContain('runc');
    expect(api).toContain('start-up latency (ms)');
    const caption = captionText(api);
    expect(caption).toMatch(/95 % bootstrap confidence interval of the median/);
    expect(caption).toMatch(/Unit: ms\. n = 30 samples per case/);
    expect(caption).toContain('host fingerprint 3f9a0c2d71b4e865');
    expect(caption).toContain('commit abcdef0123');
    for (const [id, want] of Object.entries({
      'phases-run-start-in-process': ['bar', 'tick'],
      'graphdriver-time': ['dot', 'rule'],
      'network-throughput': ['dot', 'rule'],
      'pull-throughput': ['dot', 'rule'],
      'lifecycle-throughput': ['line', 'dot', 'rule'],
      'lifecycle-daemon-memory': ['line', 'dot', 'rule'],
      'workload-service-ready': ['dot', 'rule'],
      'workload-request-latency': ['dot', 'rule'],
      'workload-cold-start-split': ['bar', 'tick'],
      'workload-daemon-restart': ['line', 'dot', 'rule'],
    })) {
      const found = marks(await readFile(path.join(out, `${id}-column.svg`), 'utf8'));
      for (const m of want) expect(found.has(m), `${id} has ${m} marks`).toBe(true);
    }
    // the cold-start split: the pull's parts, then the container's, in the order they happen
    const split = await readFile(path.join(out, 'workload-cold-start-split-column.svg'), 'utf8');
    const { document: splitDoc } = new JSDOM(split, { contentType: 'image/svg+xml' }).window;
    expect([...splitDoc.querySelectorAll('.berth-legend text')].map((t) => t.textContent)).toEqual([
      'fetch',
      'apply',
      'register',
      'pull',
      'create',
      'start',
      'first-output',
      'measured median',
    ]);
    // api and cli throughput are separate lines
    const lifecycle = await readFile(path.join(out, 'lifecycle-throughput-column.svg'), 'utf8');
    expect(lifecycle).toContain('berth · cli');
    expect(lifecycle).toContain('berth · api');
    // loopback is the dashed reference line, not a row
    const net = await readFile(path.join(out, 'network-throughput-column.svg'), 'utf8');
    expect(net).toContain('stroke-dasharray="4,3"');
    expect(yTicks(net).sort()).toEqual(['bridge', 'host', 'none']);
  }, 300_000);

  it('--select draws only the figures of one case, and names a selection that matches nothing', async () => {
    const file = await writeDoc('run.json', syntheticDocument(syntheticSuiteCases(3)));
    const figures = await renderFigures({
      files: [file],
      out: path.join(dir, 'figs'),
      png: false,
      select: ['network/throughput'],
      sizes: ['page'],
    });
    expect(figures.map((f) => f.id)).toEqual(['network-throughput']);
    await expect(
      renderFigures({ files: [file], out: path.join(dir, 'figs'), png: false, select: ['network/nope'] }),
    ).rejects.toThrow('--select network/nope: no such case in these files');
    expect(await main([file, '--out', path.join(dir, 'x'), '--select', 'bad', '--no-png'])).toBe(2);
  }, 120_000);

  it('skips pages without data and says which suite is missing', async () => {
    const only = syntheticCase({
      suite: 'run',
      case: 'start',
      target: 'berth',
      unit: 'ms',
      samples: normalSamples(1, 10, 12, 1),
    });
    const file = await writeDoc('run.json', syntheticDocument([only]));
    const log: string[] = [];
    const figures = await renderFigures({
      files: [file],
      out: path.join(dir, 'figs'),
      png: false,
      log: (l) => log.push(l),
    });
    expect(figures.map((f) => `${f.id}-${f.size}`)).toEqual([
      'startup-latency-unrecorded-column',
      'startup-latency-unrecorded-page',
    ]);
    expect(log).toContain('page network: no results for suite network in these files');
  });

  it('rejects an invalid result file with the schema error', async () => {
    const doc = syntheticDocument(syntheticSuiteCases(1, 5)) as unknown as { cases: { stats: { p50: unknown } }[] };
    doc.cases[0].stats.p50 = 'fast';
    const file = await writeDoc('bad.json', doc);
    await expect(renderFigures({ files: [file], out: path.join(dir, 'figs'), png: false })).rejects.toThrow(
      `result file ${file}: /cases/0/stats/p50: must be number`,
    );
    expect(existsSync(path.join(dir, 'figs'))).toBe(false);
  });

  it('the text check catches a label past the edge', () => {
    const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="100" height="50" viewBox="0 0 100 50" font-size="10"><text x="60" y="20">a label too long</text><g transform="translate(-5,0)"><text x="0" y="40" text-anchor="start">x</text></g></svg>`;
    const problems = failures([checkSvgText('t.svg', svg)]);
    expect(problems).toHaveLength(2);
    expect(problems[0]).toMatch(/^t\.svg: text "a label too long" at x 60\.0…/);
  });

  needs(haveChromium).it(
    'lays out the figures in Chromium with no text outside its SVG, and writes PNGs',
    async () => {
      const file = await writeDoc(
        'edge.json',
        syntheticDocument([...syntheticSuiteCases(4), ...syntheticEdgeCases(2)]),
      );
      const out = path.join(dir, 'figs');
      const figures = await renderFigures({ files: [file, ...committedResults()], out, png: false });
      const svgs = await Promise.all(
        figures.map(async (f) => ({ name: path.basename(f.svg), svg: await readFile(f.svg, 'utf8') })),
      );
      const problems = await checkSvgsInChromium(svgs);
      expect(problems.map((p) => p.name).sort()).toEqual(svgs.map((s) => s.name).sort());
      expect(failures(problems)).toEqual([]);
      const clipped = await checkSvgsInChromium([
        {
          name: 'bad',
          svg: '<svg xmlns="http://www.w3.org/2000/svg" width="50" height="30" viewBox="0 0 50 30"><text x="30" y="20">far too wide</text></svg>',
        },
      ]);
      expect(failures(clipped)).toHaveLength(1);
      const pngs = await renderFigures({
        files: [file],
        out: path.join(dir, 'png'),
        png: true,
        figures: ['network-throughput'],
        sizes: ['column'],
        scale: 2,
      });
      expect(pngs).toHaveLength(1);
      const png = await readFile(pngs[0].png!);
      expect(png.subarray(1, 4).toString('latin1')).toBe('PNG');
      expect(png.readUInt32BE(16)).toBe(336 * 2);
    },
    600_000,
  );
});

describe('history figure', () => {
  it('draws the regression history per suite', async () => {
    const history = path.join(dir, 'history.jsonl');
    await appendHistory(
      history,
      syntheticDocument(syntheticSuiteCases(4, 10), { runId: 'r1', startedAt: '2026-11-01T00:00:00.000Z' }),
      'r1.json',
    );
    await appendHistory(
      history,
      syntheticDocument(syntheticSuiteCases(5, 10, 1.1), { runId: 'r2', startedAt: '2026-11-02T00:00:00.000Z' }),
      'r2.json',
    );
    const figures = await renderFigures({
      files: [],
      out: path.join(dir, 'figs'),
      history,
      png: false,
      pages: ['history'],
    });
    expect(figures.map((f) => f.id)).toEqual(['history-trend', 'history-trend']);
    const svg = await readFile(figures[0].svg, 'utf8');
    expect([...marks(svg)]).toEqual(expect.arrayContaining(['line', 'area', 'dot']));
    expect(captionText(svg)).toContain('host fingerprint 3f9a0c2d71b4e865');
    expect(failures([checkSvgText('history', svg)])).toEqual([]);
  });
});
