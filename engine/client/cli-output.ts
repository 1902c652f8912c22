// How `berth` prints: aligned tables, Docker's human times and sizes, and pull or
// push progress — one redrawn bar per layer on a terminal, plain lines otherwise.
import type { JSONMessage } from '../api/types.js';

export interface Out {
  write(text: string | Uint8Array): void;
  readonly isTTY: boolean;
}

/** Columns separated by at least three spaces, as Docker's tables. */
export function table(headers: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: readonly string[]): string =>
    cells
      .map((c, i) => (i === cells.length - 1 ? c : c.padEnd((widths[i] as number) + 3)))
      .join('')
      .trimEnd();
  return `${[line(headers), ...rows.map(line)].join('\n')}\n`;
}

/** `3 seconds`, `About a minute`, `5 hours`, `2 days` — Docker's HumanDuration. */
export function humanDuration(seconds: number): string {
  const s = Math.max(0, Math.round(seconds));
  if (s < 1) return 'Less than a second';
  if (s === 1) return '1 second';
  if (s < 60) return `${s} seconds`;
  const m = Math.round(s / 60);
  if (m === 1) return 'About a minute';
  if (m < 60) return `${m} minutes`;
  const h = Math.round(s / 3600);
  if (h === 1) return 'About an hour';
  if (h < 48) return `${h} hours`;
  if (h < 24 * 7 * 2) return `${Math.round(h / 24)} days`;
  if (h < 24 * 30 * 2) return `${Math.round(h / 24 / 7)} weeks`;
  if (h < 24 * 365 * 2) return `${Math.round(h / 24 / 30)} months`;
  return `${Math.round(h / 24 / 365)} years`;
}

/** `1.23MB` (decimal units, as docker images prints). */
export function humanSize(bytes: number): string {
  const units = ['B', 'kB', 'MB', 'GB', 'TB'];
  let v = bytes;
  let i = 0;
  while (v >= 1000 && i < units.length - 1) {
    v /= 1000;
    i++;
  }
  return `${i === 0 ? v : v.toPrecision(3).replace(/\.?0+$/, '')}${units[i]}`;
}

function bar(current: number, total: number): string {
  const width = 30;
  const filled = total > 0 ? Math.min(width, Math.round((current / total) * width)) : 0;
  return `[${'='.repeat(Math.max(0, filled - 1))}${filled > 0 ? '>' : ''}${' '.repeat(width - filled)}] ${humanSize(current)}/${humanSize(total)}`;
}

/**
 * Renders a progress stream. On a terminal each id (layer) keeps one line that is
 * redrawn in place; otherwise a line is printed when a layer's status changes
 * (not for every byte count).
 */
export class ProgressView {
  private readonly lines: string[] = [];
  private readonly text = new Map<string, string>();
  private readonly lastStatus = new Map<string, string>();

  constructor(private readonly out: Out) {}

  update(m: JSONMessage): void {
    const id = m.id;
    const status = m.status ?? '';
    // data for programs (a push's digest), as docker skips it
    if (m.aux !== undefined && m.status === undefined) return;
    if (id === undefined || id === '') {
      this.out.write(`${status}\n`);
      return;
    }
    if (!this.out.isTTY) {
      if (this.lastStatus.get(id) !== status) this.out.write(`${id}: ${status}\n`);
      this.lastStatus.set(id, status);
      return;
    }
    const detail = m.progressDetail;
    const line = `${id}: ${status}${detail?.total ? ` ${bar(detail.current ?? 0, detail.total)}` : m.progress ? ` ${m.progress}` : ''}`;
    let index = this.lines.indexOf(id);
    if (index < 0) {
      this.lines.push(id);
      this.text.set(id, line);
      this.out.write(`${line}\n`);
      return;
    }
    this.text.set(id, line);
    const up = this.lines.length - index;
    this.out.write(`\x1b[${up}A\r\x1b[2K${line}\r\x1b[${up}B`);
    index = -1;
  }
}
