// A small directory-copying graphdriver for the graph's own tests: it lets them
// count calls and inject failures without mounts. Not registered as a builtin.
import { cp, mkdir, rm, stat, writeFile, readdir } from 'node:fs/promises';
import { dirname, join, normalize } from 'node:path';
import tar from 'tar-stream';
import { alreadyExists, conflict, invalidArgument, notFound } from '../errdefs/errors.js';
import type { ApplyResult, Change, Driver, DriverStatus, Mount } from '../graphdriver/driver.js';
import type { Context } from '../trace/context.js';

export interface TestDriverOptions {
  /** Thrown from applyDiff after `afterBytes` of file content, to test cleanup. */
  failApply?: { afterBytes: number; error: Error };
}

export class TestDriver implements Driver {
  readonly name = 'testfs';
  readonly home: string;
  readonly calls: { create: string[]; createReadWrite: string[]; remove: string[]; applyDiff: string[] } = {
    create: [],
    createReadWrite: [],
    remove: [],
    applyDiff: [],
  };
  private readonly mounted = new Map<string, number>();

  constructor(
    dataRoot: string,
    public options: TestDriverOptions = {},
  ) {
    this.home = join(dataRoot, 'testfs');
  }

  private dir(id: string): string {
    if (!/^[A-Za-z0-9][A-Za-z0-9_.-]*$/.test(id)) throw invalidArgument(`testfs ${id}: bad id`);
    return join(this.home, 'dir', id);
  }

  async create(_ctx: Context, id: string, parent: string | undefined): Promise<void> {
    this.calls.create.push(id);
    await this.make(id, parent);
  }

  async createReadWrite(_ctx: Context, id: string, parent: string | undefined): Promise<void> {
    this.calls.createReadWrite.push(id);
    await this.make(id, parent);
  }

  private async make(id: string, parent: string | undefined): Promise<void> {
    if (await this.existsDir(id)) throw alreadyExists(`testfs ${id}: exists`);
    if (parent !== undefined && !(await this.existsDir(parent))) throw notFound(`testfs ${id}: parent ${parent} not found`);
    await mkdir(join(this.home, 'dir'), { recursive: true });
    if (parent !== undefined) await cp(this.dir(parent), this.dir(id), { recursive: true });
    else await mkdir(this.dir(id));
  }

  async remove(_ctx: Context, id: string): Promise<void> {
    if ((this.mounted.get(id) ?? 0) > 0) throw conflict(`testfs ${id}: mounted`);
    this.calls.remove.push(id);
    await rm(this.dir(id), { recursive: true, force: true });
  }

  async mounts(_ctx: Context, id: string): Promise<Mount[]> {
    return [{ type: 'bind', source: this.dir(id), options: ['rbind'] }];
  }

  async get(_ctx: Context, id: string): Promise<string> {
    if (!(await this.existsDir(id))) throw notFound(`testfs ${id}: not found`);
    this.mounted.set(id, (this.mounted.get(id) ?? 0) + 1);
    return this.dir(id);
  }

  async put(_ctx: Context, id: string): Promise<void> {
    const n = this.mounted.get(id) ?? 0;
    if (n <= 1) this.mounted.delete(id);
    else this.mounted.set(id, n - 1);
  }

  async exists(_ctx: Context, id: string): Promise<boolean> {
    return this.existsDir(id);
  }

  /** Ids of the layers on disk (for tests: nothing may leak). */
  async ids(): Promise<string[]> {
    return (await readdir(join(this.home, 'dir')).catch(() => [] as string[])).sort();
  }

  private async existsDir(id: string): Promise<boolean> {
    return stat(this.dir(id)).then(
      () => true,
      () => false,
    );
  }

  async status(): Promise<DriverStatus> {
    return { 'Backing Filesystem': 'any' };
  }

  async cleanup(): Promise<void> {
    this.mounted.clear();
  }

  async diff(): Promise<NodeJS.ReadableStream> {
    throw new Error('testfs: diff not supported');
  }

  async changes(): Promise<Change[]> {
    return [];
  }

  async diffSize(): Promise<number> {
    return 0;
  }

  /** Extracts regular files and directories; `.wh.name` deletes name. Reads the archive, not the padding after it. */
  async applyDiff(_ctx: Context, id: string, _parent: string | undefined, stream: NodeJS.ReadableStream): Promise<ApplyResult> {
    this.calls.applyDiff.push(id);
    const root = this.dir(id);
    const extract = tar.extract();
    stream.on('error', (err: Error) => extract.destroy(err));
    stream.on('close', () => {
      if (!(stream as { readableEnded?: boolean }).readableEnded) extract.destroy(new Error('input closed early'));
    });
    stream.pipe(extract);
    let size = 0;
    let entries = 0;
    for await (const entry of extract) {
      entries++;
      const name = normalize(entry.header.name).replace(/^\/+/, '');
      if (name.startsWith('..')) throw invalidArgument(`testfs ${id}: entry ${entry.header.name} escapes`);
      const target = join(root, name);
      const base = name.split('/').pop()!;
      const chunks: Buffer[] = [];
      for await (const c of entry) {
        chunks.push(c as Buffer);
        size += (c as Buffer).length;
        const fail = this.options.failApply;
        if (fail !== undefined && size >= fail.afterBytes) throw fail.error;
      }
      if (base.startsWith('.wh.')) {
        await rm(join(dirname(target), base.slice(4)), { recursive: true, force: true });
      } else if (entry.header.type === 'directory') {
        await mkdir(target, { recursive: true });
      } else if (entry.header.type === 'file') {
        await mkdir(dirname(target), { recursive: true });
        await writeFile(target, Buffer.concat(chunks));
      }
    }
    return { size, entries };
  }
}
