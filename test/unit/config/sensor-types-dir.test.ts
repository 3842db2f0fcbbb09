/**
 * SENSOR_TYPES_DIR: `<name>.json` files become sensor types after the built-in ones; a bad
 * directory, file, name, JSON or schema is a configuration error of one line.
 */
import { afterEach, describe, expect, test } from 'bun:test';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { configuredSensorTypes, loadSensorTypesDir } from '../../../src/cli/sensor-types.ts';
import { ConfigError, loadConfig } from '../../../src/config/load.ts';
import { builtinSensorTypes } from '../../../src/core/readings/registry.ts';

const CO2 = { type: 'object', properties: { ppm: { type: 'number', minimum: 0, maximum: 5000 } }, required: ['ppm'] };
const dirs: string[] = [];

/** A temporary directory holding `files` (name → JSON value, or raw text). */
function dirWith(files: Record<string, unknown>): string {
  const dir = mkdtempSync(join(tmpdir(), 'nb-sensor-types-'));
  dirs.push(dir);
  for (const [name, body] of Object.entries(files)) writeFileSync(join(dir, name), typeof body === 'string' ? body : JSON.stringify(body));
  return dir;
}
/** The one-line message loading `dir` fails with. */
function failure(dir: string): string {
  try {
    loadSensorTypesDir(dir);
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as ConfigError).key).toBe('SENSOR_TYPES_DIR');
    expect((err as Error).message).not.toContain('\n');
    return (err as Error).message;
  }
  throw new Error('the directory was accepted');
}

afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

describe('sensor types dir', () => {
  test('sensor types dir - <name>.json files in name order after the built-ins; other files ignored', () => {
    const dir = dirWith({ 'co2.json': CO2, 'bme280.json': { type: 'object', properties: { t: { type: 'number' } } }, 'README.md': '# notes', 'co2.json~': 'backup' });
    const config = loadConfig({ SENSOR_TYPES_DIR: dir });
    const types = configuredSensorTypes(config);
    expect(types.map((t) => t.name)).toEqual(['ld2410', 'pir', 'mq134', 'bme280', 'co2']);
    expect(types.slice(0, 3)).toEqual([...builtinSensorTypes]);
    // read once per config
    expect(configuredSensorTypes(config)).toBe(types);
  });
  test('sensor types dir - unset (the default) or empty: the built-ins only', () => {
    expect(loadConfig({}).SENSOR_TYPES_DIR).toBeUndefined();
    expect(configuredSensorTypes(loadConfig({}))).toBe(builtinSensorTypes);
    expect(configuredSensorTypes(loadConfig({ SENSOR_TYPES_DIR: dirWith({}) })).map((t) => t.name)).toEqual(['ld2410', 'pir', 'mq134']);
  });
  test('sensor types dir - a missing directory', () => {
    const dir = join(tmpdir(), 'nb-no-such-dir-' + process.pid);
    expect(failure(dir)).toBe(`invalid configuration: SENSOR_TYPES_DIR=${JSON.stringify(dir)}: cannot read the directory (ENOENT)`);
  });
  test('sensor types dir - a schema outside the subset names the file, the pointer and the keyword', () => {
    const dir = dirWith({ 'co2.json': { type: 'object', properties: { ppm: { type: 'number', minimum: 0, format: 'float' } } } });
    expect(failure(dir)).toBe(
      `invalid configuration: SENSOR_TYPES_DIR=${JSON.stringify(dir)}: co2.json #/properties/ppm/format: "format" is not supported (with "type": "number": minimum, maximum, exclusiveMinimum, exclusiveMaximum, multipleOf; see docs/sensor-types.md)`,
    );
  });
  test('sensor types dir - bad JSON, bad names, a built-in name, an unreadable file', () => {
    expect(failure(dirWith({ 'co2.json': '{"type": "object",\n "properties": ' }))).toMatch(/: co2\.json: not valid JSON \(.+\)$/);
    expect(failure(dirWith({ 'CO2.json': CO2 }))).toEndWith(': CO2.json: the sensor type name "CO2" must match ^[a-z][a-z0-9_]{0,31}$');
    expect(failure(dirWith({ '.json': CO2 }))).toContain('the sensor type name "" must match');
    expect(failure(dirWith({ 'pir.json': CO2 }))).toEndWith(': pir.json: the sensor type name "pir" is a built-in sensor type (ld2410, pir, mq134)');
    expect(failure(dirWith({ 'status.json': CO2 }))).toContain('status.json: the sensor type name "status" is reserved');
    const dir = dirWith({});
    mkdirSync(join(dir, 'co2.json'));
    expect(failure(dir)).toEndWith(': co2.json: cannot read it (EISDIR)');
  });
});
