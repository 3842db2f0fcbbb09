/**
 * Sensor types from JSON Schema: every supported keyword accepts and refuses the right values
 * through the one compiled reading validator, with the usual one-line error; everything outside
 * the subset is refused at start with the JSON pointer and the keyword.
 */
import { describe, expect, test } from 'bun:test';
import { InvalidReadingError } from '../../../src/core/errors.ts';
import { SensorSchemaError, sensorNameProblem, sensorTypeFromJsonSchema } from '../../../src/core/readings/json-schema.ts';
import { builtinSensorTypes } from '../../../src/core/readings/registry.ts';
import { ReadingValidator } from '../../../src/core/validate.ts';

const NOW = Date.parse('2026-01-01T00:00:00Z');
const BUILTIN = builtinSensorTypes.map((t) => t.name);

/** A validator with the built-ins and sensor `co2` of `schema` (an object schema). */
function sensor(schema: unknown) {
  const v = new ReadingValidator([...builtinSensorTypes, sensorTypeFromJsonSchema('co2', schema)], 300_000, { unknownFields: 'reject' });
  /** undefined when `values` (the co2 object) is accepted, else the error details */
  return (values: unknown): string | undefined => {
    const r = v.validate({ device_id: 'dev-1', timestamp: '2025-10-16T18:33:58Z', sensors: { co2: values } }, NOW);
    return r instanceof InvalidReadingError ? r.details : undefined;
  };
}
/** A validator whose co2 sensor has one property `x` of `schema`, required. */
const field = (schema: unknown) => {
  const check = sensor({ type: 'object', properties: { x: schema }, required: ['x'] });
  return (x: unknown) => check({ x });
};
/** The error converting `schema` throws. */
function refusal(schema: unknown): SensorSchemaError {
  try {
    sensorTypeFromJsonSchema('co2', schema);
  } catch (err) {
    if (err instanceof SensorSchemaError) return err;
    throw err;
  }
  throw new Error('the schema was accepted');
}
const inField = (schema: unknown) => refusal({ type: 'object', properties: { x: schema } });

