// The embedded registry server's public surface: start a server, and the
// conformance check list that compares it with other registries.
export {
  createRegistryServer,
  type RegistryAction,
  type RegistryServer,
  type RegistryServerOptions,
} from './registry-server.js';
export { runConformance, type CheckResult, type ConformanceOptions, type Workflow } from './conformance-suite.js';
export { DistributionCode } from './distribution-errors.js';
