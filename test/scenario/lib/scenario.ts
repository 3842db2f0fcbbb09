/**
 * What every scenario shares: a stack (redis-server, optionally the TCP proxy in front of it,
 * one server whose REDIS_URL is the proxy or Redis), HTTP and MQTT QoS 1 load feeding one ack
 * tracker, a sampler of RSS and /metrics, and the end: settle the load, read the stream,
 * check, print one JSON summary line, and fail on any acknowledged reading lost.
 *
 * SCENARIO_LONG=1 (npm run test:scenario) selects the long variants.
 * @module
 */
import { appendFileSync } from 'node:fs';
import { beforeAll, expect } from 'bun:test';
import type { Redis } from 'ioredis';
import { useStack, type Stack } from '../../helpers/stack.ts';
import { check, readStream, type CheckResult } from './checker.ts';
import { Faults } from './faults.ts';
import { HttpLoad, type HttpLoadOptions } from './http-load.ts';
import { MqttLoad, type MqttLoadOptions } from './mqtt-load.ts';
import { TcpProxy } from './proxy.ts';
import { Sampler } from './sampler.ts';
import { AckTracker } from './tracker.ts';

export const LONG = process.env.SCENARIO_LONG === '1';

/**
 * Server settings of every scenario: a Redis reply slower than 1 s fails its batch, and an open
 * circuit breaker probes again after 1 s, so the short runs stay short.
 */
export const SCENARIO_ENV: Record<string, string> = {
  REDIS_COMMAND_TIMEOUT_MS: '1000',
  CIRCUIT_BREAKER_TIMEOUT_MS: '1000',
  RATE_LIMIT: 'off',
  MAX_CONNECTIONS_PER_IP: '0',
  MAX_UNAUTHENTICATED_CONNECTIONS: '100000',
};

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export interface ScenarioSetup {
  /** Server environment on top of SCENARIO_ENV. */
  env?: Record<string, string>;
  /** redis-server arguments (e.g. persistence). */
  redis?: string[];
  /** Put the TCP proxy between the server and Redis. */
  proxy?: boolean;
}

export interface ScenarioStack {
  readonly stack: Stack;
  /** Set in beforeAll. */
  readonly faults: Faults;
}

/** Registers the stack for this file: Redis (+ proxy), one server, the fault injector. */
export function useScenario(setup: ScenarioSetup = {}): ScenarioStack {
  let proxy: TcpProxy | undefined;
  let faults: Faults | undefined;
  const stack = useStack(
    async () => {
      if (setup.proxy) proxy = await TcpProxy.start(stack.redis.port);
      return { ...SCENARIO_ENV, ...(proxy ? { REDIS_URL: proxy.url } : {}), ...setup.env };
    },
    { redis: setup.redis ?? [], servers: 0 },
  );
  beforeAll(async () => {
    const server = await stack.startServer();
    faults = new Faults(stack.redis, server, proxy);
    // cleanups run last-registered first: the (restarted) server stops before the proxy closes
    stack.cleanup(() => proxy?.close());
    stack.cleanup(() => faults?.server.stop());
  });
  return {
    stack,
    get faults() {
      if (!faults) throw new Error('useScenario: not started yet');
      return faults;
    },
  };
}

export interface LoadSetup {
  /** New HTTP readings per second (half of them in batches of 10 unless `http` says otherwise). */
  httpRate: number;
  /** MQTT QoS 1 readings per second over all clients. */
  mqttRate: number;
  http?: Partial<HttpLoadOptions>;
  mqtt?: Partial<MqttLoadOptions>;
}

export class Scenario {
  readonly tracker = new AckTracker();
  readonly sampler: Sampler;
  http!: HttpLoad;
  mqtt!: MqttLoad;
  t0 = Date.now();

  constructor(
    readonly name: string,
    readonly faults: Faults,
    readonly redis: Redis,
  ) {
    this.sampler = new Sampler(() => this.faults.server);
  }

  /** Starts the sampler, the MQTT clients (waits until connected) and the HTTP load. */
  async start(load: LoadSetup): Promise<this> {
    const f = this.faults;
    this.sampler.start();
    this.mqtt = await MqttLoad.start({ url: `mqtt://127.0.0.1:${f.server.mqttPort}`, tracker: this.tracker, rate: load.mqttRate, ...load.mqtt });
    this.http = new HttpLoad({ base: () => f.server.base, tracker: this.tracker, rate: load.httpRate, ...load.http }).start();
    this.t0 = Date.now();
    return this;
  }

