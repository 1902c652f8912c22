// What a page or a figure needs to know about one chart: an id (the figure's file
// name), a title, a description for the caption, its rows, and how to draw it.
import type { Row } from './rows.js';

/** What Plot.plot returns: an SVG, or a figure when Plot adds a legend (charts here never ask it to). */
export type PlotElement = (SVGSVGElement | HTMLElement) & { scale(name: string): unknown; legend(name: string, options?: object): Element | undefined };

export interface DrawOptions {
  /** The document to build in (jsdom's in Node); the page's when absent. */
  document?: Document;
  /** Width in pixels; default 720. */
  width?: number;
}

export interface ChartSpec {
  /** Kebab-case, unique over all pages: the figure's file name. */
  id: string;
  title: string;
  /** What the chart shows, its units and marks, in a sentence or two. */
  description: string;
  /** The cases it plots (for sample counts in the caption). */
  rows: Row[];
  /** Where the data comes from (the caption names its hosts); default: the result files. */
  source?: 'results' | 'history';
  /** Whether the chart has a colour legend worth drawing. */
  legend: boolean;
  /** Draws the chart without title, legend or caption (the caller adds those). */
  draw(options: DrawOptions): PlotElement;
}
