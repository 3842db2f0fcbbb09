/**
 * The reading envelope (DESIGN §3) built from the sensor registry, and its types.
 * @module
 */
import { Type, type TObject, type TSchema } from '@sinclair/typebox';
import type { SensorType } from './registry.ts';

import type { DeviceMetadata } from '../../queue/backend.ts';
import { DEVICE_ID_MAX_LENGTH, DEVICE_ID_PATTERN } from '../device-id.ts';

/** ISO 8601 date-time with a time zone (Z or ±hh:mm); Date.parse then checks the calendar. */
export const TIMESTAMP_PATTERN =
  '^\\d{4}-\\d{2}-\\d{2}T\\d{2}:\\d{2}(:\\d{2}(\\.\\d{1,9})?)?(Z|[+-]\\d{2}:?\\d{2})$';

/**
 * @param opts.openFields unknown fields allowed at the top level and in each sensor's object (the
 * validator's second look, UNKNOWN_FIELDS); unknown sensor types stay refused either way
 */
export function readingSchema(types: readonly SensorType[], opts: { openFields?: boolean } = {}): TObject {
  const open = opts.openFields === true;
  const sensors: Record<string, TSchema> = {};
  for (const t of types) sensors[t.name] = Type.Optional(open ? { ...t.schema, additionalProperties: true } : t.schema);
  return Type.Object(
    {
      device_id: Type.String({ minLength: 1, maxLength: DEVICE_ID_MAX_LENGTH, pattern: DEVICE_ID_PATTERN }),
      timestamp: Type.String({ maxLength: 40, pattern: TIMESTAMP_PATTERN }),
      sensors: Type.Object(sensors, { additionalProperties: false, minProperties: 1 }),
      /** Optional per-device sequence number: dedupe by (device_id, seq), gap counting. */
      seq: Type.Optional(Type.Integer({ minimum: 0, maximum: Number.MAX_SAFE_INTEGER })),
    },
    { additionalProperties: open },
  );
}

export type SensorValues = Record<string, Record<string, unknown>>;

/** A reading that passed validation (timestamp already normalised to toISOString()). */
export interface Reading {
  device_id: string;
  timestamp: string;
  sensors: SensorValues;
  /** Monotonic per device when sent (restarting is allowed: a big step back starts a new run). */
  seq?: number;
}

/** What is known about a device beside its readings (the queue's metadata store keeps it). */
export type { DeviceMetadata };

export interface EnrichedReading extends Reading {
  received_at: string;
  message_id: string;
  device_metadata?: DeviceMetadata;
  /** Present (true) when the reading was older than BACKFILL_AFTER_MS on arrival. */
  backfill?: true;
  /**
   * Normalisation flags (timestamp_epoch_s, unknown_fields_kept, …) then plausibility flags
   * (QUALITY_CHECKS), present only when there is one.
   */
  quality?: string[];
}
