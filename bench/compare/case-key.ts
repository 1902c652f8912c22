// The identity of a case across result files: suite, case, target and parameters.
// Compare, history and the notebooks match cases by this key and nothing else.
import type { CaseResult, ParameterValue } from '../results/document.js';

/** The fields that identify a case; everything else is measurement. */
export type CaseIdentity = Pick<CaseResult, 'suite' | 'case' | 'target' | 'parameters'>;

/**
 * A stable text key: `suite/case target [k=v …]` with parameters sorted by name,
 * so the order a suite wrote them in does not matter. Strings and numbers that
 * print alike stay distinct (`n="1"` vs `n=1`). Pure, O(parameters · log).
 */
export function caseKey(c: CaseIdentity): string {
  const params = Object.keys(c.parameters)
    .sort()
    .map((k) => `${k}=${formatValue(c.parameters[k])}`);
  return `${c.suite}/${c.case} ${c.target}${params.length > 0 ? ` [${params.join(' ')}]` : ''}`;
}

function formatValue(v: ParameterValue): string {
  return typeof v === 'string' ? JSON.stringify(v) : String(v);
}

/** `suite/case target k=v …` for people: strings unquoted. Not unique; use caseKey to match. */
export function caseLabel(c: CaseIdentity): string {
  const params = Object.keys(c.parameters)
    .sort()
    .map((k) => `${k}=${String(c.parameters[k])}`);
  return [`${c.suite}/${c.case}`, ...params, c.target].join(' ');
}
