/**
 * What a transport hands the core, and what it gets back.
 * @module
 */
import type { IngestError } from './errors.ts';
import type { EnrichedReading } from './readings/reading.ts';

/** `replay`: a rejects-stream entry run through the pipeline again (core/replay.ts). */
export const TransportName = { http: 'http', mqtt: 'mqtt', ws: 'ws', bridge: 'bridge', replay: 'replay' } as const;
export type TransportName = (typeof TransportName)[keyof typeof TransportName];

export interface IngestItem {
  source: TransportName;
  /** MQTT topic, when the transport has one. */
  topic?: string;
  payload: Uint8Array;
  /** Lower-case media type without parameters; undefined means JSON. */
  contentType?: string | undefined;
  /** The authenticated device: every reading must carry this device_id (403 / 0x87). Undefined: auth is off. */
  identity?: string | undefined;
  /** What the transport's addressing says the reading must be (e.g. an MQTT sensor topic). */
  expect?: ReadingExpectation;
  /**
   * Rate-limit admission (RATE_LIMIT on): asked once validation has said whether a reading is
   * live or backfill, so backfill never spends the live budget. Undefined: no limit.
   */
  admit?: ((kind: AdmissionKind) => Promise<Admission>) | undefined;
}

export type AdmissionKind = 'live' | 'backfill';
export type Admission = { ok: true } | { ok: false; retryAfterSeconds: number; details: string };

export interface ReadingExpectation {
  /** The reading's device_id must be this one. */
  deviceId: string;
  /** When set, the reading must carry this sensor and no other. */
  sensor?: string;
}

export type Outcome =
  | { ok: true; reading: EnrichedReading; messageId: string }
  | { ok: false; error: IngestError; deviceId?: string };
