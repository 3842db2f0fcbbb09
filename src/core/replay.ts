/**
 * Quarantine and replay: entries of the rejects stream (DESIGN §1) listed with filters, and run
 * through the ingest path again after a schema or configuration change. One module for
 * `neurobuild-ingest rejects …` and the admin routes /api/v1/admin/rejects….
 *
 * A replayed entry is validated by the same validator as the pipeline's first (so that one still
 * invalid is reported without adding a copy of it to the rejects stream), then handed to the
 * pipeline like a live reading with source `replay`: enriched (new message_id, received_at = now),
 * deduped and appended. Accepted and duplicate entries are deleted from the rejects stream
 * (a duplicate's reading is already stored); the others stay. An entry recorded with its sender's
 * identity is replayed only as that identity's own device (else unreplayable).
 * @module
 */
import type { QueueBackend, RejectFilter, StoredReject } from '../queue/backend.ts';
import { ErrorCode, IngestError } from './errors.ts';
import type { IngestItem, Outcome } from './item.ts';
import { NormalisedReading, type ReadingValidator } from './validate.ts';

/** Bytes of a refused payload the pipeline keeps (its default rejectPayloadBytes): a longer one was cut. */
export const REJECT_PAYLOAD_BYTES = 4096;

/** What replay hands readings to: the Pipeline. */
export interface ReplayIngest {
  ingest(item: IngestItem): Promise<Outcome>;
}

export interface ReplayDeps {
  backend: QueueBackend;
  pipeline: ReplayIngest;
  /** The pipeline's own validator. */
  validator: ReadingValidator;
}

/** Which entries to replay: `ids`, or those matching `filter` oldest first from `after`, at most `limit`. */
export interface ReplayRequest {
  ids?: readonly string[];
  filter?: RejectFilter;
  /** Most entries examined; default all (ids: all of them). */
  limit?: number;
  /** Exclusive cursor: continue after this id. */
  after?: string;
  /** Decode and validate only: nothing is appended or deleted. */
  dryRun?: boolean;
}

export type ReplayStatus = 'accepted' | 'rejected_again' | 'duplicate' | 'unreplayable' | 'failed' | 'not_found';

export interface ReplayResult {
  id: string;
  status: ReplayStatus;
  device_id?: string;
  /** Accepted: the new message_id. */
  message_id?: string;
  /** Rejected again or failed: the new error code. */
  code?: string;
  /** Why it was rejected again, is unreplayable, failed or not found. */
  reason?: string;
}

export interface ReplayReport {
  dry_run: boolean;
  examined: number;
  accepted: number;
  rejected_again: number;
  duplicate: number;
  unreplayable: number;
  /** The queue did not take it (unavailable, saturated, shutting down): the entry stays; replay it again later. */
  failed: number;
  not_found: number;
  /** Pass as the cursor to continue after the last examined entry; null: nothing more matched (or a failure stopped the run). */
  next_cursor: string | null;
  results: ReplayResult[];
}

/** Entries replayed per round: validated in order, appended together (one queue round trip), then deleted together. */
const PAGE = 100;

/**
 * Replays the selected rejects. `onResult` sees each result as it is decided; with
 * `keepResults: false` the report's `results` stays empty (a CLI streaming them).
 * Rejects (the promise) only when the backend fails to list or delete.
 */
