/**
 * `$SYS/broker/...`: this instance's statistics as retained messages, refreshed every
 * MQTT_SYS_INTERVAL_S, under the names mosquitto uses so that existing dashboards and
 * `mosquitto_sub -t '$SYS/#'` work. Topics starting with `$` are not matched by `#` or `+`
 * [MQTT-4.7.2-1]: a client asks for them by name. With AUTH_MODE on only identities an ACL rule
 * grants `$SYS` may subscribe (handlers/subscribe.ts); no client may publish there.
 * @module
 */
import type { MqttContext } from './context.ts';

export class SysTopics {
  readonly #ctx: MqttContext;
  readonly #version: string;
  readonly #startedAt = Date.now();
  #timer: NodeJS.Timeout | undefined;

  constructor(ctx: MqttContext, version: string) {
    this.#ctx = ctx;
    this.#version = version;
  }

  start(intervalSeconds: number): void {
    this.publish();
    this.#timer = setInterval(() => this.publish(), intervalSeconds * 1000);
    this.#timer.unref();
  }

  stop(): void {
    clearInterval(this.#timer);
    this.#timer = undefined;
  }

  /** The current values, as retained QoS 0 messages. */
  publish(): void {
    const { stats, sessions, router } = this.#ctx;
    const values: [string, string | number][] = [
      ['version', `neurobuild-ingest ${this.#version}`],
      ['uptime', `${Math.floor((Date.now() - this.#startedAt) / 1000)} seconds`],
      ['clients/connected', stats.connected],
      ['clients/disconnected', sessions.size - stats.connected],
      ['clients/total', sessions.size],
      ['messages/received', stats.messagesReceived],
      ['messages/sent', stats.messagesSent],
      ['publish/messages/received', stats.messagesReceived],
      ['publish/messages/sent', stats.messagesSent],
      ['publish/messages/dropped', stats.messagesDropped],
      ['bytes/received', stats.bytesReceived],
      ['bytes/sent', stats.bytesSent],
      ['subscriptions/count', router.subscriptionCount],
      ['retained messages/count', router.retainedCount],
      ['store/messages/bytes', sessions.queuedBytes],
    ];
    for (const [name, value] of values) {
      router.publish({ topic: `$SYS/broker/${name}`, payload: Buffer.from(String(value)), qos: 0, retain: true });
    }
  }
}
