// A yes/no check of a config against runtime-spec.schema.json, as JavaScript generated from the schema. validateSpec
// asks it first: a config it accepts needs neither ajv's generated validator (185 KB of code, mostly its error
// reports, that a short command such as `berth-runtime run` would otherwise read, load and compile at every start)
// nor its report. A config it refuses goes to ajv, which names the first error; so the check's one promise is to
// accept nothing that ajv's validator refuses (JSON Schema 2020-12, strict numbers, no coercion, defaults or
// removal). A keyword outside the subset below makes its part of the schema refuse every value, leaving the verdict
// to ajv. Bundles carry the check generated at build time (scripts/cli-bundle.mjs); from the sources it is generated
// on first use.
import { readFileSync } from 'node:fs';
import { packagePath } from '../../../native/package-root.js';

/** The generated check: true only when the value is valid by the schema. */
export type SchemaPredicate = (value: unknown) => boolean;

export interface PredicateSource {
  /**
   * A JavaScript function expression that needs nothing outside itself, `function () {…}`: called once, it makes its
   * constants (patterns, property name sets) and returns the check.
   */
  source: string;
  /** The keywords (with their schema path) it does not handle: each part holding one refuses every value. */
  unsupported: string[];
}

/** Keywords that only annotate: no value is refused by them. */
const ANNOTATIONS = new Set(['$schema', '$id', '$comment', '$defs', 'title', 'description', 'default', 'examples']);

const OBJECT = '(typeof v === "object" && v !== null && !Array.isArray(v))';
/** ajv's type tests: strict numbers (finite), `integer` a finite number without a fraction. */
const TYPES: Record<string, string> = {
  object: OBJECT,
  array: 'Array.isArray(v)',
  string: 'typeof v === "string"',
  boolean: 'typeof v === "boolean"',
  null: 'v === null',
  number: '(typeof v === "number" && Number.isFinite(v))',
  integer: 'Number.isInteger(v)',
};

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/**
 * The source of a check of `root` (a JSON Schema document; `$ref`s of the form `#/$defs/<name>`). Supported keywords:
 * type, properties, additionalProperties, required, items (without prefixItems), enum (of strings, numbers, booleans
 * and null), minimum, maximum, pattern (a `u` regular expression, as ajv makes it), minLength (in code points, as ajv
 * counts), minItems, $ref, and the annotations.
 */
