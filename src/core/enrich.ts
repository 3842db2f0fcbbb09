/**
 * Adds what the server knows to a validated reading: `received_at`, `message_id`, and
 * `device_metadata` from the shared metadata store (a local lookup, no round trip).
 * @module
 */
import { randomUUID } from 'node:crypto';
import type { MetadataStore } from '../queue/backend.ts';
import type { EnrichedReading, Reading } from './readings/reading.ts';

/** Mutates and returns `reading`: it is the freshly decoded object, nobody else holds it. */
export function enrich(reading: Reading, receivedAt: string, metadata: MetadataStore): EnrichedReading {
  const r = reading as EnrichedReading;
  r.received_at = receivedAt;
  r.message_id = randomUUID();
  const md = metadata.get(r.device_id);
  if (md !== undefined) r.device_metadata = md;
  return r;
}
