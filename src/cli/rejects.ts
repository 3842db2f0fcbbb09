/**
 * `neurobuild-ingest rejects list|show|replay`: the quarantine, i.e. the rejects stream
 * (REJECTS_NAME) on Redis. `list` shows entries newest first, `show <id>` one entry whole,
 * `replay` runs entries (oldest first) through an in-process pipeline built like the server's
 * (this configuration's sensor types and CLOCK_SKEW_MS), so a reading refused under an older
 * schema or configuration is accepted now; see core/replay.ts for the semantics.
 * Exit codes: 0 done (also when entries were rejected again), 1 Redis failed, 2 bad usage.
 * @module
 */
import { pino, type Logger } from 'pino';
import { pipelineOptions, readingValidator } from './pipeline-options.ts';
import { qualityChecks } from './device-state.ts';
import { redisConfigured, SET_REDIS } from '../config/load.ts';
import type { Config } from '../config/schema.ts';
import { Pipeline } from '../core/pipeline.ts';
import { parseRejectQuery, REJECT_ID, rejectView, replayRejects, type ReplayReport, type ReplayResult } from '../core/replay.ts';
import type { ReadingValidator } from '../core/validate.ts';
import { createMetrics } from '../metrics/registry.ts';
import type { QueueBackend, StoredReject } from '../queue/backend.ts';
import { ConsumeUsageError } from './consume.ts';
import { createBackend } from './serve.ts';

/** Which flags each action takes. */
const ACTION_FLAGS: Record<string, readonly string[]> = {
  list: ['device-id', 'code', 'since', 'limit', 'json'],
  show: ['json'],
  replay: ['ids', 'device-id', 'code', 'since', 'limit', 'dry-run', 'json'],
};

const LIST_DEFAULT = 50;

/**
 * Runs the action; returns the exit code (1 when replay could not append some entries).
 * @throws ConsumeUsageError for bad usage (exit 2); anything else is a Redis failure (exit 1)
 */
export async function rejects(config: Config, rest: readonly string[], options: Record<string, string | boolean>, out: (line: string) => void): Promise<number> {
  const [action, ...positional] = rest;
  const allowed = action === undefined ? undefined : ACTION_FLAGS[action];
  if (!allowed) throw new ConsumeUsageError(`rejects needs an action: list, show <id> or replay (got ${action === undefined ? 'none' : JSON.stringify(action)})`);
  const misplaced = Object.keys(options).find((f) => !allowed.includes(f));
  if (misplaced) throw new ConsumeUsageError(`rejects ${action} does not take --${misplaced} (it takes ${allowed.map((f) => '--' + f).join(', ')})`);
  if (action === 'show' ? positional.length !== 1 : positional.length > 0) {
    throw new ConsumeUsageError(action === 'show' ? 'rejects show takes one entry id' : `rejects ${action} takes no arguments (got ${JSON.stringify(positional[0])}); ids go in --ids a,b,…`);
  }
  const str = (f: string) => (typeof options[f] === 'string' ? (options[f] as string) : undefined);
  const json = options.json === true;
  const query = parseRejectQuery({ device_id: str('device-id'), code: str('code'), since: str('since'), limit: str('limit') }, Date.now(), 10_000_000);
  if (typeof query === 'string') throw new ConsumeUsageError(`rejects ${action}: ${query.replace(/^(device_id|code|since|limit) /, (_m, f: string) => `--${f.replace('_', '-')} `)}`);
  let ids: string[] | undefined;
  if (action === 'show') ids = [positional[0]!];
  if (str('ids') !== undefined) {
    ids = str('ids')!.split(',').map((s) => s.trim()).filter((s) => s !== '');
    if (ids.length === 0) throw new ConsumeUsageError('rejects replay: --ids needs at least one entry id');
    if (query.filter.deviceId !== undefined || query.filter.code !== undefined || query.filter.sinceMs !== undefined || query.limit !== undefined) {
      throw new ConsumeUsageError('rejects replay: --ids replays exactly those entries; it does not combine with --device-id, --code, --since or --limit');
    }
  }
  const bad = ids?.find((id) => !REJECT_ID.test(id));
  if (bad !== undefined) throw new ConsumeUsageError(`rejects ${action}: ${JSON.stringify(bad)} is not an entry id (<ms>-<seq>, as rejects list prints them)`);
  if (!redisConfigured(config)) throw new ConsumeUsageError(`rejects reads the Redis stream ${config.REJECTS_NAME}: set ${SET_REDIS}`);
  // built before connecting: a bad SENSOR_TYPES_DIR is a configuration error (exit 2), not a Redis one
  const validator = action === 'replay' ? readingValidator(config) : undefined;

  const log = cliLogger(config);
  const backend = createBackend({ ...config, QUEUE_BACKEND: 'redis' } as Config, log);
  try {
    await backend.start();
    if (!backend.healthy()) throw new Error(`cannot reach Redis (${config.REDIS_URL ? config.REDIS_URL.replace(/\/\/[^@]*@/, '//***@') : `${config.REDIS_HOST}:${config.REDIS_PORT}`})`);
    if (action === 'list') {
      await list(backend, query.filter, query.limit ?? LIST_DEFAULT, json, out);
      return 0;
    }
    if (action === 'show') {
      const entry = await backend.getReject(ids![0]!);
      if (!entry) throw new ConsumeUsageError(`rejects show: no entry ${ids![0]} in ${config.REJECTS_NAME} (replayed, trimmed, or never there)`);
      show(entry, json, out);
      return 0;
    }
    const pipeline = replayPipeline(config, validator!, backend, log);
    const report = await replayRejects(
      { backend, pipeline, validator: validator! },
      { ...(ids ? { ids } : { filter: query.filter }), ...(query.limit === undefined ? {} : { limit: query.limit }), dryRun: options['dry-run'] === true },
      { keepResults: json, ...(json ? {} : { onResult: (r: ReplayResult) => out(resultLine(r, options['dry-run'] === true)) }) },
    );
    await pipeline.drain();
    if (json) out(JSON.stringify(report));
    else out(summary(report));
    return report.failed > 0 ? 1 : 0;
  } finally {
    await backend.close();
  }
}

