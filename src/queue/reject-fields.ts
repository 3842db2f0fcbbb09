import type { RejectEntry, RejectFilter, StoredReject } from './backend.ts';

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
  if (r.identity !== undefined) f.identity = r.identity;
  return f;
}

/** A rejects-stream entry read back: the inverse of rejectFields (missing fields read as ''). */
export function rejectFromFields(id: string, f: Record<string, string>): StoredReject {
  const r: StoredReject = { id, reason: f.reason ?? '', code: f.code ?? '', source: f.source ?? '', payload: f.payload ?? '', receivedAt: f.received_at ?? '' };
  if (f.device_id !== undefined) r.deviceId = f.device_id;
  if (f.identity !== undefined) r.identity = f.identity;
  return r;
}

/** Whether the entry's stored fields match every part of `filter` (the time part is the id's). */
export function rejectMatches(id: string, f: Record<string, string>, filter: RejectFilter): boolean {
  if (filter.deviceId !== undefined && f.device_id !== filter.deviceId) return false;
  if (filter.code !== undefined && f.code !== filter.code) return false;
  if (filter.sinceMs !== undefined && idTime(id) < filter.sinceMs) return false;
  return true;
}

/** The time part of a stream id (ms since epoch). */
export function idTime(id: string): number {
  return Number(id.slice(0, id.indexOf('-')));
}

/** Orders stream ids as Redis does (by time, then sequence). */
export function compareIds(a: string, b: string): number {
  const [am, as] = a.split('-').map(Number) as [number, number];
  const [bm, bs] = b.split('-').map(Number) as [number, number];
  return am - bm || as - bs;
}
