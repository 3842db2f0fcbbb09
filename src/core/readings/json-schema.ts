/**
 * Sensor types added by configuration: the JSON Schema of one sensor's object (the value
 * under `sensors.<name>` in a reading) turned into the TypeBox schema the built-in sensors
 * are written in, so that the reading validator stays one compiled check. Pure: the files
 * are read by the CLI (`cli/sensor-types.ts`).
 *
 * The supported subset (anything else is refused, naming the JSON pointer and the keyword):
 * - `type: "object"` (required at the root) with `properties`, `required` and
 *   `additionalProperties` (`true` / `false`; absent means false, like the built-in sensors,
 *   so that a misspelt field is refused instead of stored);
 * - `type: "number"` / `"integer"` with `minimum`, `maximum`, `exclusiveMinimum`,
 *   `exclusiveMaximum` (numbers, draft 6+), `multipleOf`;
 * - `type: "string"` with `minLength`, `maxLength`, `pattern`;
 * - `type: "boolean"`;
 * - `type: "array"` with `items` (one schema), `minItems`, `maxItems`;
 * - `enum` / `const` of strings, numbers, booleans or null (with an optional `type` they
 *   must agree with, and no other constraint);
 * - annotations, ignored: `title`, `description`, `$schema`, `$id`, `$comment`, `examples`.
 * @module
 */
import { Type, type TObject, type TSchema } from '@sinclair/typebox';
import type { SensorType } from './registry.ts';

/** A sensor type's name: the key under `sensors`, an MQTT topic level and a metrics label value. */
export const SENSOR_NAME_PATTERN = '^[a-z][a-z0-9_]{0,31}$';
/** Last levels of MQTT sensor topics that are not sensor names (`{prefix}/{device}/data|status`). */
export const RESERVED_SENSOR_NAMES: readonly string[] = ['data', 'status'];
/** Property names of a configured sensor: what a stream consumer can use as a column or a key. */
export const PROPERTY_NAME_PATTERN = '^[A-Za-z0-9_-]{1,64}$';

const NAME = new RegExp(SENSOR_NAME_PATTERN);
const PROPERTY = new RegExp(PROPERTY_NAME_PATTERN);
const MAX_DEPTH = 16;

/** A schema outside the supported subset; `message` is one line starting with the pointer. */
export class SensorSchemaError extends Error {
  override name = 'SensorSchemaError';
  constructor(
    /** JSON pointer (RFC 6901) of the offending value in the schema file, `''` for its root. */
    readonly pointer: string,
    /** The keyword at fault, when one is. */
    readonly keyword: string | undefined,
    reason: string,
  ) {
    super(`#${pointer}: ${reason}`);
  }
}

const ANNOTATIONS = new Set(['title', 'description', '$schema', '$id', '$comment', 'examples']);
const NUMERIC = ['minimum', 'maximum', 'exclusiveMinimum', 'exclusiveMaximum', 'multipleOf'];
const KEYWORDS = {
  object: ['properties', 'required', 'additionalProperties'],
  number: NUMERIC,
  integer: NUMERIC,
  string: ['minLength', 'maxLength', 'pattern'],
  boolean: [],
  array: ['items', 'minItems', 'maxItems'],
} as const satisfies Record<string, readonly string[]>;
type Kind = keyof typeof KEYWORDS;
const KINDS = Object.keys(KEYWORDS) as Kind[];

type Json = Record<string, unknown>;
type Primitive = string | number | boolean | null;

const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);
const isPrimitive = (v: unknown): v is Primitive =>
  v === null || typeof v === 'string' || typeof v === 'boolean' || (typeof v === 'number' && Number.isFinite(v));
/** RFC 6901 escaping of one reference token. */
const token = (key: string) => key.replaceAll('~', '~0').replaceAll('/', '~1');
const listed = (words: readonly string[]) => (words.length ? words.join(', ') : 'no other keyword');

/** Why `name` cannot name a configured sensor type next to `builtin`, or undefined when it can. */
export function sensorNameProblem(name: string, builtin: readonly string[]): string | undefined {
  if (!NAME.test(name)) return `the sensor type name ${JSON.stringify(name)} must match ${SENSOR_NAME_PATTERN}`;
  if (builtin.includes(name)) return `the sensor type name ${JSON.stringify(name)} is a built-in sensor type (${builtin.join(', ')})`;
  if (RESERVED_SENSOR_NAMES.includes(name)) return `the sensor type name ${JSON.stringify(name)} is reserved (MQTT topics end in /${RESERVED_SENSOR_NAMES.join(' and /')})`;
  // the compiled check reads `value[name]` of plain objects: an inherited member would always be "present"
  if (name in Object.prototype) return `the sensor type name ${JSON.stringify(name)} is reserved (a member of every JavaScript object)`;
  return undefined;
}

