/**
 * The sensor types this process validates: the built-in ones, then the ones of
 * SENSOR_TYPES_DIR (one `<name>.json` JSON Schema each, in name order). Every command that
 * builds a validator takes its list from here; the directory is read once per config.
 * @module
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { TypeCompiler } from '@sinclair/typebox/compiler';
import { ConfigError } from '../config/load.ts';
import type { Config } from '../config/schema.ts';
import { SensorSchemaError, sensorNameProblem, sensorTypeFromJsonSchema } from '../core/readings/json-schema.ts';
import { builtinSensorTypes, type SensorType } from '../core/readings/registry.ts';

const loaded = new WeakMap<Config, readonly SensorType[]>();

/**
 * Built-in sensor types followed by those of SENSOR_TYPES_DIR.
 * @throws ConfigError (one line naming the directory, the file and what is wrong) for an unreadable
 *   directory or file, bad JSON, a bad name or a schema outside the supported subset
 */
export function configuredSensorTypes(config: Config): readonly SensorType[] {
  let types = loaded.get(config);
  if (types === undefined) {
    types = config.SENSOR_TYPES_DIR ? [...builtinSensorTypes, ...loadSensorTypesDir(config.SENSOR_TYPES_DIR)] : builtinSensorTypes;
    loaded.set(config, types);
  }
  return types;
}

/** Logs, once at start, which sensor types SENSOR_TYPES_DIR added (nothing without it). */
export function logSensorTypes(config: Config, log: Logger): void {
  if (!config.SENSOR_TYPES_DIR) return;
  const all = configuredSensorTypes(config).map((t) => t.name);
  const added = all.slice(builtinSensorTypes.length);
  log.info(
    { sensor_types_dir: config.SENSOR_TYPES_DIR, sensor_types: all, configured: added },
    `sensor types: ${all.join(', ')} (${added.length ? `${added.join(', ')} from` : 'none added by'} SENSOR_TYPES_DIR ${config.SENSOR_TYPES_DIR})`,
  );
}

/**
 * The sensor types of `dir`: each `<name>.json` file is the JSON Schema of sensor `<name>`'s
 * object; other files are ignored.
 * @throws ConfigError
 */
export function loadSensorTypesDir(dir: string, builtin: readonly SensorType[] = builtinSensorTypes): SensorType[] {
  const fail = (what: string): never => {
    throw new ConfigError('SENSOR_TYPES_DIR', `invalid configuration: SENSOR_TYPES_DIR=${JSON.stringify(dir)}: ${oneLine(what)}`);
  };
  let files: string[] = [];
  try {
    files = readdirSync(dir).filter((f) => f.endsWith('.json')).sort();
  } catch (err) {
    fail(`cannot read the directory (${errorCode(err)})`);
  }
  const builtinNames = builtin.map((t) => t.name);
  return files.map((file) => {
    const name = file.slice(0, -'.json'.length);
    const problem = sensorNameProblem(name, builtinNames);
    if (problem) fail(`${file}: ${problem}`);
    let text = '';
    try {
      text = readFileSync(join(dir, file), 'utf8');
    } catch (err) {
      fail(`${file}: cannot read it (${errorCode(err)})`);
    }
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch (err) {
      fail(`${file}: not valid JSON (${(err as Error).message})`);
    }
    let type: SensorType | undefined;
    try {
      type = sensorTypeFromJsonSchema(name, json);
      // what the reading validator will do with it: a failure here is the file's, not a crash later
      TypeCompiler.Compile(type.schema);
    } catch (err) {
      if (err instanceof SensorSchemaError) fail(`${file} ${err.message}`);
      fail(`${file}: the schema does not compile (${(err as Error).message})`);
    }
    return type!;
  });
}

const errorCode = (err: unknown) => (err as NodeJS.ErrnoException).code ?? (err as Error).message;
const oneLine = (s: string) => s.replace(/\s*\n\s*/g, ' ');
