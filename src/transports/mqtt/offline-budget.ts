/**
 * The process-wide budget of bytes held in session queues (messages waiting for a client that
 * is away, or beyond its Receive Maximum): MQTT_OFFLINE_BYTES_BUDGET. Each session also has
 * its own bounds (messages and bytes); this one keeps the sum of all of them bounded, whatever
 * the number of sessions. Once a message was refused for it, the budget counts as spent until
 * the queues are back under half of it: meanwhile queues shed QoS 0 first and new persistent
 * sessions are refused (sessions.ts). Half, so that it does not flap at the edge.
 * @module
 */
export class OfflineBudget {
  #bytes = 0;
  #spent = false;

  constructor(readonly limit: number) {}

  get bytes(): number {
    return this.#bytes;
  }

  /** A message was refused for lack of budget and the queues have not yet drained under half of it. */
  get exhausted(): boolean {
    return this.#spent || this.#bytes >= this.limit;
  }

  /** Whether `n` more bytes fit; when not, the budget counts as spent. */
  fits(n: number): boolean {
    if (this.#bytes + n <= this.limit) return true;
    this.#spent = true;
    return false;
  }

  take(n: number): void {
    this.#bytes += n;
  }

  give(n: number): void {
    this.#bytes -= n;
    if (this.#spent && this.#bytes < this.limit / 2) this.#spent = false;
  }
}
