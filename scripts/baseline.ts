// `npm run baseline -- record <result.json>` files a run as its host class's baseline;
// `path <result.json>` prints where that baseline lives (CI compares against it).
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { writeFileAtomic } from '../engine/fsutil/atomic-write.js';
import { baselinePath } from '../bench/compare/host-class.js';
import { readResult } from '../bench/results/validate.js';
import { runIfMain } from './run-main.js';

const repoRoot = fileURLToPath(new URL('..', import.meta.url));

/**
 * Copies `file` (validated first) to results/baselines/<host class>/<profile>.json
 * under `root`, replacing the previous baseline atomically. Returns the path written.
 */
export async function recordBaseline(file: string, root = repoRoot): Promise<string> {
  const doc = await readResult(file);
  const dest = path.join(root, baselinePath(doc.host, doc.run.profile));
  await writeFileAtomic(dest, await readFile(file), { mode: 0o644, makeDirs: true, subject: `baseline ${dest}` });
  return dest;
}

export async function main(argv: readonly string[]): Promise<number> {
  const [command, file, ...rest] = argv;
  if ((command !== 'record' && command !== 'path') || file === undefined || rest.length > 0) {
    process.stderr.write('usage: npm run baseline -- record <result.json>\n       npm run baseline -- path <result.json>\n');
    return 2;
  }
  try {
    if (command === 'path') {
      const doc = await readResult(file);
      process.stdout.write(`${baselinePath(doc.host, doc.run.profile)}\n`);
    } else {
      process.stderr.write(`baseline recorded: ${await recordBaseline(file)}\n`);
    }
    return 0;
  } catch (err) {
    process.stderr.write(`baseline: ${(err as Error).message}\n`);
    return 2;
  }
}

runIfMain(import.meta.url, 'baseline', main, 2);