describe('json-schema - supported keywords', () => {
  test('json-schema - the README example: required, bounds, enum; the error names the path', () => {
    const check = sensor({
      $schema: 'https://json-schema.org/draft/2020-12/schema',
      $id: 'https://example.com/co2.json',
      title: 'CO2',
      description: 'NDIR CO2 sensor',
      type: 'object',
      properties: { ppm: { type: 'number', minimum: 0, maximum: 5000, description: 'parts per million' }, unit: { enum: ['ppm'] } },
      required: ['ppm'],
    });
    expect(check({ ppm: 412 })).toBeUndefined();
    expect(check({ ppm: 412, unit: 'ppm' })).toBeUndefined();
    expect(check({ ppm: 5001 })).toBe('sensors.co2.ppm must be <= 5000');
    expect(check({ ppm: -1 })).toBe('sensors.co2.ppm must be >= 0');
    expect(check({ ppm: '412' })).toBe('sensors.co2.ppm must be a number');
    expect(check({})).toBe('sensors.co2.ppm is required');
    expect(check({ ppm: 1, unit: 'ppb' })).toBe('sensors.co2.unit must be "ppm"');
    expect(check('412')).toBe('sensors.co2 must be an object');
  });
  test('json-schema - additionalProperties: absent means false (like the built-ins), true allows extra fields', () => {
    expect(sensor({ type: 'object', properties: { a: { type: 'number' } } })({ a: 1, b: 2 })).toBe('sensors.co2.b is not an allowed property');
    expect(sensor({ type: 'object', properties: { a: { type: 'number' } }, additionalProperties: false })({ b: 2 })).toBe('sensors.co2.b is not an allowed property');
    expect(sensor({ type: 'object', properties: { a: { type: 'number' } }, additionalProperties: true })({ a: 1, b: 'x' })).toBeUndefined();
  });
  test('json-schema - properties not in required are optional', () => {
    const check = sensor({ type: 'object', properties: { a: { type: 'number' }, b: { type: 'boolean' } }, required: ['a'] });
    expect(check({ a: 1 })).toBeUndefined();
    expect(check({ a: 1, b: true })).toBeUndefined();
    expect(check({ b: true })).toBe('sensors.co2.a is required');
    expect(check({ a: 1, b: 'yes' })).toBe('sensors.co2.b must be a boolean');
  });
  test('json-schema - number: minimum, maximum, exclusiveMinimum, exclusiveMaximum, multipleOf', () => {
    const check = field({ type: 'number', exclusiveMinimum: 0, exclusiveMaximum: 10 });
    expect(check(0.001)).toBeUndefined();
    expect(check(9.999)).toBeUndefined();
    expect(check(0)).toBe('sensors.co2.x must be > 0');
    expect(check(10)).toBe('sensors.co2.x must be < 10');
    const inclusive = field({ type: 'number', minimum: -40, maximum: 85 });
    expect(inclusive(-40)).toBeUndefined();
    expect(inclusive(85)).toBeUndefined();
    expect(inclusive(85.5)).toBe('sensors.co2.x must be <= 85');
    const step = field({ type: 'number', multipleOf: 5 });
    expect(step(15)).toBeUndefined();
    expect(step(7)).toBe('sensors.co2.x must be a multiple of 5');
    expect(step(true)).toBe('sensors.co2.x must be a number');
  });
  test('json-schema - integer: whole numbers only, with the same bounds', () => {
    const check = field({ type: 'integer', minimum: 1, maximum: 3, exclusiveMaximum: 3 });
    expect(check(2)).toBeUndefined();
    expect(check(1.5)).toBe('sensors.co2.x must be an integer');
    expect(check(0)).toBe('sensors.co2.x must be >= 1');
    expect(check(3)).toBe('sensors.co2.x must be < 3');
    expect(field({ type: 'integer', exclusiveMinimum: 0 })(0)).toBe('sensors.co2.x must be > 0');
  });
  test('json-schema - string: minLength, maxLength, pattern', () => {
    const check = field({ type: 'string', minLength: 2, maxLength: 4, pattern: '^[A-Z]+$' });
    expect(check('AB')).toBeUndefined();
    expect(check('ABCD')).toBeUndefined();
    expect(check('A')).toBe('sensors.co2.x must be at least 2 characters');
    expect(check('ABCDE')).toBe('sensors.co2.x must be at most 4 characters');
    expect(check('ab')).toBe('sensors.co2.x must match ^[A-Z]+$');
    expect(check(12)).toBe('sensors.co2.x must be a string');
    expect(field({ type: 'string', minLength: 1 })('')).toBe('sensors.co2.x must not be empty');
  });
  test('json-schema - boolean', () => {
    const check = field({ type: 'boolean' });
    expect(check(false)).toBeUndefined();
    expect(check('false')).toBe('sensors.co2.x must be a boolean');
  });
  test('json-schema - enum of strings, numbers, booleans and null; with a type that agrees', () => {
    const check = field({ enum: ['low', 2, true, null] });
    for (const ok of ['low', 2, true, null]) expect(check(ok)).toBeUndefined();
    expect(check('high')).toBe('sensors.co2.x must be one of "low", 2, true, null');
    expect(check(false)).toBe('sensors.co2.x must be one of "low", 2, true, null');
    const typed = field({ type: 'string', enum: ['ppm', 'ppb'] });
    expect(typed('ppb')).toBeUndefined();
    expect(typed('mg/m3')).toBe('sensors.co2.x must be one of "ppm", "ppb"');
    expect(field({ type: 'integer', enum: [1, 2] })(2)).toBeUndefined();
  });
  test('json-schema - const', () => {
    const check = field({ const: 'v2' });
    expect(check('v2')).toBeUndefined();
    expect(check('v1')).toBe('sensors.co2.x must be "v2"');
    expect(field({ type: 'number', const: 0 })(1)).toBe('sensors.co2.x must be 0');
    expect(field({ const: null })(null)).toBeUndefined();
    expect(field({ const: null })(0)).toBe('sensors.co2.x must be null');
  });
  test('json-schema - array: items, minItems, maxItems', () => {
    const check = field({ type: 'array', items: { type: 'number', minimum: 0 }, minItems: 1, maxItems: 3 });
    expect(check([0, 1, 2])).toBeUndefined();
    expect(check([])).toBe('sensors.co2.x must have at least 1 items');
    expect(check([1, 2, 3, 4])).toBe('sensors.co2.x must have at most 3 items');
    expect(check([1, -1])).toBe('sensors.co2.x.1 must be >= 0');
    expect(check({ 0: 1 })).toBe('sensors.co2.x must be an array');
  });
  test('json-schema - nested objects keep their own required and additionalProperties', () => {
    const check = field({ type: 'object', properties: { t: { type: 'number' }, h: { type: 'number', maximum: 100 } }, required: ['t'] });
    expect(check({ t: 21.5 })).toBeUndefined();
    expect(check({ h: 40 })).toBe('sensors.co2.x.t is required');
    expect(check({ t: 1, h: 101 })).toBe('sensors.co2.x.h must be <= 100');
    expect(check({ t: 1, z: 0 })).toBe('sensors.co2.x.z is not an allowed property');
  });
  test('json-schema - the built-in sensors and the envelope are unchanged; an unknown sensor lists the configured one', () => {
    const check = sensor({ type: 'object', properties: { ppm: { type: 'number' } } });
    const v = new ReadingValidator([...builtinSensorTypes, sensorTypeFromJsonSchema('co2', { type: 'object', properties: {} })], 300_000);
    const r = v.validate({ device_id: 'd', timestamp: '2025-10-16T18:33:58Z', sensors: { bme280: {} } }, NOW);
    expect((r as InvalidReadingError).details).toBe('sensors.bme280 is not a known sensor type (known: ld2410, pir, mq134, co2)');
    const both = v.validate({ device_id: 'd', timestamp: '2025-10-16T18:33:58Z', sensors: { pir: { motion_detected: true }, co2: {} } }, NOW);
    expect(both).not.toBeInstanceOf(InvalidReadingError);
    expect(check({ ppm: 1 })).toBeUndefined();
  });
});

