// `npm run figures` on a synthetic run covering every suite: SVGs with the expected marks,
// axis labels and caption (sample counts, host fingerprint); PNGs; pages without data.
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { appendHistory } from '../bench/compare/history-file.js';
import { findChromium } from './chromium.js';
import { renderFigures } from './figures.js';
import { normalSamples, syntheticCase, syntheticDocument, syntheticSuiteCases } from './synthetic-results.js';
import { needs, when } from '../testkit/needs.js';

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

/** The aria-labels of Plot's mark groups in an SVG text. */
function marks(svg: string): Set<string> {
  return new Set([...svg.matchAll(/aria-label="([^"]+)"/g)].map((m) => m[1]));
}

const EXPECTED: Record<string, string[]> = {
  'overview-startup-box': ['bar', 'tick', 'rule'],
  'overview-startup-cdf': ['line'],
  'phases-breakdown': ['bar', 'tick'],
  'lifecycle-throughput': ['line', 'dot', 'rule'],
  'lifecycle-op-latency': ['line', 'dot', 'rule'],
  'lifecycle-density-start': ['line', 'dot', 'rule'],
  'lifecycle-daemon-memory': ['line', 'dot', 'rule'],
  'graphdriver-latency': ['line', 'dot', 'rule'],
  'graphdriver-throughput': ['line', 'dot', 'rule'],
  'namespaces-cost-per-kind': ['dot', 'rule'],
  'namespaces-cost-vs-workers': ['line', 'dot'],
  'namespaces-rate-per-kind': ['dot', 'rule'],
  'namespaces-rate-vs-workers': ['line', 'dot'],
  'pull-throughput': ['bar', 'rule'],
  'pull-phases': ['bar'],
  'network-setup': ['bar', 'rule'],
  'network-throughput': ['bar', 'rule'],
  'tracing-cost': ['bar', 'rule'],
  'history-relative': ['line', 'area', 'dot'],
};

describe('renderFigures', () => {
  it('writes one standalone SVG per chart with marks, axis labels and a full caption', async () => {
    const file = await writeDoc('run.json', syntheticDocument(syntheticSuiteCases(3)));
    const history = path.join(dir, 'history.jsonl');
    await appendHistory(history, syntheticDocument(syntheticSuiteCases(4), { runId: 'r1', startedAt: '2026-11-01T00:00:00.000Z' }), 'r1.json');
    await appendHistory(history, syntheticDocument(syntheticSuiteCases(5, 30, 1.1), { runId: 'r2', startedAt: '2026-11-02T00:00:00.000Z' }), 'r2.json');
    const out = path.join(dir, 'figs');
    const figures = await renderFigures({ files: [file], out, history, png: false });
    expect(figures.map((f) => f.id).sort()).toEqual(Object.keys(EXPECTED).sort());
    for (const [id, want] of Object.entries(EXPECTED)) {
      const svg = await readFile(path.join(out, `${id}.svg`), 'utf8');
      expect(svg, id).toMatch(/^<\?xml[^>]*>\n<svg xmlns="http:\/\/www\.w3\.org\/2000\/svg"/);
      const found = marks(svg);
      for (const m of want) expect(found.has(m), `${id} has ${m} marks`).toBe(true);
      expect(svg, id).toContain('class="berth-caption"');
      expect(svg, id).toMatch(/n = \d+(–\d+)? samples per case/);
      expect(svg, id).toContain('host fingerprint 3f9a0c2d71b4e865');
    }
    const box = await readFile(path.join(out, 'overview-startup-box.svg'), 'utf8');
    expect(box).toContain('latency (ms)');
    expect(box).toContain('bench-1, AMD EPYC ×2');
    expect(await readFile(path.join(out, 'network-throughput.svg'), 'utf8')).toContain('throughput (Gbit/s)');
    expect(await readFile(path.join(out, 'namespaces-cost-per-kind.svg'), 'utf8')).toContain('time per operation (µs)');
    expect((await readdir(out)).every((n) => n.endsWith('.svg'))).toBe(true);
  });

  it('skips pages without data and says which suite is missing', async () => {
    const only = syntheticCase({ suite: 'run', case: 'start', target: 'berth', unit: 'ms', samples: normalSamples(1, 10, 12, 1) });
    const file = await writeDoc('run.json', syntheticDocument([only]));
    const log: string[] = [];
    const figures = await renderFigures({ files: [file], out: path.join(dir, 'figs'), png: false, log: (l) => log.push(l) });
    expect(figures.map((f) => f.page)).toEqual(['overview', 'overview']);
    expect(log).toContain('page network: no results for suite network in these files');
    expect(log).toContain('page graphdrivers: no results for suite graphdriver in these files');
  });

  it('rejects an invalid result file with the schema error', async () => {
    const doc = syntheticDocument(syntheticSuiteCases(1, 5)) as unknown as { cases: { stats: { p50: unknown } }[] };
    doc.cases[0].stats.p50 = 'fast';
    const file = await writeDoc('bad.json', doc);
    await expect(renderFigures({ files: [file], out: path.join(dir, 'figs'), png: false })).rejects.toThrow(`result file ${file}: /cases/0/stats/p50: must be number`);
    expect(existsSync(path.join(dir, 'figs'))).toBe(false);
  });

  needs(when(findChromium() !== undefined, 'needs chromium (apt package chromium)')).it('renders PNGs of the SVGs with headless Chromium', async () => {
    const file = await writeDoc('run.json', syntheticDocument(syntheticSuiteCases(3)));
    const out = path.join(dir, 'figs');
    const figures = await renderFigures({ files: [file], out, pages: ['network'], png: true, scale: 2 });
    expect(figures).toHaveLength(2);
    for (const f of figures) {
      const png = await readFile(f.png!);
      expect(png.subarray(1, 4).toString('latin1')).toBe('PNG');
      const svgWidth = Number(/<svg[^>]*\swidth="(\d+)"/.exec(await readFile(f.svg, 'utf8'))![1]);
      expect(png.readUInt32BE(16)).toBe(svgWidth * 2);
    }
  });
});
