// The ESLint rule that keeps imports pointing down the module map (README "Engine
// modules"): which engine folder may import which, that the engine never imports the
// harness, and that native/ takes nothing from the engine. The map itself is the
// rule's options, in eslint.config.mjs.
import { dirname, relative, resolve, sep } from 'node:path';

/**
 * Options:
 *   root      the repository root (absolute)
 *   shared    engine folders every engine folder may import (trace, errdefs, fsutil)
 *   modules   { folder: [engine folders it may import besides itself and shared] };
 *             an engine folder missing here is an error, so a new module gets a row
 *   noNative  engine folders that may not import native/ (the client sees the engine
 *             only through the API); every other one may
 *   testsMay  { folder: [engine folders its tests may import besides] } (the daemon's
 *             tests drive it through the client)
 *   native    engine folders native/ may import
 *   tests     a regular expression (source) matching test code by its path relative
 *             to root; default `\.test\.[cm]?[jt]s$`
 *
 * Test code may also import whatever its folder reaches through the map (its
 * fixtures come from below) and native/ (the package root, workload binaries);
 * native/'s own tests may drive it through the engine. Only relative specifiers
 * are checked (packages and node: builtins are not the map's business).
 */
export const moduleBoundaries = {
  meta: {
    type: 'problem',
    docs: {
      description:
        'imports follow the module map: engine folders import down, the engine never imports bench/, native/ imports nothing of the engine',
    },
    schema: [
      {
        type: 'object',
        properties: {
          root: { type: 'string' },
          shared: { type: 'array', items: { type: 'string' } },
          modules: { type: 'object', additionalProperties: { type: 'array', items: { type: 'string' } } },
          noNative: { type: 'array', items: { type: 'string' } },
          testsMay: { type: 'object', additionalProperties: { type: 'array', items: { type: 'string' } } },
          native: { type: 'array', items: { type: 'string' } },
          tests: { type: 'string' },
        },
        required: ['root', 'shared', 'modules'],
        additionalProperties: false,
      },
    ],
    messages: {
      engineToBench: '{{from}} imports {{to}}: the engine never imports the harness (bench/)',
      nativeToEngine: 'native/ imports {{to}}: native/ imports nothing of the engine but {{allowed}}',
      unknownModule:
        '{{from}}: engine/{{module}} is not in the module map (eslint.config.mjs); add it with what it may import',
      notAllowed:
        '{{from}} imports {{to}}: engine/{{module}} may import {{allowed}} (the module map in eslint.config.mjs)',
    },
  },
  create(context) {
    const opts = context.options[0];
    const root = opts.root;
    const shared = new Set(opts.shared);
    const noNative = new Set(opts.noNative ?? []);
    const testsMay = opts.testsMay ?? {};
    const nativeAllowed = new Set(opts.native ?? []);
    const modules = opts.modules;
    const file = context.filename;
    const from = area(root, file);
    if (from === undefined) return {};
    const isTest = new RegExp(opts.tests ?? '\\.test\\.[cm]?[jt]s$').test(relative(root, file));

    /** What `module` may import: its own list, shared folders, and for tests everything reachable. */
    function allowedFor(module) {
      const direct = new Set([module, ...(modules[module] ?? []), ...shared]);
      if (!isTest) return direct;
      const seen = new Set([...direct, ...(testsMay[module] ?? [])]);
      const queue = [...direct];
      while (queue.length > 0) {
        const next = queue.pop();
        for (const m of [...(modules[next] ?? []), ...shared]) {
          if (!seen.has(m)) {
            seen.add(m);
            queue.push(m);
          }
        }
      }
      return seen;
    }

    function check(node, spec) {
      if (typeof spec !== 'string' || !spec.startsWith('.')) return;
      const to = area(root, resolve(dirname(file), spec));
      if (to === undefined || (to.top === from.top && to.module === from.module)) return;
      const fromName = from.module === undefined ? from.top : `engine/${from.module}`;
      const toName = to.module === undefined ? `${to.top}/` : `engine/${to.module}`;
      if (from.top === 'engine') {
        if (to.top === 'bench')
          return context.report({ node, messageId: 'engineToBench', data: { from: fromName, to: spec } });
        if (!(from.module in modules))
          return context.report({
            node,
            messageId: 'unknownModule',
            data: { from: relative(root, file), module: from.module ?? '' },
          });
        const allowed = allowedFor(from.module);
        if (to.top === 'native') {
          if (!noNative.has(from.module) || isTest) return;
          return context.report({
            node,
            messageId: 'notAllowed',
            data: { from: fromName, to: toName, module: from.module, allowed: list(allowed) },
          });
        }
        if (to.top !== 'engine') return;
        if (to.module !== undefined && allowed.has(to.module)) return;
        return context.report({
          node,
          messageId: 'notAllowed',
          data: { from: fromName, to: toName, module: from.module, allowed: list(allowed) },
        });
      }
      if (from.top === 'native' && !isTest) {
        if (to.top === 'bench')
          return context.report({
            node,
            messageId: 'nativeToEngine',
            data: { to: toName, allowed: list(nativeAllowed) },
          });
        if (to.top === 'engine' && !nativeAllowed.has(to.module))
          return context.report({
            node,
            messageId: 'nativeToEngine',
            data: { to: toName, allowed: list(nativeAllowed) },
          });
      }
    }

    return {
      ImportDeclaration: (node) => check(node.source, node.source.value),
      ExportNamedDeclaration: (node) => node.source && check(node.source, node.source.value),
      ExportAllDeclaration: (node) => check(node.source, node.source.value),
      ImportExpression: (node) => node.source.type === 'Literal' && check(node.source, node.source.value),
      TSImportType: (node) => {
        // typescript-eslint 8 names the specifier `source`; older trees had `argument`
        const lit = node.source ?? (node.argument?.type === 'TSLiteralType' ? node.argument.literal : node.argument);
        if (lit?.type === 'Literal') check(lit, lit.value);
      },
    };
  },
};

/** Where a path lies: top folder (engine, native, bench, …) and, inside engine/, its module folder. */
function area(root, path) {
  const rel = relative(root, path);
  if (rel.startsWith('..') || rel === '') return undefined;
  const parts = rel.split(sep);
  if (parts[0] !== 'engine') return { top: parts[0], module: undefined };
  return { top: 'engine', module: parts.length > 2 ? parts[1] : undefined };
}

function list(set) {
  const names = [...set].sort();
  return names.length === 0 ? 'nothing' : names.join(', ');
}

export default { rules: { 'module-boundaries': moduleBoundaries } };
