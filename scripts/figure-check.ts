// Checks a figure SVG reads as drawn: every text lies inside the SVG's viewBox (nothing cut
// at an edge) and the legend has at most 12 entries. Measured by headless Chromium when it
// is installed (real glyph boxes), else estimated in jsdom from positions and font metrics.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { JSDOM } from 'jsdom';
import { MAX_LEGEND_ENTRIES } from '../notebooks/lib/chart-spec.js';
import { textWidth } from '../notebooks/lib/text.js';
import { loadPage } from './chromium.js';
import { serveStatic } from './static-server.js';

export interface FigureProblems {
  /** The figure (file name or id) the problems belong to. */
  name: string;
  /** `text "…" at x…x, y…y outside 0 0 W H`, one per clipped text. */
  clipped: string[];
  legendEntries: number;
}

/** Slack in px for rounding of glyph boxes against the edge. */
const SLACK = 0.75;

function viewBox(svg: Element): [number, number] {
  const vb = (svg.getAttribute('viewBox') ?? '').split(/[\s,]+/).map(Number);
  return [vb[2] ?? Number(svg.getAttribute('width')), vb[3] ?? Number(svg.getAttribute('height'))];
}

/** Sum of translate() offsets and nested-svg x/y from `el` up to the root. */
function offset(el: Element, root: Element): [number, number] {
  let x = 0;
  let y = 0;
  for (let e: Element | null = el; e !== null && e !== root; e = e.parentElement) {
    const t = /translate\(\s*([-\d.e]+)[\s,]*([-\d.e]+)?\s*\)/.exec(e.getAttribute('transform') ?? '');
    if (t) {
      x += Number(t[1]);
      y += Number(t[2] ?? 0);
    }
    if (e.tagName.toLowerCase() === 'svg') {
      x += Number(e.getAttribute('x') ?? 0);
      y += Number(e.getAttribute('y') ?? 0);
    }
  }
  return [x, y];
}

function inherited(el: Element, attr: string, css: string): string | undefined {
  for (let e: Element | null = el; e !== null; e = e.parentElement) {
    // an inline style wins over the presentation attribute, as in CSS
    const s = new RegExp(`${css}:\\s*([^;]+)`).exec(e.getAttribute('style') ?? '');
    if (s) return s[1].trim();
    const a = e.getAttribute(attr);
    if (a !== null) return a;
  }
  return undefined;
}

function em(value: string | null, fs: number): number {
  if (value === null) return 0;
  return value.endsWith('em') ? Number.parseFloat(value) * fs : Number.parseFloat(value) || 0;
}

/**
 * Estimates in jsdom (no layout) where each text of an SVG document lands: position from
 * translate()s, x/y/dx/dy and text-anchor, width from the font's advance widths.
 */
export function checkSvgText(name: string, svgText: string): FigureProblems {
  const { document } = new JSDOM(svgText, { contentType: 'image/svg+xml' }).window;
  const root = document.documentElement;
  const [W, H] = viewBox(root);
  const clipped: string[] = [];
  for (const t of root.querySelectorAll('text')) {
    const lines =
      t.querySelectorAll('tspan').length > 0
        ? [...t.querySelectorAll('tspan')].map((s) => s.textContent ?? '')
        : [t.textContent ?? ''];
    const content = lines.join(' ');
    if (content.trim() === '') continue;
    const fs = Number.parseFloat(inherited(t, 'font-size', 'font-size') ?? '10');
    const bold = /bold|[6-9]00/.test(inherited(t, 'font-weight', 'font-weight') ?? '');
    const width = Math.max(...lines.map((l) => textWidth(l, fs, bold)));
    const [ox, oy] = offset(t, root);
    const x = ox + em(t.getAttribute('x'), fs) + em(t.getAttribute('dx'), fs);
    const y = oy + em(t.getAttribute('y'), fs) + em(t.getAttribute('dy'), fs);
    const anchor = inherited(t, 'text-anchor', 'text-anchor') ?? 'start';
    const left = anchor === 'end' ? x - width : anchor === 'middle' ? x - width / 2 : x;
    const top = y - fs * 0.8;
    const bottom = y + fs * 0.25 + (lines.length - 1) * fs * 1.2;
    if (left < -SLACK || left + width > W + SLACK || top < -SLACK || bottom > H + SLACK) {
      clipped.push(
        `text ${JSON.stringify(content)} at x ${left.toFixed(1)}…${(left + width).toFixed(1)}, y ${top.toFixed(1)}…${bottom.toFixed(1)} outside 0 0 ${W} ${H}`,
      );
    }
  }
  return { name, clipped, legendEntries: root.querySelectorAll('.berth-legend .berth-swatch').length };
}

const PROBE = `[...document.querySelectorAll('div.fig')].map((div) => {
  const svg = div.querySelector('svg');
  const box = svg.getBoundingClientRect();
  const clipped = [];
  for (const t of svg.querySelectorAll('text')) {
    if ((t.textContent || '').trim() === '') continue;
    const r = t.getBoundingClientRect();
    if (r.left < box.left - ${SLACK} || r.right > box.right + ${SLACK} || r.top < box.top - ${SLACK} || r.bottom > box.bottom + ${SLACK})
      clipped.push('text ' + JSON.stringify(t.textContent) + ' at x ' + (r.left - box.left).toFixed(1) + '…' + (r.right - box.left).toFixed(1) + ', y ' + (r.top - box.top).toFixed(1) + '…' + (r.bottom - box.top).toFixed(1) + ' outside 0 0 ' + box.width + ' ' + box.height);
  }
  return { name: div.dataset.name, clipped, legendEntries: svg.querySelectorAll('.berth-legend .berth-swatch').length };
})`;

/**
 * Lays out every SVG in headless Chromium (one page, served on 127.0.0.1) and measures
 * each text's glyph box against its SVG's box. Needs Chromium (FAILED_PRECONDITION).
 */
export async function checkSvgsInChromium(svgs: { name: string; svg: string }[]): Promise<FigureProblems[]> {
  const dir = await mkdtemp(path.join(os.tmpdir(), `berth-figcheck-${process.pid}-`));
  try {
    const body = svgs
      .map((s) => `<div class="fig" data-name="${s.name}">${s.svg.replace(/^<\?xml[^>]*>\s*/, '')}</div>`)
      .join('\n');
    await writeFile(
      path.join(dir, 'index.html'),
      `<!doctype html><html><head><meta charset="utf-8"><link rel="icon" href="data:,"><style>body{margin:0} div.fig{margin:0 0 8px;line-height:0}</style></head><body>${body}<script>document.body.dataset.done='1'</script></body></html>`,
    );
    const server = await serveStatic(dir);
    try {
      const report = await loadPage(`${server.url}index.html`, {
        ready: `document.body.dataset.done === '1'`,
        probe: PROBE,
        timeoutMs: 60_000,
      });
      if (!report.ready) throw new Error(`figure check: the page of ${svgs.length} figures did not load`);
      return report.probe as FigureProblems[];
    } finally {
      await server.close();
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** The problems worth failing on: clipped texts and legends over the limit. */
export function failures(problems: readonly FigureProblems[]): string[] {
  return problems.flatMap((p) => [
    ...p.clipped.map((c) => `${p.name}: ${c}`),
    ...(p.legendEntries > MAX_LEGEND_ENTRIES ? [`${p.name}: ${p.legendEntries} legend entries`] : []),
  ]);
}
