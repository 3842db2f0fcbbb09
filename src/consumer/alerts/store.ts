/**
 * Alert state and output in Redis, for every alert consumer of a group:
 *
 * - `<stream>:state:<rule id>:<device id>`: a hash per condition (status, since, last_fired,
 *   last_id), kept STATE_TTL_MS after its last change;
 * - `<stream>:raised:<reading message_id>:<rule id>`: set once an alert was raised for that
 *   reading and rule (SET NX, kept RAISED_TTL_MS): a reading handed over again (redelivery,
 *   DLQ replay) never raises it twice;
 * - `<stream>`: the alerts stream, `<channel>`: one JSON alert per message;
 * - `<stream>:stats`: counters (fired, resolved, suppressed, duplicates, webhook_delivered,
 *   webhook_failed).
 *
 * A batch is read (the states it touches), computed (alerts/condition.ts) and committed by
 * one script that checks that no state changed meanwhile (compare-and-set on last_id) and
 * then writes the states, appends and publishes the alerts, all or nothing; when another
 * consumer got there first the caller reads again and recomputes.
 * @module
 */
import { KeyLayout } from '../../queue/key-layout.ts';
import { isCluster, type RedisClient } from '../../queue/redis/connection.ts';
import type { ConditionState } from './condition.ts';

export const STATE_TTL_MS = 7 * 24 * 3600 * 1000;
export const RAISED_TTL_MS = 7 * 24 * 3600 * 1000;

/** The alert as appended, published and POSTed. */
export interface Alert {
  alert_id: string;
  type: string;
  state: 'firing' | 'resolved';
  rule_id: string;
  severity: string;
  device_id: string;
  value: number | boolean | null;
  threshold: number | null;
  unit: string | null;
  location: string | null;
  /** The reading's timestamp. */
  timestamp: string;
  /** The reading's message_id. */
  message_id: string;
  raised_at: string;
  /** When this episode first fired. */
  since: string;
  /** A firing repeated after the suppression time while the condition persists. */
  reminder: boolean;
  message: string;
}

export interface Commit {
  /** States to write, with the last_id each had when read ('' = none). */
  writes: { key: string; expected: string; state: ConditionState }[];
  alerts: Alert[];
  suppressed: number;
}

export interface Stored {
  state: ConditionState | undefined;
  /** Its last_id as stored ('' when there is none), the compare-and-set version. */
  version: string;
}

export type CommitResult = { ok: true; emitted: Alert[]; duplicates: number } | { ok: false };

const SCRIPT = `
local p = cjson.decode(ARGV[1])
for _, w in ipairs(p.w) do
  local cur = redis.call('HGET', KEYS[w[1]], 'last_id')
  if (cur or '') ~= w[2] then return {0} end
end
for _, w in ipairs(p.w) do
  redis.call('HSET', KEYS[w[1]], 'status', w[3], 'since', w[4], 'last_fired', w[5], 'last_id', w[6])
  redis.call('PEXPIRE', KEYS[w[1]], p.sttl)
end
local emitted = {}
local fired, resolved = 0, 0
for i, a in ipairs(p.a) do
  if redis.call('SET', KEYS[a[1]], '1', 'NX', 'PX', p.rttl) then
    if p.maxlen > 0 then
      redis.call('XADD', KEYS[1], 'MAXLEN', '~', p.maxlen, '*', unpack(a[3]))
    else
      redis.call('XADD', KEYS[1], '*', unpack(a[3]))
    end
    redis.call('PUBLISH', p.channel, a[2])
    emitted[#emitted + 1] = i
    if a[4] == 'firing' then fired = fired + 1 else resolved = resolved + 1 end
  end
end
if fired > 0 then redis.call('HINCRBY', KEYS[2], 'fired', fired) end
if resolved > 0 then redis.call('HINCRBY', KEYS[2], 'resolved', resolved) end
if p.s > 0 then redis.call('HINCRBY', KEYS[2], 'suppressed', p.s) end
if #p.a > #emitted then redis.call('HINCRBY', KEYS[2], 'duplicates', #p.a - #emitted) end
return {1, emitted}
`;

