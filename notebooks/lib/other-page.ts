// Every case no other page draws (suites added later, ratios, counts, sizes): one chart per
// suite and case, a row per parameter set, targets as colours. Nothing loaded is left out.
import type { ChartSpec } from './chart-spec.js';
import { dotFigure } from './dot-figure.js';
import { slug } from './overview-page.js';
import { chartsOf, type PageInput, type PageSpec } from './page-spec.js';
import { caseName, constantParams, labelOf, paramValue, rowKey, splitParams, toRows, type Row } from './rows.js';

const QUANTITY: Record<string, string> = {
  ratio: 'ratio',
  percent: 'percent',
  count: 'count',
  'ops/s': 'operations per second',
  B: 'size',
  KiB: 'size',
  MiB: 'size',
};

/** One generic chart per suite/case of `rows` (each failing chart named through `warn`). */
export function genericCharts(rows: readonly Row[], page: string, warn: (message: string) => void): ChartSpec[] {
  const charts: ChartSpec[] = [];
  const cases = [...new Set(rows.map((r) => `${r.suite}/${r.case}`))];
  for (const name of cases) {
    const mine = rows.filter((r) => `${r.suite}/${r.case}` === name);
    const { rowKeys: keys, seriesKeys } = splitParams(mine, (r) => r.series);
    const constant = constantParams(mine);
    const seriesOf = (r: Row) =>
      [
        r.series,
        ...seriesKeys.filter((k) => r.parameters[k] !== undefined).map((k) => paramValue(k, r.parameters[k])),
      ].join(' · ');
    const manySeries = new Set(mine.map(seriesOf)).size > 1;
    try {
      const spec = dotFigure(
        mine,
        {
          id: `case-${slug(name)}`,
          page,
          title: `${name}: median per ${keys.length > 0 ? keys.join(' · ') : 'target'}`,
          description: `The case ${name} per parameter set (rows${keys.length > 0 ? `: ${keys.join(' · ')}` : ''})${manySeries ? ' and target (colour)' : ''}; ${mine[0].direction === 'higher-is-better' ? 'higher' : 'lower'} is better.`,
          notes: constant.length > 0 ? [`All cases: ${constant.join(', ')}.`] : [],
          quantity: (u) => QUANTITY[u] ?? (u === '' ? 'value' : 'median'),
          panelOf: () => '',
          rowOf: (r) => labelOf(r, keys, r.series),
          seriesOf,
          order: 'given',
        },
        warn,
      );
      if (spec !== null) charts.push(spec);
    } catch (err) {
      warn(`figure case-${slug(name)}: skipped (${(err as Error).message}); cases: ${mine.map(caseName).join('; ')}`);
    }
  }
  return charts;
}

/**
 * The page of every case that none of `others` draws (pages.ts makes it from the list of
 * pages, so a notebook importing it gets the same split as `npm run figures`).
 */
export function otherPageOf(others: readonly PageSpec[]): PageSpec {
  return {
    id: 'other',
    title: 'Every other case',
    suites: [],
    emptyText: 'every loaded case is drawn on another page',
    charts(input: PageInput, warn = () => undefined) {
      const drawn = new Set(others.flatMap((p) => chartsOf(p, input).flatMap((c) => c.rows.map(rowKey))));
      const rest = toRows(input.results).filter((r) => !drawn.has(rowKey(r)));
      return genericCharts(rest, this.id, warn);
    },
  };
}
