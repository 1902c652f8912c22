// Several runs of one profile on one host as one result document: samples pooled per
// case, each tagged with its run, and the between-run spread recorded, so compare can
// tell run-to-run noise from a change (bench --repeat, multi-run baselines).
import { randomUUID } from 'node:crypto';
import { invalidArgument } from '../../engine/errdefs/errors.js';
import { caseKey, caseLabel } from '../compare/case-key.js';
import { hierarchicalBootstrapMedianCI, mean, median, stddev, summarize } from '../stats.js';
import { SCHEMA_VERSION, type CaseResult, type ResultDocument, type SuiteOutcome } from './document.js';

/** One run's share of a case: its samples, in the order taken. */
interface RunPart {
  run: number;
  samples: number[];
}

/** The single runs a document holds (one, or several when it is itself merged), by case key. */
function splitRuns(doc: ResultDocument): { runIds: string[]; cases: Map<string, { c: CaseResult; parts: RunPart[] }> } {
  const runIds = doc.run.repeat?.runIds ?? [doc.run.id];
  const cases = new Map<string, { c: CaseResult; parts: RunPart[] }>();
  for (const c of doc.cases) {
    const key = caseKey(c);
    if (cases.has(key))
      throw invalidArgument(`run ${doc.run.id}: case ${key} appears twice; cannot tell which samples belong together`);
    const parts: RunPart[] = [];
    if (c.runs === undefined) parts.push({ run: 0, samples: [...c.samples] });
    else {
      const byRun = new Map<number, number[]>();
      c.samples.forEach((x, i) => {
        const r = c.runs!.sampleRun[i];
        if (!byRun.has(r)) byRun.set(r, []);
        byRun.get(r)!.push(x);
      });
      for (const [run, samples] of [...byRun].sort((a, b) => a[0] - b[0])) parts.push({ run, samples });
    }
    cases.set(key, { c, parts });
  }
  return { runIds, cases };
}

function mergeSuites(lists: readonly SuiteOutcome[][]): SuiteOutcome[] {
  const order: string[] = [];
  const all = new Map<string, SuiteOutcome[]>();
  for (const list of lists) {
    for (const s of list) {
      if (!all.has(s.name)) {
        all.set(s.name, []);
        order.push(s.name);
      }
      all.get(s.name)!.push(s);
    }
  }
  const rank: Record<SuiteOutcome['status'], number> = { failed: 3, ran: 2, skipped: 1, 'not-built': 0 };
  return order.map((name) => {
    const outs = all.get(name)!;
    const worst = outs.reduce((a, b) => (rank[b.status] > rank[a.status] ? b : a));
    const durations = outs.map((o) => o.durationMs).filter((d): d is number => d !== null);
    return {
      name,
      status: worst.status,
      reason: worst.reason,
      durationMs: durations.length === 0 ? null : durations.reduce((a, b) => a + b, 0),
    };
  });
}

/** The between-run figures of a case from its per-run samples. */
function runSpread(parts: readonly RunPart[], seed: number): NonNullable<CaseResult['runs']> {
  const perRun = parts.map((p) => ({ run: p.run, n: p.samples.length, p50: median(p.samples) }));
  const medians = perRun.map((r) => r.p50);
  const m = mean(medians);
  const relativeStddev = medians.length >= 2 && m !== 0 ? stddev(medians) / Math.abs(m) : null;
  const ci = hierarchicalBootstrapMedianCI(
    parts.map((p) => p.samples),
    { seed, resamples: 1000 },
  );
  return {
    sampleRun: parts.flatMap((p) => p.samples.map(() => p.run)),
    perRun,
    relativeStddev,
    ci95: { low: ci.low, high: ci.high, level: ci.level, resamples: ci.resamples, method: 'hierarchical-bootstrap' },
  };
}

/**
 * One document holding every run of `docs` (each a single run or already merged), in
 * the order given: per case (matched by case key) the samples of all runs in run
 * order, `runs` saying which run each came from with the per-run medians, their
 * relative spread and a hierarchical bootstrap interval; stats over the pooled
 * samples. Method, phases and derivation come from the first run that has the case;
 * notes are the union. Runs must share profile, host fingerprint and injected delay;
 * a different commit or a dirty tree is allowed but named in the warnings. Fails with
 * INVALID_ARGUMENT on fewer than 2 runs in all, a mismatch, or a case whose unit or
 * direction differs. Deterministic for `seed` apart from the new run id.
 */
