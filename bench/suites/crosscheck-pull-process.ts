// A whole pull as a process of its own, for the pull suite's outside cross-check: started
// by crosscheck-pull-process.mjs (a pre-bundled module, as berth's commands start) and
// timed from outside. `first ROOT DRIVER REF CONCURRENCY` opens two graphs on fresh
// folders under the empty folder ROOT and pulls REF into the first; `second …` does the
// same and then pulls REF again into the second graph. second − first is one cold pull in
// a process whose code has warmed up, as berth's in-process samples and a running berthd
// pull; first alone is what a fresh process pays for its first pull. Neither closes the
// graphs: the caller unmounts what is left and removes ROOT.
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { background } from '../../engine/trace/index.js';
import { benchClient, berthPull, openBenchGraph, type PullDriver } from './pull-berth.js';

const USAGE = 'usage: crosscheck-pull-process first|second ROOT DRIVER REF CONCURRENCY';

function driverOf(name: string | undefined): PullDriver {
  if (name === 'overlay2' || name === 'vfs') return name;
  throw new Error(`pull process: driver ${JSON.stringify(name)}: not overlay2 or vfs`);
}

/** Exit status: 0 done, 1 failed (the reason on stderr), 2 bad arguments. */
export async function main(args: readonly string[]): Promise<number> {
  const [mode, root, driver, ref, concurrency] = args;
  const conc = Number(concurrency);
  const ok =
    (mode === 'first' || mode === 'second') &&
    args.length === 5 &&
    root !== undefined &&
    ref !== undefined &&
    Number.isInteger(conc) &&
    conc > 0;
  if (!ok) {
    process.stderr.write(`${USAGE}\n`);
    return 2;
  }
  try {
    const ctx = background();
    const client = benchClient();
    // both graphs are opened before any pull, in both modes, so the difference holds the second pull alone
    const graphs = [];
    for (const name of ['1', '2']) {
      const dir = join(root, name);
      await mkdir(dir);
      graphs.push(await openBenchGraph(ctx, dir, driverOf(driver)));
    }
    for (const g of mode === 'second' ? graphs : graphs.slice(0, 1)) {
      const r = await berthPull(ctx, g, client, ref, conc);
      if (r.layers.some((l) => l.skipped || !l.downloaded)) throw new Error(`cold pull of ${ref} found layers present`);
    }
    return 0;
  } catch (err) {
    process.stderr.write(`pull process ${mode} ${root}: ${err instanceof Error ? err.message : String(err)}\n`);
    return 1;
  }
}
