// The per-layer phases of a berth pull and the spans that time each: one table for the
// suite's notes and the pull notebook page (which cannot load the engine), so both say the same.
/**
 * The per-layer phases of a pull and the spans that time each (every one a boundary: the pull's instrumented
 * layer steps, the instrumented client, or a step the graph's stores time and return as data).
 */
export interface LayerPhase {
  phase: string;
  /** Span names whose time per layer adds up to the phase. */
  spans: readonly string[];
  what: string;
}

export const LAYER_PHASES: readonly LayerPhase[] = [
  {
    phase: 'fetch',
    spans: ['registry.blob'],
    what: 'the HTTP body received and written to the ingest, hashed as bytes arrive',
  },
  { phase: 'verify', spans: ['graph.content.ingest.verify'], what: "the ingest's size and digest check" },
  {
    phase: 'decompress',
    spans: ['registry.layer.decompress'],
    what: 'the streamed decompressor, from its first compressed byte to its last (wall time, overlapping fetch and write)',
  },
  {
    phase: 'write',
    spans: ['graph.layers.write'],
    what: 'the tar written through the graphdriver, the diffID hashed on the way',
  },
  { phase: 'fsync', spans: ['graph.content.ingest.fsync'], what: "the compressed blob's fsync" },
  {
    phase: 'rename',
    spans: ['graph.content.ingest.rename', 'graph.layers.record'],
    what: "the blob renamed into the content store (and its folder fsynced), the layer's record written, fsynced and renamed",
  },
];