export function mergeRuns(docs: readonly ResultDocument[], seed = 1): ResultDocument {
  if (docs.length === 0) throw invalidArgument('merge runs: no result document');
  const first = docs[0];
  for (const d of docs.slice(1)) {
    if (d.run.profile !== first.run.profile)
      throw invalidArgument(
        `merge runs: run ${d.run.id} is profile ${d.run.profile}, run ${first.run.id} is ${first.run.profile}`,
      );
    if (d.host.fingerprint !== first.host.fingerprint) {
      throw invalidArgument(
        `merge runs: run ${d.run.id} was made on host ${d.host.fingerprint} (${d.host.hostname}), run ${first.run.id} on ${first.host.fingerprint}: runs of different hosts do not estimate one host's noise`,
      );
    }
    if (JSON.stringify(d.run.injectedDelay ?? null) !== JSON.stringify(first.run.injectedDelay ?? null)) {
      throw invalidArgument(`merge runs: runs ${first.run.id} and ${d.run.id} differ in the injected delay`);
    }
  }
  const runIds: string[] = [];
  const merged = new Map<string, { c: CaseResult; parts: RunPart[]; notes: Set<string> }>();
  const warnings: string[] = [];
  for (const d of docs) {
    const split = splitRuns(d);
    const offset = runIds.length;
    runIds.push(...split.runIds);
    for (const w of d.warnings)
      warnings.push(`run ${offset + 1}${split.runIds.length > 1 ? `–${offset + split.runIds.length}` : ''}: ${w}`);
    for (const [key, { c, parts }] of split.cases) {
      let m = merged.get(key);
      if (m === undefined) merged.set(key, (m = { c, parts: [], notes: new Set(c.notes) }));
      else {
        if (m.c.unit !== c.unit || m.c.direction !== c.direction)
          throw invalidArgument(
            `merge runs: case ${caseLabel(c)}: unit or direction differs between runs (${m.c.unit} ${m.c.direction} vs ${c.unit} ${c.direction})`,
          );
        for (const n of c.notes) m.notes.add(n);
      }
      for (const p of parts) m.parts.push({ run: p.run + offset, samples: p.samples });
    }
  }
  if (runIds.length < 2) throw invalidArgument(`merge runs: ${runIds.length} run in all; merging needs at least 2`);
  const commits = new Set(docs.map((d) => d.run.gitCommit ?? 'none'));
  if (commits.size > 1)
    warnings.push(
      `merged runs of ${commits.size} commits (${[...commits].map((c) => c.slice(0, 10)).join(', ')}): their spread includes code changes`,
    );
  if (docs.some((d) => d.run.gitDirty === true))
    warnings.push('a merged run was made from a checkout with uncommitted changes');

  const cases: CaseResult[] = [];
  for (const { c, parts, notes } of merged.values()) {
    const samples = parts.flatMap((p) => p.samples);
    const out: CaseResult = {
      ...c,
      samples,
      stats: summarize(samples, { seed }),
      notes: [...notes],
      runs: runSpread(parts, seed),
    };
    if (parts.length < runIds.length)
      out.notes.push(`Measured in ${parts.length} of the ${runIds.length} merged runs.`);
    cases.push(out);
  }
  const started = docs.map((d) => d.run.startedAt).sort()[0];
  const finished = docs
    .map((d) => d.run.finishedAt)
    .sort()
    .at(-1)!;
  return {
    schemaVersion: SCHEMA_VERSION,
    run: {
      ...first.run,
      id: randomUUID(),
      startedAt: started,
      finishedAt: finished,
      gitDirty: docs.some((d) => d.run.gitDirty === true) ? true : first.run.gitDirty,
      repeat: { runs: runIds.length, runIds },
    },
    host: first.host,
    suites: mergeSuites(docs.map((d) => d.suites)),
    cases,
    warnings: [...new Set(warnings)],
  };
}
