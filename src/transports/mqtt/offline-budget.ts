/**
 * The process-wide budget of bytes held in session queues (messages waiting for a client that
 * is away, or beyond its Receive Maximum): MQTT_OFFLINE_BYTES_BUDGET. Each session also has
 * its own bounds (messages and bytes); this one keeps the sum of all of them bounded, whatever
 * the number of sessions. While it is spent, queues shed QoS 0 first and new persistent
 * sessions are refused (see sessions.ts).
 * @module
 */
export class OfflineBudget {
  #bytes = 0;

  constructor(readonly limit: number) {}

  get bytes(): number {
    return this.#bytes;
  }

  /** No room left: new persistent sessions are refused until queues drain. */
  get exhausted(): boolean {
    return this.#bytes >= this.limit;
  }

  fits(n: number): boolean {
    return this.#bytes + n <= this.limit;
  }

  take(n: number): void {
    this.#bytes += n;
  }

  give(n: number): void {
    this.#bytes -= n;
  }
}
