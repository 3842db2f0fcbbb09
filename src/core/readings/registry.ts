/**
 * Sensor types known to the server. A new built-in sensor type is one file in sensors/ and
 * one line in `builtinSensorTypes`; an operator adds one without code as a JSON Schema file
 * in SENSOR_TYPES_DIR (json-schema.ts). Everything else (envelope schema, validation, MQTT
 * sensor topics, WebSocket filters, metrics labels) is derived from the list of both.
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
