// Legacy links and IPC modes on a real Engine (temporary root, vfs, own bridge
// and subnet), seen from inside the container with the host's static busybox
// bound in: /etc/hosts and the environment a link gives, its refusals, and
// /dev/shm shared through IpcMode shareable / container:<id>, private, none, host.
import { existsSync, readFileSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import { afterEach, beforeEach, expect, it } from 'vitest';
import type { ContainerCreateRequest } from '../api/types.js';
import { isBerthError } from '../errdefs/errors.js';
import { needs, when } from '../../testkit/needs.js';
import type { BerthEngine } from './builtins.js';
import { ctx, kernelSkipReason, putTestImage, stdoutOf, TEST_IMAGE, testWorld, type TestWorld } from './test-engine.js';

const BUSYBOX = '/usr/bin/busybox';
const skip = kernelSkipReason();
const tag = `${process.pid}`;

async function codeOf(p: Promise<unknown>): Promise<string | undefined> {
  try {
    await p;
  } catch (err) {
    return isBerthError(err) ? `${err.code}: ${err.message}` : `OTHER: ${String(err)}`;
  }
  return undefined;
}

needs(skip, when(existsSync(BUSYBOX), `needs a static busybox at ${BUSYBOX}`)).describe(
  'links and IPC (kernel)',
  () => {
    let world: TestWorld;
    let b: BerthEngine;

    beforeEach(async () => {
      world = await testWorld('vfs');
      b = await world.open();
      await putTestImage(ctx, b.parts.graph);
    });

    afterEach(async () => {
      await world.cleanup();
    });

    const binds = [`${BUSYBOX}:/bin/busybox:ro`, `${BUSYBOX}:/bin/sh:ro`];

    async function create(config: Partial<ContainerCreateRequest>, name?: string): Promise<string> {
      const { Id } = await b.engine.job(ctx, 'create', {
        ...(name ? { name } : {}),
        config: {
          Image: TEST_IMAGE,
          Cmd: ['/bin/sleep'],
          ...config,
          HostConfig: { Binds: binds, ...config.HostConfig },
        },
      });
      return Id;
    }
    async function start(config: Partial<ContainerCreateRequest>, name?: string): Promise<string> {
      const id = await create(config, name);
      await b.engine.job(ctx, 'start', { id });
      return id;
    }
    /** Runs `script` with busybox sh in a new container; its stdout and exit code. */
    async function sh(script: string, config: Partial<ContainerCreateRequest> = {}, name?: string) {
      const id = await start({ ...config, Cmd: ['/bin/sh', '-c', script] }, name);
      const { StatusCode } = await b.engine.job(ctx, 'wait', { id });
      const inspect = await b.engine.job(ctx, 'inspect', { id });
      return { id, code: StatusCode, out: await stdoutOf(inspect.LogPath), inspect };
    }

    it('gives a linked container its hosts line and environment on the default bridge', async () => {
      const db = await start(
        {
          Cmd: ['/bin/http-server', '8080', '5'],
          Env: ['DB_PASS=secret'],
          ExposedPorts: { '5432/tcp': {}, '8080/tcp': {} },
        },
        `db-${tag}`,
      );
      const dbInspect = await b.engine.job(ctx, 'inspect', { id: db });
      const ip = dbInspect.NetworkSettings.IPAddress;
      expect(ip).not.toBe('');
      const r = await sh(
        'busybox cat /etc/hosts; busybox env',
        { HostConfig: { Links: [`db-${tag}:data`] }, Env: ['DATA_NAME=own'] },
        `web-${tag}`,
      );
      expect(r.code).toBe(0);
      expect(r.out).toContain(`${ip}\tdata ${db.slice(0, 12)} db-${tag}\n`);
      expect(r.out).toContain(`DATA_PORT=tcp://${ip}:5432\n`);
      expect(r.out).toContain(`DATA_PORT_8080_TCP_ADDR=${ip}\n`);
      expect(r.out).toContain('DATA_PORT_8080_TCP_PROTO=tcp\n');
      expect(r.out).toContain('DATA_ENV_DB_PASS=secret\n');
      expect(r.out).not.toContain('DATA_ENV_PATH=');
      // the container's own Env wins over the link's
      expect(r.out).toContain('DATA_NAME=own\n');
      expect(r.inspect.HostConfig.Links).toEqual([`/db-${tag}:/web-${tag}/data`]);

      await b.engine.job(ctx, 'stop', { id: db, timeout: 0 });
      expect(await codeOf(b.engine.job(ctx, 'start', { id: r.id }))).toMatch(
        new RegExp(`Cannot link to a non running container: /db-${tag} AS /web-${tag}/data`),
      );
    });

    it('refuses links off the default bridge and to unknown containers, naming them', async () => {
      await start({}, `target-${tag}`);
      expect(await codeOf(create({ HostConfig: { Links: [`target-${tag}`], NetworkMode: 'none' } }))).toMatch(
        /^INVALID_ARGUMENT: Links: legacy links work on the default bridge network only/,
      );
      expect(await codeOf(create({ HostConfig: { Links: ['nosuch:x'] } }))).toMatch(/^NOT_FOUND: .*nosuch/);
      expect(await codeOf(create({ HostConfig: { Links: ['a:b:c'] } }))).toMatch(/^INVALID_ARGUMENT: Links "a:b:c"/);
    });

    it('shares /dev/shm with IpcMode container:<id> of a shareable container; private, none and host as Docker', async () => {
      const owner = await start({ HostConfig: { IpcMode: 'shareable', NetworkMode: 'none' } });
      const joined = await sh('echo hello > /dev/shm/note; cat /proc/self/mountinfo | busybox grep " /dev/shm "', {
        HostConfig: { IpcMode: `container:${owner}`, NetworkMode: 'none' },
      });
      expect(joined.code).toBe(0);
      const { Id: exec } = await b.engine.job(ctx, 'exec_create', {
        id: owner,
        config: { Cmd: ['/bin/busybox', 'cat', '/dev/shm/note'], AttachStdout: true },
      });
      let seen = '';
      await b.engine.job(ctx, 'exec_start', { execId: exec }, { onEvent: (c) => (seen += c.data.toString()) });
      expect(seen).toBe('hello\n');
      const ownerPid = (await b.engine.job(ctx, 'inspect', { id: owner })).State.Pid;
      expect(readlinkSync(`/proc/${ownerPid}/ns/ipc`)).not.toBe(readlinkSync('/proc/self/ns/ipc'));

      // a private container cannot be joined (Docker: not shareable)
      const priv = await start({ HostConfig: { IpcMode: 'private', NetworkMode: 'none' } });
      expect(await codeOf(create({ HostConfig: { IpcMode: `container:${priv}` } }))).toMatch(
        /^INVALID_ARGUMENT: .*non-shareable IPC/,
      );
      const own = await sh('busybox ls /dev/shm | busybox wc -l', { HostConfig: { IpcMode: 'private' } });
      expect(own.out.trim()).toBe('0');
      // none: no /dev/shm mounted at all
      const none = await sh('busybox grep -c " /dev/shm " /proc/self/mountinfo; true', {
        HostConfig: { IpcMode: 'none', NetworkMode: 'none' },
      });
      expect(none.out.trim()).toBe('0');
      expect(await codeOf(create({ HostConfig: { IpcMode: 'bogus' } }))).toMatch(/^INVALID_ARGUMENT: IpcMode "bogus"/);
      // host: the host's IPC namespace and its /dev/shm
      const hostFile = `/dev/shm/berth-ipc-test-${tag}`;
      writeFileSync(hostFile, 'from the host\n');
      try {
        const host = await sh(`busybox cat ${hostFile}`, { HostConfig: { IpcMode: 'host', NetworkMode: 'none' } });
        expect(host.out).toBe('from the host\n');
      } finally {
        rmSync(hostFile, { force: true });
      }
      // the shareable container's host-side tmpfs goes with its exit
      const shm = b.parts.runtime.shmDir(owner);
      expect(readFileSync('/proc/self/mountinfo', 'utf8')).toContain(` ${shm} `);
      await b.engine.job(ctx, 'delete', { id: joined.id, force: true });
      await b.engine.job(ctx, 'stop', { id: owner, timeout: 0 });
      expect(readFileSync('/proc/self/mountinfo', 'utf8')).not.toContain(` ${shm} `);
    });
  },
);
