// Signal names and numbers as `berth-runtime kill` accepts them: "KILL", "SIGKILL", "9".
import { constants } from 'node:os';
import { invalidArgument } from '../errdefs/errors.js';

const byNumber = new Map<number, NodeJS.Signals>();
for (const [name, num] of Object.entries(constants.signals))
  if (!byNumber.has(num)) byNumber.set(num, name as NodeJS.Signals);

/**
 * Parses a signal given by name (with or without "SIG", any case) or number, into its
 * number. Fails INVALID_ARGUMENT naming the value for an unknown one. Pure.
 */
export function parseSignal(value: string): number {
  if (/^\d+$/.test(value)) {
    const num = Number(value);
    if (num >= 1 && num <= 64) return num;
    throw invalidArgument(`signal ${JSON.stringify(value)}: out of range 1-64`);
  }
  const upper = value.toUpperCase();
  const name = upper.startsWith('SIG') ? upper : `SIG${upper}`;
  const num = (constants.signals as Record<string, number>)[name];
  if (num === undefined) throw invalidArgument(`signal ${JSON.stringify(value)}: unknown signal name`);
  return num;
}

/** "SIGTERM" for 15; the number as a string for realtime signals Node does not name. */
export function signalName(num: number): string {
  return byNumber.get(num) ?? String(num);
}
