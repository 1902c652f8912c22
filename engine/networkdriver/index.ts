// The networkdriver's public surface: the driver, its request/result types, and
// the pieces the bench and the daemon use on their own (port specs, the ip path).
export * from './driver.js';
export * from './network-driver.js';
export { parseNetworkMode, type NetworkMode } from './network-mode.js';
export { parsePortSpec, formatPortSpec, type PortSpec, type PortProto } from './port-spec.js';
export { runSteps, type NetlinkOp, type NetnsRef, type SetupStep } from './netlink-ops.js';
export { runIpBatch, ipLine } from './ip-commands.js';
export { writeEtcFiles } from './etc-files.js';
export {
  bridgeInterfaceOps,
  bridgeInterfacePlan,
  type InterfacePlan,
  type InterfacePlanInput,
} from './interface-plan.js';
export { Iptables, parseTag, CHAIN_DNAT, CHAIN_FORWARD, CHAIN_POSTROUTING, type TaggedRule } from './iptables.js';
export { hostRoutes, type HostRoute } from './host-routes.js';
export { VethReaper, type VethReaperOptions } from './veth-reaper.js';
