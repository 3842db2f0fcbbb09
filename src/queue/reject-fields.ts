import type { RejectEntry } from './backend.ts';

/** Field layout of a rejects-stream entry, the same in every backend. */
export function rejectFields(r: RejectEntry): Record<string, string> {
  const f: Record<string, string> = {
    reason: r.reason,
    code: r.code,
    source: r.source,
    payload: r.payload,
    received_at: r.receivedAt,
  };
  if (r.deviceId !== undefined) f.device_id = r.deviceId;
  return f;
}
