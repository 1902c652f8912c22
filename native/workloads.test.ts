// The static workloads of native/workloads on the real kernel: echo and http-server
// inside berth containers (http-server in a network namespace made here, loopback
// up, reached on 127.0.0.1 from inside it), and the tcp-source → tcp-sink pair on
// the host's loopback.
import { execa, execaSync } from 'execa';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createCgroupManager } from '../engine/execdriver/cgroups/manager.js';
import type { CgroupManager } from '../engine/execdriver/cgroups/types.js';
import { createExecDriver, type ExecDriver } from '../engine/execdriver/execdriver.js';
import { defaultSpec } from '../engine/execdriver/spec/defaults.js';
import type { Spec } from '../engine/execdriver/spec/types.js';
import { validateSpec } from '../engine/execdriver/spec/validate.js';
import { makeWorkloadRootfs, workloadBinary } from '../engine/execdriver/workload-rootfs.js';
import { background } from '../engine/trace/context.js';
import { needs, root, tool } from '../testkit/needs.js';

const haveCurl = (() => {
  try {
    execaSync('curl', ['--version']);
    return true;
  } catch {
    return false;
  }
})();
const ctx = background();

async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve));
  const port = (s.address() as AddressInfo).port;
  await new Promise<void>((resolve) => s.close(() => resolve()));
  return port;
}

/** Resolves with stdout's text once it contains `marker` (or rejects when the stream ends first). */
function waitFor(stream: Readable, marker: string): Promise<string> {
  return new Promise((resolve, reject) => {
    let text = '';
    const onData = (c: Buffer): void => {
      text += c.toString('utf8');
      if (text.includes(marker)) {
        stream.off('data', onData);
        stream.off('end', onEnd);
        resolve(text);
      }
    };
    const onEnd = (): void =>
      reject(new Error(`stream ended before ${JSON.stringify(marker)}: ${JSON.stringify(text)}`));
    stream.on('data', onData);
    stream.on('end', onEnd);
  });
}

