// berth's instrumentation: contexts, spans, the instrument() wrapper, the
// collector and the two exporters (Chrome trace, per-phase summary).
export * from './clock.js';
export * from './context.js';
export * from './logger.js';
export * from './span.js';
export * from './instrument.js';
export * from './collector.js';
export * from './chrome-trace.js';
export * from './summary.js';