export async function replayRejects(deps: ReplayDeps, req: ReplayRequest, opts: { onResult?: (r: ReplayResult) => void; keepResults?: boolean } = {}): Promise<ReplayReport> {
  const report: ReplayReport = { dry_run: req.dryRun === true, examined: 0, accepted: 0, rejected_again: 0, duplicate: 0, unreplayable: 0, failed: 0, not_found: 0, next_cursor: null, results: [] };
  const record = (r: ReplayResult) => {
    if (r.status === 'not_found') report.not_found++;
    else {
      report.examined++;
      report[r.status]++;
    }
    opts.onResult?.(r);
    if (opts.keepResults !== false) report.results.push(r);
  };
  if (req.ids !== undefined) {
    for (let i = 0; i < req.ids.length; i += PAGE) {
      const ids = req.ids.slice(i, i + PAGE);
      const found = await Promise.all(ids.map((id) => deps.backend.getReject(id)));
      const entries: StoredReject[] = [];
      // in the order given; a missing one reported in its place
      const missing = new Map<number, ReplayResult>();
      found.forEach((e, k) => (e ? entries.push(e) : missing.set(k, { id: ids[k]!, status: 'not_found', reason: 'no such entry in the rejects stream (replayed, or trimmed)' })));
      const results = await replayPage(deps, entries, report.dry_run);
      let j = 0;
      for (let k = 0; k < ids.length; k++) record(missing.get(k) ?? results[j++]!);
      if (report.failed > 0) break;
    }
    return report;
  }
  let remaining = req.limit ?? Infinity;
  let after = req.after;
  while (remaining > 0) {
    const page = await deps.backend.listRejects(req.filter ?? {}, { order: 'oldest', limit: Math.min(PAGE, remaining), ...(after === undefined ? {} : { after }) });
    for (const r of await replayPage(deps, page.entries, report.dry_run)) record(r);
    remaining -= page.entries.length;
    report.next_cursor = page.next;
    if (report.failed > 0) {
      // the failed entries stay in the stream, before the cursor: a new run starts from the beginning
      report.next_cursor = null;
      break;
    }
    if (page.next === null) break;
    after = page.next;
  }
  return report;
}

/** One page: checked in order, the valid ones handed to the pipeline together, accepted and duplicates deleted. */
async function replayPage(deps: ReplayDeps, entries: readonly StoredReject[], dryRun: boolean): Promise<ReplayResult[]> {
  const now = Date.now();
  const pending: (ReplayResult | Promise<ReplayResult>)[] = entries.map((e) => {
    const base: ReplayResult = { id: e.id, status: 'unreplayable' };
    if (e.deviceId !== undefined) base.device_id = e.deviceId;
    const payload = replayablePayload(e.payload);
    if ('unreplayable' in payload) return { ...base, reason: payload.unreplayable };
    // checked first by the pipeline's validator on a copy: a reading still invalid is not ingested,
    // which would add it to the rejects stream once more
    const validated = deps.validator.validate(JSON.parse(payload.text), now);
    const checked = validated instanceof NormalisedReading ? validated.reading : validated;
    if (checked instanceof IngestError) return { ...base, status: 'rejected_again', code: checked.code, reason: checked.details ?? checked.message };
    base.device_id = checked.device_id;
    // sent by an authenticated identity: replayed only as that identity's own device, never as
    // another's (a reading planted for a device its sender may not write stays where it is)
    if (e.identity !== undefined && e.identity !== checked.device_id) return { ...base, reason: `sent by "${e.identity}", which may not write device "${checked.device_id}"` };
    if (dryRun) return { ...base, status: 'accepted' };
    const item: IngestItem = { source: 'replay', payload: Buffer.from(payload.text, 'utf8') };
    if (e.identity !== undefined) item.identity = e.identity;
    return deps.pipeline.ingest(item).then((o): ReplayResult => {
      if (o.ok) return { ...base, status: 'accepted', message_id: o.messageId };
      const code = o.error.code;
      if (code === ErrorCode.DUPLICATE) return { ...base, status: 'duplicate', reason: 'the same reading was stored within DEDUPE_WINDOW_MS' };
      const reason = o.error.details ?? o.error.message;
      if (code === ErrorCode.INVALID_READING || code === ErrorCode.MALFORMED_PAYLOAD) return { ...base, status: 'rejected_again', code, reason };
      return { ...base, status: 'failed', code, reason };
    });
  });
  const results = await Promise.all(pending);
  if (!dryRun) {
    const done = results.filter((r) => r.status === 'accepted' || r.status === 'duplicate').map((r) => r.id);
    await deps.backend.deleteRejects(done);
  }
  return results;
}

/**
 * The reading text of a rejects entry's payload, or why it cannot be replayed. The pipeline keeps
 * a decoded payload as JSON text and an undecodable one as received (UTF-8, or `base64:` + bytes),
 * both cut at REJECT_PAYLOAD_BYTES.
 */
