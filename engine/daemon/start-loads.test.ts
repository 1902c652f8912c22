// What berthd loads as it starts stays resident for its whole life: Node built-ins that only some requests need are
// loaded with the first of them (docs/host-notes.md "berthd's memory").
import { isBuiltin } from 'node:module';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { describe, expect, it } from 'vitest';

/** The Node built-ins that berthd's bundle imports statically (loaded as the bundle starts), as cli-bundle.mjs. */
async function builtinsAtStart(): Promise<string[]> {
  const result = await build({
    entryPoints: [fileURLToPath(new URL('./daemon-cli.ts', import.meta.url))],
    bundle: true,
    platform: 'node',
    format: 'cjs',
    target: 'node20',
    supported: { 'dynamic-import': false },
    write: false,
    metafile: true,
    logLevel: 'silent',
  });
  const found = new Set<string>();
  for (const input of Object.values(result.metafile.inputs))
    for (const imp of input.imports)
      if (imp.external && (imp.kind === 'import-statement' || imp.kind === 'require-call') && isBuiltin(imp.path))
        found.add(imp.path.replace(/^node:/, ''));
  return [...found].sort();
}

describe('berthd at start', () => {
  it('loads no built-in that only a pull or push of gzip layers, a UDP port or a TLS registry needs', async () => {
    const loaded = await builtinsAtStart();
    // the daemon's own (a sanity check that the analysis sees its imports)
    expect(loaded).toEqual(expect.arrayContaining(['http', 'net', 'crypto']));
    for (const lazy of ['zlib', 'dgram', 'tls', 'https']) expect(loaded).not.toContain(lazy);
  });
});