/**
 * The sensor type `name` whose object `schema` (a parsed JSON Schema) describes.
 * The name is checked by the caller (`sensorNameProblem`).
 * @throws SensorSchemaError for anything outside the supported subset
 */
export function sensorTypeFromJsonSchema(name: string, schema: unknown): SensorType {
  if (!isObject(schema) || schema.type !== 'object') {
    const at = isObject(schema) && Object.hasOwn(schema, 'type') ? '/type' : '';
    throw new SensorSchemaError(at, 'type', 'a sensor type\'s schema must be a JSON object with "type": "object"');
  }
  return { name, schema: convert(schema, '', 0) as TObject };
}

function convert(node: unknown, at: string, depth: number): TSchema {
  if (!isObject(node)) throw new SensorSchemaError(at, undefined, 'must be a JSON object (a schema); true/false schemas are not supported');
  if (depth > MAX_DEPTH) throw new SensorSchemaError(at, undefined, `nested deeper than ${MAX_DEPTH} levels`);
  const kind = kindOf(node, at);
  const options: Json = {};
  if (typeof node.description === 'string') options.description = node.description;
  if ('enum' in node || 'const' in node) return choice(node, kind, at, options);
  if (kind === undefined) {
    throw new SensorSchemaError(at, 'type', `needs "type" (${KINDS.join(', ')}), "enum" or "const"`);
  }
  const allowed: readonly string[] = KEYWORDS[kind];
  for (const key of Object.keys(node)) {
    if (key === 'type' || ANNOTATIONS.has(key) || allowed.includes(key)) continue;
    throw new SensorSchemaError(`${at}/${token(key)}`, key, `"${key}" is not supported (with "type": "${kind}": ${listed(allowed)}; see docs/sensor-types.md)`);
  }
  switch (kind) {
    case 'object':
      return object(node, at, depth, options);
    case 'number':
    case 'integer':
      return number(node, kind, at, options);
    case 'string':
      return string(node, at, options);
    case 'boolean':
      return Type.Boolean(options);
    case 'array':
      return array(node, at, depth, options);
  }
}

function kindOf(node: Json, at: string): Kind | undefined {
  if (!('type' in node)) return undefined;
  const t = node.type;
  if (typeof t !== 'string' || !KINDS.includes(t as Kind)) {
    const why = Array.isArray(t) ? 'lists of types are not supported; ' : '';
    throw new SensorSchemaError(`${at}/type`, 'type', `${why}"type" must be one of ${KINDS.join(', ')} (got ${JSON.stringify(t)})`);
  }
  return t as Kind;
}

/** `enum` / `const`: the listed values are the whole constraint. */
function choice(node: Json, kind: Kind | undefined, at: string, options: Json): TSchema {
  if ('enum' in node && 'const' in node) throw new SensorSchemaError(`${at}/const`, 'const', '"enum" and "const" together are not supported (use one)');
  const keyword = 'enum' in node ? 'enum' : 'const';
  for (const key of Object.keys(node)) {
    if (key === keyword || key === 'type' || ANNOTATIONS.has(key)) continue;
    throw new SensorSchemaError(`${at}/${token(key)}`, key, `"${key}" cannot be combined with "${keyword}" (the listed values are the whole constraint)`);
  }
  const values = keyword === 'enum' ? node.enum : [node.const];
  if (!Array.isArray(values) || values.length === 0) throw new SensorSchemaError(`${at}/enum`, 'enum', '"enum" must be a non-empty array');
  values.forEach((v, i) => {
    const where = keyword === 'enum' ? `${at}/enum/${i}` : `${at}/const`;
    if (!isPrimitive(v)) throw new SensorSchemaError(where, keyword, `"${keyword}" values must be strings, numbers, booleans or null (got ${JSON.stringify(v)})`);
    if (kind !== undefined && !fits(v, kind)) throw new SensorSchemaError(where, keyword, `${JSON.stringify(v)} is not of "type": "${kind}"`);
  });
  const distinct = [...new Set(values as Primitive[])];
  const member = (v: Primitive, opts: Json = {}) => (v === null ? Type.Null(opts) : Type.Literal(v, opts));
  return distinct.length === 1 ? member(distinct[0]!, options) : Type.Union(distinct.map((v) => member(v)), options);
}

