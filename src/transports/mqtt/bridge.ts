/**
 * Bridge mode: a client (MQTT.js) of an upstream broker, subscribed at QoS 1 to the sensor
 * topics, feeding the pipeline like any transport. The upstream PUBACK is sent only once the
 * reading is stored: MQTT.js sends it when its `handleMessage` hook calls back, which also
 * makes it hand over one message at a time (its documented backpressure). While the queue is
 * unavailable the acknowledgement is held and the broker keeps the message. A persistent
 * session (clean session 0) keeps what arrives upstream while the bridge is disconnected.
 * @module
 */
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';
import type { Logger } from 'pino';
import type { IngestItem } from '../../core/item.ts';
import type { Pipeline } from '../../core/pipeline.ts';
import { backoffDelay } from '../../util/backoff.ts';
import type { Transport } from '../transport.ts';
import { holdUntilStored } from './hold.ts';
import { NO_ACK, publishAnswer } from './reason-codes.ts';
import type { TopicMap } from './topics.ts';

export interface BridgeOptions {
  url: string;
  clientId: string;
  prefix: string;
  sensorNames: readonly string[];
  retryMaxDelayMs: number;
}

const RECONNECT_MIN_MS = 500;
const RECONNECT_MAX_MS = 30_000;

export class MqttBridge implements Transport {
  readonly name = 'mqtt-bridge';
  #client: MqttClient | undefined;
  #connected = false;
  /** Reconnections since the last CONNACK (the backoff's attempt). */
  #reconnects = 0;
  readonly #o: BridgeOptions;
  readonly #pipeline: Pipeline;
  readonly #topics: TopicMap;
  readonly #log: Logger;

  constructor(o: BridgeOptions, deps: { pipeline: Pipeline; topics: TopicMap; log: Logger }) {
    this.#o = o;
    this.#pipeline = deps.pipeline;
    this.#topics = deps.topics;
    this.#log = deps.log.child({ upstream: redactUrl(o.url) });
  }

  get connected(): boolean {
    return this.#connected;
  }

  /** Starts connecting; never blocks start-up on the upstream broker (it reconnects with backoff). */
  async start(): Promise<number> {
    const opts: IClientOptions = {
      clientId: this.#o.clientId,
      clean: false,
      protocolVersion: 4,
      reconnectPeriod: RECONNECT_MIN_MS,
      connectTimeout: 10_000,
    };
    const client = mqtt.connect(this.#o.url, opts);
    this.#client = client;
    client.handleMessage = (packet, callback) => this.#onPublish(packet.topic, packet.payload as Buffer, packet.qos, packet.properties?.contentType, callback);
    const prefix = this.#o.prefix.endsWith('/') ? this.#o.prefix : this.#o.prefix + '/';
    const filters = ['data', ...this.#o.sensorNames].map((kind) => `${prefix}+/${kind}`);
    client.on('connect', (ack) => {
      this.#connected = true;
      this.#reconnects = 0;
      client.options.reconnectPeriod = RECONNECT_MIN_MS;
      this.#log.info({ session_present: ack.sessionPresent }, 'bridge connected to the upstream broker');
      if (!ack.sessionPresent) client.subscribe(filters, { qos: 1 }, (err) => err && this.#log.error({ err }, 'bridge subscribe failed'));
    });
    client.on('offline', () => {
      if (this.#connected) this.#log.error('bridge lost the upstream broker: reconnecting');
      this.#connected = false;
      // back off: 1 s, 2 s, 4 s ... 30 s, half jitter (many instances bridged to one broker do not return in step)
      client.options.reconnectPeriod = backoffDelay({ firstMs: RECONNECT_MIN_MS * 2, maxMs: RECONNECT_MAX_MS, jitter: 0.5 }, ++this.#reconnects);
    });
    client.on('error', (err) => this.#log.warn({ err: err.message }, 'bridge connection error'));
    return 0;
  }

  /** QoS 0: one attempt (at most once); QoS 1: held until stored. */
  #ingest(topic: string, payload: Buffer, qos: number, contentType: string | undefined) {
    const sensor = this.#topics.parse(topic);
    if (sensor === undefined || sensor.kind === 'status') return undefined;
    const item: IngestItem = {
      source: 'bridge',
      topic,
      payload,
      contentType,
      expect: sensor.kind === 'sensor' ? { deviceId: sensor.deviceId, sensor: sensor.sensor } : { deviceId: sensor.deviceId },
    };
    if (qos === 0) return this.#pipeline.ingest(item);
    return holdUntilStored(this.#pipeline, item, () => this.#connected, this.#o.retryMaxDelayMs);
  }

  /** `done()` lets MQTT.js send the PUBACK; `done(err)` withholds it. */
  #onPublish(topic: string, payload: Buffer, qos: number, contentType: string | undefined, done: (err?: Error) => void): void {
    const work = this.#ingest(topic, payload, qos, contentType);
    // QoS 0 has nothing to acknowledge; other topics are not ours to store
    if (work === undefined || qos === 0) return done();
    work.then(
      (o) => {
        // refused readings are in the rejects stream: upstream may forget them
        if (o.ok || publishAnswer[o.error.code] !== NO_ACK) return done();
        // not stored (upstream connection lost, draining): no PUBACK, the broker delivers it again after a reconnect
        done(new Error(`not stored: ${o.error.code}`));
      },
      (err: unknown) => done(err as Error),
    );
  }

  async drain(): Promise<void> {}

  async stop(): Promise<void> {
    this.#connected = false;
    await this.#client?.endAsync(true).catch(() => {});
  }
}

function redactUrl(url: string): string {
  return url.replace(/\/\/[^@/]*@/, '//***@');
}
