// The logs, attach, resize and exec jobs on a real engine (root, namespaces,
// cgroups): output through the json-file log and live attach (attached before the
// start, as `docker run` does), exec in a running container with its user, env,
// pid namespace and exit codes (127 for a missing program), and the errors Docker
// gives for a container that does not run.
import { readlinkSync } from 'node:fs';
import { PassThrough } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ContainerConfig } from '../api/types.js';
import type { BerthEngine } from './builtins.js';
import type { OutputChunk } from './job-map.js';
import { detachSequence } from './stream-jobs.js';
import { ctx, kernelSkipReason, putTestImage, TEST_IMAGE, testWorld, type TestWorld } from './test-engine.js';
import { needs } from '../../testkit/needs.js';

const skip = kernelSkipReason();

needs(skip).describe('stream and exec jobs', () => {
  let world: TestWorld;
  let be: BerthEngine;

  beforeAll(async () => {
    world = await testWorld('vfs');
    be = await world.open();
    await putTestImage(ctx, be.parts.graph);
  }, 120_000);

  afterAll(async () => {
    await world?.cleanup();
  }, 120_000);

  const create = async (config: Partial<ContainerConfig>) =>
    (await be.engine.job(ctx, 'create', { config: { Image: TEST_IMAGE, ...config } })).Id;
  const text = (chunks: OutputChunk[], stream?: string) =>
    Buffer.concat(chunks.filter((c) => stream === undefined || c.stream === stream).map((c) => c.data)).toString();

  it('attach made before start streams the output, and logs replays it with tail and timestamps', async () => {
    const id = await create({ Cmd: ['/bin/echo', 'hello', 'from', 'berth'] });
    const chunks: OutputChunk[] = [];
    let armed: () => void;
    const armedP = new Promise<void>((r) => (armed = r));
    const attached = be.engine.job(
      ctx,
      'attach',
      { id, stream: true, stdout: true, stderr: true },
      {
        onEvent: (c) => {
          if (c.data.length === 0) armed();
          else chunks.push(c);
        },
      },
    );
    await armedP;
    await be.engine.job(ctx, 'start', { id });
    await attached;
    expect(text(chunks)).toBe('hello from berth\n');
    expect((await be.engine.job(ctx, 'wait', { id })).StatusCode).toBe(0);

    const logs: OutputChunk[] = [];
    await be.engine.job(
      ctx,
      'logs',
      { id, stdout: true, stderr: true, timestamps: true, tail: 'all' },
      { onEvent: (c) => logs.push(c) },
    );
    expect(text(logs)).toBe('hello from berth\n');
    expect(logs[0]!.time).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z$/);
    // A second run appends; tail 1 gives the last line only.
    await be.engine.job(ctx, 'start', { id });
    await be.engine.job(ctx, 'wait', { id });
    const tail: OutputChunk[] = [];
    await be.engine.job(ctx, 'logs', { id, stdout: true, tail: 1 }, { onEvent: (c) => tail.push(c) });
    expect(tail.map((c) => c.data.toString())).toEqual(['hello from berth\n']);
    const both: OutputChunk[] = [];
    await be.engine.job(ctx, 'logs', { id, stdout: true }, { onEvent: (c) => both.push(c) });
    expect(text(both)).toBe('hello from berth\nhello from berth\n');
    await be.engine.job(ctx, 'delete', { id });
  }, 120_000);

  it("a TTY container gives one raw stream with the pty's line endings; resize needs it running", async () => {
    const id = await create({ Cmd: ['/bin/echo', 'on a tty'], Tty: true });
    await expect(be.engine.job(ctx, 'resize', { id, height: 30, width: 90 })).rejects.toMatchObject({
      code: 'CONFLICT',
    });
    const chunks: OutputChunk[] = [];
    let armed: () => void;
    const armedP = new Promise<void>((r) => (armed = r));
    const attached = be.engine.job(
      ctx,
      'attach',
      { id, stream: true, stdout: true, stderr: true },
      {
        onEvent: (c) => (c.data.length === 0 ? armed() : chunks.push(c)),
      },
    );
    await armedP;
    await be.engine.job(ctx, 'start', { id });
    await attached;
    expect(text(chunks)).toBe('on a tty\r\n');
    expect(chunks.every((c) => c.stream === 'stdout')).toBe(true);
    await be.engine.job(ctx, 'wait', { id });
    await be.engine.job(ctx, 'delete', { id });

    const long = await create({ Cmd: ['/bin/sleep', '600'], Tty: true });
    await be.engine.job(ctx, 'start', { id: long });
    await be.engine.job(ctx, 'resize', { id: long, height: 30, width: 90 });
    await expect(be.engine.job(ctx, 'resize', { id: long, height: -1, width: 90 })).rejects.toMatchObject({
      code: 'INVALID_ARGUMENT',
    });
    await be.engine.job(ctx, 'delete', { id: long, force: true });
  }, 120_000);

  it("attach to a TTY container with stdin detaches on Docker's ctrl-p ctrl-q and leaves it running", async () => {
    const id = await create({ Cmd: ['/bin/sleep', '600'], Tty: true, OpenStdin: true });
    await be.engine.job(ctx, 'start', { id });
    const input = new PassThrough();
    let armed: () => void;
    const armedP = new Promise<void>((r) => (armed = r));
    const attached = be.engine.job(
      ctx,
      'attach',
      { id, stream: true, stdin: input, stdout: true },
      { onEvent: (c) => c.data.length === 0 && armed() },
    );
    await armedP;
    input.write(Buffer.from([0x10, 0x11]));
    await attached; // returns without the container exiting
    expect((await be.engine.job(ctx, 'inspect', { id })).State.Running).toBe(true);
    expect(detachSequence('ctrl-a,x')).toEqual([1, 0x78]);
    expect(() => detachSequence('ctrl-1')).toThrow(/unknown key "ctrl-1"/);
    await be.engine.job(ctx, 'delete', { id, force: true });
  }, 120_000);

  it('exec runs in the running container as the given user with merged env, in its pid namespace; inspect reports the exit', async () => {
    const id = await create({ Cmd: ['/bin/sleep', '600'] });
    await be.engine.job(ctx, 'start', { id });
    const pid = (await be.engine.job(ctx, 'inspect', { id })).State.Pid;
    const { Id: execId } = await be.engine.job(ctx, 'exec_create', {
      id,
      config: {
        Cmd: ['probe', 'read:/proc/1/cmdline'],
        AttachStdout: true,
        AttachStderr: true,
        User: 'app',
        Env: ['OVERRIDE=exec', 'EXTRA=1'],
        WorkingDir: '/tmp',
      },
    });
    expect(execId).toMatch(/^[0-9a-f]{64}$/);
    const before = await be.engine.job(ctx, 'exec_inspect', { execId });
    expect(before).toMatchObject({
      ID: execId,
      Running: false,
      ExitCode: null,
      OpenStdout: true,
      ProcessConfig: { entrypoint: 'probe', arguments: ['read:/proc/1/cmdline'], user: 'app' },
    });
    const out: OutputChunk[] = [];
    await be.engine.job(ctx, 'exec_start', { execId }, { onEvent: (c) => out.push(c) });
    // First an empty chunk: the exec runs, the caller may answer its client.
    expect(out[0]).toEqual({ stream: 'stdout', data: Buffer.alloc(0) });
    const probe = JSON.parse(text(out, 'stdout')) as {
      uid: number;
      gid: number;
      groups: number[];
      cwd: string;
      env: string[];
      ns: Record<string, string>;
      checks: { text?: string }[];
    };
    expect([probe.uid, probe.gid, probe.cwd]).toEqual([1000, 1001, '/tmp']);
    expect(probe.groups).toContain(2000);
    expect(probe.env).toEqual(expect.arrayContaining(['FROM_IMAGE=yes', 'OVERRIDE=exec', 'EXTRA=1']));
    expect(probe.env).not.toContain('OVERRIDE=image');
    expect(probe.ns.pid).toBe(readlinkSync(`/proc/${pid}/ns/pid`));
    expect(probe.checks[0]!.text?.startsWith('/bin/sleep')).toBe(true);
    expect(await be.engine.job(ctx, 'exec_inspect', { execId })).toMatchObject({ Running: false, ExitCode: 0 });
    await expect(be.engine.job(ctx, 'exec_start', { execId })).rejects.toMatchObject({ code: 'CONFLICT' });
    const after = await be.engine.job(ctx, 'inspect', { id });
    expect(after.State.Running).toBe(true);
    expect(after.ExecIDs).toContain(execId);
    await be.engine.job(ctx, 'delete', { id, force: true });
  }, 120_000);

  it('exec reports 127 for a missing program and its own exit code otherwise; a stopped container refuses exec and resize', async () => {
    const id = await create({ Cmd: ['/bin/sleep', '600'] });
    await be.engine.job(ctx, 'start', { id });
    const missing = await be.engine.job(ctx, 'exec_create', {
      id,
      config: { Cmd: ['no-such-program'], AttachStdout: true, AttachStderr: true },
    });
    const errOut: OutputChunk[] = [];
    await be.engine.job(ctx, 'exec_start', { execId: missing.Id }, { onEvent: (c) => errOut.push(c) });
    expect(text(errOut, 'stderr')).toMatch(/no-such-program: ENOENT/);
    expect((await be.engine.job(ctx, 'exec_inspect', { execId: missing.Id })).ExitCode).toBe(127);
    const three = await be.engine.job(ctx, 'exec_create', { id, config: { Cmd: ['probe', 'exit:3'] } });
    await be.engine.job(ctx, 'exec_start', { execId: three.Id });
    expect((await be.engine.job(ctx, 'exec_inspect', { execId: three.Id })).ExitCode).toBe(3);
    await expect(be.engine.job(ctx, 'resize', { id, height: 10, width: 10 })).rejects.toMatchObject({
      code: 'INVALID_ARGUMENT',
    });
    await expect(be.engine.job(ctx, 'exec_create', { id, config: { Cmd: [] } })).rejects.toThrow(
      /Cmd must be a non-empty list/,
    );

    await be.engine.job(ctx, 'kill', { id });
    await be.engine.job(ctx, 'wait', { id });
    await expect(be.engine.job(ctx, 'exec_create', { id, config: { Cmd: ['probe'] } })).rejects.toMatchObject({
      code: 'CONFLICT',
      message: expect.stringMatching(/is not running/),
    });
    await be.engine.job(ctx, 'delete', { id });
    await expect(be.engine.job(ctx, 'exec_inspect', { execId: three.Id })).rejects.toMatchObject({ code: 'NOT_FOUND' });
    await expect(be.engine.job(ctx, 'logs', { id })).rejects.toMatchObject({ code: 'NOT_FOUND' });
  }, 120_000);

  it('a TTY exec gets a terminal (one raw stream) and TERM', async () => {
    const id = await create({ Cmd: ['/bin/sleep', '600'] });
    await be.engine.job(ctx, 'start', { id });
    const { Id: execId } = await be.engine.job(ctx, 'exec_create', {
      id,
      config: { Cmd: ['probe'], Tty: true, AttachStdout: true, ConsoleSize: [40, 120] },
    });
    const out: OutputChunk[] = [];
    await be.engine.job(ctx, 'exec_start', { execId }, { onEvent: (c) => out.push(c) });
    const raw = text(out);
    const probe = JSON.parse(raw.trim()) as { env: string[]; fds: number[] };
    expect(out.every((c) => c.stream === 'stdout')).toBe(true);
    expect(raw.endsWith('\r\n')).toBe(true); // the pty's output processing
    expect(probe.env).toContain('TERM=xterm');
    expect((await be.engine.job(ctx, 'exec_inspect', { execId })).ExitCode).toBe(0);
    await be.engine.job(ctx, 'delete', { id, force: true });
  }, 120_000);
});
