// Unit handling and row flattening the charts rely on: conversions within a family,
// the display unit, parameter picking, and the "no results" message of each page.
import { describe, expect, it } from 'vitest';
import { normalSamples, syntheticCase, syntheticDocument } from '../../scripts/synthetic-results.js';
import { emptyMessage } from './page-spec.js';
import { pages } from './pages.js';
import { constantParams, inOneUnit, labelOf, pickParam, toRows, varyingParams } from './rows.js';
import { convert, displayUnit, unitFamily } from './units.js';

describe('units', () => {
  it('converts within a family and refuses across families', () => {
    expect(convert(1500, 'us', 'ms')).toBeCloseTo(1.5);
    expect(convert(1, 'Gbit/s', 'MiB/s')).toBeCloseTo(119.209, 2);
    expect(unitFamily('ops/s')).toBe('ops/s');
    expect(() => convert(1, 'ms', 'MiB')).toThrow('unit ms: cannot be converted to MiB');
  });

  it('shows times in the largest unit in which the median is at least 1', () => {
    expect(
      displayUnit([
        { unit: 'us', value: 450 },
        { unit: 'ns', value: 2_000_000 },
        { unit: 'us', value: 3000 },
      ]),
    ).toBe('ms');
    expect(displayUnit([{ unit: 'ns', value: 3 }])).toBe('ns');
    expect(
      displayUnit([
        { unit: 'MiB/s', value: 3 },
        { unit: 'MiB/s', value: 4 },
        { unit: 'Gbit/s', value: 1 },
      ]),
    ).toBe('MiB/s');
  });
});

describe('rows', () => {
  const a = syntheticCase({
    suite: 'namespaces',
    case: 'unshare',
    target: 'berth',
    parameters: { workers: 2, namespaces: 'net' },
    unit: 'us',
    samples: normalSamples(1, 5, 450, 10),
  });
  const b = syntheticCase({
    suite: 'namespaces',
    case: 'unshare',
    target: 'berth',
    parameters: { workers: 1, namespaces: 'uts' },
    unit: 'ns',
    samples: normalSamples(2, 5, 2000, 100),
  });
  const results = [{ file: 'runs/one.json', doc: syntheticDocument([a, b]) }];

  it('flattens cases with labels and converts them to one unit', () => {
    const rows = toRows(results, ['namespaces']);
    expect(rows.map((r) => r.operation)).toEqual([
      'unshare namespaces=net workers=2',
      'unshare namespaces=uts workers=1',
    ]);
    expect(rows[0].series).toBe('berth');
    const { unit, rows: converted } = inOneUnit(rows);
    expect(unit).toBe('us');
    expect(converted[1].p50).toBeCloseTo(rows[1].p50 / 1000);
    expect(converted[1].samples[0]).toBeCloseTo(rows[1].samples[0] / 1000);
  });

  it('labels a derived case as derived, with how it was computed', () => {
    const d = {
      ...syntheticCase({
        suite: 'runtime',
        case: 'goal-vs-crun',
        target: 'berth',
        parameters: { level: 'cli' },
        unit: 'ratio',
        samples: [1, 1.1, 0.9],
      }),
    };
    d.derived = { from: ['runtime/create-start-exit berth [level="cli"]'], how: 'ratio', pairing: 'interleaved' };
    const rows = toRows([{ file: 'runs/d.json', doc: syntheticDocument([d, a]) }]);
    expect(rows.map((r) => r.operation)).toEqual([
      'goal-vs-crun level=cli (derived: ratio)',
      'unshare namespaces=net workers=2',
    ]);
    expect(rows.map((r) => r.derived)).toEqual(['ratio', null]);
  });

  it('labels series with the run when several runs are loaded', () => {
    const rows = toRows([...results, { file: 'runs/two.json', doc: syntheticDocument([a]) }]);
    expect(rows.map((r) => r.series)).toEqual(['berth · one', 'berth · one', 'berth · two']);
  });

  it('picks parameters by preference, then by type', () => {
    const rows = toRows(results);
    expect(pickParam(rows, ['concurrency', 'workers'], 'number')).toBe('workers');
    expect(pickParam(rows, ['kind'], 'string')).toBe('namespaces');
    expect(pickParam(rows, [], 'boolean' as 'string')).toBeUndefined();
  });

  it('gives every page without data its message, never a chart', () => {
    const empty = {
      results: [
        {
          file: 'x.json',
          doc: syntheticDocument([
            syntheticCase({ suite: 'other', case: 'c', target: 't', unit: 'count', samples: [1, 2] }),
          ]),
        },
      ],
      history: [],
    };
    for (const page of pages) if (page.id !== 'other') expect(page.charts(empty), page.id).toEqual([]);
    // a suite no page knows still gets a chart of its own, on the last page
    expect(
      pages
        .find((p) => p.id === 'other')!
        .charts(empty)
        .map((c) => c.id),
    ).toEqual(['case-other-c']);
    expect(emptyMessage(pages.find((p) => p.id === 'graphdrivers')!)).toBe(
      'no results for suite graphdriver in these files',
    );
    expect(emptyMessage(pages.find((p) => p.id === 'overview')!)).toBe(
      'no results for suite run or runtime in these files',
    );
  });

  it('leaves out parameters that follow from the others, and labels rows by the rest', () => {
    const mk = (image: string, bytes: string, imageBytes: number) =>
      syntheticCase({
        suite: 'pull',
        case: 'p',
        target: 'berth',
        parameters: { image, bytes, imageBytes, driver: 'overlay2' },
        unit: 'MiB/s',
        samples: [1, 2, 3],
      });
    const rows = toRows([
      {
        file: 'a.json',
        doc: syntheticDocument([
          mk('tiny', 'compressed', 10),
          mk('tiny', 'uncompressed', 20),
          mk('app', 'compressed', 30),
          mk('app', 'uncompressed', 40),
        ]),
      },
    ]);
    expect(varyingParams(rows)).toEqual(['bytes', 'image']);
    expect(varyingParams(rows, ['bytes'])).toEqual(['image']);
    expect(constantParams(rows)).toEqual(['driver=overlay2']);
    expect(labelOf(rows[0], ['image', 'imageBytes'], 'x')).toBe('tiny · imageBytes=10');
  });
});
