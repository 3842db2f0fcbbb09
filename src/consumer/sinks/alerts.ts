/**
 * `neurobuild-ingest consume alerts`: the readings stream checked against alert rules
 * (ALERT_RULES_FILE, else the defaults: gas over 500 ppm, presence in a secure area outside
 * business hours; see alerts/rules.ts). Each alert is appended to ALERTS_STREAM and
 * published on ALERTS_CHANNEL; a condition (rule + device) fires once, stays quiet for
 * ALERT_SUPPRESS_MS while it persists (then reminds), and a reading that no longer matches
 * resolves it. The state is in Redis (alerts/store.ts): it survives restarts, is shared by
 * every consumer of the group, and a redelivered entry raises nothing twice.
 *
 * With ALERT_WEBHOOK_URL, a second consumer group (`<group>-webhook`) reads the alerts
 * stream and POSTs each alert with bounded retries: a failing webhook delays only the
 * webhook, never the readings; an alert it could not take is logged and counted, and stays
 * in the stream. A crash mid-delivery hands the alert to another consumer (at least once).
 * @module
 */
import type { SensorType } from '../../core/readings/registry.ts';
import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { KeyLayout } from '../../queue/key-layout.ts';
import { isCluster, type RedisClient } from '../../queue/redis/connection.ts';
import type { Logger } from 'pino';
import type { Config } from '../../config/schema.ts';
import type { EnrichedReading } from '../../core/readings/reading.ts';
import { advance, type ConditionState } from '../alerts/condition.ts';
import { evaluate, type Outcome } from '../alerts/evaluate.ts';
import { defaultRules, parseRules, RulesError, type Rule, type RuleSet } from '../alerts/rules.ts';
import { type Alert, AlertStore } from '../alerts/store.ts';
import { deliver, describeWebhook, type WebhookOptions } from '../alerts/webhook.ts';
import type { ConsumedEntry } from '../entry.ts';
import { StreamConsumer } from '../stream-consumer.ts';
import { type Sink, SinkConfigError, type SinkInstance } from './sink.ts';

export interface AlertsOptions {
  /** Commands between reads (the consumer's connection is free while a batch is handled). */
  redis: RedisClient;
  log: Logger;
  rules: RuleSet;
  stream: string;
  channel: string;
  /** Approximate MAXLEN of the alerts stream (0: never trimmed). */
  maxlen: number;
  suppressMs: number;
  webhook?: Omit<WebhookOptions, 'onRetry'> & { group: string; consumer: string; claimIdleMs: number };
  /** The clock (ms). @default Date.now */
  now?: () => number;
}