/** The server's pipeline, on this process' own connection: the same validation, dedupe and enrichment. */
function replayPipeline(config: Config, validator: ReadingValidator, backend: QueueBackend, log: Logger): Pipeline {
  const metrics = createMetrics({ queueSizes: async () => ({}), queueUp: () => backend.healthy(), inFlight: () => 0 }, { defaultMetrics: false });
  return new Pipeline(
    { validator, backend, metrics, log, quality: qualityChecks(config) },
    pipelineOptions(config),
  );
}

async function list(backend: QueueBackend, filter: Parameters<QueueBackend['listRejects']>[0], limit: number, json: boolean, out: (line: string) => void): Promise<void> {
  let after: string | undefined;
  let shown = 0;
  let more = false;
  for (;;) {
    const page = await backend.listRejects(filter, { order: 'newest', limit: limit - shown, ...(after === undefined ? {} : { after }) });
    for (const e of page.entries) {
      out(json ? JSON.stringify(rejectView(e)) : `${e.id}  ${e.receivedAt}  ${e.code}  ${e.deviceId ?? '-'}  ${e.source}  ${e.reason}`);
    }
    shown += page.entries.length;
    if (page.next === null) break;
    if (shown === limit) {
      more = (await backend.listRejects(filter, { order: 'newest', limit: 1, after: page.next })).entries.length > 0;
      break;
    }
    after = page.next;
  }
  if (!json) out(`${shown} ${shown === 1 ? 'entry' : 'entries'}, newest first${more ? ` (more: raise --limit)` : ''}`);
}

function show(e: StoredReject, json: boolean, out: (line: string) => void): void {
  const v = rejectView(e);
  if (json) return out(JSON.stringify(v));
  for (const [k, value] of Object.entries(v)) out(`${(k + ':').padEnd(13)}${value}`);
}

function resultLine(r: ReplayResult, dryRun: boolean): string {
  const status = dryRun && r.status === 'accepted' ? 'would be accepted' : r.status.replace('_', ' ');
  const detail = r.message_id ? `message_id ${r.message_id}` : r.reason ? (r.code ? `${r.code}: ${r.reason}` : r.reason) : '';
  return `${r.id}  ${status}  ${r.device_id ?? '-'}${detail ? '  ' + detail : ''}`;
}

function summary(r: ReplayReport): string {
  const parts = [`examined ${r.examined}`, `${r.dry_run ? 'would be accepted' : 'accepted'} ${r.accepted}`, `rejected again ${r.rejected_again}`, `duplicate ${r.duplicate}`, `unreplayable ${r.unreplayable}`];
  if (r.failed) parts.push(`failed ${r.failed} (the queue did not take them; they stay: run replay again)`);
  if (r.not_found) parts.push(`not found ${r.not_found}`);
  return (r.dry_run ? 'dry run: ' : '') + parts.join(', ');
}

/**
 * The queue backend's and the pipeline's logs (written for a server: "answering 503 …") on stderr,
 * only with LOG_LEVEL=debug or trace; the command reports failures itself, in one line.
 */
function cliLogger(config: Config): Logger {
  const level = config.LOG_LEVEL === 'debug' || config.LOG_LEVEL === 'trace' ? config.LOG_LEVEL : 'silent';
  return pino({ level, base: { service: 'neurobuild-ingest', command: 'rejects' }, timestamp: pino.stdTimeFunctions.isoTime }, pino.destination({ fd: 2, sync: true }));
}
