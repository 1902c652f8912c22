// The runtime suite's outside cross-check: `berth-runtime run` and `crun run` of the same
// bundle timed by hyperfine (its own clock, no shell) beside the harness's own cli cases,
// in the same interleaved group, and the agreement of each pair.
import { unavailable } from '../../engine/errdefs/errors.js';
import { onPath } from '../../engine/fsutil/on-path.js';
import { argvFor, forceDelete, leftoversOf, type PeerRuntime } from '../peers/index.js';
import type { DerivedCase, MacroCase, MeasuredCase } from '../suite.js';
import { agreementCase, hyperfineOnce } from './crosscheck.js';
import type { NetnsVariant, RuntimeBundles } from './runtime-bundles.js';

/** The runtimes whose cli case hyperfine re-times, and the variant it does so for. */
export const CROSSCHECKED: readonly string[] = ['berth-runtime', 'crun'];
export const CROSSCHECK_VARIANT: NetnsVariant = 'no-netns';

/**
 * hyperfine cases for the runtimes of CROSSCHECKED among `peers`, or none with a warning
 * when hyperfine is not installed.
 */
export function runtimeCrosschecks(
  bundles: RuntimeBundles,
  peers: readonly PeerRuntime[],
  opts: { caseName: string; nextId: () => string; warn: (m: string) => void },
): MacroCase[] {
  const mine = peers.filter((p) => CROSSCHECKED.includes(p.name));
  if (mine.length === 0) return [];
  if (onPath('hyperfine') === undefined) {
    opts.warn('outside cross-check not run: hyperfine is not installed (apt-get install hyperfine)');
    return [];
  }
  return mine.map((p) => hyperfineCase(bundles, CROSSCHECK_VARIANT, p, opts));
}

function hyperfineCase(
  bundles: RuntimeBundles,
  variant: NetnsVariant,
  peer: PeerRuntime,
  opts: { caseName: string; nextId: () => string },
): MacroCase {
  let root = '';
  let bundle = '';
  let id = '';
  let acquired = false;
  return {
    kind: 'macro',
    suite: 'runtime',
    case: opts.caseName,
    target: peer.name === 'berth-runtime' ? 'berth' : peer.name,
    parameters: { netns: variant === 'netns', level: 'cli', tool: 'hyperfine' },
    unit: 'ms',
    direction: 'lower-is-better',
    group: `${opts.caseName}-${variant}`,
    method:
      `Outside cross-check: one sample is \`hyperfine -N --runs 1\` of \`${peer.name} --root <own state dir> run --bundle <bundle> <id>\` ` +
      "(the same command line, quirk wrappers included, as the cli case beside it); the value is hyperfine's own wall time of that run " +
      'in ms, read from its JSON export (no shell, no harness clock). After each sample (untimed) `delete -f` runs and no state, cgroup or process of the id may be left.',
    notes: [`${peer.name}: ${peer.path}; hyperfine spawns it directly (-N).`],
    setup: () => {
      const m = bundles.acquire();
      acquired = true;
      root = m.stateRoot(`${peer.name}-hyperfine`);
      bundle = m.bundles[variant];
    },
    beforeSample: () => {
      id = opts.nextId();
    },
    sample: async () => {
      const argv = argvFor(peer, ['--root', root, 'run', '--bundle', bundle, id]);
      return (await hyperfineOnce(`${peer.name} run ${id} under hyperfine`, argv, bundle)) * 1e3;
    },
    afterSample: async () => {
      await forceDelete(peer, root, id);
      const left = leftoversOf(id, root);
      if (left.length > 0) throw unavailable(`container ${id}: left behind after delete: ${left.join(', ')}`);
    },
    teardown: () => {
      if (acquired) bundles.release();
      acquired = false;
    },
  };
}

/** The agreement of each hyperfine case with the cli case of its runtime, variant and group. */
export function deriveRuntimeCrosschecks(measured: readonly MeasuredCase[], caseName: string): DerivedCase[] {
  const out: DerivedCase[] = [];
  for (const h of measured) {
    if (h.info.case !== caseName || h.info.parameters.tool !== 'hyperfine') continue;
    const own = measured.find(
      (m) =>
        m.info.case === caseName &&
        m.info.target === h.info.target &&
        m.info.parameters.level === 'cli' &&
        m.info.parameters.netns === h.info.parameters.netns &&
        m.info.parameters.tool === undefined,
    );
    if (own === undefined) continue;
    const d = agreementCase(h, own, {
      interleaved: true,
      what: `${h.info.target === 'berth' ? 'berth-runtime' : h.info.target} run of the same bundle, timed by hyperfine and by the harness (spawn to exit)`,
    });
    if (d !== undefined) out.push(d);
  }
  return out;
}
