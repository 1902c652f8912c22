// A whole pull as a process of its own, for the pull suite's outside cross-check: started
// by crosscheck-pull-process.mjs (a pre-bundled module, as berth's commands start) and
// timed from outside. `pull ROOT DRIVER REF CONCURRENCY` opens a graph on the empty folder
// ROOT and pulls REF into it; `startup ROOT DRIVER` only opens the graph (the start-up to
// subtract). Neither closes the graph: the caller unmounts what is left and removes ROOT.
import { background } from '../../engine/trace/index.js';
import { benchClient, berthPull, openBenchGraph, type PullDriver } from './pull-berth.js';

const USAGE = 'usage: crosscheck-pull-process pull ROOT DRIVER REF CONCURRENCY | startup ROOT DRIVER';

function driverOf(name: string | undefined): PullDriver {
  if (name === 'overlay2' || name === 'vfs') return name;
  throw new Error(`pull process: driver ${JSON.stringify(name)}: not overlay2 or vfs`);
}

/** Exit status: 0 done, 1 failed (the reason on stderr), 2 bad arguments. */
export async function main(args: readonly string[]): Promise<number> {
  const [mode, root, driver, ref, concurrency] = args;
  const conc = Number(concurrency);
  const ok =
    root !== undefined &&
    ((mode === 'startup' && args.length === 3) ||
      (mode === 'pull' && args.length === 5 && ref !== undefined && Number.isInteger(conc) && conc > 0));
  if (!ok) {
    process.stderr.write(`${USAGE}\n`);
    return 2;
  }
  try {
    const ctx = background();
    const g = await openBenchGraph(ctx, root, driverOf(driver));
    if (mode === 'pull') {
      const r = await berthPull(ctx, g, benchClient(), ref!, conc);
      if (r.layers.some((l) => l.skipped || !l.downloaded)) throw new Error(`cold pull of ${ref} found layers present`);
    }
    return 0;
  } catch (err) {
    process.stderr.write(`pull process ${mode} ${root}: ${err instanceof Error ? err.message : String(err)}\n`);
    return 1;
  }
}
