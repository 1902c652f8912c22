// The engine's event bus: every job publishes what happened to containers, images
// and networks (Docker's `docker events` messages); the `events` job replays the
// recent ones a client asks for (`since`) and streams the rest. Bounded: the last
// MAX_KEPT events are kept for replay.
import type { EventMessage, EventType } from '../api/types.js';
import type { Filters } from './job-map.js';

const MAX_KEPT = 1024;

export type EventListener = (event: EventMessage) => void;

export class EventBus {
  private readonly kept: EventMessage[] = [];
  private readonly listeners = new Set<EventListener>();

  /** Publishes an event now; a throwing listener is dropped, never the publisher's problem. */
  publish(type: EventType, action: string, id: string, attributes: Record<string, string> = {}): EventMessage {
    const nowMs = Date.now();
    const ns = BigInt(nowMs) * 1_000_000n + (process.hrtime.bigint() % 1_000_000n);
    const event: EventMessage = {
      Type: type,
      Action: action,
      Actor: { ID: id, Attributes: attributes },
      scope: 'local',
      time: Math.floor(nowMs / 1000),
      timeNano: Number(ns),
      ...(type === 'container' || type === 'image'
        ? { status: action, id, ...(attributes.image ? { from: attributes.image } : {}) }
        : {}),
    };
    this.kept.push(event);
    if (this.kept.length > MAX_KEPT) this.kept.splice(0, this.kept.length - MAX_KEPT);
    for (const l of [...this.listeners]) {
      try {
        l(event);
      } catch {
        this.listeners.delete(l);
      }
    }
    return event;
  }

  /** Calls listener for each event from now on; returns the unsubscribe function. */
  subscribe(listener: EventListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** The kept events at or after `sinceSec` (Unix seconds). */
  since(sinceSec: number): EventMessage[] {
    return this.kept.filter((e) => e.time >= sinceSec);
  }
}

/**
 * Docker's event filters: type, event (action), container / image / network
 * (id or name attribute), label (`k` or `k=v`). Each key matches any of its values.
 */
export function matchesEventFilters(e: EventMessage, filters: Filters | undefined): boolean {
  if (filters === undefined) return true;
  for (const [key, values] of Object.entries(filters)) {
    if (values.length === 0) continue;
    const attrs = e.Actor.Attributes;
    const ok = values.some((v) => {
      switch (key) {
        case 'type':
          return e.Type === v;
        case 'event':
          return e.Action === v || e.Action.startsWith(`${v}:`);
        case 'container':
        case 'image':
        case 'network':
          return (
            e.Type === key &&
            (e.Actor.ID === v ||
              e.Actor.ID.startsWith(v) ||
              attrs.name === v ||
              (key === 'container' && attrs.image === v))
          );
        case 'label': {
          const i = v.indexOf('=');
          return i < 0 ? v in attrs : attrs[v.slice(0, i)] === v.slice(i + 1);
        }
        default:
          return false;
      }
    });
    if (!ok) return false;
  }
  return true;
}