  setRates(httpRate: number, mqttRate: number): void {
    this.http.setRate(httpRate);
    this.mqtt.setRate(mqttRate);
  }

  /**
   * Makes capacity small and known: measures the bytes on the server → Redis link per
   * acknowledged reading during a 2 s warm-up below capacity, then caps that link at
   * `linkBytesPerS`. Returns the bytes per reading and the resulting capacity (readings/s).
   */
  async capLink(linkBytesPerS: number): Promise<{ bytesPerReading: number; capacity: number }> {
    const link = this.faults.link;
    await sleep(500);
    const [b0, a0] = [link.stats.bytesUp, this.tracker.acked.size];
    await sleep(2000);
    const bytesPerReading = (link.stats.bytesUp - b0) / (this.tracker.acked.size - a0);
    link.bandwidth(linkBytesPerS, 'up');
    return { bytesPerReading, capacity: linkBytesPerS / bytesPerReading };
  }

  /** Acknowledged readings per second over [from, to), both transports. */
  ackRate(from: number, to: number): number {
    return Math.round(this.tracker.rate(from, to));
  }

  /**
   * Stops new readings, waits until both generators have nothing unacknowledged (or
   * `settleMs`), reads the stream and checks it; prints the summary line (with `extra`) and returns it.
   * `recoveryFrom`: when the fault ended (recovery_s = until a reading offered after it was acknowledged).
   */
  async finish(
    extra: Record<string, unknown> | (() => Promise<Record<string, unknown>> | Record<string, unknown>) = {},
    opts: { settleMs?: number; recoveryFrom?: number } = {},
  ): Promise<CheckResult & { summary: Record<string, unknown> }> {
    const loadEnd = Date.now();
    const [httpLeft, mqttLeft] = await Promise.all([this.http.settle(opts.settleMs ?? 20_000), this.mqtt.settle(opts.settleMs ?? 20_000)]);
    await this.mqtt.end();
    // a function is asked once the load settled (figures that need every acknowledgement)
    const more = typeof extra === 'function' ? await extra() : extra;
    this.sampler.stop();
    const result = check(this.tracker, await readStream(this.redis));
    const rec = opts.recoveryFrom === undefined ? undefined : this.tracker.recovery(opts.recoveryFrom);
    const round = (x: number | undefined) => (x === undefined ? null : Math.round(x * 100) / 100);
    const recovery = rec === undefined ? undefined : { http: round(rec.http), mqtt: round(rec.mqtt) };
    const summary: Record<string, unknown> = {
      scenario: this.name,
      long: LONG,
      duration_s: round((loadEnd - this.t0) / 1000),
      offered: result.offered,
      acknowledged: result.acknowledged,
      stored: result.stored,
      lost: result.lost,
      duplicated: result.duplicated,
      peak_rss_mib: Math.round(this.sampler.peakRssMiB()),
      // until both transports had a new reading acknowledged (null: one of them never did)
      recovery_s: recovery === undefined || recovery.http === null || recovery.mqtt === null ? null : Math.max(recovery.http, recovery.mqtt),
      ...(recovery ? { recovery_by_transport_s: recovery } : {}),
      unresolved: { http: httpLeft, mqtt: mqttLeft },
      acked_as_duplicate: result.ackedAsDuplicate,
      stored_unacknowledged: result.storedUnacknowledged,
      peak_in_flight: this.sampler.peakInFlight(),
      http: { ...result.byTransport.http, skipped: this.http.skipped, gave_up: this.http.gaveUp, requests: this.http.requests, answers: this.tracker.answers.http },
      mqtt: { ...result.byTransport.mqtt, clients: this.mqtt.clients, buffer_dropped: this.mqtt.stat.dropped, answers: this.tracker.answers.mqtt },
      ...more,
      timeline: this.faults.relative(this.t0),
    };
    const line = JSON.stringify(summary);
    console.log(line);
    if (process.env.SCENARIO_REPORT) appendFileSync(process.env.SCENARIO_REPORT, `${line}\n`);
    return { ...result, summary };
  }
}

/** The promise of DESIGN §2, reading by reading: nothing acknowledged is missing, nothing is stored twice. */
export function expectNothingLost(r: CheckResult): void {
  expect(r.lostSample).toEqual([]);
  expect(r.lost).toBe(0);
  expect(r.duplicatedSample).toEqual([]);
  expect(r.messageIdMismatch).toBe(0);
  expect(r.foreign).toBe(0);
  expect(r.acknowledged).toBeGreaterThan(0);
}
