/**
 * The sensor types this process validates: the built-in ones, plus (later) the ones the
 * configuration adds. Every command that builds a validator takes its list from here.
 * @module
 */
import type { Config } from '../config/schema.ts';
import { builtinSensorTypes, type SensorType } from '../core/readings/registry.ts';

export function configuredSensorTypes(_config: Config): readonly SensorType[] {
  return builtinSensorTypes;
}
