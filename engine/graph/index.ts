// The Graph module's public surface: the stores, the Graph that composes them,
// digests and references. (The layer applier is reached through the graphdrivers.)
export * from './content-store.js';
export * from './digest.js';
export * from './graph.js';
export * from './image-store.js';
export * from './layer-store.js';
export * from './reference.js';
export * from './reference-store.js';
