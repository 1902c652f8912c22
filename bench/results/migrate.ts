// Brings a schema version 1 result document up to version 2 in memory, so old result
// files and baselines stay readable and compare like with like against new ones.
import type { CaseResult, Derivation, ResultDocument } from './document.js';

/**
 * The derived cases version 1 files held, by suite and case name (their inputs were
 * not recorded then). A prefix entry ends with `*`.
 */
const V1_DERIVED: Record<string, Record<string, Derivation>> = {
  runtime: { 'goal-vs-crun': 'ratio', 'quirk-overhead': 'difference' },
  namespaces: {
    'clone-added': 'difference',
    'clone-to-running': 'recorded-alongside',
    'clone-to-reaped': 'recorded-alongside',
    'parallel-clone': 'recorded-alongside',
  },
  pull: { 'cold-pull-throughput': 'throughput', 'cold-pull-vs-*': 'ratio' },
  network: {
    'tcp-throughput-vs-loopback': 'ratio',
    'tcp-latency-overhead': 'difference',
    'setup-teardown-ip-vs-netlink': 'ratio',
  },
  graphdriver: { 'apply-diff-entries': 'scaled', inodes: 'recorded-alongside' },
  trace: { overhead: 'difference' },
  run: { 'run-ratio': 'ratio', 'daemon-rss': 'recorded-alongside' },
  lifecycle: {
    'op-latency': 'recorded-alongside',
    errors: 'recorded-alongside',
    scaling: 'ratio',
    'throughput-ratio': 'ratio',
    'density-ratio': 'ratio',
    'daemon-memory': 'recorded-alongside',
  },
};

function v1Derivation(c: CaseResult): Derivation | undefined {
  const table = V1_DERIVED[c.suite];
  if (table === undefined) return undefined;
  if (table[c.case] !== undefined) return table[c.case];
  for (const [name, how] of Object.entries(table)) {
    if (name.endsWith('*') && c.case.startsWith(name.slice(0, -1))) return how;
  }
  return undefined;
}

/** The zstd decoder a version 1 pull case named in its notes, if any. */
function v1Decoder(c: CaseResult): 'libzstd' | 'fzstd' | undefined {
  for (const n of c.notes) {
    if (n.startsWith("zstd decoded by the system's libzstd")) return 'libzstd';
    if (n.startsWith('zstd decoded by fzstd')) return 'fzstd';
  }
  return undefined;
}

/**
 * A version 2 copy of a valid version 1 document (a version 2 document comes back as
 * is): known derived cases are marked (`how` from their name, `from` empty, pairing
 * unknown); runtime cases' `via` parameter becomes `level` (its version 2 name); berth's
 * zstd pull cases get the `decoder` parameter their notes name. Pure; the input is not
 * changed.
 */
export function migrateResult(doc: ResultDocument): ResultDocument {
  if (doc.schemaVersion !== 1) return doc;
  const cases = doc.cases.map((c): CaseResult => {
    const out: CaseResult = { ...c, parameters: { ...c.parameters } };
    const how = c.derived === undefined ? v1Derivation(c) : undefined;
    if (how !== undefined) out.derived = { from: [], how, pairing: 'unknown' };
    if (c.suite === 'runtime' && 'via' in out.parameters && !('level' in out.parameters)) {
      out.parameters.level = out.parameters.via;
      delete out.parameters.via;
    }
    if (
      c.suite === 'pull' &&
      c.target === 'berth' &&
      c.parameters.compression === 'zstd' &&
      !('decoder' in c.parameters)
    ) {
      const decoder = v1Decoder(c);
      if (decoder !== undefined) out.parameters.decoder = decoder;
    }
    return out;
  });
  return { ...doc, schemaVersion: 2, cases };
}
