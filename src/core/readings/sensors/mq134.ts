/** MQ-134 gas sensor. */
import { Type } from '@sinclair/typebox';
import type { SensorType } from '../registry.ts';

export const mq134: SensorType = {
  name: 'mq134',
  schema: Type.Object(
    {
      gas_concentration: Type.Number({ minimum: 0 }),
      unit: Type.Union([Type.Literal('ppm'), Type.Literal('ppb')]),
    },
    { additionalProperties: false },
  ),
};
