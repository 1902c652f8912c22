// The pull suite's outside cross-check: one cold pull re-timed as a whole process
// (crosscheck-pull-process.mjs, started and timed by hyperfine from exec to exit), beside
// the same process opening the graph and exiting (its start-up), both in the cold group of
// berth's in-process case, and the agreement (process − start-up) ÷ in-process.
import { rm } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { onPath } from '../../engine/fsutil/on-path.js';
import { MNT_DETACH, unmount } from '../../engine/graphdriver/host-mount.js';
import { mountsUnder } from '../../engine/graphdriver/mountinfo.js';
import type { CaseInfo, DerivedCase, MacroCase, MeasuredCase } from '../suite.js';
import { agreementCase, hyperfineOnce } from './crosscheck.js';
import type { PullDriver } from './pull-berth.js';
import { scratchDir, type OpenWorld } from './pull-world.js';

const PROCESS = fileURLToPath(new URL('./crosscheck-pull-process.mjs', import.meta.url));
export const PROCESS_CASE = 'cold-pull-process';
export const STARTUP_CASE = 'pull-process-startup';

/** What the pull suite hands over: the cold group re-timed, and its world. */
export interface PullCrosscheckInput {
  /** The berth cold-pull case's parameters (image, compression, backing, driver, …). */
  parameters: CaseInfo['parameters'] & { driver: PullDriver };
  concurrency: number;
  group: string;
  /** Opens the suite's world (one user); close() gives it back. */
  open: () => Promise<OpenWorld>;
  close: () => Promise<void>;
  reference: (w: OpenWorld) => string;
  /** Notes every case of the suite carries (backing store, registry). */
  notes: string[];
}

/** The process case and its start-up case, or none with a warning when hyperfine is not installed. */
export function pullCrosschecks(input: PullCrosscheckInput, warn: (m: string) => void): MacroCase[] {
  if (onPath('hyperfine') === undefined) {
    warn('outside cross-check not run: hyperfine is not installed (apt-get install hyperfine)');
    return [];
  }
  return [processCase(input, 'pull'), processCase(input, 'startup')];
}

/** Unmounts whatever is left under root (lazily) and removes it. */
async function removeRoot(root: string): Promise<void> {
  for (const m of (await mountsUnder(root)).reverse()) unmount(`pull process root ${m}`, m, MNT_DETACH);
  await rm(root, { recursive: true, force: true });
}

function processCase(input: PullCrosscheckInput, mode: 'pull' | 'startup'): MacroCase {
  let world: OpenWorld | undefined;
  let root: string | undefined;
  const driver = input.parameters.driver;
  const pull = mode === 'pull';
  return {
    kind: 'macro',
    suite: 'pull',
    case: pull ? PROCESS_CASE : STARTUP_CASE,
    target: 'berth',
    parameters: { ...input.parameters, concurrency: input.concurrency, tool: 'hyperfine' },
    unit: 'ms',
    direction: 'lower-is-better',
    group: input.group,
    method: pull
      ? `One sample: \`hyperfine -N --runs 1\` (the outside cross-check) of \`node crosscheck-pull-process.mjs pull <root> ${driver} <ref> ${input.concurrency}\`, ` +
        "a process of its own that opens a graph on a fresh root and pulls the image into it, as berth's cold-pull case does in the bench process; " +
        "the value is hyperfine's wall time of the whole process (exec to exit) in ms. The root is unmounted and removed after the sample (untimed)."
      : `One sample: \`hyperfine -N --runs 1\` (the outside cross-check) of \`node crosscheck-pull-process.mjs startup <root> ${driver}\`: ` +
        'the same process and graph opening without the pull, the start-up the process case pays on top of the pull itself; in ms.',
    notes: [
      ...input.notes,
      'The process starts from a pre-bundled module (as the berth commands do), built once before the samples.',
    ],
    setup: async () => {
      world = await input.open();
      // builds the bundle once, so no sample pays for it
      const warm = await scratchDir(world, 'graph-process');
      try {
        await hyperfineOnce('pull process warm-up', [process.execPath, PROCESS, 'startup', warm, driver]);
      } finally {
        await removeRoot(warm);
      }
    },
    beforeSample: async () => {
      root = await scratchDir(world!, 'graph-process');
    },
    sample: async () => {
      const argv = pull
        ? [process.execPath, PROCESS, 'pull', root!, driver, input.reference(world!), String(input.concurrency)]
        : [process.execPath, PROCESS, 'startup', root!, driver];
      return (await hyperfineOnce(`pull process ${mode}`, argv)) * 1e3;
    },
    afterSample: async () => {
      if (root !== undefined) await removeRoot(root);
      root = undefined;
    },
    teardown: async () => {
      if (root !== undefined) await removeRoot(root).catch(() => undefined);
      root = undefined;
      if (world !== undefined) await input.close();
      world = undefined;
    },
  };
}

/** (process − start-up) ÷ berth's in-process cold pull of the same group, sample by sample. */
export function derivePullCrosschecks(measured: readonly MeasuredCase[]): DerivedCase[] {
  const out: DerivedCase[] = [];
  for (const proc of measured) {
    if (proc.info.case !== PROCESS_CASE) continue;
    const same = (m: MeasuredCase) => m.info.group === proc.info.group && m.info.target === 'berth';
    const startup = measured.find((m) => m.info.case === STARTUP_CASE && same(m));
    const own = measured.find(
      (m) =>
        m.info.case === 'cold-pull' &&
        same(m) &&
        m.info.parameters.concurrency === proc.info.parameters.concurrency &&
        m.info.parameters.tool === undefined,
    );
    if (startup === undefined || own === undefined) continue;
    const d = agreementCase(proc, own, {
      interleaved: true,
      what: `a cold pull of ${String(proc.info.parameters.image)} (${String(proc.info.parameters.compression)}) as a whole process timed by hyperfine, against berth's in-process cold-pull`,
      minus: { case: startup, text: "the process's start-up (pull-process-startup)" },
    });
    if (d !== undefined) out.push({ ...d, case: 'cold-pull-crosscheck' });
  }
  return out;
}
