// sendFd (runc's --console-socket protocol: one fd over a unix stream socket, a name
// as payload) and ptyName, against a python3 receiver using socket.recv_fds.
import { execFileSync, spawn } from 'node:child_process';
import { closeSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { native } from './index.js';

const hasPython = (() => {
  try {
    execFileSync('python3', ['-c', 'import socket; socket.recv_fds'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
})();

// Receives one fd, writes "<payload>|" and then a line of its own into that fd.
const RECEIVER = `
import os, socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.bind(sys.argv[1])
s.listen(1)
print('ready', flush=True)
conn, _ = s.accept()
name, fds, _, _ = socket.recv_fds(conn, 4096, 1)
os.write(fds[0], name + b'|written by the receiver')
`;
import { needs, when } from '../testkit/needs.js';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), `berth-sendfd-${process.pid}-`));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

needs(when(hasPython, 'needs python3 >= 3.9 (socket.recv_fds)')).describe('sendFd', () => {
  it('passes a working fd and its name to a console socket receiver', async () => {
    const sock = join(dir, 'console.sock');
    const receiver = spawn('python3', ['-c', RECEIVER, sock], { stdio: ['ignore', 'pipe', 'inherit'] });
    try {
      await new Promise<void>((resolve, reject) => {
        receiver.stdout.once('data', () => resolve());
        receiver.once('exit', (code) => reject(new Error(`receiver exited ${code}`)));
      });
      const [r, w] = native().containerPipe();
      try {
        native().sendFd(sock, w, '/dev/pts/7');
        closeSync(w);
        const code = await new Promise<number | null>((resolve) =>
          receiver.exitCode !== null ? resolve(receiver.exitCode) : receiver.once('exit', resolve),
        );
        expect(code).toBe(0);
        // The receiver wrote through the fd it got: the pipe's read end has it.
        expect(readFileSync(`/proc/self/fd/${r}`, 'utf8')).toBe('/dev/pts/7|written by the receiver');
      } finally {
        closeSync(r);
      }
    } finally {
      if (receiver.exitCode === null) receiver.kill('SIGKILL');
    }
  });

  it('names the socket and the errno when nobody listens', () => {
    expect(() => native().sendFd(join(dir, 'absent.sock'), 0, 'x')).toThrow(
      expect.objectContaining({
        code: 'ENOENT',
        message: expect.stringMatching(/^console socket .*absent\.sock: connect: ENOENT/),
      }),
    );
    const plain = join(dir, 'plain-file');
    writeFileSync(plain, '');
    expect(() => native().sendFd(plain, 0, 'x')).toThrow(expect.objectContaining({ code: 'ECONNREFUSED' }));
    expect(() => native().sendFd(`/${'x'.repeat(200)}`, 0, 'x')).toThrow(
      expect.objectContaining({ code: 'ENAMETOOLONG' }),
    );
  });

  it('ptyName refuses an fd that is no pty master', () => {
    const [r, w] = native().containerPipe();
    try {
      expect(() => native().ptyName(r)).toThrow(expect.objectContaining({ code: 'ENOTTY' }));
    } finally {
      closeSync(r);
      closeSync(w);
    }
  });
});
