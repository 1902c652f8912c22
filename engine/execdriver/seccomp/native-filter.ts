// Chooses where in the container child's setup the filter goes and hands the native
// core its bytes; compiled filters are cached by profile so a container start pays
// the compile once per distinct profile (Docker's default included).
import { invalidArgument } from '../../errdefs/errors.js';
import type { Seccomp } from '../spec/types.js';
import { compileChecked, planSyscalls, type CompiledFilter } from './compile.js';
import { checkProfileCached, RET, syscallNumber, type CheckedProfile } from './profile.js';

/**
 * Where the child installs the filter (native/src/container-child.cc):
 * 0 'before-capabilities': after the user, umask and cwd are set, before capset —
 *   without no_new_privs, loading a filter needs CAP_SYS_ADMIN, which the capability
 *   step may drop (runc does the same);
 * 1 'end-of-setup': after the last setup step, before reporting "created" (its time
 *   is then reported with the other steps);
 * 2 'before-execve': right before execve, for profiles that deny calls berth's
 *   handshake still makes.
 */
export type SeccompStage = 0 | 1 | 2;

/** What NativeSpawnConfig.seccomp carries. */
export interface NativeSeccomp {
  /** struct sock_filter[] (8 bytes each). */
  filter: Buffer;
  /** SECCOMP_FILTER_FLAG_*; 0 → prctl(PR_SET_SECCOMP). */
  flags: number;
  stage: SeccompStage;
}

/** Calls the child makes after installing the filter at stage 1 (start handshake, exec FIFO, execve, exit on error). */
const AFTER_SETUP = ['sendto', 'read', 'rt_sigprocmask', 'setsid', 'openat', 'write', 'close', 'execve', 'exit_group'];
/**
 * … and at stage 0 additionally the capability step (capset; prctl only to raise
 * ambient capabilities). The user, umask, working directory, ambient clear and the
 * close-on-exec sweep (close_range) all happen before a stage-0 filter loads, so a
 * profile may deny them.
 */
function afterBeforeUser(ambient: boolean): string[] {
  return ambient ? [...AFTER_SETUP, 'capset', 'prctl'] : [...AFTER_SETUP, 'capset'];
}

function allows(ret: number): boolean {
  return ret === RET.ALLOW || ret === RET.LOG;
}

const plansOf = new WeakMap<CheckedProfile, Map<number, ReturnType<typeof planSyscalls>[number]>>();

/** The fixed verdict for a syscall (no conditional rules for it), or 'depends'. */
function verdict(checked: CheckedProfile, name: string): number | 'depends' {
  let plans = plansOf.get(checked);
  if (plans === undefined) plansOf.set(checked, (plans = new Map(planSyscalls(checked).map((p) => [p.nr, p]))));
  const plan = plans.get(syscallNumber(name)!);
  if (plan === undefined) return checked.defaultRet;
  return plan.conditional.length > 0 ? 'depends' : plan.fallback;
}

function denied(checked: CheckedProfile, names: readonly string[]): string[] {
  return names.filter((n) => {
    const v = verdict(checked, n);
    return v !== 'depends' && !allows(v);
  });
}

const cache = new Map<string, CompiledFilter>();
const CACHE_SIZE = 32;

/** compileProfile, memoized by the profile's JSON (Docker's default compiles once per process). */
export function compileCached(profile: Seccomp): CompiledFilter {
  const key = JSON.stringify(profile);
  const hit = cache.get(key);
  if (hit !== undefined) return hit;
  const compiled = compileChecked(checkProfileCached(profile));
  if (cache.size >= CACHE_SIZE) cache.delete(cache.keys().next().value!);
  cache.set(key, compiled);
  return compiled;
}

/**
 * What nativeSeccomp needs of a checked profile: its compiled filter and the verdicts that choose the stage or refuse
 * the profile. Only a profile that checkProfile accepted has facts.
 */
export interface ProfileFacts {
  filter: Buffer;
  flags: number;
  /** The profile denies execve (for every argument). */
  execveDenied: boolean;
  /** The calls of afterBeforeUser(false) / afterBeforeUser(true) / AFTER_SETUP the profile denies. */
  deniedBeforeCaps: string[];
  deniedBeforeCapsAmbient: string[];
  deniedAfterSetup: string[];
}