function fits(v: Primitive, kind: Kind): boolean {
  if (kind === 'integer') return Number.isInteger(v);
  return typeof v === kind;
}

function object(node: Json, at: string, depth: number, options: Json): TSchema {
  const props = node.properties ?? {};
  if (!isObject(props)) throw new SensorSchemaError(`${at}/properties`, 'properties', '"properties" must be an object of schemas');
  const rawRequired = node.required ?? [];
  if (!Array.isArray(rawRequired) || !rawRequired.every((r) => typeof r === 'string') || new Set(rawRequired).size !== rawRequired.length) {
    throw new SensorSchemaError(`${at}/required`, 'required', '"required" must be an array of distinct property names');
  }
  const required = rawRequired as string[];
  required.forEach((r, i) => {
    if (!Object.hasOwn(props, r)) throw new SensorSchemaError(`${at}/required/${i}`, 'required', `${JSON.stringify(r)} is not one of "properties"`);
  });
  const additional = node.additionalProperties ?? false;
  if (typeof additional !== 'boolean') {
    throw new SensorSchemaError(`${at}/additionalProperties`, 'additionalProperties', '"additionalProperties" must be true or false (a schema there is not supported)');
  }
  const out: Record<string, TSchema> = {};
  for (const [key, sub] of Object.entries(props)) {
    const where = `${at}/properties/${token(key)}`;
    // the compiled check reads `value[key]`: an inherited member (constructor, __proto__) would always be "present"
    if (!PROPERTY.test(key) || key in Object.prototype) {
      throw new SensorSchemaError(where, 'properties', `the property name ${JSON.stringify(key)} must match ${PROPERTY_NAME_PATTERN} and not be a member of every JavaScript object`);
    }
    const schema = convert(sub, where, depth + 1);
    out[key] = required.includes(key) ? schema : Type.Optional(schema);
  }
  return Type.Object(out, { ...options, additionalProperties: additional });
}

function number(node: Json, kind: 'number' | 'integer', at: string, options: Json): TSchema {
  for (const key of NUMERIC) {
    if (!(key in node)) continue;
    const v = node[key];
    if (typeof v !== 'number' || !Number.isFinite(v)) {
      const draft4 = typeof v === 'boolean' && key.startsWith('exclusive') ? ` (the draft-4 boolean form is not supported: give the bound itself, e.g. "${key}": 0)` : '';
      throw new SensorSchemaError(`${at}/${key}`, key, `"${key}" must be a number${draft4}`);
    }
    if (key === 'multipleOf' && v <= 0) throw new SensorSchemaError(`${at}/${key}`, key, '"multipleOf" must be greater than 0');
    options[key] = v;
  }
  return kind === 'integer' ? Type.Integer(options) : Type.Number(options);
}

function count(node: Json, key: string, at: string, options: Json): void {
  if (!(key in node)) return;
  const v = node[key];
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) throw new SensorSchemaError(`${at}/${key}`, key, `"${key}" must be a non-negative integer`);
  options[key] = v;
}

function string(node: Json, at: string, options: Json): TSchema {
  count(node, 'minLength', at, options);
  count(node, 'maxLength', at, options);
  if ('pattern' in node) {
    const p = node.pattern;
    if (typeof p !== 'string') throw new SensorSchemaError(`${at}/pattern`, 'pattern', '"pattern" must be a string (a regular expression)');
    try {
      // the same construction as the compiled check's
      new RegExp(p);
    } catch (err) {
      throw new SensorSchemaError(`${at}/pattern`, 'pattern', `"pattern" is not a valid regular expression: ${(err as Error).message}`);
    }
    options.pattern = p;
  }
  return Type.String(options);
}

function array(node: Json, at: string, depth: number, options: Json): TSchema {
  if (!('items' in node)) throw new SensorSchemaError(at, 'items', 'an array needs "items" (the schema of every element)');
  if (Array.isArray(node.items)) throw new SensorSchemaError(`${at}/items`, 'items', '"items" must be one schema (tuples are not supported)');
  count(node, 'minItems', at, options);
  count(node, 'maxItems', at, options);
  return Type.Array(convert(node.items, `${at}/items`, depth + 1), options);
}
