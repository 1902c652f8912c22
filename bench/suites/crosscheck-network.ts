// The network suite's outside cross-check: with iperf3 installed the throughput cases run
// through iperf3, and berth's own static tcp-source → tcp-sink pair runs in the same run on
// the loopback reference and between two containers on berth's bridge; each pair's agreement
// is derived. Without iperf3 the suite measures with tcp-sink alone and says so.
import type { DerivedCase, MacroCase, MeasuredCase } from '../suite.js';
import { agreementCase } from './crosscheck.js';
import { throughputCase, type IperfAmount, type TrafficPath, type TrafficTarget } from './network-traffic.js';

/** The paths whose throughput both tools measure. */
export const CROSSCHECKED_PATHS: readonly TrafficPath[] = ['loopback', 'container-to-container'];

/** The group of the tcp-sink twins. */
export const CROSSCHECK_GROUP = 'tcp-throughput-crosscheck';

/**
 * tcp-sink twins of berth's iperf3 throughput cases on CROSSCHECKED_PATHS (none for other
 * targets). They form a group of their own, run after the iperf3 group: each path's iperf3
 * server holds the path's port for its whole case, so the twins cannot interleave with it.
 */
export function networkCrosschecks(env: TrafficTarget, amount: IperfAmount): MacroCase[] {
  if (env.target !== 'berth') return [];
  return env.paths
    .filter((p) => CROSSCHECKED_PATHS.includes(p))
    .map((p) => ({ ...throughputCase(env, p, amount, 'tcp-sink'), group: CROSSCHECK_GROUP }));
}

/**
 * The agreement of each iperf3 throughput case with the tcp-sink case of its target, path
 * and MTU: iperf3 (the outside tool) over tcp-sink (berth's own).
 */
export function deriveNetworkCrosschecks(measured: readonly MeasuredCase[]): DerivedCase[] {
  const out: DerivedCase[] = [];
  for (const sink of measured) {
    const p = sink.info.parameters;
    if (sink.info.case !== 'tcp-throughput' || p.tool !== 'tcp-sink') continue;
    const iperf = measured.find(
      (m) =>
        m.info.case === 'tcp-throughput' &&
        m.info.target === sink.info.target &&
        m.info.parameters.tool === 'iperf3' &&
        m.info.parameters.path === p.path &&
        m.info.parameters.mtu === p.mtu,
    );
    if (iperf === undefined) continue;
    const d = agreementCase(iperf, sink, {
      // the twins ran in a group of their own: each iperf3 sample over the tcp-sink median
      interleaved: false,
      what: `TCP throughput of path ${String(p.path)}, measured by iperf3 and by berth's tcp-source → tcp-sink`,
    });
    if (d !== undefined) out.push(d);
  }
  return out;
}
