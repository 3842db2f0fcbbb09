/**
 * Sensor types known to the server. A new sensor type is one file in sensors/ and one
 * line in `builtinSensorTypes`; everything else (envelope schema, validation, metrics
 * labels) is derived from this list.
 * @module
 */
import type { TObject } from '@sinclair/typebox';
import { ld2410 } from './sensors/ld2410.ts';
import { mq134 } from './sensors/mq134.ts';
import { pir } from './sensors/pir.ts';

export interface SensorType {
  /** Key under `sensors` in a reading, label value of `sensor_type`. */
  name: string;
  schema: TObject;
}

export const builtinSensorTypes: readonly SensorType[] = [ld2410, pir, mq134];
