/** Passive infrared motion sensor. */
import { Type } from '@sinclair/typebox';
import type { SensorType } from '../registry.ts';

export const pir: SensorType = {
  name: 'pir',
  schema: Type.Object({ motion_detected: Type.Boolean() }, { additionalProperties: false }),
};
