// The same interface setup as netlink-ops.ts, done with iproute2's `ip -batch`
// (one process on the host, one entered into the container's namespace). Used
// only as the comparison in the network bench; the driver itself uses netlink.
import { BerthError, ErrorCode, invalidArgument } from '../errdefs/errors.js';
import { runCommand } from '../fsutil/run-command.js';
import { nowNs, type Context } from '../trace/index.js';
import type { NetlinkOp, NetnsRef, SetupStep } from './netlink-ops.js';

function netnsArg(ns: { pid?: number; path?: string }): string {
  if (ns.pid !== undefined) return String(ns.pid);
  const m = /^\/run\/netns\/([^/]+)$/.exec(ns.path ?? '');
  if (m === null)
    throw invalidArgument(`ip-commands netns ${ns.path}: ip names a namespace by pid or /run/netns/NAME only`);
  return m[1]!;
}

/** One op as an `ip -batch` line. */
export function ipLine(op: NetlinkOp): string {
  switch (op.op) {
    case 'bridge.create':
      return `link add ${op.name}${op.mtu ? ` mtu ${op.mtu}` : ''} type bridge`;
    case 'veth.create': {
      if (op.inHost) throw invalidArgument(`ip-commands veth ${op.name}: inHost has no \`ip\` equivalent`);
      const mtu = op.mtu ? ` mtu ${op.mtu}` : '';
      const mac = op.peerMac ? ` address ${op.peerMac}` : '';
      const ns = op.peerNetns ? ` netns ${netnsArg(op.peerNetns)}` : '';
      const master = op.master ? ` master ${op.master}` : '';
      const up = op.up ? ' up' : '';
      return `link add ${op.name}${mtu}${master}${up} type veth peer name ${op.peer}${mtu}${mac}${ns}`;
    }
    case 'link.up':
      return `link set ${op.name} up`;
    case 'link.down':
      return `link set ${op.name} down`;
    case 'link.master':
      return `link set ${op.name} master ${op.master}`;
    case 'link.mtu':
      return `link set ${op.name} mtu ${op.mtu}`;
    case 'link.nolinklocal':
      return `link set ${op.name} addrgenmode none`;
    case 'link.rename':
      return `link set ${op.name} name ${op.newName}`;
    case 'link.delete':
      return `link del ${op.name}`;
    case 'addr.add':
      return `addr add ${op.address}/${op.prefix} brd + dev ${op.name}`;
    case 'route.default':
      return `route add default via ${op.gateway}${op.name ? ` dev ${op.name}` : ''}${op.mtu ? ` mtu ${op.mtu}` : ''}`;
  }
}

/**
 * Runs ops as one `ip -batch -` process, in the host's namespace or entered into
 * netns with nsenter. Returns one step (`ip.batch`) timed around the process.
 * Fails naming the namespace and ip's first error line.
 */
export async function runIpBatch(ctx: Context, ops: readonly NetlinkOp[], netns?: NetnsRef): Promise<SetupStep[]> {
  const where = netns === undefined ? 'host' : 'netns';
  const subject =
    netns === undefined ? 'host netns' : 'pid' in netns ? `netns of pid ${netns.pid}` : `netns ${netns.path}`;
  const argv =
    netns === undefined
      ? ['ip', '-batch', '-']
      : ['nsenter', 'pid' in netns ? `--net=/proc/${netns.pid}/ns/net` : `--net=${netns.path}`, 'ip', '-batch', '-'];
  const input = ops.map(ipLine).join('\n') + '\n';
  const startNs = nowNs();
  const r = await runCommand(argv[0]!, argv.slice(1), { input });
  const endNs = nowNs();
  const step: SetupStep = {
    name: 'ip.batch',
    subject,
    startNs,
    endNs,
    durationNs: endNs - startNs,
    where,
    origin: 'node',
  };
  let error: BerthError | undefined;
  if (r.failed) {
    step.error = r.reason;
    error = new BerthError(ErrorCode.INTERNAL, `${subject}: ip -batch: ${step.error}`, { details: { steps: [step] } });
  }
  if (error !== undefined) throw error;
  return [step];
}
