/** HLK-LD2410 24 GHz mmWave presence radar. */
import { Type } from '@sinclair/typebox';
import type { SensorType } from '../registry.ts';

export const ld2410: SensorType = {
  name: 'ld2410',
  schema: Type.Object(
    {
      presence: Type.Boolean(),
      distance: Type.Number({ minimum: 0, maximum: 600, description: 'cm' }),
      energy: Type.Number({ minimum: 0, maximum: 100, description: '%' }),
    },
    { additionalProperties: false },
  ),
};
