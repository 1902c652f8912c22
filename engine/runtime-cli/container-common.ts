// What creating a container and acting on it later share, kept apart from create-container.ts
// so that the verbs acting on an existing container (main-light.ts) do not bundle the set-up.
import type { NamespaceType, Spec } from '../execdriver/spec/types.js';

/** The cgroup parent of containers whose spec has no linux.cgroupsPath. */
export const CGROUP_PARENT = 'berth-runtime';

/** The namespaces hooks that run "in the container" enter: all the container's own. */
export function containerNamespaces(spec: Spec): NamespaceType[] {
  return (spec.linux?.namespaces ?? []).map((ns) => ns.type);
}
