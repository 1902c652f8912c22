// Builds the notebooks with a synthetic run covering every suite and opens each page in
// headless Chromium on 127.0.0.1: every chart renders marks, no console error.
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { appendHistory } from '../bench/compare/history-file.js';
import { readHistory } from '../bench/compare/history-file.js';
import { pages } from '../notebooks/lib/pages.js';
import { findChromium, loadPage } from './chromium.js';
import { buildNotebooks } from './notebooks.js';
import { serveStatic, type StaticServer } from './static-server.js';
import type { ExperimentRecord } from '../bench/compare/experiment.js';
import {
  normalSamples,
  syntheticCase,
  syntheticDocument,
  syntheticExperiment,
  syntheticSuiteCases,
} from './synthetic-results.js';
import { needs, when } from '../testkit/needs.js';

const chromiumMissing = when(findChromium() !== undefined, 'needs chromium (apt package chromium)');
let dir: string;

beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), `berth-notebooks-${process.pid}-`));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

/**
 * The page is done when its sources are listed and every expected chart's figure holds
 * its SVG (cells render one after another: counting SVGs would take one chart's nested
 * SVGs for another's), or when a cell failed.
 */
const READY = (ids: readonly string[]) =>
  `document.querySelector('.berth-sources') !== null && (${JSON.stringify(ids)}.every((id) => document.getElementById(id)?.querySelector('svg.berth-figure') != null) || document.querySelector('.observablehq--error') !== null)`;
/** A page without data is done when its note says so. */
const EMPTY_READY = `document.querySelector('.berth-sources') !== null && document.querySelector('.berth-empty, .observablehq--error') !== null`;
const PROBE = `({
  figures: [...document.querySelectorAll('figure.berth-chart')].map((f) => ({
    id: f.id,
    marks: [...new Set([...f.querySelectorAll('svg [aria-label]')].map((e) => e.getAttribute('aria-label')))],
    shapes: f.querySelectorAll('svg rect, svg path, svg circle, svg line').length,
    caption: f.querySelector('figcaption')?.textContent ?? '',
    legend: f.querySelectorAll('svg.berth-figure .berth-legend .berth-swatch').length,
    clipped: (() => {
      const svg = f.querySelector('svg.berth-figure');
      if (svg === null) return ['no svg.berth-figure'];
      const box = svg.getBoundingClientRect();
      return [...svg.querySelectorAll('text')].filter((t) => {
        const r = t.getBoundingClientRect();
        return (t.textContent || '').trim() !== '' && (r.left < box.left - 0.75 || r.right > box.right + 0.75 || r.top < box.top - 0.75 || r.bottom > box.bottom + 0.75);
      }).map((t) => t.textContent);
    })()
  })),
  empty: [...document.querySelectorAll('.berth-empty')].map((e) => e.textContent),
  cellErrors: [...document.querySelectorAll('.observablehq--error')].map((e) => e.textContent)
})`;

interface Probe {
  figures: { id: string; marks: string[]; shapes: number; caption: string; legend: number; clipped: string[] }[];
  empty: string[];
  cellErrors: string[];
}

