// The networkdriver as the engine wires it: its boundary methods wrapped by
// trace's instrument(), so each call is a span `networkdriver.<method>` and the
// setup steps recorded inside (veth.create, setns, …) nest under it.
import { instrument } from '../trace/index.js';
import type { NetworkDriver } from './network-driver.js';

/** The methods the engine's jobs call; private helpers are not spans. */
export const NETWORK_DRIVER_BOUNDARY = [
  'createNetwork',
  'removeNetwork',
  'allocateInterface',
  'releaseInterface',
  'allocatePort',
  'releasePort',
  'reclaim',
  'recover',
] as const satisfies readonly (keyof NetworkDriver)[];

/** The same driver, traced. Costs two hasSubscribers reads per call when nobody listens. */
export function instrumentNetworkDriver(driver: NetworkDriver): NetworkDriver {
  return instrument('networkdriver', driver, {
    methods: [...NETWORK_DRIVER_BOUNDARY],
    attributes: {
      allocateInterface: (_ctx, req) => ({ containerId: req.containerId, network: req.network }),
      releaseInterface: (_ctx, containerId, opts) => ({ containerId, ...(opts?.netnsGone === true ? { netnsGone: true } : {}) }),
      allocatePort: (_ctx, containerId, spec, opts) => ({ containerId, spec, ...(opts?.via !== undefined ? { via: opts.via } : {}) }),
      releasePort: (_ctx, containerId, spec) => ({ containerId, spec: spec ?? 'all' }),
      createNetwork: (_ctx, req) => ({ name: req.name, subnet: req.subnet }),
      removeNetwork: (_ctx, nameOrId) => ({ network: nameOrId }),
    },
    results: {
      allocateInterface: (r) => ({ mode: r.mode, ...(r.address ? { address: r.address } : {}), steps: r.steps.length }),
    },
  });
}
