// The spec module's public surface: types, validation, defaults, name tables.
export * from './types.js';
export * from './validate.js';
export * from './load-bundle.js';
export * from './defaults.js';
export * from './capabilities.js';
export * from './rlimits.js';