needs(chromiumMissing).describe('notebooks in headless Chromium', () => {
  let server: StaticServer | undefined;
  let files: { run: string; history: string };
  let experiments: ExperimentRecord[];

  beforeAll(async () => {
    const run = path.join(dir, 'run.json');
    const extra = syntheticCase({
      suite: 'lifecycle',
      case: 'restart',
      target: 'berth',
      parameters: { policy: 'always' },
      unit: 'ms',
      samples: normalSamples(5, 10, 30, 2),
    });
    await writeFile(run, JSON.stringify(syntheticDocument([...syntheticSuiteCases(7), extra])));
    const history = path.join(dir, 'history.jsonl');
    await appendHistory(
      history,
      syntheticDocument(syntheticSuiteCases(8, 10), { runId: 'h1', startedAt: '2026-11-01T00:00:00.000Z' }),
      'h1.json',
    );
    await appendHistory(
      history,
      syntheticDocument(syntheticSuiteCases(9, 10, 1.1), { runId: 'h2', startedAt: '2026-11-02T00:00:00.000Z' }),
      'h2.json',
    );
    files = { run, history };
    experiments = [syntheticExperiment()];
    const experimentDir = path.join(dir, 'experiments', 'synthetic-class');
    await mkdir(experimentDir, { recursive: true });
    await writeFile(path.join(experimentDir, 'aa-ab-trace-quick.json'), JSON.stringify(experiments[0]));
    const { out } = await buildNotebooks({
      files: [run],
      history,
      experiments: path.join(dir, 'experiments'),
      out: path.join(dir, 'site'),
    });
    server = await serveStatic(out);
  }, 120_000);
  afterAll(async () => {
    await server?.close();
  });

  it('builds a site whose data module holds the chosen run', async () => {
    const html = await readFile(path.join(dir, 'site', 'overview.html'), 'utf8');
    expect(html).toContain('<title>berth · Start-up latency by target');
    expect(html).not.toContain('cdn.jsdelivr.net/npm/@observablehq/plot');
  });

  for (const page of pages) {
    it(`page ${page.id} renders every chart with marks and no console error`, async () => {
      const results = [{ file: files.run, doc: JSON.parse(await readFile(files.run, 'utf8')) }];
      const history = await readHistory(files.history);
      const expected = page.charts({ results, history, experiments }).map((c) => c.id);
      expect(expected.length).toBeGreaterThan(0);
      if (page.id === 'history') expected.push('history-case');
      // polled until every chart is drawn, with a deadline generous for a loaded host
      const report = await loadPage(`${server!.url}${page.id}.html`, {
        ready: READY(expected),
        probe: PROBE,
        timeoutMs: 90_000,
      });
      const probe = report.probe as Probe;
      expect(report.errors).toEqual([]);
      expect(probe.cellErrors).toEqual([]);
      expect(probe.empty).toEqual([]);
      expect(report.ready).toBe(true);
      expect(probe.figures.map((f) => f.id)).toEqual(expected);
      for (const f of probe.figures) {
        expect(f.shapes, `${f.id} draws shapes`).toBeGreaterThan(3);
        expect(
          f.marks.some((m) => ['bar', 'dot', 'line', 'area', 'rule', 'tick'].includes(m)),
          `${f.id} has data marks (${f.marks.join(', ')})`,
        ).toBe(true);
        expect(f.caption).toMatch(page.id === 'calibration' ? /case comparisons/ : /samples per case/);
        expect(f.clipped, `${f.id}: texts outside the SVG`).toEqual([]);
        expect(f.legend, `${f.id}: legend entries`).toBeLessThanOrEqual(12);
      }
    }, 120_000);
  }

  it('index page loads with no console error', async () => {
    const report = await loadPage(`${server!.url}index.html`, {
      ready: `document.querySelector('.berth-sources') !== null`,
      probe: `document.querySelector('.berth-sources').textContent`,
      timeoutMs: 30_000,
    });
    expect(report.errors).toEqual([]);
    expect(report.probe).toContain('bench-1');
  }, 60_000);

  it('a page whose suite has no data says so instead of drawing an empty chart', async () => {
    const only = path.join(dir, 'only-run.json');
    await writeFile(
      only,
      JSON.stringify(
        syntheticDocument([
          syntheticCase({
            suite: 'run',
            case: 'start',
            target: 'berth',
            unit: 'ms',
            samples: normalSamples(3, 10, 12, 1),
          }),
        ]),
      ),
    );
    const { out } = await buildNotebooks({
      files: [only],
      history: path.join(dir, 'none.jsonl'),
      out: path.join(dir, 'site-empty'),
    });
    const local = await serveStatic(out);
    try {
      const report = await loadPage(`${local.url}network.html`, {
        ready: EMPTY_READY,
        probe: PROBE,
        timeoutMs: 90_000,
      });
      const probe = report.probe as Probe;
      expect(report.errors).toEqual([]);
      expect(probe.figures).toEqual([]);
      expect(probe.empty).toEqual(['no results for suite network in these files']);
    } finally {
      await local.close();
    }
  }, 120_000);
});

needs(chromiumMissing).describe('loadPage', () => {
  it('reports console errors, uncaught exceptions and failed loads', async () => {
    const site = path.join(dir, 'broken');
    await import('node:fs/promises').then((fs) => fs.mkdir(site, { recursive: true }));
    await writeFile(
      path.join(site, 'index.html'),
      `<!doctype html><link rel="icon" href="data:,"><script>console.error('broken chart'); document.title = 'x';</script><script type="module">import "./missing.js";</script><script>setTimeout(() => { throw new Error('late failure'); }, 10); setTimeout(() => document.body.dataset.done = '1', 300);</script>`,
    );
    const server = await serveStatic(site);
    try {
      const report = await loadPage(server.url, {
        ready: `document.body.dataset.done === '1'`,
        probe: 'document.title',
        timeoutMs: 20_000,
      });
      expect(report.probe).toBe('x');
      expect(report.errors.some((e) => e.includes('console.error: broken chart'))).toBe(true);
      expect(report.errors.some((e) => e.includes('late failure'))).toBe(true);
      expect(report.errors.some((e) => e.includes('missing.js'))).toBe(true);
    } finally {
      await server.close();
    }
  }, 60_000);

  it('refuses URLs that are not on loopback', async () => {
    await expect(loadPage('http://192.0.2.1:80/', { ready: 'true', probe: '1' })).rejects.toThrow(
      'only loopback URLs are opened',
    );
  });
});
