// Skips that say why. A test that needs root, a tool or a kernel feature the host lacks is
// skipped with the reason in its title, `name (skipped: reason)`, which the CI summary
// (scripts/test-summary.ts) reads to count skips by reason.
import { describe, it, type TestContext } from 'vitest';
import { onPath } from '../engine/fsutil/on-path.js';

declare module 'vitest' {
  interface TaskMeta {
    /** Why a test skipped itself at run time (see skipNow). */
    skipReason?: string;
  }
}

/** What keeps a test from running here, or undefined when nothing does. */
export type Missing = string | undefined;

/** `name` carrying the reason it is skipped, in the form the CI summary reads. */
export function skipTitle(name: string, reason: Missing): string {
  return reason === undefined ? name : `${name} (skipped: ${reason})`;
}

/** The reason a title carries (its own or a describe's), or undefined. */
export function reasonInTitle(title: string): Missing {
  return /\(skipped: (.*)\)\s*$/.exec(title)?.[1];
}

/** Missing unless the tests run as root. */
export function root(): Missing {
  return process.getuid?.() === 0 ? undefined : 'needs root';
}

/** Missing unless `cmd` is on PATH; `pkg` is the Debian package that brings it. */
export function tool(cmd: string, pkg: string = cmd): Missing {
  return onPath(cmd) === undefined ? `needs ${cmd} (apt package ${pkg})` : undefined;
}

/** Missing with `reason` unless `ok`. */
export function when(ok: boolean, reason: string): Missing {
  return ok ? undefined : reason;
}

/** The first of `missing` that is set. */
export function firstMissing(...missing: Missing[]): Missing {
  return missing.find((m) => m !== undefined);
}

/** `it` and `describe` that run when nothing is missing, else skip with the first reason in the title. */
export interface Gate {
  reason: Missing;
  it: typeof it;
  describe: typeof describe;
}

/**
 * A gate over what a group of tests needs: `const g = needs(root(), tool('skopeo'));
 * g.describe('skopeo against the registry', …)`. Evaluated once, when the file is collected.
 */
export function needs(...missing: Missing[]): Gate {
  const reason = firstMissing(...missing);
  if (reason === undefined) return { reason, it, describe };
  return { reason, it: skipping(it, reason), describe: skipping(describe, reason) };
}

/** `api.skip`, with the reason appended to the title of every test or suite it declares. */
function skipping<T extends typeof it | typeof describe>(api: T, reason: string): T {
  return new Proxy(api.skip, {
    apply(target, self, args: unknown[]) {
      const [name, ...rest] = args;
      return Reflect.apply(target, self, [typeof name === 'string' ? skipTitle(name, reason) : name, ...rest]);
    },
  }) as unknown as T;
}

/**
 * Skips the running test with `reason` when what it needs turns out to be missing only
 * once it runs (the report carries the reason as `meta.skipReason`). Never returns.
 */
export function skipNow(ctx: TestContext, reason: string): never {
  ctx.task.meta.skipReason = reason;
  return ctx.skip(reason);
}
