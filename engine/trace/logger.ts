// The logger a Context carries. Structured (message + fields), levelled, and cheap
// when a level is off. Jobs log through it; tests and benches swap in their own.

export type LogLevel = 'debug' | 'info' | 'warn' | 'error' | 'silent';
export type LogFields = Record<string, unknown>;

export interface Logger {
  readonly level: LogLevel;
  debug(message: string, fields?: LogFields): void;
  info(message: string, fields?: LogFields): void;
  warn(message: string, fields?: LogFields): void;
  error(message: string, fields?: LogFields): void;
  /** A logger that adds these fields to every line (e.g. {module: 'graph'}). */
  with(fields: LogFields): Logger;
}

const rank: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40, silent: 100 };

export function parseLogLevel(value: string | undefined, fallback: LogLevel): LogLevel {
  if (value === undefined || value === '') return fallback;
  if (value in rank) return value as LogLevel;
  throw new Error(`log level ${JSON.stringify(value)}: expected one of ${Object.keys(rank).join(', ')}`);
}

export type LogSink = (level: Exclude<LogLevel, 'silent'>, message: string, fields: LogFields) => void;

/** Human-readable lines on stderr: `time level message key=value …`. */
export const stderrSink: LogSink = (level, message, fields) => {
  let line = `${new Date().toISOString()} ${level.padEnd(5)} ${message}`;
  for (const [k, v] of Object.entries(fields)) {
    line += ` ${k}=${typeof v === 'string' ? (/[\s"=]/.test(v) ? JSON.stringify(v) : v) : v instanceof Error ? JSON.stringify(v.message) : JSON.stringify(v)}`;
  }
  process.stderr.write(`${line}\n`);
};

export function createLogger(level: LogLevel = 'info', sink: LogSink = stderrSink, base: LogFields = {}): Logger {
  const min = rank[level];
  const emit = (l: Exclude<LogLevel, 'silent'>, message: string, fields?: LogFields) => {
    if (rank[l] < min) return;
    sink(l, message, fields ? { ...base, ...fields } : base);
  };
  return {
    level,
    debug: (m, f) => emit('debug', m, f),
    info: (m, f) => emit('info', m, f),
    warn: (m, f) => emit('warn', m, f),
    error: (m, f) => emit('error', m, f),
    with: (fields) => createLogger(level, sink, { ...base, ...fields }),
  };
}

/** Level from BERTH_LOG (debug|info|warn|error|silent), warn by default. */
export const defaultLogger: Logger = createLogger(parseLogLevel(process.env.BERTH_LOG, 'warn'));
