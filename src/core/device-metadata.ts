/**
 * The body of POST /api/v1/devices/metadata, validated like a reading.
 * @module
 */
import { Type } from '@sinclair/typebox';
import { TypeCompiler } from '@sinclair/typebox/compiler';
import { ErrorCode, IngestError } from './errors.ts';
import { DEVICE_ID_MAX_LENGTH, DEVICE_ID_PATTERN } from './device-id.ts';
import type { DeviceMetadata } from './readings/reading.ts';
import { dotted } from './validate.ts';

const text = Type.String({ maxLength: 200 });
const MetadataUpdate = Type.Object(
  {
    device_id: Type.String({ minLength: 1, maxLength: DEVICE_ID_MAX_LENGTH, pattern: DEVICE_ID_PATTERN }),
    metadata: Type.Object(
      { location: Type.Optional(text), room: Type.Optional(text), zone: Type.Optional(text), firmware_version: Type.Optional(text) },
      { additionalProperties: Type.Union([text, Type.Number(), Type.Boolean()]), maxProperties: 32 },
    ),
  },
  { additionalProperties: false },
);
const check = TypeCompiler.Compile(MetadataUpdate);

export interface MetadataUpdate {
  device_id: string;
  metadata: DeviceMetadata;
}

export function validateMetadataUpdate(value: unknown): MetadataUpdate | IngestError {
  if (check.Check(value)) return value as MetadataUpdate;
  const e = check.Errors(value).First();
  const details = e ? `${dotted(e.path)}: ${e.message}` : 'invalid metadata';
  return new IngestError(ErrorCode.INVALID_METADATA, 'Invalid device metadata', details);
}