describe('json-schema - refused schemas name the pointer and the keyword', () => {
  test('json-schema - keywords outside the subset', () => {
    const e = inField({ type: 'string', format: 'email' });
    expect(e.message).toBe('#/properties/x/format: "format" is not supported (with "type": "string": minLength, maxLength, pattern; see docs/sensor-types.md)');
    expect([e.pointer, e.keyword]).toEqual(['/properties/x/format', 'format']);
    const cases: [unknown, string, string][] = [
      [{ type: 'object', properties: {}, patternProperties: {} }, '/patternProperties', 'patternProperties'],
      [{ type: 'object', properties: { x: { $ref: '#/definitions/a' } } }, '/properties/x', 'type'],
      [{ type: 'object', properties: { x: { type: 'number', $ref: '#/a' } } }, '/properties/x/$ref', '$ref'],
      [{ type: 'object', properties: { x: { type: 'number', oneOf: [] } } }, '/properties/x/oneOf', 'oneOf'],
      [{ type: 'object', properties: { x: { type: 'number', default: 1 } } }, '/properties/x/default', 'default'],
      [{ type: 'object', properties: { x: { type: 'number', maxLength: 3 } } }, '/properties/x/maxLength', 'maxLength'],
      [{ type: 'object', properties: { x: { type: 'boolean', minimum: 0 } } }, '/properties/x/minimum', 'minimum'],
      [{ type: 'object', properties: { x: { type: 'array', items: { type: 'number' }, uniqueItems: true } } }, '/properties/x/uniqueItems', 'uniqueItems'],
      [{ type: 'object', properties: { x: { type: 'object', properties: { y: { type: 'string', contentEncoding: 'base64' } } } } }, '/properties/x/properties/y/contentEncoding', 'contentEncoding'],
      [{ type: 'object', minProperties: 1 }, '/minProperties', 'minProperties'],
      [{ type: 'object', allOf: [] }, '/allOf', 'allOf'],
    ];
    for (const [schema, pointer, keyword] of cases) {
      const err = refusal(schema);
      expect([err.pointer, err.keyword]).toEqual([pointer, keyword]);
      expect(err.message.startsWith(`#${pointer}: `)).toBe(true);
      expect(err.message).not.toContain('\n');
    }
  });
  test('json-schema - the root must be an object schema', () => {
    expect(refusal({ type: 'number' }).message).toBe('#/type: a sensor type\'s schema must be a JSON object with "type": "object"');
    expect(refusal({ properties: {} }).message).toBe('#: a sensor type\'s schema must be a JSON object with "type": "object"');
    expect(refusal([]).pointer).toBe('');
    expect(refusal(true).pointer).toBe('');
  });
  test('json-schema - type: one known string, or enum/const', () => {
    expect(inField({ type: ['number', 'null'] }).message).toBe('#/properties/x/type: lists of types are not supported; "type" must be one of object, number, integer, string, boolean, array (got ["number","null"])');
    expect(inField({ type: 'null' }).keyword).toBe('type');
    expect(inField({}).message).toBe('#/properties/x: needs "type" (object, number, integer, string, boolean, array), "enum" or "const"');
    expect(inField(true).message).toBe('#/properties/x: must be a JSON object (a schema); true/false schemas are not supported');
  });
  test('json-schema - object keywords: required names properties, additionalProperties is a boolean, property names', () => {
    expect(refusal({ type: 'object', properties: { a: { type: 'number' } }, required: ['a', 'b'] }).message).toBe('#/required/1: "b" is not one of "properties"');
    expect(refusal({ type: 'object', properties: {}, required: 'a' }).pointer).toBe('/required');
    expect(refusal({ type: 'object', properties: { a: { type: 'number' } }, required: ['a', 'a'] }).pointer).toBe('/required');
    expect(refusal({ type: 'object', additionalProperties: { type: 'number' } }).message).toBe('#/additionalProperties: "additionalProperties" must be true or false (a schema there is not supported)');
    expect(refusal({ type: 'object', properties: [] }).pointer).toBe('/properties');
    const slash = refusal({ type: 'object', properties: { 'a/b~c': { type: 'number' } } });
    expect(slash.pointer).toBe('/properties/a~1b~0c');
    expect(slash.message).toContain('must match ^[A-Za-z0-9_-]{1,64}$');
    // the compiled check reads value[name]: inherited members would always look present
    expect(refusal({ type: 'object', properties: { constructor: { type: 'number' } } }).pointer).toBe('/properties/constructor');
    expect(refusal(JSON.parse('{"type":"object","properties":{"__proto__":{"type":"number"}}}')).pointer).toBe('/properties/__proto__');
  });
  test('json-schema - number keywords must be finite numbers; the draft-4 boolean exclusiveMinimum is explained', () => {
    expect(inField({ type: 'number', minimum: '0' }).message).toBe('#/properties/x/minimum: "minimum" must be a number');
    expect(inField({ type: 'number', exclusiveMinimum: true }).message).toBe(
      '#/properties/x/exclusiveMinimum: "exclusiveMinimum" must be a number (the draft-4 boolean form is not supported: give the bound itself, e.g. "exclusiveMinimum": 0)',
    );
    expect(inField({ type: 'integer', multipleOf: 0 }).message).toBe('#/properties/x/multipleOf: "multipleOf" must be greater than 0');
  });
  test('json-schema - string and array keywords', () => {
    expect(inField({ type: 'string', minLength: -1 }).message).toBe('#/properties/x/minLength: "minLength" must be a non-negative integer');
    expect(inField({ type: 'string', maxLength: 1.5 }).pointer).toBe('/properties/x/maxLength');
    expect(inField({ type: 'string', pattern: '([a-z]' }).message).toStartWith('#/properties/x/pattern: "pattern" is not a valid regular expression: ');
    expect(inField({ type: 'string', pattern: 5 }).keyword).toBe('pattern');
    expect(inField({ type: 'array' }).message).toBe('#/properties/x: an array needs "items" (the schema of every element)');
    expect(inField({ type: 'array', items: [{ type: 'number' }] }).message).toBe('#/properties/x/items: "items" must be one schema (tuples are not supported)');
    expect(inField({ type: 'array', items: { type: 'number', format: 'x' } }).pointer).toBe('/properties/x/items/format');
    expect(inField({ type: 'array', items: { type: 'number' }, minItems: 'one' }).pointer).toBe('/properties/x/minItems');
  });
  test('json-schema - enum and const: primitives only, agreeing with the type, alone', () => {
    expect(inField({ enum: [] }).message).toBe('#/properties/x/enum: "enum" must be a non-empty array');
    expect(inField({ enum: 'a' }).pointer).toBe('/properties/x/enum');
    expect(inField({ enum: ['a', { b: 1 }] }).message).toBe('#/properties/x/enum/1: "enum" values must be strings, numbers, booleans or null (got {"b":1})');
    expect(inField({ type: 'string', enum: ['a', 1] }).message).toBe('#/properties/x/enum/1: 1 is not of "type": "string"');
    expect(inField({ type: 'integer', const: 1.5 }).message).toBe('#/properties/x/const: 1.5 is not of "type": "integer"');
    expect(inField({ type: 'string', enum: ['a'], minLength: 1 }).message).toBe('#/properties/x/minLength: "minLength" cannot be combined with "enum" (the listed values are the whole constraint)');
    expect(inField({ enum: ['a'], const: 'a' }).keyword).toBe('const');
  });
});

describe('json-schema - sensor type names', () => {
  test('json-schema - names: lower case, not built-in, not a topic kind, not an object member', () => {
    expect(sensorNameProblem('co2', BUILTIN)).toBeUndefined();
    expect(sensorNameProblem('bme280_t', BUILTIN)).toBeUndefined();
    expect(sensorNameProblem('CO2', BUILTIN)).toBe('the sensor type name "CO2" must match ^[a-z][a-z0-9_]{0,31}$');
    expect(sensorNameProblem('2co', BUILTIN)).toContain('must match');
    expect(sensorNameProblem('co-2', BUILTIN)).toContain('must match');
    expect(sensorNameProblem('a'.repeat(33), BUILTIN)).toContain('must match');
    expect(sensorNameProblem('pir', BUILTIN)).toBe('the sensor type name "pir" is a built-in sensor type (ld2410, pir, mq134)');
    expect(sensorNameProblem('data', BUILTIN)).toBe('the sensor type name "data" is reserved (MQTT topics end in /data and /status)');
    expect(sensorNameProblem('status', BUILTIN)).toContain('is reserved');
    expect(sensorNameProblem('constructor', BUILTIN)).toContain('is reserved (a member of every JavaScript object)');
  });
});
