// Prepares a container's stdio: each of fds 0–2 becomes a pipe to Node, a file, an
// inherited fd or /dev/null. The child's ends are closed here once it was cloned,
// so a pipe reaches EOF when the container (and whatever inherited it) exits.
import { closeSync, openSync } from 'node:fs';
import { createRequire } from 'node:module';
import type { Socket } from 'node:net';
import type { Readable, Writable } from 'node:stream';
import { wrap } from '../errdefs/errors.js';
import { native } from '../../native/index.js';

/**
 * 'pipe': a stream in Node; 'ignore': /dev/null; 'inherit': Node's own fd; a number:
 * that fd (kept open by the caller); {file}: opened here (created 0644, truncated
 * unless append).
 */
export type StdioOption = 'pipe' | 'ignore' | 'inherit' | number | { file: string; append?: boolean };

export interface PreparedStdio {
  /** The fds the child dups onto 0, 1, 2 (-1 = /dev/null). */
  childFds: [number, number, number];
  stdin: Writable | undefined;
  stdout: Readable | undefined;
  stderr: Readable | undefined;
  /** Closes the child's ends in this process; call once the child was cloned (or failed to be). */
  closeChildEnds(): void;
  /** Destroys the parent's streams (on a failed create). */
  destroy(): void;
}

/**
 * node:net's Socket, loaded on the first 'pipe': loading net costs a command such as
 * `berth-runtime run`, which only inherits its fds, some 5 ms of start-up.
 */
let SocketClass: typeof Socket | undefined;
function socketClass(): typeof Socket {
  SocketClass ??= (createRequire(import.meta.url)('node:net') as typeof import('node:net')).Socket;
  return SocketClass;
}

/** Opens what `options` asks for; on failure closes what it opened. */
export function prepareStdio(
  options: readonly (StdioOption | undefined)[] | undefined,
  subject: string,
): PreparedStdio {
  const childFds: [number, number, number] = [-1, -1, -1];
  const toClose: number[] = [];
  const streams: (Socket | undefined)[] = [undefined, undefined, undefined];
  try {
    for (let i = 0; i < 3; i++) {
      const opt = options?.[i] ?? 'ignore';
      if (opt === 'ignore') continue;
      if (opt === 'inherit') {
        childFds[i] = i;
      } else if (typeof opt === 'number') {
        childFds[i] = opt;
      } else if (opt === 'pipe') {
        const [r, w] = native().containerPipe();
        const [mine, theirs] = i === 0 ? [w, r] : [r, w];
        toClose.push(theirs);
        childFds[i] = theirs;
        streams[i] = new (socketClass())({ fd: mine, readable: i !== 0, writable: i === 0 });
      } else {
        let fd: number;
        try {
          fd = openSync(opt.file, i === 0 ? 'r' : opt.append ? 'a' : 'w', 0o644);
        } catch (err) {
          throw wrap(err, `${subject}: stdio ${i} ${opt.file}`);
        }
        toClose.push(fd);
        childFds[i] = fd;
      }
    }
  } catch (err) {
    for (const fd of toClose) closeSync(fd);
    for (const s of streams) s?.destroy();
    throw err;
  }
  let closed = false;
  return {
    childFds,
    stdin: streams[0],
    stdout: streams[1],
    stderr: streams[2],
    closeChildEnds() {
      if (closed) return;
      closed = true;
      for (const fd of toClose) closeSync(fd);
    },
    destroy() {
      for (const s of streams) s?.destroy();
    },
  };
}
