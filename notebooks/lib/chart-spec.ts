// What a page or a figure needs to know about one chart: an id (the figure's file name),
// a title, its caption, its rows, and how to lay it out at a given width. One chart
// answers one question; render.ts turns it into a notebook figure or a standalone SVG.
import type { Row } from './rows.js';

/** What Plot.plot returns: an SVG, or a figure when Plot adds a legend (charts here never ask it to). */
export type PlotElement = (SVGSVGElement | HTMLElement) & {
  scale(name: string): unknown;
  legend(name: string, options?: object): Element | undefined;
};

export interface DrawOptions {
  /** The document to build in (jsdom's in Node); the page's when absent. */
  document?: Document;
  /** Width in pixels of the whole figure. */
  width: number;
  /** Font size in px of the chart's text. */
  fontSize: number;
}

/** One legend entry: a dot, a filled swatch, a dashed line or a vertical tick in `color`. */
export interface LegendEntry {
  label: string;
  color: string;
  shape: 'dot' | 'swatch' | 'dash' | 'tick';
}

/** One panel of a figure: an optional title above it and the Plot chart itself. */
export interface Panel {
  title: string | null;
  draw(options: DrawOptions): PlotElement;
}

/** A chart laid out for one width: panels stacked top to bottom, the legend above them. */
export interface Layout {
  legend: LegendEntry[];
  panels: Panel[];
  /** Lines for the caption that depend on the width (keys of abbreviated labels). */
  key: string[];
}

/** At most this many legend entries per figure; a chart that would need more says so by throwing. */
export const MAX_LEGEND_ENTRIES = 12;

export interface ChartSpec {
  /** Kebab-case, unique over all pages: the figure's file name. */
  id: string;
  /** The notebook page the chart appears on. */
  page: string;
  title: string;
  /** Caption sentences: what the marks show, the unit, n and the confidence interval. */
  caption: string[];
  /** The cases it plots (sample counts; `--select` matches their suite/case). */
  rows: Row[];
  /** Where the data comes from (the footnote names its hosts); default: the result files. */
  source?: 'results' | 'history' | 'experiments';
  /** The panels and legend for a width (labels too long for it are abbreviated with a key). */
  layout(width: number, fontSize: number): Layout;
}
