/**
 * Scenario: fan-out correctness under load. Many MQTT v5 subscribers on `neurobuild/sensors/#`,
 * each announcing Receive Maximum 20 (libmosquitto's default), while readings are ingested over
 * HTTP at a steady rate: every subscriber receives every accepted reading (distinct message_id
 * values counted per subscriber), nothing is dropped (mqtt_messages_dropped_total stays 0), and
 * the bytes waiting in session queues stay within MQTT_OFFLINE_BYTES_BUDGET throughout.
 * Short run: 200 subscribers × 1,000 readings; SCENARIO_LONG=1: 1,000 × 20,000 (the issue's
 * figure; about 2 minutes at 200 readings/s). bench:mqtt-fanout measures the same with figures.
 */
import { expect, test } from 'bun:test';
import { spawn } from 'node:child_process';
import { resolve } from 'node:path';
import { reading } from '../fixtures/readings.ts';
import { onLines } from '../helpers/lines.ts';
import { metricValue } from '../helpers/mqtt5.ts';
import { useStack } from '../helpers/stack.ts';
import { waitFor } from '../helpers/wait.ts';
import { LONG } from './lib/scenario.ts';

const SUBSCRIBERS = LONG ? 1000 : 200;
const READINGS = LONG ? 20_000 : 1000;
/** Readings per second: what this 2-core machine fans out to 1,000 subscribers (the server and the subscriber processes share it). */
const RATE = 200;
const BATCH = 20;
const BUDGET = 64 * 1_048_576;

const stack = useStack({ MQTT_OFFLINE_BYTES_BUDGET: String(BUDGET), RATE_LIMIT: 'off', MQTT_SYS_INTERVAL_S: '0', MAX_CONNECTIONS_PER_IP: '0', MAX_UNAUTHENTICATED_CONNECTIONS: '100000' });

test(`scenario - MQTT fan-out: ${SUBSCRIBERS} v5 subscribers (Receive Maximum 20) each receive all ${READINGS} readings, none dropped, queues within budget`, async () => {
  const script = resolve(import.meta.dir, '../../bench/mqtt/fanout-subscribers.mjs');
  const subs = spawn('node', [script, '--port', String(stack.server.mqttPort), '--connections', String(SUBSCRIBERS), '--receive-maximum', '20', '--expect', String(READINGS), '--timeout', '600'], { stdio: ['pipe', 'pipe', 'inherit'] });
  const lines: Record<string, unknown>[] = [];
  onLines(subs.stdout!, (l) => lines.push(JSON.parse(l) as Record<string, unknown>));
  stack.cleanup(() => subs.kill('SIGKILL'));
  await waitFor(() => {
    const bad = lines.find((l) => l.event === 'error');
    if (bad) throw new Error(String(bad.error));
    return lines.some((l) => l.event === 'ready');
  }, 60_000, 'subscribers connected and subscribed');

  let peakQueued = 0;
  const started = Date.now();
  for (let sent = 0; sent < READINGS; sent += BATCH) {
    const res = await stack.server.post('/api/v1/sensor-data/batch', Array.from({ length: Math.min(BATCH, READINGS - sent) }, () => reading()));
    expect(res.status).toBe(202);
    peakQueued = Math.max(peakQueued, await metricValue(stack.server, 'mqtt_queued_bytes'));
    // steady rate: the next batch when it is due
    const due = started + ((sent + BATCH) / RATE) * 1000;
    if (due > Date.now()) await new Promise((r) => setTimeout(r, due - Date.now()));
  }
  const counts = () => {
    subs.stdin!.write('report\n');
    return lines.filter((l) => l.event === 'count').at(-1) as { received?: number } | undefined;
  };
  await waitFor(() => (counts()?.received ?? 0) >= SUBSCRIBERS * READINGS, 120_000, 'every reading at every subscriber');
  subs.stdin!.end();
  const final = (await waitFor(() => lines.find((l) => l.event === undefined), 30_000, 'final counts')) as { per_subscriber: { distinct: number }[]; duplicates: number };
  const complete = final.per_subscriber.filter((s) => s.distinct === READINGS).length;
  console.log(JSON.stringify({ scenario: 'mqtt-fanout', subscribers: SUBSCRIBERS, readings: READINGS, rate: RATE, complete, duplicates: final.duplicates, peak_queued_bytes: peakQueued, seconds: (Date.now() - started) / 1000 }));
  expect(complete).toBe(SUBSCRIBERS);
  expect(await metricValue(stack.server, 'mqtt_messages_total{direction="sent"}')).toBeGreaterThanOrEqual(SUBSCRIBERS * READINGS);
  const text = await (await fetch(`http://127.0.0.1:${stack.server.metricsPort}/metrics`)).text();
  expect(text).toContain('# TYPE mqtt_messages_dropped_total counter');
  expect(text.split('\n').filter((l) => l.startsWith('mqtt_messages_dropped_total{'))).toEqual([]);
  expect(peakQueued).toBeLessThanOrEqual(BUDGET);
}, LONG ? 900_000 : 180_000);
