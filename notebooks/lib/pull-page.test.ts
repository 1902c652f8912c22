import { JSDOM } from 'jsdom';
import { describe, expect, it } from 'vitest';
import { LAYER_PHASES } from '../../bench/suites/pull-phases.js';
import { layerPhaseChart } from './pull-page.js';
import type { Row } from './rows.js';

const phase = (name: string, totalMs: number, calls = 4) => ({
  name,
  module: name.split('.')[0]!,
  callsPerOp: calls,
  selfNs: { p50: totalMs * 1e6, mean: totalMs * 1e6 },
  totalNs: { p50: totalMs * 1e6, mean: totalMs * 1e6 },
});

function row(target: string, p50: number, phases: Row['phases'], image = 'app'): Row {
  return {
    run: 'r',
    suite: 'pull',
    case: 'cold-pull',
    target,
    parameters: { image, compression: 'gzip', concurrency: 3 },
    params: '',
    operation: 'cold-pull',
    series: target,
    unit: 'ms',
    direction: 'lower-is-better',
    n: 5,
    p50,
    low: p50 * 0.9,
    high: p50 * 1.1,
    samples: [p50, p50, p50, p50, p50],
    phases,
  };
}

describe('layerPhaseChart', () => {
  it("gives each phase its spans' time per layer, berth's time per layer and the parallel reference's beside it", () => {
    const berth = row('berth', 800, [
      phase('registry.layer.fetch', 900),
      ...LAYER_PHASES.flatMap((l) => l.spans.map((s) => phase(s, 40))),
    ]);
    const chart = layerPhaseChart([berth, row('parallel-reference', 400, null), row('docker', 2000, null)], 'pull')!;
    expect(chart.id).toBe('pull-layer-phases');
    expect(chart.rows.map((r) => r.target)).toEqual(['berth', 'parallel-reference']);
    expect(chart.caption.join(' ')).toContain('fetch (registry.blob');
    const layout = chart.layout(700, 12);
    expect(layout.legend.map((l) => l.label)).toEqual([
      ...LAYER_PHASES.map((l) => l.phase),
      'parallel reference (whole pipeline)',
      "berth's measured median per layer",
    ]);
  });

  it('gives each image a panel of its own, on its own time scale', () => {
    // app: a few large layers (ms per layer); deep: many small ones (µs per layer)
    const app = row('berth', 800, [
      phase('registry.layer.fetch', 900, 4),
      ...LAYER_PHASES.flatMap((l) => l.spans.map((s) => phase(s, 100, 4))),
    ]);
    const deep = row(
      'berth',
      40,
      [phase('registry.layer.fetch', 30, 100), ...LAYER_PHASES.flatMap((l) => l.spans.map((s) => phase(s, 5, 100)))],
      'deep',
    );
    const chart = layerPhaseChart([app, deep, row('parallel-reference', 20, null, 'deep')], 'pull')!;
    expect(chart.caption.join(' ')).toContain('One panel per image, each with its own time axis');
    const layout = chart.layout(700, 12);
    expect(layout.panels.map((p) => p.title)).toEqual(['image app', 'image deep']);
    const { document } = new JSDOM('').window;
    const axis = (i: number) => layout.panels[i]!.draw({ document, width: 700, fontSize: 12 }).textContent ?? '';
    expect(axis(0)).toContain('time per layer (ms)');
    // deep's bars span its whole axis, in µs: 100 layers of 5 ms per pull and phase are 50 µs each
    expect(axis(1)).toMatch(/time per layer \((µs|us)\)/);
    expect(axis(1)).toContain('parallel reference');
  });

  it('draws nothing without a traced berth cold pull', () => {
    expect(layerPhaseChart([row('berth', 800, null), row('parallel-reference', 400, null)], 'pull')).toBeNull();
  });
});
