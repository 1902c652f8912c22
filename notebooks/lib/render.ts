// Turns chart specs into what people see: one SVG with the title, the legend, the panels,
// the caption (what the marks show, unit, n, CI, the key of abbreviated labels) and a
// footnote (host fingerprint and commit of every run) — standalone for a paper, or
// inside an HTML figure in a notebook. All text is laid out with measured widths, so
// nothing reaches past the SVG's edges.
import type { ChartSpec, LegendEntry } from './chart-spec.js';
import { MAX_LEGEND_ENTRIES } from './chart-spec.js';
import { chartsOf, emptyMessage, type PageInput, type PageSpec } from './page-spec.js';
import { hostLines } from './rows.js';
import { FIGURE_FONT, textWidth, wrapText } from './text.js';

const SVG_NS = 'http://www.w3.org/2000/svg';
const PAD = 6;

/** Figure sizes for papers: a column (3.5 in) and a page width (7 in), in CSS pixels at 96 per inch. */
export const FIGURE_SIZES = { column: { width: 336, fontSize: 9 }, page: { width: 672, fontSize: 10 } } as const;
export type FigureSize = keyof typeof FIGURE_SIZES;

/** The footnote: one line per host the data came from (fingerprint, commit). */
export function footnoteLines(spec: ChartSpec, input: PageInput): string[] {
  if (spec.source === 'experiments') {
    return [
      ...new Set(
        (input.experiments ?? []).map(
          (r) =>
            `Experiment ${r.suite} (${r.profile}) on ${r.recorded.hostname}, host fingerprint ${r.recorded.fingerprint}, commit ${r.recorded.gitCommit === null ? 'unknown' : r.recorded.gitCommit.slice(0, 10)}.`,
        ),
      ),
    ];
  }
  if (spec.source === 'history') {
    return [...new Set(input.history.map((l) => `${l.hostname}, host fingerprint ${l.hostFingerprint}`))].map(
      (h) => `Runs from ${h}.`,
    );
  }
  const runs = new Set(spec.rows.map((r) => r.run));
  const used = input.results.filter(
    (r) => spec.rows.length === 0 || runs.has(r.file.replace(/^.*[\\/]/, '').replace(/\.json$/, '')),
  );
  return hostLines(used.length > 0 ? used : input.results);
}

function docOf(document: Document | undefined): Document {
  return document ?? globalThis.document;
}

function svgEl(doc: Document, name: string, attrs: Record<string, string | number>): SVGElement {
  const el = doc.createElementNS(SVG_NS, name) as SVGElement;
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, String(v));
  return el;
}

export interface ComposeOptions {
  document?: Document;
  width: number;
  fontSize: number;
  /** Draw the title, caption and footnote into the SVG (standalone); a notebook puts them in HTML. */
  standalone: boolean;
}

export interface Composed {
  svg: SVGSVGElement;
  /** Caption lines including the key of abbreviated labels. */
  caption: string[];
  footnote: string[];
}

/**
 * The chart laid out at `width`: legend, panels stacked, and in standalone mode the
 * title above and the caption and footnote below, all in one `<svg>` with a viewBox of
 * its full size. Throws when the chart would need more than 12 legend entries.
 */