/**
 * Where the facts of profiles are kept beyond this process (berth-runtime: a verified cache in its state root, since
 * each of its processes would check and compile the same profile again), by the profile's JSON text. A store must
 * tell builds apart on its own. get answers undefined on any doubt; set never throws.
 */
export interface ProfileFactStore {
  get(profileJson: string): ProfileFacts | undefined;
  set(profileJson: string, facts: ProfileFacts): void;
}

let factStore: ProfileFactStore | undefined;
/** The facts this process already has, by the profile's JSON (a store's answers included). */
const factsByJson = new Map<string, ProfileFacts>();

/** Sets (or with undefined, removes) the store consulted before a profile is checked and compiled. */
export function useProfileFactStore(store: ProfileFactStore | undefined): void {
  factStore = store;
  factsByJson.clear();
}

/** The facts of `profile` from this process's memory or the store (never from a check), else undefined. */
function knownFacts(json: string): ProfileFacts | undefined {
  let facts = factsByJson.get(json);
  if (facts === undefined && factStore !== undefined) {
    facts = factStore.get(json);
    if (facts !== undefined) factsByJson.set(json, facts);
  }
  return facts;
}

/**
 * Whether `profile` is one the store holds facts of, i.e. one checkProfile accepted before: validateSpec then need
 * not check it again. Always false without a store.
 */
export function profileKnownGood(profile: Seccomp): boolean {
  return factStore !== undefined && knownFacts(JSON.stringify(profile)) !== undefined;
}

function profileFacts(profile: Seccomp): ProfileFacts {
  const json = JSON.stringify(profile);
  const known = knownFacts(json);
  if (known !== undefined) return known;
  const compiled = compileCached(profile);
  const checked = compiled.checked;
  const execve = verdict(checked, 'execve');
  const facts: ProfileFacts = {
    filter: compiled.bytes,
    flags: compiled.flags,
    execveDenied: execve !== 'depends' && !allows(execve),
    deniedBeforeCaps: denied(checked, afterBeforeUser(false)),
    deniedBeforeCapsAmbient: denied(checked, afterBeforeUser(true)),
    deniedAfterSetup: denied(checked, AFTER_SETUP),
  };
  if (factStore !== undefined) {
    factsByJson.set(json, facts);
    factStore.set(json, facts);
  }
  return facts;
}

/**
 * The native core's seccomp field for a spec's profile. Throws INVALID_ARGUMENT
 * naming linux.seccomp when the profile denies execve (the container could not
 * start), or, without process.noNewPrivileges, denies a call berth makes after
 * loading the filter with no fallback (the filter must then be loaded before
 * capabilities drop): capset, prctl when options.ambient (ambient capabilities to
 * raise), and the start handshake.
 * Cost: a cache lookup after the first compile of a profile (or a read of the fact store).
 */
export function nativeSeccomp(
  profile: Seccomp,
  noNewPrivileges: boolean,
  options: { ambient?: boolean } = {},
): NativeSeccomp {
  const facts = profileFacts(profile);
  if (facts.execveDenied) {
    throw invalidArgument(
      'linux.seccomp: the profile denies execve, so the container process could not start (allow execve)',
      { details: { field: 'linux.seccomp' } },
    );
  }
  let stage: SeccompStage;
  if (!noNewPrivileges) {
    const blocked = options.ambient === true ? facts.deniedBeforeCapsAmbient : facts.deniedBeforeCaps;
    if (blocked.length > 0) {
      throw invalidArgument(
        `linux.seccomp: without process.noNewPrivileges the filter is loaded before berth sets the capabilities, but the profile denies ${blocked.join(', ')} (allow them or set noNewPrivileges)`,
        { details: { field: 'linux.seccomp', syscalls: [...blocked] } },
      );
    }
    stage = 0;
  } else {
    stage = facts.deniedAfterSetup.length === 0 ? 1 : 2;
  }
  return { filter: facts.filter, flags: facts.flags, stage };
}
