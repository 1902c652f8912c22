// `berth trace [-o FILE] [--summary] COMMAND [ARG...]`: runs a berth command with a
// `traceparent` header on every request, then fetches the daemon's spans of that
// trace and writes one Chrome trace (open it in Perfetto) in which the daemon's
// request spans hang under the client's command span: client -> daemon -> job ->
// driver -> native, on one time line (both processes read CLOCK_MONOTONIC). With
// --summary it also prints each span name's count, total, self, mean and max time.
import { writeFileSync } from 'node:fs';
import { clockBaseNs } from '../../trace/clock.js';
import { SpanCollector } from '../../trace/collector.js';
import { background } from '../../trace/context.js';
import { toChromeTrace } from '../../trace/chrome-trace.js';
import { startSpan, type SpanRecord } from '../../trace/span.js';
import { formatSummary, summarize } from '../../trace/summary.js';
import { ApiClient } from '../api-client.js';
import { requireArgs, type Cli, type Command } from './command.js';

/** The daemon's answer to GET /berth/traces/{id}. */
interface DaemonTrace {
  clockBaseNs: string;
  pid: number;
  spans: SpanRecord[];
}

/** Daemon span ids are moved past this so they never collide with the client's. */
const DAEMON_ID_OFFSET = 1_000_000_000;

/**
 * The client's and the daemon's spans as one tree: daemon times moved onto the
 * client's clock base, daemon ids offset, and each daemon root (a request span)
 * re-parented under the client span named in its traceparent.
 */
export function joinSpans(client: readonly SpanRecord[], daemon: DaemonTrace, clientBaseNs: bigint): SpanRecord[] {
  const shift = Number(BigInt(daemon.clockBaseNs) - clientBaseNs);
  const moved = daemon.spans.map((s): SpanRecord => {
    const parentHex = s.attributes.traceparentParent;
    const parentId =
      s.parentId !== undefined
        ? s.parentId + DAEMON_ID_OFFSET
        : typeof parentHex === 'string'
          ? Number.parseInt(parentHex, 16)
          : undefined;
    return {
      ...s,
      id: s.id + DAEMON_ID_OFFSET,
      traceId: client[0]?.traceId ?? s.traceId,
      parentId,
      startNs: s.startNs + shift,
      endNs: s.endNs + shift,
      attributes: { ...s.attributes, process: 'berthd', pid: daemon.pid },
    };
  });
  return [
    ...client.map((s) => ({ ...s, attributes: { ...s.attributes, process: 'berth', pid: process.pid } })),
    ...moved,
  ];
}

export function traceCommand(commands: Record<string, Command>): Command {
  return async (cli: Cli, argv: string[]) => {
    let output = 'berth-trace.json';
    let summary = false;
    let rest = argv;
    for (;;) {
      if (rest[0] === '-o' || rest[0] === '--output') {
        output = rest[1] ?? output;
        rest = rest.slice(2);
      } else if (rest[0]?.startsWith('--output=')) {
        output = rest[0].slice('--output='.length);
        rest = rest.slice(1);
      } else if (rest[0] === '--summary') {
        summary = true;
        rest = rest.slice(1);
      } else break;
    }
    if (rest[0] === '--') rest = rest.slice(1);
    requireArgs(rest, 1, 'trace [-o FILE] [--summary] COMMAND [ARG...]');
    const [name, ...args] = rest as [string, ...string[]];
    const command = commands[name];
    if (command === undefined || name === 'trace') {
      cli.stderr.write(`berth trace: unknown command ${JSON.stringify(name)}\n`);
      return 125;
    }
    // node:crypto only here: every other command starts without loading it
    const { randomBytes } = await import('node:crypto');
    const traceId = randomBytes(16).toString('hex');
    const collector = new SpanCollector().start();
    const { span } = startSpan(background(), 'client', name, { argv: args.join(' ') });
    const parentHex = (span?.id ?? 1).toString(16).padStart(16, '0');
    const client = new ApiClient(cli.client.host, { traceparent: () => `00-${traceId}-${parentHex}-01` });
    let status: number;
    try {
      status = await command({ ...cli, client }, args);
      span?.end();
    } catch (err) {
      span?.end(err);
      throw err;
    } finally {
      collector.stop();
    }
    const daemon = await cli.client.call<DaemonTrace>('GET', `/berth/traces/${traceId}`);
    const spans = joinSpans(collector.spans, daemon, clockBaseNs);
    writeFileSync(
      output,
      `${JSON.stringify(toChromeTrace(spans, { command: ['berth', name, ...args].join(' '), traceId }))}\n`,
    );
    cli.stderr.write(`berth trace: ${spans.length} spans (${daemon.spans.length} from berthd) written to ${output}\n`);
    if (summary) cli.stderr.write(`${formatSummary(summarize(spans))}\n`);
    return status;
  };
}
