/**
 * Duplicate detection key. The check itself is atomic with the append, inside the queue
 * backend (one Redis script per batch; a windowed map in memory), so that a reading is
 * never marked seen without being stored, and the window is shared by every instance.
 * MQTT QoS 2 packet ids are a session concern and live in the MQTT transport.
 * @module
 */
import type { Reading } from './readings/reading.ts';

/**
 * (device_id, seq) when the reading has a sequence number, else (device_id, timestamp) after
 * normalisation; `|` and `#` cannot occur in a device id.
 */
export function dedupeKey(reading: Reading, windowMs: number): string {
  if (windowMs <= 0) return '';
  return reading.seq === undefined ? reading.device_id + '|' + reading.timestamp : reading.device_id + '#' + reading.seq;
}
