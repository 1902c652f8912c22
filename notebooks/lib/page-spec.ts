// A notebook page as data: which suites it reads and the charts it makes of them, so
// the notebook and `npm run figures` draw the very same charts.
import type { ChartSpec } from './chart-spec.js';
import type { ExperimentRecord } from '../../bench/compare/experiment.js';
import type { HistoryLine } from '../../bench/compare/history-line.js';
import type { LoadedResult } from './rows.js';

/** What the pages are drawn from: the chosen result files, the history lines and the recorded A/A–A/B experiments. */
export interface PageInput {
  results: readonly LoadedResult[];
  history: readonly HistoryLine[];
  /** results/experiments/<host class>/*.json; absent: none loaded. */
  experiments?: readonly ExperimentRecord[];
}

export interface PageSpec {
  /** Kebab-case; the notebook is notebooks/<id>.html. */
  id: string;
  title: string;
  /** Suites the page reads; named in the "no results" message. */
  suites: string[];
  /** Extra words for the "no results" message, e.g. "(with a phase breakdown)". */
  emptyQualifier?: string;
  /** A message replacing the "no results for suite …" one (pages not drawn from suites). */
  emptyText?: string;
  /**
   * Charts for the input; empty when it has no data for the page. Cases that cannot be
   * drawn are left out and named through `warn`. Called as a method.
   */
  charts(input: PageInput, warn?: (message: string) => void): ChartSpec[];
}

/** `no results for suite run or runtime in these files`: what a page without data says. */
export function emptyMessage(page: Pick<PageSpec, 'suites' | 'emptyQualifier' | 'emptyText'>): string {
  if (page.emptyText !== undefined) return page.emptyText;
  return `no results for suite ${page.suites.join(' or ')}${page.emptyQualifier ? ` ${page.emptyQualifier}` : ''} in these files`;
}

/**
 * A page's charts, or none with a warning naming the page when building them failed: a bad chart never stops the rest.
 */
export function chartsOf(
  page: PageSpec,
  input: PageInput,
  warn: (message: string) => void = () => undefined,
): ChartSpec[] {
  try {
    return page.charts(input, warn);
  } catch (err) {
    warn(`page ${page.id}: charts skipped: ${(err as Error).message}`);
    return [];
  }
}
