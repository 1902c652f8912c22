// Docker's json-file log format, one entry per line:
//   {"log":"hello\n","stream":"stdout","time":"2026-12-06T18:14:20.123456789Z"}
// Encoding and decoding of one line, and the wall clock with nanoseconds the
// entries are stamped with.

export type StreamName = 'stdout' | 'stderr';

export interface LogEntry {
  stream: StreamName;
  /** The bytes as the container wrote them (a line with its newline, or a partial line). */
  data: Buffer;
  /** Wall-clock time in ns since the epoch. */
  timeNs: bigint;
}

// Date.now() has ms resolution; the monotonic clock adds the digits below, anchored once.
const anchorWallNs = BigInt(Date.now()) * 1_000_000n;
const anchorMono = process.hrtime.bigint();

/** Now, in ns since the epoch (monotonic between calls within a process). */
export function wallClockNs(): bigint {
  return anchorWallNs + (process.hrtime.bigint() - anchorMono);
}

/** RFC 3339 with nine fraction digits, UTC: 2026-12-06T18:14:20.123456789Z (Docker's RFC3339NanoFixed). */
export function formatTimeNs(ns: bigint): string {
  const ms = Number(ns / 1_000_000n);
  const iso = new Date(ms).toISOString(); // …T18:14:20.123Z
  const frac = (ns % 1_000_000_000n).toString().padStart(9, '0');
  return `${iso.slice(0, 19)}.${frac}Z`;
}

const timePattern = /^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})(?:\.(\d{1,9}))?(Z|[+-]\d{2}:\d{2})$/;

/** Parses an RFC 3339 time with up to nine fraction digits into ns since the epoch; undefined when malformed. */
export function parseTimeNs(text: string): bigint | undefined {
  const m = timePattern.exec(text);
  if (m === null) return undefined;
  const seconds = Date.parse(`${m[1]}${m[3]}`);
  if (Number.isNaN(seconds)) return undefined;
  const frac = BigInt((m[2] ?? '').padEnd(9, '0'));
  return BigInt(seconds) * 1_000_000n + frac;
}

let cachedNs = -1n;
let cachedTime = '';

/** One json-file line (with its trailing newline) for an entry. */
export function encodeLogLine(entry: LogEntry): string {
  // The lines of one read share their time: format it once.
  if (entry.timeNs !== cachedNs) {
    cachedNs = entry.timeNs;
    cachedTime = formatTimeNs(entry.timeNs);
  }
  return `{"log":${JSON.stringify(entry.data.toString('utf8'))},"stream":"${entry.stream}","time":"${cachedTime}"}\n`;
}

/** Decodes one json-file line (without its newline); undefined for a line that is not an entry (a torn last line). */
export function decodeLogLine(line: string): LogEntry | undefined {
  let raw: unknown;
  try {
    raw = JSON.parse(line);
  } catch {
    return undefined;
  }
  if (typeof raw !== 'object' || raw === null) return undefined;
  const { log, stream, time } = raw as { log?: unknown; stream?: unknown; time?: unknown };
  if (typeof log !== 'string' || (stream !== 'stdout' && stream !== 'stderr') || typeof time !== 'string')
    return undefined;
  const timeNs = parseTimeNs(time);
  if (timeNs === undefined) return undefined;
  return { stream, data: Buffer.from(log, 'utf8'), timeNs };
}
