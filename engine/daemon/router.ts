// Maps a method and an (unversioned) path to a route. Patterns are Docker's:
// `{id}` is one path segment, `{name*}` may span slashes (image references such
// as `127.0.0.1:5000/team/app:1`), matched lazily so a suffix like `/json` wins.
import { invalidArgument, notFound } from '../errdefs/errors.js';
import type { RouteHandler, RouteSpec } from './route-types.js';

interface Compiled {
  method: string;
  re: RegExp;
  names: string[];
  handler: RouteHandler;
}

export interface Match {
  handler: RouteHandler;
  params: Record<string, string>;
}

export class Router {
  private readonly routes: Compiled[] = [];

  constructor(specs: readonly RouteSpec[] = []) {
    for (const s of specs) this.add(s);
  }

  add(spec: RouteSpec): void {
    const names: string[] = [];
    const source = spec.pattern
      .replace(/[.+?^$()|[\]\\]/g, '\\$&')
      .replace(/\{(\w+)(\*?)\}/g, (_, name: string, star: string) => {
        names.push(name);
        return star === '*' ? '(.+?)' : '([^/]+)';
      });
    this.routes.push({ method: spec.method, re: new RegExp(`^${source}/?$`), names, handler: spec.handler });
  }

  /**
   * The route for `method` and `path`. HEAD falls back to GET. Throws NOT_FOUND
   * ("page not found", Docker's words) when no pattern matches, and INVALID_ARGUMENT
   * for a path parameter that is not valid percent-encoding.
   */
  match(method: string, path: string): Match {
    const lookup = (m: string): Match | undefined => {
      for (const r of this.routes) {
        if (r.method !== m) continue;
        const hit = r.re.exec(path);
        if (hit === null) continue;
        const params: Record<string, string> = {};
        r.names.forEach((name, i) => {
          try {
            params[name] = decodeURIComponent(hit[i + 1] as string);
          } catch {
            throw invalidArgument(`${path}: malformed percent-encoding in ${name}`);
          }
        });
        return { handler: r.handler, params };
      }
      return undefined;
    };
    const found = lookup(method) ?? (method === 'HEAD' ? lookup('GET') : undefined);
    if (found === undefined) throw notFound(`page not found: ${method} ${path}`);
    return found;
  }
}