export function replayablePayload(payload: string): { text: string } | { unreplayable: string } {
  if (payload.startsWith('base64:')) return { unreplayable: 'binary payload that could not be decoded when it was received (kept as base64)' };
  let value: unknown;
  try {
    value = JSON.parse(payload);
  } catch {
    if (payload.length >= REJECT_PAYLOAD_BYTES || Buffer.byteLength(payload, 'utf8') >= REJECT_PAYLOAD_BYTES) {
      return { unreplayable: `payload truncated: only its first ${REJECT_PAYLOAD_BYTES} bytes were kept` };
    }
    return { unreplayable: payload === '' ? 'empty payload' : 'payload is not JSON (kept as received)' };
  }
  if (Array.isArray(value)) return { unreplayable: 'a whole batch body, not one reading' };
  return { text: payload };
}

/** The query of a listing or a replay, as the CLI flags and the admin routes give it (strings). */
export interface RejectQueryInput {
  device_id?: string | undefined;
  code?: string | undefined;
  since?: string | undefined;
  limit?: string | number | undefined;
  cursor?: string | undefined;
}

export interface RejectQuery {
  filter: RejectFilter;
  limit: number | undefined;
  after: string | undefined;
}

/** A stream entry id as Redis writes it: `<ms>-<seq>`. */
export const REJECT_ID = /^\d{1,15}-\d{1,15}$/;

/**
 * Checks and converts a query: `code` with or without its INGEST_ERR_ prefix, any case;
 * `since` an ISO 8601 time or a duration back from `now` (`30s`, `10m`, `2h`, `7d`);
 * `limit` a positive integer up to `maxLimit`; `cursor` an entry id.
 * @returns the query, or a one-line reason it is refused
 */
export function parseRejectQuery(q: RejectQueryInput, now: number, maxLimit = Number.MAX_SAFE_INTEGER): RejectQuery | string {
  const filter: RejectFilter = {};
  if (q.device_id !== undefined) {
    if (q.device_id === '' || q.device_id.length > 128) return 'device_id must be 1 to 128 characters';
    filter.deviceId = q.device_id;
  }
  if (q.code !== undefined) {
    const code = normaliseCode(q.code);
    if (code === undefined) return `code must be one of ${Object.values(ErrorCode).join(', ')} (the INGEST_ERR_ prefix may be left out)`;
    filter.code = code;
  }
  if (q.since !== undefined) {
    const since = parseSince(q.since, now);
    if (since === undefined) return `since must be an ISO 8601 time (2026-01-01T00:00:00Z) or a duration back from now (30s, 10m, 2h, 7d); got ${JSON.stringify(q.since)}`;
    filter.sinceMs = since;
  }
  let limit: number | undefined;
  if (q.limit !== undefined) {
    limit = typeof q.limit === 'number' ? q.limit : /^\d{1,16}$/.test(q.limit) ? Number(q.limit) : NaN;
    if (!Number.isInteger(limit) || limit < 1 || limit > maxLimit) return `limit must be an integer from 1 to ${maxLimit}`;
  }
  if (q.cursor !== undefined && !REJECT_ID.test(q.cursor)) return 'cursor must be an entry id (<ms>-<seq>), the next_cursor of a previous answer';
  return { filter, limit, after: q.cursor };
}

function normaliseCode(text: string): string | undefined {
  const upper = text.trim().toUpperCase();
  const full = upper.startsWith('INGEST_ERR_') ? upper : `INGEST_ERR_${upper}`;
  return (Object.values(ErrorCode) as string[]).includes(full) ? full : undefined;
}

const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** `10m` → now − 10 minutes; an ISO 8601 time → that time; else undefined. */
export function parseSince(text: string, now: number): number | undefined {
  const d = /^(\d{1,9})(ms|s|m|h|d)$/.exec(text.trim());
  if (d) return now - Number(d[1]) * UNIT_MS[d[2]!]!;
  if (!/^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?)?$/.test(text.trim())) return undefined;
  const ms = Date.parse(text.trim());
  return Number.isNaN(ms) ? undefined : ms;
}

/** A rejects entry as the CLI and the admin API show it (snake_case, as stored in the stream). */
export function rejectView(r: StoredReject): Record<string, string> {
  const v: Record<string, string> = { id: r.id, received_at: r.receivedAt, code: r.code, reason: r.reason, source: r.source };
  if (r.deviceId !== undefined) v.device_id = r.deviceId;
  if (r.identity !== undefined) v.identity = r.identity;
  v.payload = r.payload;
  return v;
}
