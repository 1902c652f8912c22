// The terminal view of a comparison: one aligned row per case, then the cases found
// in one file only, then warnings, so a CI log shows everything that was checked.
import type { CaseComparison, ComparisonReport } from './compare-results.js';

function num(v: number): string {
  const a = Math.abs(v);
  if (a === 0) return '0';
  if (a >= 100) return v.toFixed(0);
  if (a >= 10) return v.toFixed(1);
  if (a >= 1) return v.toFixed(2);
  return v.toPrecision(3);
}

function percent(v: number): string {
  return `${v >= 0 ? '+' : ''}${(v * 100).toFixed(1)}%`;
}

const MARK: Record<CaseComparison['verdict'], string> = {
  regression: 'REGRESSION',
  improvement: 'improved',
  'within-threshold': 'within bound',
  'no-significant-change': 'same',
  'not-comparable': 'no ratio',
  derived: 'derived (not gated)',
};

/** Runs per side, or pairs (with how many the candidate lost) in an interleaved comparison. */
function runsCell(c: CaseComparison): string {
  if (c.paired != null) return `${c.paired.pairs}p ${c.paired.worseInPairs}↑`;
  return c.calibrated === null ? '1' : `${c.calibrated.runs.baseline}/${c.calibrated.runs.candidate}`;
}

function minDetectable(c: CaseComparison): number | null | undefined {
  return c.paired?.minDetectable ?? c.calibrated?.minDetectable;
}

/** Columns padded to their widest cell; the first column left-aligned, the rest right. */
function table(rows: string[][]): string {
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
  return rows
    .map((r) =>
      r
        .map((cell, i) => (i === 0 || i === r.length - 1 ? cell.padEnd(widths[i]) : cell.padStart(widths[i])))
        .join('  ')
        .trimEnd(),
    )
    .join('\n');
}

/**
 * The report as plain text: a table (case, unit, baseline and candidate medians,
 * ratio with its interval, change in the worse-is-positive sense, p-value, runs per
 * side, effect size and minimum detectable change when the baseline has several runs,
 * threshold, verdict), then cases in one file only, warnings, the cases whose minimum
 * detectable change exceeds their bound and a closing line with the count of
 * regressions. Pure.
 */
export function formatReport(report: ComparisonReport): string {
  const out: string[] = [];
  out.push(
    `baseline  ${report.baseline.file} (run ${report.baseline.runId}, commit ${report.baseline.gitCommit ?? 'none'}, ${report.baseline.profile})`,
  );
  out.push(
    `candidate ${report.candidate.file} (run ${report.candidate.runId}, commit ${report.candidate.gitCommit ?? 'none'}, ${report.candidate.profile})`,
  );
  out.push('');
  if (report.cases.length > 0) {
    const level = report.cases.find((c) => c.ratio !== null)?.ratio?.level ?? 1 - report.alpha;
    const rows = [
      [
        'case',
        'unit',
        'base p50',
        'cand p50',
        'ratio',
        `CI${Math.round(level * 100)}`,
        'change',
        'p',
        'runs',
        'effect',
        'MDC',
        'bound',
        'verdict',
      ],
    ];
    for (const c of report.cases) {
      const effect = c.paired?.effect ?? c.calibrated?.effect;
      const mdc = minDetectable(c);
      rows.push([
        c.label,
        c.unit,
        num(c.baseline.p50),
        num(c.candidate.p50),
        c.ratio === null ? '–' : c.ratio.value.toFixed(3),
        c.ratio === null ? '–' : `${c.ratio.low.toFixed(3)}…${c.ratio.high.toFixed(3)}`,
        c.worsening === null ? '–' : percent(c.worsening),
        c.p < 0.001 ? '<0.001' : c.p.toFixed(3),
        runsCell(c),
        effect == null ? '–' : `${effect >= 0 ? '+' : ''}${effect.toFixed(1)}σ`,
        mdc == null ? '–' : `${(mdc * 100).toFixed(1)}%`,
        `${(c.threshold * 100).toFixed(0)}%`,
        MARK[c.verdict],
      ]);
    }
    out.push(table(rows));
  } else {
    out.push('no case is present in both files');
  }
  if (report.onlyInBaseline.length > 0) {
    out.push('', 'only in the baseline (not compared):');
    for (const c of report.onlyInBaseline) out.push(`  ${c.label}`);
  }
  if (report.onlyInCandidate.length > 0) {
    out.push('', 'only in the candidate (no baseline):');
    for (const c of report.onlyInCandidate) out.push(`  ${c.label}`);
  }
  if (report.warnings.length > 0) {
    out.push('');
    for (const w of report.warnings) out.push(`warning: ${w}`);
  }
  const blind = report.cases.filter((c) => !c.derived && (minDetectable(c) ?? -Infinity) > c.threshold);
  if (blind.length > 0) {
    out.push(
      '',
      `${blind.length} case(s) cannot detect a change of their bound's size (MDC above the bound): a pass there says little; more baseline runs or samples narrow it:`,
    );
    for (const c of blind)
      out.push(`  ${c.label}: MDC ${(minDetectable(c)! * 100).toFixed(1)}% > bound ${(c.threshold * 100).toFixed(0)}%`);
  }
  out.push(
    '',
    `${report.cases.length} compared, ${report.regressions} regression(s), change = worsening (positive is worse), α = ${report.alpha}; ` +
      'runs = baseline/candidate runs (several: run-level t test on per-run medians, effect in between-run σ, MDC = smallest worsening detected with 80 % power); ' +
      'in an interleaved comparison runs = pairs of runs and how many the candidate lost (paired t test over the pairs, effect in the pairs’ σ); derived cases are shown, never gated',
  );
  return out.join('\n');
}
