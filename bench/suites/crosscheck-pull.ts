// The pull suite's outside cross-check: one cold pull re-timed from outside by hyperfine, as
// the difference of two whole processes (crosscheck-pull-process.mjs, exec to exit): one that
// pulls the image twice into two fresh graphs and one that pulls it once, both in the cold group
// of berth's in-process case; and the agreement (second − first) ÷ in-process. A fresh process's
// first pull runs code V8 has not optimized yet (measured: about twice the CPU of a later pull),
// which the bench's in-process samples and a running berthd's pulls do not pay; subtracting a
// process's start-up alone left that in the outside figure.
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
export const PROCESS_CASE = 'pull-process-second';
export const FIRST_CASE = 'pull-process-first';

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

/** The two process cases (two pulls, one pull), or none with a warning when hyperfine is not installed. */
export function pullCrosschecks(input: PullCrosscheckInput, warn: (m: string) => void): MacroCase[] {
  if (onPath('hyperfine') === undefined) {
    warn('outside cross-check not run: hyperfine is not installed (apt-get install hyperfine)');
    return [];
  }
  return [processCase(input, 'second'), processCase(input, 'first')];
}

/** Unmounts whatever is left under root (lazily) and removes it. */
async function removeRoot(root: string): Promise<void> {
  for (const m of (await mountsUnder(root)).reverse()) unmount(`pull process root ${m}`, m, MNT_DETACH);
  await rm(root, { recursive: true, force: true });
}

function processCase(input: PullCrosscheckInput, mode: 'first' | 'second'): MacroCase {
  let world: OpenWorld | undefined;
  let root: string | undefined;
  const driver = input.parameters.driver;
  const argv = (dir: string, w: OpenWorld, m = mode) => [
    process.execPath,
    PROCESS,
    m,
    dir,
    driver,
    input.reference(w),
    String(input.concurrency),
  ];
  const command = `node crosscheck-pull-process.mjs ${mode} <root> ${driver} <ref> ${input.concurrency}`;
  return {
    kind: 'macro',
    suite: 'pull',
    case: mode === 'second' ? PROCESS_CASE : FIRST_CASE,
    target: 'berth',
    parameters: { ...input.parameters, concurrency: input.concurrency, tool: 'hyperfine' },
    unit: 'ms',
    direction: 'lower-is-better',
    group: input.group,
    method:
      `One sample: \`hyperfine -N --runs 1\` (the outside cross-check) of \`${command}\`, a process of its own that opens two graphs on ` +
      (mode === 'second'
        ? "fresh folders and pulls the image into the first, then again into the second, each as berth's cold-pull case does in the bench process; "
        : "fresh folders and pulls the image into the first (a fresh process's start-up and first pull, with code V8 has not optimized yet); ") +
      "the value is hyperfine's wall time of the whole process (exec to exit) in ms. The root is unmounted and removed after the sample (untimed)." +
      (mode === 'second' ? ' Minus pull-process-first of the same round it is one cold pull timed from outside.' : ''),
    notes: [
      ...input.notes,
      'The process starts from a pre-bundled module (as the berth commands do), built once before the samples.',
    ],
    setup: async () => {
      world = await input.open();
      // builds the bundle once, so no sample pays for it
      const warm = await scratchDir(world, 'graph-process');
      try {
        await hyperfineOnce('pull process warm-up', argv(warm, world, 'first'));
      } finally {
        await removeRoot(warm);
      }
    },
    beforeSample: async () => {
      root = await scratchDir(world!, 'graph-process');
    },
    sample: async () => (await hyperfineOnce(`pull process ${mode}`, argv(root!, world!))) * 1e3,
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

/** (two pulls − one pull, as processes) ÷ berth's in-process cold pull of the same group, sample by sample. */
export function derivePullCrosschecks(measured: readonly MeasuredCase[]): DerivedCase[] {
  const out: DerivedCase[] = [];
  for (const proc of measured) {
    if (proc.info.case !== PROCESS_CASE) continue;
    const same = (m: MeasuredCase) => m.info.group === proc.info.group && m.info.target === 'berth';
    const first = measured.find((m) => m.info.case === FIRST_CASE && same(m));
    const own = measured.find(
      (m) =>
        m.info.case === 'cold-pull' &&
        same(m) &&
        m.info.parameters.concurrency === proc.info.parameters.concurrency &&
        m.info.parameters.tool === undefined,
    );
    if (first === undefined || own === undefined) continue;
    const d = agreementCase(proc, own, {
      interleaved: true,
      what: `a cold pull of ${String(proc.info.parameters.image)} (${String(proc.info.parameters.compression)}) timed by hyperfine as the second pull of a whole process, against berth's in-process cold-pull`,
      minus: { case: first, text: "the same process's start-up and first pull (pull-process-first)" },
    });
    if (d !== undefined) out.push({ ...d, case: 'cold-pull-crosscheck' });
  }
  return out;
}
