// Start-up latency by target, one chart per level (in-process, api, cli: cases carry it as
// `level`, the runtime suite as `via`), so a library call is never set beside a CLI run.
import type { ChartSpec } from './chart-spec.js';
import { dotFigure } from './dot-figure.js';
import type { PageSpec } from './page-spec.js';
import { constantParams, labelOf, toRows, varyingParams, type Row } from './rows.js';
import { isTimeUnit } from './units.js';

const LEVEL_KEYS = ['level', 'via'];

/** The level a start-up case ran at, `unrecorded` for results written before cases carried one. */
export function levelOf(r: Row): string {
  for (const k of LEVEL_KEYS) if (typeof r.parameters[k] === 'string') return r.parameters[k] as string;
  return 'unrecorded';
}

/** Start-up cases: times of suites run and runtime, differences ("…-overhead") left to other charts. */
export function isStartup(r: Row): boolean {
  return (r.suite === 'run' || r.suite === 'runtime') && isTimeUnit(r.unit) && !/overhead|added/.test(r.case);
}

export function slug(text: string): string {
  return (
    text
      .toLowerCase()
      .replace(/[^a-z0-9]+/g, '-')
      .replace(/^-|-$/g, '') || 'x'
  );
}

export const overviewPage: PageSpec = {
  id: 'overview',
  title: 'Start-up latency by target',
  suites: ['run', 'runtime'],
  charts({ results }, warn) {
    const rows = toRows(results, this.suites).filter(isStartup);
    const levels = [...new Set(rows.map(levelOf))];
    const charts: ChartSpec[] = [];
    for (const level of levels) {
      const mine = rows.filter((r) => levelOf(r) === level);
      const perCase = new Map<string, string[]>();
      for (const c of new Set(mine.map((r) => `${r.suite}/${r.case}`)))
        perCase.set(
          c,
          varyingParams(
            mine.filter((r) => `${r.suite}/${r.case}` === c),
            LEVEL_KEYS,
          ),
        );
      const panelKeys = [...new Set([...perCase.values()].flat())];
      const constant = constantParams(mine, LEVEL_KEYS);
      const spec = dotFigure(
        mine,
        {
          id: `startup-latency-${slug(level)}`,
          page: this.id,
          title: `Start-up latency by target (${level === 'unrecorded' ? 'level not recorded' : `${level} level`})`,
          description: `Time to run a container (create to exit) per target, ${level === 'unrecorded' ? 'cases that do not record their level' : `at the ${level} level only`}; a panel per operation${panelKeys.length > 0 ? ` (${panelKeys.join(' · ')})` : ''}.`,
          notes: constant.length > 0 ? [`All cases: ${constant.join(', ')}.`] : [],
          quantity: () => 'start-up latency',
          panelOf: (r) => {
            const variant = labelOf(r, perCase.get(`${r.suite}/${r.case}`) ?? [], '');
            return variant === '' ? `${r.suite}/${r.case}` : `${r.suite}/${r.case} · ${variant}`;
          },
          rowOf: (r) => r.series,
          seriesOf: (r) => r.series,
          sharedAxis: true,
          showSamples: true,
        },
        warn,
      );
      if (spec !== null) charts.push(spec);
    }
    return charts;
  },
};