export function predicateSource(root: unknown): PredicateSource {
  const unsupported: string[] = [];
  const functions: string[] = [];
  const constants: string[] = [];
  const defs = new Map<string, string>();
  /** Function bodies made so far, by text: a sub-schema checked the same way as an earlier one (`{"type":
   * "string"}`) calls that one's function. */
  const bodies = new Map<string, string>();
  const rootDefs = isObject(root) && isObject(root.$defs) ? root.$defs : {};
  const constant = (expr: string) => {
    constants.push(`const c${constants.length} = ${expr};`);
    return `c${constants.length - 1}`;
  };

  /** The name of the generated function checking `schema`. */
  const compile = (schema: unknown, path: string, def = false): string => {
    const name = `s${functions.length}`;
    functions.push('');
    const index = functions.length - 1;
    const body: string[] = [];
    const refuse = (what: string) => unsupported.push(`${path}: ${what}`);
    let ok = true;
    if (schema === false || !isObject(schema)) {
      if (schema !== false && schema !== true) refuse('not a schema');
      ok = schema === true;
    } else {
      const known = isObject(schema.properties) ? Object.keys(schema.properties) : [];
      const onObject: string[] = [];
      for (const [keyword, value] of Object.entries(schema)) {
        if (ANNOTATIONS.has(keyword)) continue;
        switch (keyword) {
          case 'type': {
            const names = Array.isArray(value) ? value : [value];
            if (!names.every((t) => typeof t === 'string' && Object.hasOwn(TYPES, t))) {
              refuse(`type ${JSON.stringify(value)}`);
              ok = false;
            } else body.push(`if (!(${names.map((t: string) => TYPES[t]).join(' || ')})) return false;`);
            break;
          }
          case 'properties': {
            if (!isObject(value)) {
              refuse('properties');
              ok = false;
              break;
            }
            for (const [k, sub] of Object.entries(value)) {
              const f = compile(sub, `${path}/properties/${k}`);
              onObject.push(`x = v[${JSON.stringify(k)}]; if (x !== undefined && !${f}(x)) return false;`);
            }
            break;
          }
          case 'additionalProperties': {
            const names = constant(`new Set(${JSON.stringify(known)})`);
            if (value === false) onObject.push(`for (const k in v) if (!${names}.has(k)) return false;`);
            else {
              const f = compile(value, `${path}/additionalProperties`);
              onObject.push(`for (const k in v) if (!${names}.has(k) && !${f}(v[k])) return false;`);
            }
            break;
          }
          case 'required': {
            if (!Array.isArray(value) || !value.every((k) => typeof k === 'string')) {
              refuse('required');
              ok = false;
              break;
            }
            for (const k of value) onObject.push(`if (v[${JSON.stringify(k)}] === undefined) return false;`);
            break;
          }
          case 'items': {
            if (schema.prefixItems !== undefined) {
              refuse('items with prefixItems');
              ok = false;
              break;
            }
            const f = compile(value, `${path}/items`);
            body.push(`if (Array.isArray(v)) for (const e of v) if (!${f}(e)) return false;`);
            break;
          }
          case 'enum': {
            if (
              !Array.isArray(value) ||
              !value.every((e) => e === null || ['string', 'boolean'].includes(typeof e) || Number.isFinite(e))
            ) {
              refuse('enum of objects');
              ok = false;
              break;
            }
            body.push(
              `if (!(${value.map((e) => `v === ${JSON.stringify(e)}`).join(' || ') || 'false'})) return false;`,
            );
            break;
          }
          case 'minimum':
          case 'maximum':
          case 'minLength':
          case 'minItems': {
            if (typeof value !== 'number' || !Number.isFinite(value)) {
              refuse(keyword);
              ok = false;
              break;
            }
            if (keyword === 'minimum') body.push(`if (typeof v === "number" && !(v >= ${value})) return false;`);
            else if (keyword === 'maximum') body.push(`if (typeof v === "number" && !(v <= ${value})) return false;`);
            else if (keyword === 'minLength') {
              // a string of n UTF-16 units has at least n/2 code points: count only when that does not settle it
              body.push(
                `if (typeof v === "string" && v.length < ${2 * value} && [...v].length < ${value}) return false;`,
              );
            } else body.push(`if (Array.isArray(v) && v.length < ${value}) return false;`);
            break;
          }
          case 'pattern': {
            try {
              new RegExp(value as string, 'u');
            } catch {
              refuse('pattern');
              ok = false;
              break;
            }
            const re = constant(`new RegExp(${JSON.stringify(value)}, "u")`);
            body.push(`if (typeof v === "string" && !${re}.test(v)) return false;`);
            break;
          }
          case '$ref': {
            const def = typeof value === 'string' ? /^#\/\$defs\/([A-Za-z0-9_-]+)$/.exec(value)?.[1] : undefined;
            if (def === undefined || !Object.hasOwn(rootDefs, def)) {
              refuse(`$ref ${JSON.stringify(value)}`);
              ok = false;
              break;
            }
            if (!defs.has(def)) {
              // named before its body is made, so that a definition referring to itself calls its own check
              defs.set(def, `s${functions.length}`);
              compile(rootDefs[def], `#/$defs/${def}`, true);
            }
            body.push(`if (!${defs.get(def)}(v)) return false;`);
            break;
          }
          default:
            refuse(keyword);
            ok = false;
        }
      }
      if (onObject.length > 0) body.push(`if (${OBJECT}) { let x; ${onObject.join(' ')} }`);
    }
    const text = ok ? `${body.join(' ')} return true;` : 'return false;';
    const same = bodies.get(text);
    if (same !== undefined && !def) {
      functions[index] = '';
      return same;
    }
    bodies.set(text, name);
    functions[index] = `function ${name}(v) { ${text} }`;
    return name;
  };

  const top = compile(root, '#');
  const source = [
    'function () {',
    '"use strict";',
    ...constants,
    ...functions.filter((f) => f !== ''),
    `return function (value) { return ${top}(value); };`,
    '}',
  ].join('\n');
  return { source, unsupported };
}

/** The check of `source` (predicateSource's): the one place it is evaluated. */
export function predicateFrom(source: string): SchemaPredicate {
  // the code is generated from the repository's schema (predicateSource), never from a config
  return (new Function(`return ${source}`)() as () => SchemaPredicate)();
}

let check: SchemaPredicate | undefined;

/** The check of runtime-spec.schema.json, generated on first use (a bundle holds it ready made instead). */
export function runtimeSpecPredicate(): SchemaPredicate {
  if (check === undefined) {
    const schema: unknown = JSON.parse(
      readFileSync(packagePath('engine', 'execdriver', 'spec', 'runtime-spec.schema.json'), 'utf8'),
    );
    check = predicateFrom(predicateSource(schema).source);
  }
  return check;
}
