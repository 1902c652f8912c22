// The regression checker's public surface: compare two result documents, thresholds
// and bounds, case identity, and the terminal view.
export { caseKey, caseLabel, type CaseIdentity } from './case-key.js';
export {
  compareResults,
  type CaseComparison,
  type CaseVerdict,
  type CompareOptions,
  type ComparisonReport,
  type RunRef,
} from './compare-results.js';
export {
  compareInterleaved,
  pairRuns,
  type InterleavedReport,
  type PairedComparison,
  type RunPair,
} from './interleaved.js';
export { formatReport } from './format-report.js';
export {
  DEFAULT_THRESHOLD,
  boundMatches,
  parseBounds,
  parseThreshold,
  readBounds,
  thresholdFor,
  type Bounds,
  type CaseBound,
} from './threshold.js';