/** The stream fields of an alert: each field flat (strings, '' for null) and `data`, the JSON. */
export function alertFields(a: Alert, json: string): string[] {
  const s = (v: unknown) => (v === null || v === undefined ? '' : String(v));
  return [
    'alert_id', a.alert_id, 'type', a.type, 'state', a.state, 'rule_id', a.rule_id, 'severity', a.severity,
    'device_id', a.device_id, 'value', s(a.value), 'threshold', s(a.threshold), 'location', s(a.location),
    'timestamp', a.timestamp, 'message_id', a.message_id, 'raised_at', a.raised_at, 'data', json,
  ];
}

type WithAlertCommit = RedisClient & { nbAlertCommit(...args: (string | number)[]): Promise<[number, number[]?]> };

export class AlertStore {
  readonly #redis: WithAlertCommit;
  readonly stream: string;
  readonly channel: string;
  readonly #maxlen: number;

  /** The prefix of the state, raised and stats keys: the stream's name, on Cluster with its slot's tag (one script commits them with the stream). */
  readonly #keys: string;

  constructor(redis: RedisClient, o: { stream: string; channel: string; maxlen: number }) {
    if (!('nbAlertCommit' in redis)) redis.defineCommand('nbAlertCommit', { lua: SCRIPT });
    this.#redis = redis as WithAlertCommit;
    this.stream = o.stream;
    this.#keys = new KeyLayout({ stream: o.stream, cluster: isCluster(redis) }).alongside(o.stream, o.stream);
    this.channel = o.channel;
    this.#maxlen = o.maxlen;
  }

  stateKey(ruleId: string, deviceId: string): string {
    return `${this.#keys}:state:${ruleId}:${deviceId}`;
  }

  raisedKey(messageId: string, ruleId: string): string {
    return `${this.#keys}:raised:${messageId}:${ruleId}`;
  }

  get statsKey(): string {
    return `${this.#keys}:stats`;
  }

  /** The states of `keys` (state undefined: none, or one this version cannot read) and their last_id. */
  async read(keys: string[]): Promise<Map<string, Stored>> {
    const out = new Map<string, Stored>();
    if (keys.length === 0) return out;
    const pipe = this.#redis.pipeline();
    for (const k of keys) pipe.hgetall(k);
    const res = (await pipe.exec()) ?? [];
    keys.forEach((k, i) => {
      const [err, h] = res[i] ?? [new Error('no reply')];
      if (err) throw err;
      const hash = h as Record<string, string>;
      out.set(k, { state: parseState(hash), version: hash?.last_id ?? '' });
    });
    return out;
  }

  async commit(c: Commit): Promise<CommitResult> {
    if (c.writes.length === 0 && c.alerts.length === 0 && c.suppressed === 0) return { ok: true, emitted: [], duplicates: 0 };
    const keys = [this.stream, this.statsKey];
    const w = c.writes.map((x) => {
      keys.push(x.key);
      return [keys.length, x.expected, x.state.status, String(x.state.since), String(x.state.lastFired), x.state.lastId];
    });
    const a = c.alerts.map((al) => {
      keys.push(this.raisedKey(al.message_id, al.rule_id));
      const json = JSON.stringify(al);
      return [keys.length, json, alertFields(al, json), al.state];
    });
    const payload = JSON.stringify({ w, a, s: c.suppressed, sttl: STATE_TTL_MS, rttl: RAISED_TTL_MS, maxlen: this.#maxlen, channel: this.channel });
    const [ok, emitted] = await this.#redis.nbAlertCommit(keys.length, ...keys, payload);
    if (ok !== 1) return { ok: false };
    const list = (emitted ?? []).map((i) => c.alerts[i - 1]!);
    return { ok: true, emitted: list, duplicates: c.alerts.length - list.length };
  }

  async count(field: string, by = 1): Promise<void> {
    await this.#redis.hincrby(this.statsKey, field, by);
  }
}

export function parseState(h: Record<string, string> | null | undefined): ConditionState | undefined {
  if (!h || (h.status !== 'firing' && h.status !== 'resolved')) return undefined;
  const since = Number(h.since);
  const lastFired = Number(h.last_fired);
  if (!Number.isFinite(since) || !Number.isFinite(lastFired) || typeof h.last_id !== 'string') return undefined;
  return { status: h.status, since, lastFired, lastId: h.last_id };
}
