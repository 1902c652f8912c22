// `berth-runtime list`: the containers under --root with their live status (runc list).
import { invalidArgument, isBerthError } from '../../errdefs/errors.js';
import type { State } from '../../execdriver/spec/types.js';
import { flagBool, flagString } from '../args.js';
import type { Command } from '../command.js';
import { liveStatus, toState } from '../container-status.js';

export const listCommand: Command = {
  name: 'list',
  usage: 'list [--format table|json] [--quiet]',
  summary: 'list the containers under --root with their status',
  flags: [
    { name: 'format', short: 'f', value: true },
    { name: 'quiet', short: 'q' },
  ],
  async run(_ctx, { store, stdout }, args) {
    const format = flagString(args, 'format') ?? 'table';
    if (format !== 'table' && format !== 'json')
      throw invalidArgument(`list: --format ${JSON.stringify(format)}: expected table or json`);
    const rows: (State & { created?: string })[] = [];
    for (const id of await store.list()) {
      try {
        const record = await store.read(id);
        rows.push({ ...toState(record, liveStatus(store, record)), created: record.created });
      } catch (err) {
        // A create still reserving its directory (or one that died there) has no state yet.
        if (!isBerthError(err, 'NOT_FOUND')) throw err;
      }
    }
    if (flagBool(args, 'quiet')) stdout.write(rows.map((r) => `${r.id}\n`).join(''));
    else if (format === 'json') stdout.write(`${JSON.stringify(rows)}\n`);
    else {
      const lines = [
        ['ID', 'PID', 'STATUS', 'BUNDLE', 'CREATED'],
        ...rows.map((r) => [r.id, String(r.pid ?? 0), r.status, r.bundle, r.created ?? '']),
      ];
      const widths = lines[0].map((_, i) => Math.max(...lines.map((l) => l[i].length)));
      stdout.write(
        lines.map((l) => l.map((c, i) => (i === l.length - 1 ? c : c.padEnd(widths[i] + 3))).join('')).join('\n') +
          '\n',
      );
    }
    return 0;
  },
};