needs(root()).describe('workloads in berth containers (root, real kernel)', () => {
  const cgroupParent = `berth-workloads-${process.pid}`;
  let base: string;
  let rootfs: string;
  let manager: CgroupManager;
  let driver: ExecDriver;
  const containers: string[] = [];
  const netns: string[] = [];
  let seq = 0;

  const bundle = (args: string[], mutate: (s: Spec) => void = () => {}): { dir: string; spec: Spec } => {
    const raw = defaultSpec({ args, rootfs });
    mutate(raw);
    return { dir: base, spec: validateSpec(raw, base) };
  };

  beforeAll(() => {
    base = mkdtempSync(join(tmpdir(), `berth-workloads-${process.pid}-`));
    rootfs = makeWorkloadRootfs(join(base, 'rootfs'));
    execaSync('chmod', ['0755', base]);
    manager = createCgroupManager();
    driver = createExecDriver({ cgroups: manager, cgroupParent });
  });

  afterEach(async () => {
    for (const id of containers.splice(0)) await driver.delete(ctx, id).catch(() => undefined);
    for (const ns of netns.splice(0)) await execa('ip', ['netns', 'del', ns], { reject: false });
  });

  afterAll(async () => {
    await manager?.cleanupStale(ctx, cgroupParent).catch(() => undefined);
    if (base) rmSync(base, { recursive: true, force: true });
  });

  it('echo prints its arguments joined by spaces', async () => {
    const id = `w${process.pid}-${++seq}`;
    containers.push(id);
    const proc = await driver.create(ctx, id, bundle(['/bin/echo', 'hello', 'berth container', '', 'x']), {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const out: Buffer[] = [];
    proc.stdout!.on('data', (c: Buffer) => out.push(c));
    const ended = new Promise((r) => proc.stdout!.on('end', r));
    await driver.start(ctx, id);
    expect(await driver.wait(ctx, id)).toEqual({ exitCode: 0 });
    await ended;
    expect(Buffer.concat(out).toString()).toBe('hello berth container  x\n');
  });

  needs(tool('curl')).it(
    'http-server answers GET / with the body size asked for, in its own network namespace',
    async () => {
      const ns = `berth-wl-${process.pid}-${++seq}`;
      netns.push(ns);
      await execa('ip', ['netns', 'add', ns]);
      await execa('ip', ['-n', ns, 'link', 'set', 'lo', 'up']);
      const id = `w${process.pid}-${++seq}`;
      containers.push(id);
      const spec = bundle(['/bin/http-server', '8080', '1000'], (s) => {
        s.linux!.namespaces = s.linux!.namespaces!.map((n) =>
          n.type === 'network' ? { type: 'network', path: `/var/run/netns/${ns}` } : n,
        );
      });
      const proc = await driver.create(ctx, id, spec, { stdio: ['ignore', 'pipe', 'pipe'] });
      const ready = waitFor(proc.stdout!, 'listening 8080\n');
      await driver.start(ctx, id);
      await ready;
      const curl = (path: string) =>
        execa('ip', [
          'netns',
          'exec',
          ns,
          'curl',
          '-s',
          '-S',
          '--max-time',
          '10',
          '-w',
          '\n%{http_code} %{size_download}',
          `http://127.0.0.1:8080${path}`,
        ]);
      const ok = await curl('/');
      const [body, status] = [
        ok.stdout.slice(0, ok.stdout.lastIndexOf('\n')),
        ok.stdout.slice(ok.stdout.lastIndexOf('\n') + 1),
      ];
      expect(status).toBe('200 1000');
      expect(body).toBe(`${'x'.repeat(999)}\n`);
      expect((await curl('/missing')).stdout.split('\n').at(-1)).toBe('404 10');
      // keep-alive: two requests on one connection
      const two = await execa('ip', [
        'netns',
        'exec',
        ns,
        'curl',
        '-s',
        '--max-time',
        '10',
        '-o',
        '/dev/null',
        '-o',
        '/dev/null',
        '-w',
        '%{http_code} %{num_connects}\n',
        'http://127.0.0.1:8080/',
        'http://127.0.0.1:8080/',
      ]);
      expect(two.stdout.split('\n')).toEqual(['200 1', '200 0']);
      // the server is not reachable on the host's loopback
      const hostProbe = await execa('curl', ['-s', '--max-time', '2', 'http://127.0.0.1:8080/'], { reject: false });
      expect(hostProbe.stdout).not.toBe('x'.repeat(999));
      await driver.kill(ctx, id, 'SIGKILL');
      expect((await driver.wait(ctx, id)).signal).toBe('SIGKILL');
    },
  );
});

describe('tcp-source and tcp-sink on the host loopback', () => {
  it('the sink counts every byte the source wrote and reports the seconds', async () => {
    const port = await freePort();
    const sink = execa(workloadBinary('tcp-sink'), [String(port)], { reject: false });
    try {
      await waitFor(sink.stdout!, `listening ${port}\n`);
      const source = await execa(workloadBinary('tcp-source'), ['127.0.0.1', String(port), '3000001']);
      expect(source.exitCode).toBe(0);
      const done = await sink;
      expect(done.exitCode).toBe(0);
      const [bytes, secs] = done.stdout.split('\n').at(-1)!.split(' ');
      expect(bytes).toBe('3000001');
      expect(Number(secs)).toBeGreaterThanOrEqual(0);
    } finally {
      if (sink.exitCode === null && sink.pid !== undefined) process.kill(sink.pid, 'SIGKILL');
      await sink;
    }
  });

  it('refuses bad arguments with exit 2 and a usage message', async () => {
    for (const [name, args] of [
      ['tcp-source', ['127.0.0.1', '1']],
      ['tcp-source', ['not-an-ip', '80', '10']],
      ['tcp-sink', []],
      ['tcp-sink', ['9', 'not-an-ip']],
      ['http-server', ['0']],
    ] as const) {
      const r = await execa(workloadBinary(name), [...args], { reject: false });
      expect(r.exitCode, name).toBe(2);
      expect(r.stderr, name).toMatch(new RegExp(name));
    }
  });

  it('tcp-source fails with exit 1 naming connect when nothing listens', async () => {
    const port = await freePort();
    const r = await execa(workloadBinary('tcp-source'), ['127.0.0.1', String(port), '10'], { reject: false });
    expect(r.exitCode).toBe(1);
    expect(r.stderr).toContain('tcp-source: connect');
  });
});
