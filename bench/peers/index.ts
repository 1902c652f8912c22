// The peer runtimes module's surface: finding runc, crun and berth-runtime, driving
// them on one bundle with their host quirks, and checking what a run left behind.
export * from './oci-runtime.js';
export * from './quirks.js';
export * from './leftovers.js';
