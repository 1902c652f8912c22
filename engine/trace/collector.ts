// Gathers the spans published while it listens. A bench case starts one around an
// operation and reads back that operation's span tree (spansOf), even when other
// work traced at the same time.
import diagnostics from 'node:diagnostics_channel';
import { SPAN_CHANNEL, type SpanRecord } from './span.js';

export class SpanCollector {
  private readonly records: SpanRecord[] = [];
  private listening = false;
  private readonly onSpan = (message: unknown): void => {
    this.records.push(message as SpanRecord);
  };

  start(): this {
    if (!this.listening) {
      diagnostics.subscribe(SPAN_CHANNEL, this.onSpan);
      this.listening = true;
    }
    return this;
  }

  /** Stops listening and returns every span collected, in end order. */
  stop(): SpanRecord[] {
    if (this.listening) {
      diagnostics.unsubscribe(SPAN_CHANNEL, this.onSpan);
      this.listening = false;
    }
    return this.records.slice();
  }

  get spans(): readonly SpanRecord[] {
    return this.records;
  }

  /** The spans of the tree rooted at rootId (root included), sorted by start. */
  spansOf(rootId: number): SpanRecord[] {
    return spanTree(this.records, rootId);
  }

  clear(): void {
    this.records.length = 0;
  }
}

/** The spans of the tree rooted at rootId, sorted by start time. */
export function spanTree(spans: readonly SpanRecord[], rootId: number): SpanRecord[] {
  const byId = new Map(spans.map((s) => [s.id, s]));
  const inTree = (s: SpanRecord): boolean => {
    for (let id: number | undefined = s.id; id !== undefined; id = byId.get(id)?.parentId) {
      if (id === rootId) return true;
    }
    return false;
  };
  return spans.filter(inTree).sort((a, b) => a.startNs - b.startNs);
}

/** Runs fn with a collector listening and returns its result with the spans it produced. */
export async function collect<T>(fn: () => T | Promise<T>): Promise<{ result: T; spans: SpanRecord[] }> {
  const collector = new SpanCollector().start();
  try {
    const result = await fn();
    return { result, spans: collector.stop() };
  } finally {
    collector.stop();
  }
}
