// The cgroups module's public surface: the manager, its types and the layout detection.
export * from './types.js';
export * from './manager.js';
export * from './detect.js';
export { sharesToWeight, swapMaxV2, deviceLine, DEFAULT_ALLOWED_DEVICES } from './convert.js';