export function composeSvg(spec: ChartSpec, input: PageInput, o: ComposeOptions): Composed {
  const doc = docOf(o.document);
  const fs = o.fontSize;
  const W = o.width;
  const inner = W - 2 * PAD;
  const layout = spec.layout(W, fs);
  if (layout.legend.length > MAX_LEGEND_ENTRIES)
    throw new Error(`figure ${spec.id}: ${layout.legend.length} legend entries, more than ${MAX_LEGEND_ENTRIES}`);
  const caption = [...spec.caption, ...(layout.key.length > 0 ? [`Key: ${layout.key.join('; ')}.`] : [])];
  const footnote = footnoteLines(spec, input);
  const root = svgEl(doc, 'svg', {
    xmlns: SVG_NS,
    version: '1.1',
    'font-family': FIGURE_FONT,
    'font-size': fs,
    class: 'berth-figure',
  }) as SVGSVGElement;
  root.appendChild(svgEl(doc, 'rect', { width: '100%', height: '100%', fill: 'white' }));
  let y = PAD;
  const text = (lines: string[], size: number, attrs: Record<string, string | number>, gap = 1.25) => {
    for (const line of lines) {
      y += size;
      const t = root.appendChild(svgEl(doc, 'text', { x: PAD, y: y.toFixed(1), 'font-size': size, ...attrs }));
      t.textContent = line;
      y += size * (gap - 1);
    }
  };
  if (o.standalone) {
    text(wrapText(spec.title, inner, fs + 2, true), fs + 2, { 'font-weight': 'bold', class: 'berth-title' });
    y += 4;
  }
  if (layout.legend.length > 0) y = drawLegend(root, doc, layout.legend, y + 2, inner, fs) + 4;
  for (const panel of layout.panels) {
    if (panel.title !== null) {
      y += 4;
      text(wrapText(panel.title, inner, fs, true), fs, { 'font-weight': 'bold', class: 'berth-panel-title' });
    }
    const chart = panel.draw({ document: o.document, width: W, fontSize: fs });
    const h = Number(chart.getAttribute('height') ?? 200);
    chart.setAttribute('x', '0');
    chart.setAttribute('y', y.toFixed(1));
    root.appendChild(chart);
    y += h;
  }
  if (o.standalone) {
    y += 4;
    const g = svgEl(doc, 'g', { class: 'berth-caption', fill: '#222' });
    root.appendChild(g);
    for (const line of caption.flatMap((c) => wrapText(c, inner, fs))) {
      y += fs;
      g.appendChild(svgEl(doc, 'text', { x: PAD, y: y.toFixed(1) })).textContent = line;
      y += fs * 0.3;
    }
    y += 3;
    const small = Math.max(7, fs - 1.5);
    const f = svgEl(doc, 'g', { class: 'berth-footnote', fill: '#555', 'font-size': small });
    root.appendChild(f);
    for (const line of footnote.flatMap((c) => wrapText(c, inner, small))) {
      y += small;
      f.appendChild(svgEl(doc, 'text', { x: PAD, y: y.toFixed(1) })).textContent = line;
      y += small * 0.3;
    }
  }
  y = Math.ceil(y + PAD);
  root.setAttribute('width', String(W));
  root.setAttribute('height', String(y));
  root.setAttribute('viewBox', `0 0 ${W} ${y}`);
  return { svg: root, caption, footnote };
}

/**
 * Legend entries left to right, wrapping to new lines; a label wider than the line wraps itself. Returns the y below
 * it.
 */
function drawLegend(
  root: SVGElement,
  doc: Document,
  entries: LegendEntry[],
  top: number,
  inner: number,
  fs: number,
): number {
  const g = root.appendChild(svgEl(doc, 'g', { class: 'berth-legend' }));
  const sym = 12;
  const lineH = fs * 1.35;
  let x = PAD;
  let y = top;
  let rowHeight = lineH;
  for (const e of entries) {
    const lines = wrapText(e.label, inner - sym - 4, fs);
    const w = sym + 4 + Math.max(...lines.map((l) => textWidth(l, fs))) + 10;
    if (x > PAD && x + w - 10 > PAD + inner) {
      x = PAD;
      y += rowHeight;
      rowHeight = lineH;
    }
    const cy = y + lineH / 2;
    if (e.shape === 'swatch')
      g.appendChild(svgEl(doc, 'rect', { x, y: cy - 5, width: sym, height: 10, fill: e.color, class: 'berth-swatch' }));
    else if (e.shape === 'dot')
      g.appendChild(svgEl(doc, 'circle', { cx: x + sym / 2, cy, r: 3.5, fill: e.color, class: 'berth-swatch' }));
    else if (e.shape === 'tick')
      g.appendChild(
        svgEl(doc, 'line', {
          x1: x + sym / 2,
          x2: x + sym / 2,
          y1: cy - 5,
          y2: cy + 5,
          stroke: e.color,
          'stroke-width': 2,
          class: 'berth-swatch',
        }),
      );
    else
      g.appendChild(
        svgEl(doc, 'line', {
          x1: x,
          x2: x + sym,
          y1: cy,
          y2: cy,
          stroke: e.color,
          'stroke-width': 1.5,
          'stroke-dasharray': '4,3',
          class: 'berth-swatch',
        }),
      );
    lines.forEach((line, i) => {
      g.appendChild(svgEl(doc, 'text', { x: x + sym + 4, y: (cy + fs * 0.35 + i * lineH).toFixed(1) })).textContent =
        line;
    });
    rowHeight = Math.max(rowHeight, lines.length * lineH);
    x += w;
  }
  return y + rowHeight;
}