/** Reads ALERT_RULES_FILE, or the defaults; rules are checked against `sensors`. @throws RulesError */
export function loadRules(file: string | undefined, sensors?: readonly SensorType[]): RuleSet {
  if (!file) return defaultRules();
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new RulesError(`cannot read ALERT_RULES_FILE ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  return parseRules(text, `ALERT_RULES_FILE ${file}`, sensors);
}

interface Item {
  entry: ConsumedEntry;
  reading: EnrichedReading;
  rule: Rule;
  outcome: Exclude<Outcome, { kind: 'na' }>;
  key: string;
}

const MAX_CAS_ATTEMPTS = 20;

export async function openAlerts(o: AlertsOptions): Promise<SinkInstance & { store: AlertStore }> {
  const store = new AlertStore(o.redis, { stream: o.stream, channel: o.channel, maxlen: o.maxlen });
  const now = o.now ?? Date.now;
  const iso = (ms: number) => new Date(ms).toISOString();

  function alertOf(it: Item, event: 'firing' | 'resolved', state: ConditionState, reminder: boolean, at: number): Alert {
    const { rule, reading, outcome } = it;
    const messageId = reading.message_id || it.entry.fields.message_id || it.entry.id;
    return {
      alert_id: `${messageId}:${rule.id}`,
      type: rule.alertType,
      state: event,
      rule_id: rule.id,
      severity: rule.severity,
      device_id: reading.device_id,
      value: outcome.value,
      threshold: outcome.threshold,
      unit: outcome.unit,
      location: outcome.location,
      timestamp: reading.timestamp,
      message_id: messageId,
      raised_at: iso(at),
      since: iso(state.since),
      reminder,
      message: `${rule.alertType} ${event === 'firing' ? (reminder ? 'still firing' : 'firing') : 'resolved'} on ${reading.device_id}: ${outcome.detail}`,
    };
  }

  async function handle(entries: ConsumedEntry[]): Promise<void> {
    const items: Item[] = [];
    for (const entry of entries) {
      const r = entry.reading;
      if (!r || typeof r.device_id !== 'string' || r.sensors === null || typeof r.sensors !== 'object') continue;
      for (const rule of o.rules.rules) {
        const outcome = evaluate(rule, r);
        if (outcome.kind !== 'na') items.push({ entry, reading: r, rule, outcome, key: store.stateKey(rule.id, r.device_id) });
      }
    }
    if (items.length === 0) return;
    const keys = [...new Set(items.map((i) => i.key))];
    for (let attempt = 1; attempt <= MAX_CAS_ATTEMPTS; attempt++) {
      const stored = await store.read(keys);
      const at = now();
      const work = new Map<string, ConditionState | undefined>([...stored].map(([k, s]) => [k, s.state]));
      const touched = new Set<string>();
      const alerts: Alert[] = [];
      let suppressed = 0;
      for (const it of items) {
        const step = advance(work.get(it.key), it.outcome.kind, it.entry.id, at, o.suppressMs);
        if (!step.changed) continue;
        work.set(it.key, step.state);
        touched.add(it.key);
        if (step.suppressed) suppressed++;
        if (step.event) alerts.push(alertOf(it, step.event, step.state!, step.reminder === true, at));
      }
      const writes = [...touched].map((key) => ({ key, expected: stored.get(key)?.version ?? '', state: work.get(key)! }));
      const res = await store.commit({ writes, alerts, suppressed });
      if (!res.ok) continue; // another consumer changed one of these conditions: read again
      for (const a of res.emitted) {
        o.log.info({ alert_id: a.alert_id, type: a.type, state: a.state, rule_id: a.rule_id, device_id: a.device_id, value: a.value, threshold: a.threshold, location: a.location }, `alert ${a.state}: ${a.message}`);
      }
      if (res.duplicates > 0) o.log.info({ duplicates: res.duplicates }, `alerts: ${res.duplicates} alert(s) already raised for these readings (redelivered entries), not raised again`);
      return;
    }
    throw new Error(`alerts: the alert state kept changing under this consumer (${MAX_CAS_ATTEMPTS} attempts)`);
  }

  // the webhook: its own consumer group on the alerts stream
  let webhookConsumer: StreamConsumer | undefined;
  let webhookRedis: RedisClient | undefined;
  if (o.webhook) {
    const w = o.webhook;
    const where = describeWebhook(w.url);
    webhookRedis = o.redis.duplicate();
    webhookRedis.on('error', () => {});
    if (webhookRedis.status === 'wait') await webhookRedis.connect();
    webhookConsumer = new StreamConsumer(
      webhookRedis,
      { stream: o.stream, group: w.group, consumer: w.consumer, dlq: new KeyLayout({ stream: o.stream, cluster: isCluster(o.redis) }).alongside(`${o.stream}-webhook-dlq`, o.stream), batchSize: 1, claimIdleMs: w.claimIdleMs, startId: '$' },
      async (batch) => {
        for (const e of batch) {
          const alert = e.reading as unknown as Alert;
          const d = await deliver(alert, {
            ...w,
            onRetry: (attempt, delayMs, error) => o.log.warn({ alert_id: alert.alert_id, attempt, delay_ms: delayMs, error }, `alerts: webhook ${where} failed (${error}); retrying`),
          });
          if (d.ok) {
            o.log.info({ alert_id: alert.alert_id, attempts: d.attempts, status: d.status }, `alerts: webhook ${where} took alert ${alert.alert_id}`);
            await store.count('webhook_delivered').catch(() => {});
          } else {
            o.log.error({ alert_id: alert.alert_id, attempts: d.attempts, error: d.error }, `alerts: webhook ${where} did not take alert ${alert.alert_id} after ${d.attempts} attempt(s): ${d.error}; it stays in ${o.stream}`);
            await store.count('webhook_failed').catch(() => {});
          }
        }
      },
      { onError: (err) => o.log.error({ err }, 'alerts: reading the alerts stream for the webhook failed; retrying') },
    );
    await webhookConsumer.start();
    o.log.info({ webhook: where, group: w.group }, `alerts: POSTing alerts to ${where}`);
  }

  return {
    store,
    handle,
    async close() {
      await webhookConsumer?.stop();
      await webhookRedis?.quit().catch(() => webhookRedis?.disconnect());
    },
  };
}

/** @throws SinkConfigError */
function rulesOf(config: Config, sensors: readonly SensorType[]): RuleSet {
  try {
    return loadRules(config.ALERT_RULES_FILE, sensors);
  } catch (err) {
    if (err instanceof RulesError) throw new SinkConfigError(`invalid alert rules: ${err.message}`);
    throw err;
  }
}

export const alertsSink: Sink = {
  group: 'alerts',
  describe: 'alert rules (gas threshold, presence in a secure area outside business hours, any numeric threshold) into the alerts stream and channel, and a webhook',
  check(config: Config, sensors: readonly SensorType[]) {
    rulesOf(config, sensors);
  },
  async open(config: Config, log: Logger, redis: RedisClient, sensors: readonly SensorType[]) {
    const rules = rulesOf(config, sensors);
    for (const r of rules.rules) {
      if (r.kind === 'presence_outside_hours' && r.secureAreas.size === 0) log.warn({ rule_id: r.id }, `alerts: rule ${r.id} has no secure areas (set "secure_areas" in ALERT_RULES_FILE): it never fires`);
    }
    log.info({ rules: rules.rules.map((r) => r.id), source: rules.source, stream: config.ALERTS_STREAM, channel: config.ALERTS_CHANNEL, suppress_ms: config.ALERT_SUPPRESS_MS }, `alerts: ${rules.rules.length} rule(s) from ${rules.source}`);
    const group = config.CONSUMER_GROUP ?? alertsSink.group;
    return openAlerts({
      redis,
      log,
      rules,
      stream: config.ALERTS_STREAM,
      channel: config.ALERTS_CHANNEL,
      maxlen: config.ALERTS_MAXLEN,
      suppressMs: config.ALERT_SUPPRESS_MS,
      ...(config.ALERT_WEBHOOK_URL
        ? {
            webhook: {
              url: config.ALERT_WEBHOOK_URL,
              retries: config.ALERT_WEBHOOK_RETRIES,
              retryMs: config.ALERT_WEBHOOK_RETRY_MS,
              timeoutMs: config.ALERT_WEBHOOK_TIMEOUT_MS,
              group: `${group}-webhook`,
              consumer: config.CONSUMER_NAME ?? `${hostname()}-${process.pid}`,
              claimIdleMs: config.CONSUMER_CLAIM_IDLE_MS,
            },
          }
        : {}),
    });
  },
};
