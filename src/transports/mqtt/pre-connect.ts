/**
 * MQTT connections (TCP, TLS and WebSocket together) that have not had their CONNECT accepted:
 * nobody knows who they are yet, so there may be only so many of them
 * (MAX_UNAUTHENTICATED_CONNECTIONS), each holding at most MQTT_MAX_CONNECT_BYTES of an unfinished
 * CONNECT, until MQTT_CONNECT_TIMEOUT_MS. Bytes held before authentication are bounded by
 * their product, whatever a peer sends.
 * @module
 */
export class PreConnectLimit {
  #open = 0;

  constructor(readonly max: number) {}

  get size(): number {
    return this.#open;
  }

  /** Whether one more may start now. */
  get full(): boolean {
    return this.#open >= this.max;
  }

  /** Counts a new connection; false (nothing counted) when the limit is reached. */
  tryAdd(): boolean {
    if (this.#open >= this.max) return false;
    this.#open++;
    return true;
  }

  /** One counted connection was accepted or closed. */
  remove(): void {
    this.#open--;
  }
}