/** A `<figure class="berth-chart">`: heading, the chart's SVG (legend and panels), and a caption with the footnote. */
export function figureElement(
  spec: ChartSpec,
  input: PageInput,
  options: { document?: Document; width?: number } = {},
): HTMLElement {
  const doc = docOf(options.document);
  const width = options.width ?? FIGURE_SIZES.page.width;
  const figure = doc.createElement('figure');
  figure.className = 'berth-chart';
  figure.id = spec.id;
  figure.appendChild(doc.createElement('h3')).textContent = spec.title;
  const { svg, caption, footnote } = composeSvg(spec, input, {
    document: options.document,
    width,
    fontSize: width < 500 ? FIGURE_SIZES.column.fontSize : FIGURE_SIZES.page.fontSize,
    standalone: false,
  });
  figure.appendChild(svg);
  const fc = figure.appendChild(doc.createElement('figcaption'));
  for (const line of caption) fc.appendChild(doc.createElement('div')).textContent = line;
  for (const line of footnote) {
    const small = fc.appendChild(doc.createElement('div'));
    small.className = 'berth-footnote';
    small.textContent = line;
  }
  return figure;
}

/**
 * A page's charts as figures in a `<div class="berth-page">`, or, when the input has
 * no data for the page, a `<p class="berth-empty">` saying so (`no results for suite X
 * in these files`). Never throws for missing data; a chart that cannot be drawn is
 * replaced by a note naming it.
 */
export function renderPage(
  page: PageSpec,
  input: PageInput,
  options: { document?: Document; width?: number } = {},
): HTMLElement {
  const doc = docOf(options.document);
  const div = doc.createElement('div');
  div.className = 'berth-page';
  const notes: string[] = [];
  const charts = chartsOf(page, input, (m) => notes.push(m));
  if (charts.length === 0) {
    const p = div.appendChild(doc.createElement('p'));
    p.className = 'berth-empty';
    p.textContent = emptyMessage(page);
  }
  for (const spec of charts) {
    try {
      div.appendChild(figureElement(spec, input, options));
    } catch (err) {
      notes.push(`figure ${spec.id}: not drawn (${(err as Error).message})`);
    }
  }
  for (const note of notes) {
    const p = div.appendChild(doc.createElement('p'));
    p.className = 'berth-skipped';
    p.textContent = note;
  }
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
  p.textContent = `${input.history.length} history line(s) and ${(input.experiments ?? []).length} recorded experiment(s) loaded.`;
  return div;
}

/** One self-contained SVG document (as text) of a chart at a size. `document` is jsdom's in Node. */
export function standaloneSvg(
  spec: ChartSpec,
  input: PageInput,
  document: Document,
  size: FigureSize | { width: number; fontSize: number } = 'page',
): string {
  const s = typeof size === 'string' ? FIGURE_SIZES[size] : size;
  const { svg } = composeSvg(spec, input, { document, width: s.width, fontSize: s.fontSize, standalone: true });
  return `<?xml version="1.0" encoding="UTF-8"?>\n${svg.outerHTML}\n`;
}
