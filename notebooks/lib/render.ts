// Turns chart specs into what people see: an HTML figure (title, legend, chart,
// caption) in a notebook, or one standalone SVG file with the same parts for a paper.
import type { ChartSpec } from './chart-spec.js';
import { emptyMessage, type PageInput, type PageSpec } from './page-spec.js';
import { hostLines, sampleCounts } from './rows.js';

const SVG_NS = 'http://www.w3.org/2000/svg';

/** The caption: what the chart shows, sample counts, and one line per host the data came from. */
export function captionLines(spec: ChartSpec, input: PageInput): string[] {
  const hosts =
    spec.source === 'history'
      ? [...new Set(input.history.map((l) => `${l.hostname}, host fingerprint ${l.hostFingerprint}`))].map((h) => `runs from ${h}`)
      : hostLines(input.results);
  return [spec.description, `${sampleCounts(spec.rows)}.`, ...hosts];
}

function docOf(document: Document | undefined): Document {
  if (document !== undefined) return document;
  return globalThis.document;
}

/** A `<figure class="berth-chart">` with a heading, the colour legend when useful, the chart and its caption. */
export function figureElement(spec: ChartSpec, input: PageInput, options: { document?: Document; width?: number } = {}): HTMLElement {
  const doc = docOf(options.document);
  const figure = doc.createElement('figure');
  figure.className = 'berth-chart';
  figure.id = spec.id;
  const h = figure.appendChild(doc.createElement('h3'));
  h.textContent = spec.title;
  const chart = spec.draw({ document: options.document, width: options.width });
  if (spec.legend) {
    const legend = chart.legend('color');
    if (legend !== undefined) figure.appendChild(legend);
  }
  figure.appendChild(chart);
  const caption = figure.appendChild(doc.createElement('figcaption'));
  for (const line of captionLines(spec, input)) {
    const p = caption.appendChild(doc.createElement('div'));
    p.textContent = line;
  }
  return figure;
}

/**
 * A page's charts as figures in a `<div class="berth-page">`, or, when the input has
 * no data for the page, a `<p class="berth-empty">` saying so (`no results for suite X
 * in these files`). Never throws for missing data.
 */
export function renderPage(page: PageSpec, input: PageInput, options: { document?: Document; width?: number } = {}): HTMLElement {
  const doc = docOf(options.document);
  const div = doc.createElement('div');
  div.className = 'berth-page';
  const charts = page.charts(input);
  if (charts.length === 0) {
    const p = div.appendChild(doc.createElement('p'));
    p.className = 'berth-empty';
    p.textContent = emptyMessage(page);
    return div;
  }
  for (const spec of charts) div.appendChild(figureElement(spec, input, options));
  return div;
}

/**
 * What the page was built from: one list item per result file (run, profile, commit,
 * host) and the number of history lines, or a note that no result file was loaded.
 */
export function sourcesElement(input: PageInput, options: { document?: Document } = {}): HTMLElement {
  const doc = docOf(options.document);
  const div = doc.createElement('div');
  div.className = 'berth-sources';
  if (input.results.length === 0) {
    div.textContent = 'No result file was loaded (npm run notebooks -- <result.json…>).';
  } else {
    const ul = div.appendChild(doc.createElement('ul'));
    hostLines(input.results).forEach((line) => {
      ul.appendChild(doc.createElement('li')).textContent = line;
    });
  }
  const p = div.appendChild(doc.createElement('p'));
  p.textContent = `${input.history.length} history line(s) loaded.`;
  return div;
}

/** Splits text into lines of at most `width` characters at spaces. */
function wrapText(text: string, width: number): string[] {
  const lines: string[] = [];
  let line = '';
  for (const word of text.split(/\s+/)) {
    if (line !== '' && line.length + 1 + word.length > width) {
      lines.push(line);
      line = word;
    } else {
      line = line === '' ? word : `${line} ${word}`;
    }
  }
  if (line !== '') lines.push(line);
  return lines;
}

function svgEl(doc: Document, name: string, attrs: Record<string, string | number>): SVGElement {
  const el = doc.createElementNS(SVG_NS, name) as SVGElement;
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, String(v));
  return el;
}

/**
 * One self-contained SVG document (as text) for a chart: title on top, a swatch
 * legend drawn in SVG (Plot's own legend is HTML), the chart, and the caption lines
 * (description, sample counts, host fingerprint) below. `document` is jsdom's in Node.
 */
export function standaloneSvg(spec: ChartSpec, input: PageInput, document: Document, width = 720): string {
  const chart = spec.draw({ document, width });
  const chartWidth = Number(chart.getAttribute('width') ?? width);
  const chartHeight = Number(chart.getAttribute('height') ?? 400);
  const root = svgEl(document, 'svg', { xmlns: SVG_NS, version: '1.1', 'font-family': 'system-ui, sans-serif', 'font-size': 11 }) as SVGSVGElement;
  root.appendChild(svgEl(document, 'rect', { width: '100%', height: '100%', fill: 'white' }));
  let y = 22;
  const title = root.appendChild(svgEl(document, 'text', { x: 10, y, 'font-size': 15, 'font-weight': 'bold', class: 'berth-title' }));
  title.textContent = spec.title;
  y += 12;
  if (spec.legend) {
    const scale = chart.scale('color') as { domain?: unknown[]; range?: unknown[] } | undefined;
    const domain = scale?.domain ?? [];
    const range = scale?.range ?? [];
    let x = 10;
    y += 6;
    domain.forEach((value, i) => {
      const label = String(value);
      const w = 18 + label.length * 6.2 + 14;
      if (x + w > chartWidth && x > 10) {
        x = 10;
        y += 16;
      }
      root.appendChild(svgEl(document, 'rect', { x, y: y - 9, width: 12, height: 12, fill: String(range[i % Math.max(range.length, 1)] ?? 'gray'), class: 'berth-swatch' }));
      const t = root.appendChild(svgEl(document, 'text', { x: x + 16, y: y + 1 }));
      t.textContent = label;
      x += w;
    });
    y += 12;
  }
  chart.setAttribute('x', '0');
  chart.setAttribute('y', String(y));
  root.appendChild(chart);
  y += chartHeight + 18;
  const caption = svgEl(document, 'g', { class: 'berth-caption', fill: '#333' });
  root.appendChild(caption);
  for (const line of captionLines(spec, input).flatMap((l) => wrapText(l, Math.floor(chartWidth / 6.3)))) {
    const t = caption.appendChild(svgEl(document, 'text', { x: 10, y }));
    t.textContent = line;
    y += 15;
  }
  root.setAttribute('width', String(chartWidth));
  root.setAttribute('height', String(Math.ceil(y)));
  root.setAttribute('viewBox', `0 0 ${chartWidth} ${Math.ceil(y)}`);
  return `<?xml version="1.0" encoding="UTF-8"?>\n${root.outerHTML}\n`;
}
