// The typed face of the addon's rtnetlink requests (native/src/netlink.cc): the op
// shapes (re-exported from native/index.ts, where the addon's types live), and
// runSteps(), which turns the child's per-step timestamps into named
// SetupSteps (data: the instrument layer makes them spans) and fails with the
// step, interface and errno.
import { BerthError, ErrorCode } from '../errdefs/errors.js';
import { fromMonotonicNs, type Context } from '../trace/index.js';
import { native, type NetlinkInPlaceFile, type NetlinkOp } from '../../native/index.js';

export type NetnsRef = { pid: number } | { path: string };

// The op shapes are the addon's wire format and live with it (native/index.ts).
export type { NetlinkApplyResult, NetlinkInPlaceFile, NetlinkOp, NetlinkStepRecord } from '../../native/index.js';

/** One named, timed step of an interface setup (docs/style.md 9). Times are span time (ns since clockBaseNs). */
export interface SetupStep {
  /** `veth.create`, `setns`, `addr.add`, … */
  name: string;
  /** The interface or namespace the step was about. */
  subject: string;
  startNs: number;
  endNs: number;
  durationNs: number;
  /** Where it ran: the host's namespace or the container's. */
  where: 'host' | 'netns';
  /** errno name when the step failed. */
  error?: string;
  /** Who read the clock: the native child (netlink steps) or this process. */
  origin?: 'node' | 'native';
}

const errnoCodes: Record<string, ErrorCode> = {
  EEXIST: ErrorCode.ALREADY_EXISTS,
  ENODEV: ErrorCode.NOT_FOUND,
  ENOENT: ErrorCode.NOT_FOUND,
  ESRCH: ErrorCode.NOT_FOUND,
  EPERM: ErrorCode.PERMISSION_DENIED,
  EACCES: ErrorCode.PERMISSION_DENIED,
  EINVAL: ErrorCode.INVALID_ARGUMENT,
  EADDRNOTAVAIL: ErrorCode.INVALID_ARGUMENT,
  ENOBUFS: ErrorCode.RESOURCE_EXHAUSTED,
  ENOMEM: ErrorCode.RESOURCE_EXHAUSTED,
  EOPNOTSUPP: ErrorCode.NOT_IMPLEMENTED,
  ENOTDIR: ErrorCode.INVALID_ARGUMENT,
  EISDIR: ErrorCode.INVALID_ARGUMENT,
  EROFS: ErrorCode.FAILED_PRECONDITION,
  ENOSPC: ErrorCode.RESOURCE_EXHAUSTED,
};

/** Files runSteps rewrites in place while its ops run, and the name of their step. */
export interface StepFiles {
  /** The step's name (`etc.write`) and what its failure names (`etc file`). */
  step: string;
  subject: string;
  list: readonly NetlinkInPlaceFile[];
}

const RTM_OF: Record<string, string> = {
  'bridge.create': 'RTM_NEWLINK',
  'veth.create': 'RTM_NEWLINK',
  'link.up': 'RTM_NEWLINK',
  'link.down': 'RTM_NEWLINK',
  'link.master': 'RTM_NEWLINK',
  'link.mtu': 'RTM_NEWLINK',
  'link.nolinklocal': 'RTM_NEWLINK',
  'link.rename': 'RTM_NEWLINK',
  'link.delete': 'RTM_DELLINK',
  'addr.add': 'RTM_NEWADDR',
  'route.default': 'RTM_NEWROUTE',
};

function subjectOf(op: NetlinkOp): string {
  if (op.op === 'veth.create') return `veth ${op.name}`;
  if (op.op === 'bridge.create') return `bridge ${op.name}`;
  if (op.op === 'route.default') return `route default via ${op.gateway}`;
  return `link ${op.name}`;
}

function describeNetns(netns: NetnsRef | undefined): string {
  if (netns === undefined) return 'host netns';
  return 'pid' in netns ? `netns of pid ${netns.pid}` : `netns ${netns.path}`;
}

/**
 * Runs ops in order over rtnetlink: in the host's namespace, or, with netns, in a
 * cloned child that joins it first; files.list are rewritten in place meanwhile (by
 * the calling native thread while the child works; after the ops without netns; alone
 * when ops is empty). Returns the steps, timed by the addon's CLOCK_MONOTONIC reads
 * (origin native), the files' step last. On the first failing step throws a
 * BerthError `veth berth1a2b: RTM_NEWLINK: EEXIST` (a file: `etc file /…/hosts: open:
 * EACCES`; a link step's failure comes first) whose details carry the steps so far.
 * Cost: one netlink round trip per batch of ops (some kernel ops, such as the first
 * `lo` up, take much longer than others), plus one vfork-style child when netns is
 * given, independent of the process's size; it runs on the addon's netlink threads, not
 * libuv's threadpool. Not cancellable.
 */
export async function runSteps(
  ctx: Context,
  ops: readonly NetlinkOp[],
  netns?: NetnsRef,
  files?: StepFiles,
): Promise<SetupStep[]> {
  const result = await native().netlinkApply(ops, netns, files?.list);
  const where = netns === undefined ? 'host' : 'netns';
  const steps: SetupStep[] = [];
  let failure: BerthError | undefined;
  for (const rec of result.steps) {
    const op = rec.index >= 0 ? ops[rec.index] : undefined;
    const subject = op !== undefined ? subjectOf(op) : describeNetns(netns);
    const startNs = fromMonotonicNs(result.baseNs + BigInt(rec.startNs));
    const endNs = fromMonotonicNs(result.baseNs + BigInt(rec.endNs));
    const step: SetupStep = {
      name: rec.name,
      subject,
      startNs,
      endNs,
      durationNs: endNs - startNs,
      where,
      origin: 'native',
    };
    if (rec.errno !== 0) {
      step.error = rec.error ?? `errno ${rec.errno}`;
      const call = op !== undefined ? RTM_OF[op.op] : rec.name;
      const why = rec.message ? ` (${rec.message})` : '';
      failure = new BerthError(
        errnoCodes[step.error] ?? ErrorCode.INTERNAL,
        `${subject}: ${call}: ${step.error}${why}`,
        {
          details: { errno: step.error, step: rec.name },
        },
      );
    }
    steps.push(step);
  }
  const f = result.files;
  if (files !== undefined && f !== undefined) {
    const startNs = fromMonotonicNs(result.baseNs + BigInt(f.startNs));
    const endNs = fromMonotonicNs(result.baseNs + BigInt(f.endNs));
    const step: SetupStep = {
      name: files.step,
      subject: files.subject,
      startNs,
      endNs,
      durationNs: endNs - startNs,
      where: 'host',
      origin: 'native',
    };
    if (f.errno !== 0) {
      step.error = f.error ?? `errno ${f.errno}`;
      failure ??= new BerthError(
        errnoCodes[step.error] ?? ErrorCode.INTERNAL,
        `${files.subject} ${f.path}: ${f.syscall}: ${step.error}`,
        { details: { errno: step.error, step: files.step, path: f.path } },
      );
    }
    steps.push(step);
  }
  if (failure !== undefined) {
    (failure.details as Record<string, unknown>).steps = steps;
    throw failure;
  }
  return steps;
}
